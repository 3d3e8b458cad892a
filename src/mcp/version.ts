// How the gateway names itself to agents and upstreams (MCP `serverInfo` / `clientInfo`).

export const GATEWAY_INFO = { name: "tollgate-mcp", version: "0.1.0" } as const;
