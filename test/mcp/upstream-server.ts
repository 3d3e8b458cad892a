// A real MCP server (the SDK's McpServer) used as an upstream by the gateway tests, over stdio
// (run as a child) or Streamable HTTP (in the test process, startHttpUpstream). Every call it
// receives is appended to `calls` (and to the file $MCP_CALL_LOG for the stdio child), so a test
// can prove what reached it.

import { appendFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

export interface SeenCall {
  tool: string;
  args: Record<string, unknown>;
}

const BIG = 64 * 1024 * 1024;

export function makeServer(name: string, seen: (c: SeenCall) => void): McpServer {
  const server = new McpServer({ name, version: "1.0.0" });
  const record = (tool: string, args: Record<string, unknown>) => {
    // Large values are recorded by size: the log stays small.
    const small: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args)) small[k] = typeof v === "string" && v.length > 1000 ? { length: v.length } : v;
    seen({ tool, args: small });
  };
  server.registerTool("echo", { description: "Echoes its text", inputSchema: { text: z.string(), i: z.number().optional() } }, async (args) => {
    record("echo", args);
    return { content: [{ type: "text", text: `${name}:${args.text}${args.i !== undefined ? `#${args.i}` : ""}` }] };
  });
  server.registerTool("size", { description: "Length and SHA-256 of data", inputSchema: { data: z.string() } }, async (args) => {
    record("size", args);
    return { content: [{ type: "text", text: `${Buffer.byteLength(args.data)} ${createHash("sha256").update(args.data).digest("hex")}` }] };
  });
  for (const tool of ["deploy", "quick", "limited", "read_secret"]) {
    server.registerTool(tool, { description: `The ${tool} tool`, inputSchema: { target: z.string().optional() } }, async (args) => {
      record(tool, args);
      return { content: [{ type: "text", text: `${name}:${tool} done` }] };
    });
  }
  server.registerTool("crash", { description: "Exits the server process", inputSchema: {} }, async () => {
    record("crash", {});
    setImmediate(() => process.exit(3));
    return new Promise(() => undefined);
  });
  return server;
}

export interface HttpUpstream {
  url: string;
  calls: SeenCall[];
  close(): Promise<void>;
}

/** A Streamable HTTP upstream in this process, on an ephemeral port. */
export async function startHttpUpstream(name = "remote"): Promise<HttpUpstream> {
  const calls: SeenCall[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
    const sid = req.headers["mcp-session-id"];
    let t = typeof sid === "string" ? transports.get(sid) : undefined;
    if (!t && isInitializeRequest(body)) {
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => void transports.set(id, transport) });
      await makeServer(name, (c) => calls.push(c)).connect(transport);
      t = transport;
    }
    if (!t) {
      res.writeHead(400).end();
      return;
    }
    await t.handleRequest(req, res, body);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    calls,
    async close() {
      for (const t of transports.values()) await t.close().catch(() => undefined);
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

// Run as a child: a stdio upstream.
if (process.argv[2] === "--stdio") {
  const name = process.argv[3] ?? "local";
  const log = process.env.MCP_CALL_LOG;
  const server = makeServer(name, (c) => {
    if (log) appendFileSync(log, JSON.stringify(c) + "\n");
  });
  await server.connect(new StdioServerTransport(undefined, undefined, { maxBufferSize: BIG }));
}
