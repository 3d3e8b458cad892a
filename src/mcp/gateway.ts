// The gateway: the upstreams and the decider shared by every agent connection, and one SDK
// `Server` per connection (stdio: one; Streamable HTTP: one per MCP session) that serves only
// tools: tools/list passes the upstreams' tools through (renamed when there are several, without
// those the policy denies whatever their arguments with hide_denied) and tools/call is enforced
// (enforce.ts). Resources, prompts and sampling are not proxied: nothing reaches an upstream
// that the policy did not decide.

import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { probeAction } from "./action.js";
import type { McpConfig } from "./config.js";
import { ControlPlaneDecider } from "./control-plane.js";
import { EmbeddedDecider } from "./decider.js";
import type { Decider } from "./decider.js";
import { handleCall } from "./enforce.js";
import type { CallContext } from "./enforce.js";
import type { McpLog } from "./log.js";
import { ToolNames } from "./tools.js";
import { Upstream } from "./upstream.js";
import { GATEWAY_INFO } from "./version.js";

/**
 * tools/call as the protocol layer parses it: only the method, so that malformed params reach the
 * SDK Server's own check (InvalidParams, -32602) instead of failing the parse (InternalError).
 */
const CALL_METHOD_ONLY = CallToolRequestSchema.pick({ method: true }).passthrough();

/** Every upstream failed to start: there is nothing to serve. */
export class NoUpstreamError extends Error {
  constructor(reasons: string[]) {
    super(`no upstream could be started:\n  ${reasons.join("\n  ")}`);
    this.name = "NoUpstreamError";
  }
}

export class Gateway {
  private readonly servers = new Set<Server>();
  private readonly context: CallContext;

  private constructor(readonly config: McpConfig, readonly decider: Decider, readonly upstreams: Map<string, Upstream>, private readonly log: McpLog) {
    this.context = { names: new ToolNames([...upstreams.keys()]), upstreams, decider, agent: config.agent, progressIntervalMs: config.progressIntervalMs, log };
  }

  /** Opens the decider (policy, audit log, approvals; or the control plane) and every upstream. */
  static async start(config: McpConfig, log: McpLog): Promise<Gateway> {
    const decider: Decider = config.decisions.mode === "embedded"
      ? await EmbeddedDecider.open(config.decisions, log)
      : new ControlPlaneDecider(config.decisions.url, config.decisions.token);
    const upstreams = new Map<string, Upstream>();
    let gateway: Gateway | undefined;
    for (const u of config.upstreams) {
      upstreams.set(u.name, new Upstream(u, log, { maxMessageBytes: config.maxMessageBytes, onToolsChanged: () => gateway?.toolsChanged() }));
    }
    gateway = new Gateway(config, decider, upstreams, log);
    const results = await Promise.allSettled([...upstreams.values()].map((u) => u.connect()));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
    if (failed.length === results.length) {
      await gateway.close();
      throw new NoUpstreamError(failed);
    }
    return gateway;
  }

  /** A Server for one agent connection; `session` is the fixed session id or one per connection. */
  newServer(): Server {
    const server = new Server(GATEWAY_INFO, { capabilities: { tools: { listChanged: true } } });
    const connectionSession = randomUUID();
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await this.listTools(this.config.session ?? connectionSession) }));
    server.setRequestHandler(CALL_METHOD_ONLY, (req, extra) => {
      const { params } = CallToolRequestSchema.parse(req); // checked by the Server just before
      return handleCall(this.context, params, this.config.session ?? extra.sessionId ?? connectionSession, extra);
    });
    this.servers.add(server);
    server.onclose = () => this.servers.delete(server);
    return server;
  }

  /** Every upstream's tools, renamed; an upstream that cannot list is left out (and logged). */
  async listTools(session: string): Promise<Tool[]> {
    const lists = await Promise.all([...this.upstreams.values()].map(async (u) => {
      try {
        return { u, tools: await u.listTools() };
      } catch (err) {
        this.log.warn("upstream tools/list failed", { upstream: u.name, error: (err as Error).message });
        return { u, tools: [] as Tool[] };
      }
    }));
    const out: Tool[] = [];
    for (const { u, tools } of lists) {
      for (const t of tools) {
        if (this.config.hideDenied && this.decider.deniedWhateverArgs(probeAction(u.name, t.name, this.config.agent, session))) continue;
        out.push(this.context.names.rename(u.name, t));
      }
    }
    return out;
  }

  private toolsChanged(): void {
    for (const s of this.servers) s.sendToolListChanged().catch(() => undefined);
  }

  /** Closes the agent connections, the upstreams (stdio ones are stopped) and the decider. */
  async close(): Promise<void> {
    await Promise.all([...this.servers].map((s) => s.close().catch(() => undefined)));
    await Promise.all([...this.upstreams.values()].map((u) => u.close()));
    await this.decider.close();
  }
}
