// `tollgate approvals console --db FILE` (docs/approvals.md, "The console"): the web console
// for an embedded gate's SQLite approvals, on a small local HTTP server with one token. The same
// routes as `tollgate serve` for what the console uses — /v1/approvals (list, get, approve, deny),
// the stream and its tickets, /console/ — on the file directly, like `tollgate approvals approve`:
// the process that owns the audit log (the gate) notices the resolutions and writes their
// records. Changes made by other processes (new escalations, resolutions, expiries, records)
// are seen by polling the file (PRAGMA data_version, every 250 ms while a stream is open).

import Fastify from "fastify";
import type { FastifyInstance } from "fastify";
import type { Approval, ApprovalState } from "../approvals/approval.js";
import type { ApprovalEvent, ApprovalListener } from "../approvals/approvals.js";
import { SqliteApprovalStore } from "../approvals/store.js";
import { listableApprovers, requireRole, resolvableApproval, visibleApproval } from "./access.js";
import { logBeside, recordTransition } from "../pipeline/offline-transition.js";
import { approvalRecords } from "./approval-records.js";
import { ApprovalFeed } from "./approval-feed.js";
import { authHook, errorHandler } from "./app.js";
import { consoleRoutes } from "./console.js";
import type { Backend } from "./http.js";
import { RpcError } from "./ipc.js";
import type { RpcMethod, RpcParams } from "./ipc.js";
import { approvalRoutes } from "./routes/approvals.js";
import { rpcErrorOf } from "./rpc.js";
import { StreamHub, streamRoutes } from "./stream.js";
import { hashToken, Tokens } from "./tokens.js";
import type { Principal } from "./tokens.js";

export interface LocalConsoleOptions {
  db: string;
  host: string;
  /** 0: any free port. */
  port: number;
  /** The one token that signs in (its principal: `who`). */
  token: string;
  who: Principal;
  /** How often the file is looked at while a stream is open; default 250 ms. */
  pollMs?: number;
  /**
   * The gate's audit directory (--audit-dir): where the approvals' records are read, and where a
   * resolution made here has its record written at once when no gate holds the log. Null: the
   * database's own directory when it holds the log that recorded the approval's escalation.
   */
  auditDir?: string | null;
}

export interface LocalConsole {
  /** http://host:port/console/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

const RESOLVED: readonly ApprovalState[] = ["approved", "denied", "expired"];

/**
 * Turns changes of the file made by any process into approval events: a new pending approval
 * is `created`; a change of state, or its audit record written, is `resolved`.
 */
export class StoreWatcher {
  private readonly listeners = new Set<ApprovalListener>();
  /** What each approval looked like last time: `state:resolution_seq`. */
  private known = new Map<string, string>();
  private version = -1;
  private timer: ReturnType<typeof setInterval> | undefined;

  /** Scans run one after another (each reads the file, then compares with the last one). */
  private scanning: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: SqliteApprovalStore,
    private readonly pollMs = 250,
  ) {}

  subscribe(listener: ApprovalListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Starts polling (what is there now is known, not announced). */
  start(): void {
    if (this.timer !== undefined) return;
    this.version = this.store.dataVersion();
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref?.();
    this.scanning = this.scanning.then(async () => {
      this.known = new Map((await this.current()).map((a) => [a.id, key(a)]));
    }).catch(() => undefined);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Another process changed the file (data_version moved): look. */
  private poll(): void {
    try {
      const v = this.store.dataVersion();
      if (v === this.version) return;
      this.version = v;
      void this.scan();
    } catch {
      // the file is busy or gone for a moment: look again next time
    }
  }

  /** Announces what changed since the last look (also after a change made through this very connection, which data_version does not count). */
  scan(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.timer === undefined) return;
      const now = await this.current();
      const seen = new Map(now.map((a) => [a.id, a]));
      // Pending before and not among the recent ones now: resolved long after it was created.
      for (const [id, k] of this.known) {
        if (!seen.has(id) && k.startsWith("pending:")) {
          const a = await this.store.get(id);
          if (a !== undefined) seen.set(id, a);
        }
      }
      const next = new Map<string, string>();
      for (const a of seen.values()) {
        const k = key(a);
        next.set(a.id, k);
        if (this.known.get(a.id) !== k) this.emit({ type: a.state === "pending" ? "created" : "resolved", approval: a });
      }
      this.known = next;
    };
    this.scanning = this.scanning.then(run).catch(() => undefined); // a busy file: the next look sees it
    return this.scanning;
  }

  private async current(): Promise<Approval[]> {
    const lists = await Promise.all([this.store.list({ state: "pending", limit: 10_000 }), ...RESOLVED.map((state) => this.store.list({ state, limit: 200 }))]);
    return lists.flat();
  }

