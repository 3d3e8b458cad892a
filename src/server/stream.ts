// The approvals stream (docs/approvals.md, "The console"): server-sent events of the approvals a
// caller may resolve, for the web console and for `curl -N`. A worker holds its streams in a
// StreamHub, which hears the primary's approval events (approval-feed.ts) while it has any.
//
//   POST /v1/approvals/stream/ticket   (bearer: approver, admin) → {ticket, expires_in_ms}
//   GET  /v1/approvals/stream?ticket=T (EventSource cannot send headers: the ticket, used once, within 30 s)
//   GET  /v1/approvals/stream          (Authorization: Bearer TOKEN, for clients that can)
//
// Events: `snapshot` {now, pending, history, who} first; then `approval` {type: created|resolved,
// approval} for each change; `ping` {now} every 15 s; `bye` {code, reason} before the server ends
// it (code: shutdown, revoked, overflow or error).

import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { ApprovalEvent } from "../approvals/approvals.js";
import { allowed, mayResolve, ROLES } from "./access.js";
import { errorBody } from "./http.js";
import type { Backend } from "./http.js";
import type { ApprovalSnapshot, RedeemedTicket, StreamTicket } from "./ipc.js";
import { ANONYMOUS, Tokens } from "./tokens.js";
import type { Principal } from "./tokens.js";

/** Events a stream buffers before its snapshot has been sent, at most. */
const MAX_BUFFERED = 10_000;
/** A client that has not read this much of its stream is too slow: its stream ends (it reconnects and starts again). */
const MAX_UNREAD_BYTES = 8 * 1024 * 1024;
/** Resolved approvals a stream's snapshot holds, by default and at most. */
const HISTORY_DEFAULT = 50;
const HISTORY_MAX = 500;

interface Stream {
  who: Principal;
  /** SHA-256 of the token the stream was opened with (checked again when the tokens file is reloaded). */
  tokenHash: string | null;
  res: ServerResponse;
  /** Events that came before the snapshot was sent; null once it has been. */
  buffer: ApprovalEvent[] | null;
}

export class StreamHub {
  private readonly streams = new Set<Stream>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private closedReason: string | null = null;

