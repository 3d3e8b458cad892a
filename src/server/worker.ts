// A worker process: its own compiled Policy (its own Wasm instance) and a fastify server on the
// shared listening socket. It runs the decide half of the pipeline (routes/decide.ts); the
// Decided go to the primary, which records them, over IPC (ipc.ts), as do approval RPCs.

import { CountedSeal } from "../audit/counted-seal.js";
import cluster from "node:cluster";
import type { Socket } from "node:net";
import { Registry } from "prom-client";
import { startPauseLog } from "./pauses.js";
import { Policy } from "../policy.js";
import { GateMetrics } from "../metrics/metrics.js";
import type { Decided } from "../pipeline/message.js";
import { Shadow, ShadowLog, ShadowMetrics } from "../pipeline/shadow.js";
import { buildApp } from "./app.js";
import type { ServerConfig } from "./config.js";
import type { AuditAck, Backend } from "./http.js";
import { RpcError } from "./ipc.js";
import type { RpcMethod, RpcParams, ShadowSource, ToPrimary, ToWorker } from "./ipc.js";
import { Log } from "./log.js";
import { startTracing, tracingWanted, type Tracing } from "./tracing.js";
import { StreamHub } from "./stream.js";
import { Tokens } from "./tokens.js";
import type { Principal } from "./tokens.js";

function send(msg: ToPrimary): void {
  process.send!(msg);
}

type AuditPart = { offset: number; count: number; resolve: (a: AuditAck) => void; reject: (e: Error) => void };

/**
 * The Decided of one event-loop turn go to the primary as one message; each request's promise
 * resolves with its slice of the primary's acknowledgement, sent once the records are durable.
 * A request with an escalation also needs its approval id, which comes in a second message
 * (`approvals`) once the approval is stored; requests without one do not wait for it.
 */
class AuditClient {
  private queue: Decided[] = [];
  private parts: AuditPart[] = [];
  private scheduled = false;
  private nextId = 1;
  private inflight = new Map<number, AuditPart[]>();
  /** Durable, waiting for their approval ids: by message id. */
  private awaiting = new Map<number, { escalations: number[]; parts: { part: AuditPart; seq: number; hashes: string[]; seqs?: number[]; conflicts?: number[] }[] }>();
  private idleWaiters: (() => void)[] = [];