  private emit(e: ApprovalEvent): void {
    for (const l of [...this.listeners]) l(e);
  }
}

function key(a: Approval): string {
  return `${a.state}:${a.resolution_seq ?? ""}`;
}

/** The approval RPCs the console uses, on the file, with the same rules as the server's primary (access.ts). */
function localBackend(store: SqliteApprovalStore, feed: ApprovalFeed, watcher: StoreWatcher, db: string, given: string | null): Backend {
  const auditDirOf = async (a: Approval): Promise<string | undefined> => given ?? (await logBeside(db, a));
  const handlers: Partial<{ [M in RpcMethod]: (p: RpcParams[M], who: Principal) => unknown }> = {
    "approval-get": async (p, who) => visibleApproval(await store.get(p.id), p.id, who),
    "approval-records": async (p, who) => {
      requireRole("approval-records", who);
      const a = visibleApproval(await store.get(p.id), p.id, who);
      return approvalRecords((await auditDirOf(a)) ?? null, a);
    },
    "approval-list": async (p, who) => {
      requireRole("approval-list", who);
      const state = p.state as ApprovalState | undefined;
      const scope = listableApprovers(who, p.approver);
      if (scope === "all") return store.list({ state, approver: p.approver, limit: p.limit });
      const mine = (await Promise.all(scope.map((approver) => store.list({ state, approver, limit: p.limit })))).flat();
      mine.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
      return mine.slice(0, p.limit);
    },
    "approval-resolve": async (p, who) => {
      requireRole("approval-resolve", who);
      resolvableApproval(await store.get(p.id), p.id, who);
      const to = p.verb === "approve" ? "approved" : "denied";
      try {
        const a = await store.resolve(p.id, to, { by: who.identity, note: p.note, at: new Date().toISOString(), outcome: to === "approved" ? "allow" : "deny" });
        // Its record, at once when no gate holds the log (else the gate writes it).
        await recordTransition(store, a, await auditDirOf(a));
        return (await store.get(a.id)) ?? a;
      } finally {
        void watcher.scan(); // its own change (or the expiry it made instead), which data_version does not show
      }
    },
    "approval-wait": () => {
      throw new RpcError(501, "not_implemented", "tollgate approvals console does not long-poll: the gate's process waits for its approvals");
    },
    "approval-ticket": (p, who) => feed.ticket(p, who),
    "approval-ticket-redeem": (p) => feed.redeem(p),
    "approval-snapshot": (p, who) => feed.snapshot(p, who),
  };
  const unsupported = (): never => {
    throw new RpcError(404, "not_found", "not served by tollgate approvals console");
  };
  return {
    policy: unsupported,
    shadow: () => null,
    audit: unsupported,
    sums: unsupported,
    get countedSeal(): never {
      return unsupported();
    },
    notReady: () => null,
    rpc: async (m, p, who) => {
      const h = handlers[m] as ((p: unknown, who: Principal) => unknown) | undefined;
      if (h === undefined) unsupported();
      try {
        return await h!(p, who);
      } catch (err) {
        throw rpcErrorOf(err);
      }
    },
  };
}

/** Starts the console's server on `db` (which must exist). */
export async function startLocalConsole(opts: LocalConsoleOptions): Promise<LocalConsole> {
  const store = SqliteApprovalStore.open(opts.db);
  const tokens = Tokens.fromYaml(JSON.stringify({ tokens: { [hashToken(opts.token)]: { identity: opts.who.identity, role: opts.who.role, approvers: [...opts.who.approvers] } } }), "<console token>");
  const watcher = new StoreWatcher(store, opts.pollMs);
  const feed = new ApprovalFeed(store);
  const hub = new StreamHub((on) => (on ? watcher.start() : watcher.stop()));
  watcher.subscribe((e) => hub.publish(e));
  const backend = localBackend(store, feed, watcher, opts.db, opts.auditDir ?? null);

  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 1024 * 1024, forceCloseConnections: true, routerOptions: { ignoreTrailingSlash: true } });
  app.decorateRequest("principal", null);
  app.addHook("onRequest", authHook(tokens));
  app.setErrorHandler(errorHandler);
  app.get("/", (_req, reply) => reply.redirect("/console/"));
  app.register(approvalRoutes, { backend, maxWaitMs: 0 });
  app.register(streamRoutes, { backend, tokens, hub });
  app.register(consoleRoutes);
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    store.close();
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : opts.port;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}/console/`,
    port,
    close: async () => {
      hub.close("the console is stopping");
      await app.close();
      watcher.stop();
      feed.close();
      store.close();
    },
  };
}
