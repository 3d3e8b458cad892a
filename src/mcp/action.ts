// A tools/call as the action the policy decides (issue 14): the tool is "<upstream>.<name>",
// whatever name the agent saw (prefixed or not).

export interface McpAction {
  tool: string;
  args: Record<string, unknown>;
  agent: { id: string };
  session: { id: string };
  context: { transport: "mcp" };
}

export function callAction(upstream: string, tool: string, args: Record<string, unknown> | undefined, agent: string, session: string): McpAction {
  return { tool: `${upstream}.${tool}`, args: args ?? {}, agent: { id: agent }, session: { id: session }, context: { transport: "mcp" } };
}

/** The action hide_denied probes: the same without `args`, so that no argument can make a rule hold. */
export function probeAction(upstream: string, tool: string, agent: string, session: string): Omit<McpAction, "args"> {
  return { tool: `${upstream}.${tool}`, agent: { id: agent }, session: { id: session }, context: { transport: "mcp" } };
}
