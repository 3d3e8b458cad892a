// Serving the gateway over Streamable HTTP at /mcp: one MCP session (its own SDK Server and
// transport) per initialize. The body is read here, up to max_message_bytes; a bearer token is
// required when configured (compared in constant time); on a loopback address the Host header
// must name that address (no DNS rebinding from a web page).

import { createHash, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { isLoopback } from "./config.js";
import type { ListenConfig } from "./config.js";
import type { Gateway } from "./gateway.js";
import type { McpLog } from "./log.js";

const PATH = "/mcp";
const MAX_SESSIONS = 10_000;
/** A session with no request for this long is closed (clients that vanish without DELETE). */
const IDLE_MS = 60 * 60_000;

interface Session {
  transport: StreamableHTTPServerTransport;
  server: Server;
  seen: number;
}

class BodyTooLarge extends Error {}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

export interface HttpListener {
  url: string;
  close(): Promise<void>;
}

export async function listenHttp(gateway: Gateway, listen: ListenConfig, maxMessageBytes: number, log: McpLog): Promise<HttpListener> {
  const sessions = new Map<string, Session>();
  const expected = listen.token === null ? null : digest(listen.token);
  let allowedHosts: Set<string> | null = null;

  const authorized = (req: IncomingMessage): boolean => {
    if (expected === null) return true;
    const h = req.headers.authorization;
    const m = typeof h === "string" ? /^Bearer\s+(.+)$/i.exec(h) : null;
    return m !== null && timingSafeEqual(digest(m[1]!.trim()), expected);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== PATH) return jsonRpcError(res, 404, -32000, `not found: the MCP endpoint is ${PATH}`);
    if (allowedHosts !== null && !allowedHosts.has(String(req.headers.host ?? "").toLowerCase())) return jsonRpcError(res, 403, -32000, "forbidden host");
    if (!authorized(req)) {
      res.setHeader("www-authenticate", "Bearer");
      return jsonRpcError(res, 401, -32001, "missing or wrong bearer token");
    }
    let body: unknown;
    if (req.method === "POST") {
      let text: string;
      try {
        text = await readBody(req, maxMessageBytes);
      } catch (err) {
        if (err instanceof BodyTooLarge) return jsonRpcError(res, 413, -32600, `request body over ${maxMessageBytes} bytes`);
        throw err;
      }
      try {
        body = JSON.parse(text);
      } catch {
        return jsonRpcError(res, 400, -32700, "Parse error: the body is not JSON");
      }
    }
    const sid = req.headers["mcp-session-id"];
    if (typeof sid === "string") {
      const s = sessions.get(sid);
      if (!s) return jsonRpcError(res, 404, -32001, "Session not found");
      s.seen = Date.now();
      await s.transport.handleRequest(req, res, body);
      return;
    }
    const initializing = req.method === "POST" && (isInitializeRequest(body) || (Array.isArray(body) && body.some((m) => isInitializeRequest(m))));
    if (!initializing) return jsonRpcError(res, 400, -32000, "Bad Request: no valid session id (send initialize first)");
    if (sessions.size >= MAX_SESSIONS) return jsonRpcError(res, 503, -32000, "too many sessions");
    const server = gateway.newServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server, seen: Date.now() });
        log.debug("session opened", { session: id });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      void server.close().catch(() => undefined);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const http: HttpServer = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      log.error("http request failed", { error: err.message });
      jsonRpcError(res, 500, -32603, "internal error");
    });
  });
  http.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  const sweep = setInterval(() => {
    const cutoff = Date.now() - IDLE_MS;
    for (const [id, s] of sessions) if (s.seen < cutoff) void s.transport.close().catch(() => undefined).finally(() => sessions.delete(id));
  }, 60_000);
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(listen.port, listen.host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  if (isLoopback(listen.host)) {
    allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${listen.host}:${port}`.toLowerCase()]);
  }
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${host}:${port}${PATH}`,
    async close() {
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => undefined)));
      sessions.clear();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
