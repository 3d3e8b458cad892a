// Tool names as the agent sees them: the upstream's own names when there is one upstream,
// "<upstream>__<tool>" when there are several (`__`, not `.`: model APIs accept only
// [A-Za-z0-9_-] in tool names). Upstream names never contain `__` (config.ts), so a prefixed
// name splits one way.

import type { Tool } from "@modelcontextprotocol/sdk/types.js";

export const SEPARATOR = "__";

export interface ToolTarget {
  upstream: string;
  tool: string;
}

export class ToolNames {
  private readonly prefixed: boolean;

  constructor(private readonly upstreams: readonly string[]) {
    this.prefixed = upstreams.length > 1;
  }

  exposed(upstream: string, tool: string): string {
    return this.prefixed ? `${upstream}${SEPARATOR}${tool}` : tool;
  }

  /** The upstream and its tool for a name the agent called; null when no upstream has that prefix. */
  resolve(name: string): ToolTarget | null {
    if (!this.prefixed) return name === "" ? null : { upstream: this.upstreams[0]!, tool: name };
    for (const u of this.upstreams) {
      const p = u + SEPARATOR;
      if (name.startsWith(p) && name.length > p.length) return { upstream: u, tool: name.slice(p.length) };
    }
    return null;
  }

  /** An upstream's tool as listed to the agent (renamed; everything else passes through). */
  rename(upstream: string, tool: Tool): Tool {
    return { ...tool, name: this.exposed(upstream, tool.name) };
  }
}