  /**
   * `subscribe(on)`: asks the primary for approval events (on: the first stream opened) or stops
   * them (the last one closed).
   */
  constructor(
    private readonly subscribe: (on: boolean) => void,
    private readonly heartbeatMs = 15_000,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** Whether new streams are refused (shutting down). */
  get closed(): boolean {
    return this.closedReason !== null;
  }

  /** Starts a stream (its snapshot comes later: `ready`); returns it, or null if the hub is closed (the response is ended). */
  open(res: ServerResponse, who: Principal, tokenHash: string | null): Stream | null {
    if (this.closedReason !== null) {
      end(res, "shutdown", this.closedReason);
      return null;
    }
    const s: Stream = { who, tokenHash, res, buffer: [] };
    this.streams.add(s);
    if (this.streams.size === 1) {
      this.subscribe(true);
      this.heartbeat = setInterval(() => this.ping(), this.heartbeatMs);
      this.heartbeat.unref?.();
    }
    res.once("close", () => this.remove(s));
    return s;
  }

  /** Sends the stream its snapshot, then what happened since it was asked for. */
  ready(s: Stream, snapshot: ApprovalSnapshot & { who: Principal }): void {
    if (!this.streams.has(s) || s.buffer === null) return;
    const buffered = s.buffer;
    s.buffer = null;
    this.write(s, "snapshot", snapshot);
    for (const e of buffered) this.write(s, "approval", e);
  }

  /** Ends one stream with a reason (`bye`). */
  end(s: Stream, code: ByeCode, reason: string): void {
    this.remove(s);
    end(s.res, code, reason);
  }

  /** An approval event from the primary: to each stream whose caller may resolve it. */
  publish(e: ApprovalEvent): void {
    let text: string | null = null; // the same frame for every stream: serialized once
    for (const s of this.streams) {
      if (!mayResolve(e.approval, s.who)) continue;
      if (s.buffer !== null) {
        if (s.buffer.length >= MAX_BUFFERED) this.end(s, "overflow", "too many events before the stream started; reconnect");
        else s.buffer.push(e);
      } else {
        text ??= frame("approval", e);
        this.send(s, text);
      }
    }
  }

  /** The tokens file was reloaded: streams whose token is gone or now names someone else end. */
  revalidate(tokens: Tokens): void {
    for (const s of this.streams) {
      if (s.tokenHash === null) continue;
      const now = tokens.principalOfHash(s.tokenHash);
      if (now === null || now.identity !== s.who.identity || now.role !== s.who.role || now.approvers.join("\n") !== s.who.approvers.join("\n")) {
        this.end(s, "revoked", "the token of this stream was revoked or changed; sign in again");
      }
    }
  }

  /** Ends every stream with `reason` and refuses new ones (shutting down). */
  close(reason: string): void {
    this.closedReason = reason;
    for (const s of [...this.streams]) this.end(s, "shutdown", reason);
  }

  private ping(): void {
    const text = frame("ping", { now: new Date().toISOString() });
    for (const s of this.streams) this.send(s, text);
  }

  private write(s: Stream, event: string, data: unknown): void {
    this.send(s, frame(event, data));
  }

  private send(s: Stream, text: string): void {
    if (s.res.writableEnded || s.res.destroyed) return this.remove(s);
    if (s.res.writableLength > MAX_UNREAD_BYTES) {
      this.remove(s);
      s.res.destroy();
      return;
    }
    s.res.write(text);
  }

  private remove(s: Stream): void {
    if (!this.streams.delete(s)) return;
    if (this.streams.size === 0) {
      if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
      this.heartbeat = undefined;
      if (this.closedReason === null) this.subscribe(false);
    }
  }
}

/** One server-sent event (JSON data has no raw newlines: one `data:` line). */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Why a stream ended: the server is stopping; the token is no longer valid; the client was too slow; the snapshot could not be read. */
export type ByeCode = "shutdown" | "revoked" | "overflow" | "error";

function end(res: ServerResponse, code: ByeCode, reason: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.end(frame("bye", { code, reason }));
}

export interface StreamRoutesOptions {
  backend: Backend;
  tokens: Tokens;
  hub: StreamHub;
}

export async function streamRoutes(app: FastifyInstance, { backend, tokens, hub }: StreamRoutesOptions): Promise<void> {
  app.post("/v1/approvals/stream/ticket", { config: { roles: ROLES["approval-stream"] } }, async (req, reply) => {
    const r = (await backend.rpc("approval-ticket", { token_hash: Tokens.headerTokenHash(req.headers.authorization) }, req.principal!)) as StreamTicket;
    reply.header("cache-control", "no-store").type("application/json");
    return JSON.stringify(r);
  });

  // No `roles`: the credential is either the Authorization header or a ticket, checked here.
  app.get("/v1/approvals/stream", {
    schema: {
      querystring: {
        type: "object",
        additionalProperties: false,
        properties: {
          ticket: { type: "string", minLength: 1, maxLength: 200 },
          history: { type: "string", pattern: "^[0-9]{1,4}$" },
        },
      },
    },
  }, async (req, reply) => {
    const q = req.query as { ticket?: string; history?: string };
    let who: Principal | null;
    let tokenHash: string | null;
    if (req.headers.authorization !== undefined) {
      who = tokens.authenticate(req.headers.authorization);
      tokenHash = Tokens.headerTokenHash(req.headers.authorization);
      if (who === null) {
        reply.code(401).header("www-authenticate", 'Bearer realm="tollgate", error="invalid_token"').type("application/json");
        return errorBody("unauthorized", "unknown bearer token");
      }
    } else if (q.ticket !== undefined) {
      const r = (await backend.rpc("approval-ticket-redeem", { ticket: q.ticket }, ANONYMOUS)) as RedeemedTicket;
      // A ticket outlives nothing: the token it was issued to must still be the same principal.
      const now = r.token_hash === null ? r.who : tokens.principalOfHash(r.token_hash);
      if (now === null || now.identity !== r.who.identity || now.role !== r.who.role) {
        reply.code(401).type("application/json");
        return errorBody("unauthorized", "the token this ticket was issued to is no longer valid");
      }
      who = now;
      tokenHash = r.token_hash;
    } else {
      reply.code(401).header("www-authenticate", 'Bearer realm="tollgate"').type("application/json");
      return errorBody("unauthorized", "a bearer token (Authorization: Bearer TOKEN) or a stream ticket (?ticket=, from POST /v1/approvals/stream/ticket) is required");
    }
    if (!allowed(ROLES["approval-stream"], who)) {
      reply.code(403).type("application/json");
      return errorBody("forbidden", `role '${who.role}' may not watch the approvals queue`);
    }
    const history = Math.min(HISTORY_MAX, q.history === undefined ? HISTORY_DEFAULT : Number(q.history));
    if (req.method === "HEAD") {
      // The headers a GET would get, and no stream (a ticket is used up all the same).
      reply.header("cache-control", "no-store").type("text/event-stream; charset=utf-8");
      return "";
    }

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no", // proxies: do not buffer the stream
      // The connection ends with the stream (it is never reused): nothing is left for a
      // shutdown to wait on when a client has stopped reading without closing it.
      connection: "close",
    });
    res.write(": tollgate approvals stream\n\n");
    const stream = hub.open(res, who, tokenHash);
    if (stream === null) return;
    try {
      const snapshot = (await backend.rpc("approval-snapshot", { history }, who)) as ApprovalSnapshot;
      hub.ready(stream, { ...snapshot, who: { identity: who.identity, role: who.role, approvers: who.approvers } });
    } catch (err) {
      hub.end(stream, "error", `could not read the approvals: ${(err as Error).message}`);
    }
  });
}