  submit(entries: Decided[]): Promise<AuditAck> {
    return new Promise<AuditAck>((resolve, reject) => {
      this.parts.push({ offset: this.queue.length, count: entries.length, resolve, reject });
      for (const e of entries) this.queue.push(e);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private flush = (): void => {
    this.scheduled = false;
    if (this.parts.length === 0) return;
    const id = this.nextId++;
    this.inflight.set(id, this.parts);
    const e = this.queue;
    this.parts = [];
    this.queue = [];
    send({ t: "audit", id, e });
  };

  onAck(msg: Extract<ToWorker, { t: "audit" }>): void {
    const parts = this.inflight.get(msg.id);
    if (!parts) return;
    this.inflight.delete(msg.id);
    if ("err" in msg) {
      const err = new RpcError(503, "audit_unavailable", `the decision could not be made durable in the audit log: ${msg.err}`);
      for (const p of parts) p.reject(err);
    } else if (msg.c !== undefined && msg.c.length > 0) {
      this.onPartialAck(msg, parts, msg.c);
    } else {
      const x = msg.x; // ascending message indices of the escalations
      let k = 0;
      const waiting: { part: AuditPart; seq: number; hashes: string[] }[] = [];
      for (const p of parts) {
        const hashes = new Array<string>(p.count);
        for (let i = 0; i < p.count; i++) hashes[i] = msg.h.slice(64 * (p.offset + i), 64 * (p.offset + i + 1));
        while (k < x.length && x[k]! < p.offset) k++;
        if (k < x.length && x[k]! < p.offset + p.count) waiting.push({ part: p, seq: msg.s + p.offset, hashes });
        else p.resolve({ seq: msg.s + p.offset, hashes, approvals: new Array<string | null>(p.count).fill(null) });
      }
      if (waiting.length > 0) this.awaiting.set(msg.id, { escalations: x, parts: waiting });
    }
    this.maybeIdle();
  }

  /** Counters: some entries of the message were not recorded (their commit found other sums). */
  private onPartialAck(msg: Extract<ToWorker, { t: "audit"; s: number }>, parts: AuditPart[], c: number[]): void {
    const rejected = new Set(c);
    const escalations = new Set(msg.x);
    let recorded = 0;
    const waiting: { part: AuditPart; seq: number; hashes: string[]; seqs: number[]; conflicts: number[] }[] = [];
    for (const p of parts) {
      const hashes = new Array<string>(p.count);
      const seqs = new Array<number>(p.count);
      const conflicts: number[] = [];
      let escalated = false;
      for (let i = 0; i < p.count; i++) {
        const m = p.offset + i;
        if (rejected.has(m)) {
          hashes[i] = "";
          seqs[i] = 0;
          conflicts.push(i);
          continue;
        }
        hashes[i] = msg.h.slice(64 * recorded, 64 * (recorded + 1));
        seqs[i] = msg.s + recorded;
        recorded++;
        if (escalations.has(m)) escalated = true;
      }
      if (escalated) waiting.push({ part: p, seq: seqs[0]!, hashes, seqs, conflicts });
      else p.resolve({ seq: seqs[0]!, hashes, approvals: new Array<string | null>(p.count).fill(null), conflicts, seqs });
    }
    if (waiting.length > 0) this.awaiting.set(msg.id, { escalations: msg.x, parts: waiting });
  }

  onApprovals(msg: Extract<ToWorker, { t: "approvals" }>): void {
    const w = this.awaiting.get(msg.id);
    if (!w) return;
    this.awaiting.delete(msg.id);
    const byIndex = new Map<number, string | null>();
    w.escalations.forEach((at, k) => byIndex.set(at, msg.ap[k] ?? null));
    for (const { part, seq, hashes, seqs, conflicts } of w.parts) {
      const approvals = new Array<string | null>(part.count);
      for (let i = 0; i < part.count; i++) approvals[i] = byIndex.get(part.offset + i) ?? null;
      part.resolve(seqs === undefined ? { seq, hashes, approvals } : { seq, hashes, approvals, seqs, conflicts });
    }
    this.maybeIdle();
  }

  /** Nothing queued, in flight or waiting for approval ids. */
  private get settled(): boolean {
    return this.inflight.size === 0 && this.awaiting.size === 0 && this.parts.length === 0;
  }

  private maybeIdle(): void {
    if (this.settled) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when every submitted entry has been acknowledged. */
  idle(): Promise<void> {
    if (this.settled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/** Counter sums asked of the primary: the refs of one event-loop turn in one message, at one `now`. */
class SumsClient {
  private refs: [string, string, (string | number)[]][] = [];
  private waiters: { offset: number; count: number; resolve: (r: { now: number; sums: number[] }) => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private nextId = 1;
  private inflight = new Map<number, { now: number; waiters: SumsClient["waiters"] }>();

  read(refs: [string, string, (string | number)[]][]): Promise<{ now: number; sums: number[] }> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ offset: this.refs.length, count: refs.length, resolve, reject });
      for (const r of refs) this.refs.push(r);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private flush = (): void => {
    this.scheduled = false;
    const id = this.nextId++;
    const now = Date.now();
    this.inflight.set(id, { now, waiters: this.waiters });
    const r = this.refs;
    this.refs = [];
    this.waiters = [];
    send({ t: "sums", id, now, r });
  };

  onReply(msg: Extract<ToWorker, { t: "sums" }>): void {
    const f = this.inflight.get(msg.id);
    if (!f) return;
    this.inflight.delete(msg.id);
    if ("err" in msg) {
      const err = new RpcError(503, "state_unavailable", `the counter state cannot be read: ${msg.err}`);
      for (const w of f.waiters) w.reject(err);
      return;
    }
    for (const w of f.waiters) w.resolve({ now: f.now, sums: msg.s.slice(w.offset, w.offset + w.count) });
  }
}

class RpcClient {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  call<M extends RpcMethod>(m: M, p: RpcParams[M], who: Principal): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      send({ t: "rpc", id, m, p, who });
    });
  }

  onReply(msg: Extract<ToWorker, { t: "rpc" }>): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if ("err" in msg) p.reject(new RpcError(msg.err.status, msg.err.code, msg.err.message, msg.err.details));
    else p.resolve(msg.r);
  }
}

export async function runWorker(): Promise<void> {
  const config = JSON.parse(process.env.TOLLGATE_SERVE_CONFIG ?? "null") as ServerConfig | null;
  if (config === null || !process.send) throw new Error("runWorker: not started by the tollgate serve primary");
  // The primary orchestrates shutdown; a terminal's Ctrl-C reaches the whole process group.
  process.on("SIGINT", () => undefined);
  process.on("SIGTERM", () => undefined);
  process.on("SIGHUP", () => undefined);
  startPauseLog(`worker-${cluster.worker?.id ?? process.pid}`);

  const tokens = Tokens.fromFile(config.tokens);
  // The primary opened the log (and made its key) before forking: records seal with it.
  const countedSeal = await CountedSeal.load(config.auditDir);
  const registry = new Registry();
  const metrics = new GateMetrics({ registry });
  const audit = new AuditClient();
  const rpc = new RpcClient();
  const sums = new SumsClient();
  // Approval streams (GET /v1/approvals/stream): the primary sends approval events while any is open.
  const hub = new StreamHub((on) => send({ t: "approval-events", on }));
  let policy: Policy | null = null;
  // The shadow (candidate) policy: compiled here, deciding after each live answer with counters
  // of its own (its Policy's in-memory store: per worker, starting empty; docs/server.md "Shadow").
  const log = new Log(config.logLevel, { pid: process.pid, role: "worker" });
  const shadowLog = new ShadowLog(config.shadowLog, (err) => log.error("shadow log failed", { detail: err.message }));
  const shadowMetrics = ShadowMetrics.of(registry);
  let shadow: Shadow | null = null;
  const shadowOf = (src: ShadowSource | null | undefined): Shadow | null =>
    src === null || src === undefined ? null : new Shadow(Policy.fromYaml(src.yaml, { filename: src.filename }), shadowMetrics, shadowLog, (err) => log.error("shadow decision failed", { detail: err.message }));
  let ready = false;
  /** Set by the primary (a `state` message): why this server cannot serve, e.g. the audit log failed. */
  let down: { code: string; message: string } | null = null;
  let started: ((p: Policy) => void) | null = null;
  const first = new Promise<Policy>((resolve) => (started = resolve));

  const backend: Backend = {
    policy: () => policy!,
    shadow: () => shadow,
    audit: (entries) => audit.submit(entries),
    sums: (refs) => sums.read(refs),
    countedSeal,
    rpc: (m, p, who) => rpc.call(m, p, who),
    notReady: () => down ?? (ready && policy !== null ? null : { code: "unavailable", message: "not ready (starting or shutting down)" }),
  };

  let app: ReturnType<typeof buildApp> | null = null;
  /** The server's open connections (the drain closes those that never sent a request). */
  const sockets = new Set<Socket>();
  let tracing: Tracing | null = null;
  let closing = false;
  const shutdown = async () => {
    ready = false;
    if (app) {
      // Stop accepting; finish in-flight requests with `Connection: close`; close connections
      // as they become idle (keep-alive clients would otherwise hold the drain open).
      closing = true;
      // Streams never finish by themselves: they end first, with a `bye` event.
      hub.close("the server is shutting down");
      const server = app.server;
      // Idle keep-alive connections close as they go idle; a connection that never sent a byte
      // (a client's spare connection, a load balancer's pre-opened one) holds no request and is
      // not "idle" to Node: it is closed too, or it would hold the drain until the kill.
      const sweep = setInterval(() => {
        server.closeIdleConnections();
        for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
      }, 50);
      await app.close();
      clearInterval(sweep);
    }
    await audit.idle();
    await shadowLog.close();
    await tracing?.shutdown().catch((err: unknown) => log.warn("traces not flushed", { detail: String(err) })); // its last spans
    process.exit(0);
  };

  const onMessage = (msg: ToWorker): void => {
    switch (msg.t) {
      case "many":
        for (const m of msg.m) onMessage(m);
        break;
      case "audit":
        audit.onAck(msg);
        break;
      case "approvals":
        audit.onApprovals(msg);
        break;
      case "sums":
        sums.onReply(msg);
        break;
      case "rpc":
        rpc.onReply(msg);
        break;
      case "config-policy":
        if (policy === null) {
          policy = Policy.fromYaml(msg.yaml, { filename: msg.filename });
          try {
            shadow = shadowOf(msg.shadow);
          } catch (err) {
            log.error("cannot load the shadow policy; not shadowing", { detail: (err as Error).message });
          }
          started?.(policy);
        }
        break;
      case "shadow":
        try {
          shadow = shadowOf(msg.shadow); // a new candidate starts with empty counters
          send({ t: "shadow-loaded", id: msg.id });
        } catch (err) {
          send({ t: "shadow-loaded", id: msg.id, error: (err as Error).message });
        }
        break;
      case "policy": {
        try {
          const next = Policy.fromYaml(msg.yaml, { filename: msg.filename });
          policy = next; // atomic swap: requests already evaluated keep the hash they were made with
          send({ t: "policy-loaded", id: msg.id, hash: next.hash });
        } catch (err) {
          send({ t: "policy-loaded", id: msg.id, hash: policy?.hash ?? "", error: (err as Error).message });
        }
        break;
      }
      case "state":
        down = msg.ready ? null : { code: msg.code ?? "unavailable", message: msg.reason ?? "not ready" };
        break;
      case "tokens":
        try {
          tokens.replace(Tokens.fromFile(config.tokens));
          hub.revalidate(tokens);
        } catch {
          // the primary checked the file; if it changed again since, keep the old tokens
        }
        break;
      case "approval-event":
        hub.publish(msg.e);
        break;
      case "metrics-req": {
        const id = msg.id;
        void registry.getMetricsAsJSON().then((json) => send({ t: "metrics-res", id, metrics: json }));
        break;
      }
      case "shutdown":
        void shutdown();
        break;
    }
  };
  process.on("message", (msg: ToWorker | { type?: string }) => {
    if ("t" in msg) onMessage(msg);
  });

  send({ t: "hello" });
  await first;
  tracing = tracingWanted(config.otel) ? await startTracing() : null;
  app = buildApp({ config, tokens, backend, metrics, hub, tracing });
  app.addHook("onSend", (_req, reply, payload, done) => {
    if (closing) reply.header("connection", "close");
    done(null, payload);
  });
  app.server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await app.listen({ port: config.port, host: config.host, backlog: 4096 }); // a burst of new sessions must not overflow the accept queue
  const addr = app.server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : config.port;
  ready = true;
  send({ t: "ready", address: config.host, port });
}
