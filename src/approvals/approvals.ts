// The live approvals manager (docs/approvals.md): creates approvals for escalate decisions,
// expires them on time, resolves them, has each transition audited exactly once, and wakes
// whoever waits for them. It runs in the process that owns an audit log. Other processes (the
// `tollgate approvals` CLI) may resolve approvals in the same store; the manager notices —
// SQLite: by polling; PostgreSQL: by LISTEN/NOTIFY — and writes their audit records. On
// PostgreSQL several managers (several `tollgate serve` instances, each with its own audit log)
// share one store: each writes the records of the transitions it makes.

import { randomUUID } from "node:crypto";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Decision } from "../decision.js";
import type { Approval } from "./approval.js";
import { ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "./approval.js";
import type { Notifier } from "./notifier.js";
import { openApprovalStore } from "./open-store.js";
import type { PostgresStoreOptions } from "./open-store.js";
import type { ApprovalChange, ApprovalFilter, ApprovalStore } from "./store-api.js";

/** Writes the audit record of a transition (supplied by the gate); resolves once it is durable. */
export type TransitionAudit = (approval: Approval) => Promise<{ seq: number; hash: string }>;

export interface ApprovalsOptions {
  /**
   * A SQLite file or a postgres:// URL (opened and closed by the manager), or an open store (left
   * open by close()).
   */
  store: string | ApprovalStore;
  /** Options of a PostgreSQL store opened from a URL (schema, table, instance, auditLeaseMs). */
  postgres?: PostgresStoreOptions;
  audit?: TransitionAudit;
  notifier?: Notifier;
  /** Milliseconds since the epoch; default Date.now (so fake timers drive it). */
  now?: () => number;
  /**
   * How often to look for resolutions made by other processes and to retry failed audit writes;
   * default 250. 0 disables polling. (PostgreSQL pushes changes as they commit; polling then
   * only retries, and looks at everything while the notification connection is down.)
   */
  pollMs?: number;
  /** Errors nobody awaits: notifier failures, audit writes for background transitions, polling. */
  onError?: (e: Error) => void;
  /**
   * Whether the audit log can take a record now (false once it has failed: disk full, I/O
   * error). While false, approve and deny refuse at once with ApprovalError "unavailable" and
   * change nothing. Without it they find out from the failed write (and undo, as always).
   */
  auditReady?: () => boolean;
  /**
   * A transition that another instance made and recorded in its own log, noticed here (a store
   * shared by several instances: PostgreSQL's notification that its record was written). The gate
   * and the server settle the pending counter contributions of the escalations they recorded with
   * it (spec section 8): they are held by the instance that counted them.
   */
  onRecordedElsewhere?: (approval: Approval) => void;
}

export interface CreateInput {
  decision: Decision;
  /** Already redacted by the caller. */
  action: unknown;
  policy_hash: string;
  decision_seq: number;
  decision_hash: string;
  /** SHA-256 of the canonical action as the agent sent it (before redaction): what redemption checks. */
  action_digest?: string | null;
  /** The agent the approval is issued to (`action.agent.id`). */
  agent?: string | null;
}

export interface ResolveInput {
  by: string;
  note?: string;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Stop waiting after this long and return the approval as it is (still pending). */
  timeoutMs?: number;
}

/**
 * What `subscribe` listeners hear: an approval was created (pending), or a transition out of
 * pending is settled (with its audit record, where the manager has an `audit` callback).
 */
export type ApprovalEvent = { type: "created" | "resolved"; approval: Approval };

export type ApprovalListener = (event: ApprovalEvent) => void;

interface Waiter {
  resolve(a: Approval): void;
  reject(e: unknown): void;
}

/** setTimeout's largest delay; longer expiries are armed in steps. */
const MAX_DELAY = 2 ** 31 - 1;
const MAX_RETRY_MS = 30_000;

export class Approvals {
  private readonly audit: TransitionAudit | undefined;
  private readonly auditReady: (() => boolean) | undefined;
  private readonly notifier: Notifier | undefined;
  /** The clock expiry and resolutions use (milliseconds since the epoch). */
  readonly now: () => number;
  private readonly onError: (e: Error) => void;
  private readonly onRecordedElsewhere: ((a: Approval) => void) | undefined;
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly listeners = new Set<ApprovalListener>();
  /** Audit writes in flight, by approval id: one per transition. */
  private readonly settling = new Map<string, Promise<Approval>>();
  /** Failed audit writes: when to try again, and the next back-off. */
  private readonly retries = new Map<string, { at: number; delay: number }>();
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private lastSweep = 0;
  /** Store operations the manager started by itself (expiry, polling, records, notifications). */
  private readonly io = new Set<Promise<unknown>>();
  private unwatch: (() => Promise<void>) | undefined;
  private closed = false;
  private storeClosed = false;
  private storeClosing: Promise<void> | undefined;

  private constructor(
    readonly store: ApprovalStore,
    private readonly ownsStore: boolean,
    private readonly pollMs: number,
    opts: ApprovalsOptions,
  ) {
    this.audit = opts.audit;
    this.auditReady = opts.auditReady;
    this.notifier = opts.notifier;
    this.now = opts.now ?? (() => Date.now());
    this.onError = opts.onError ?? ((e) => process.emitWarning(e.message, "TollgateApprovalsWarning"));
    this.onRecordedElsewhere = opts.onRecordedElsewhere;
  }

  /**
   * Opens the store, expires overdue pending approvals at once, schedules the expiry of the
   * others, writes the missing audit records of transitions made while no owner ran (in the
   * background), starts listening for changes made elsewhere (PostgreSQL) and polling.
   */
  static async open(opts: ApprovalsOptions): Promise<Approvals> {
    const owns = typeof opts.store === "string";
    const store = typeof opts.store === "string" ? await openApprovalStore(opts.store, opts.postgres) : opts.store;
    const pollMs = opts.pollMs ?? 250;
    const m = new Approvals(store, owns, pollMs, opts);
    try {
      // Listening first: what another instance does from now on is not missed.
      if (store.watch) m.unwatch = await store.watch((c) => m.onRemote(c), (e) => m.report(e, "approvals notifications"));
      const now = m.now();
      for (const p of await store.list({ state: "pending" })) {
        if (Date.parse(p.expires) <= now) await m.expire(p);
        else m.schedule(p);
      }
      if (m.audit) for (const a of await store.unaudited()) m.background(a);
      await store.changed(); // what is there now has been seen
      if (pollMs > 0 && Number.isFinite(pollMs)) {
        m.pollTimer = setInterval(() => void m.poll(), pollMs);
        m.pollTimer.unref?.();
      }
    } catch (err) {
      await m.close();
      throw err;
    }
    return m;
  }

  /**
   * Creates a pending approval for an escalate decision, schedules its expiry at
   * created + timeout_ms and calls the notifier (not awaited; its errors go to onError).
   */
  async create(input: CreateInput): Promise<Approval> {
    this.assertOpen("");
    const a = this.build(input);
    await this.track(this.store.insert(a));
    this.started(a);
    return a;
  }

  /**
   * Creates the approvals of several escalate decisions in one store transaction: one commit
   * (one fsync) for all, where `create` commits each. Returns, in input order, each approval or
   * the ApprovalError its input met (an invalid input does not stop the others); rejects, and
   * creates none, if the transaction fails. (SQLite commits before this returns.)
   */
  async createMany(inputs: readonly CreateInput[]): Promise<(Approval | ApprovalError)[]> {
    this.assertOpen("");
    const out = inputs.map((input): Approval | ApprovalError => {
      try {
        return this.build(input);
      } catch (err) {
        if (err instanceof ApprovalError) return err;
        throw err;
      }
    });
    await this.track(this.store.insertMany(out.filter((x): x is Approval => !(x instanceof ApprovalError))));
    for (const x of out) if (!(x instanceof ApprovalError)) this.started(x);
    return out;
  }

  /** The new pending approval of an escalate decision (not stored yet). */
  private build(input: CreateInput): Approval {
    const d = input.decision;
    if (d?.decision !== "escalate" || typeof d.approver !== "string" || !Number.isFinite(d.timeout_ms) || (d.on_timeout !== "allow" && d.on_timeout !== "deny")) {
      throw new ApprovalError("invalid", "", `an approval needs an escalate decision with approver, timeout_ms and on_timeout (got ${JSON.stringify(d?.decision)})`);
    }
    const created = this.now();
    return {
      id: randomUUID(),
      state: "pending",
      approver: d.approver,
      rule: d.rule,
      policy: d.policy,
      policy_hash: input.policy_hash,
      action: input.action,
      decision: d,
      decision_seq: input.decision_seq,
      decision_hash: input.decision_hash,
      on_timeout: d.on_timeout,
      created: new Date(created).toISOString(),
      expires: new Date(created + Math.max(0, d.timeout_ms!)).toISOString(),
      outcome: null,
      resolved_by: null,
      note: null,
      resolved_at: null,
      resolution_seq: null,
      resolution_hash: null,
      action_digest: input.action_digest ?? null,
      agent: input.agent ?? null,
      redeemed_at: null,
      redemption_seq: null,
      redemption_hash: null,
    };
  }

  /** After a stored create: the expiry timer, the listeners and the notifier. */
  private started(a: Approval): void {
    if (!this.closed) this.schedule(a);
    this.emit({ type: "created", approval: a });
    if (this.notifier) {
      try {
        const r = this.notifier(a);
        if (r && typeof (r as Promise<void>).then === "function") (r as Promise<void>).then(undefined, (e) => this.report(e, `notifier failed for approval ${a.id}`));
      } catch (e) {
        this.report(e, `notifier failed for approval ${a.id}`);
      }
    }
  }

  /**
   * Approves (outcome allow). Exactly one resolution wins; then its audit record is written, then
   * waiters wake. If the record cannot be written, the resolution is undone — the approval stays
   * pending — and the call rejects with ApprovalError "unavailable".
   */
  approve(id: string, r: ResolveInput): Promise<Approval> {
    return this.decide(id, "approved", r);
  }

  /** Denies (outcome deny); as approve. */
  deny(id: string, r: ResolveInput): Promise<Approval> {
    return this.decide(id, "denied", r);
  }

  /**
   * Resolves with the approval once it is no longer pending and its transition is audited;
   * with the still-pending approval when `timeoutMs` elapses; rejects when `signal` aborts,
   * when the approval does not exist, or when the manager is closed.
   */
  wait(id: string, opts: WaitOptions = {}): Promise<Approval> {
    if (this.closed) return Promise.reject(closedError(id));
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    // The waiter is registered before the approval is read: a wake in between is not missed.
    let snapshot: Approval | undefined;
    return new Promise<Approval>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => {
        done();
        reject(opts.signal!.reason);
      };
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        const set = this.waiters.get(id);
        set?.delete(w);
        if (set?.size === 0) this.waiters.delete(id);
        this.refPolling();
      };
      const w: Waiter = {
        resolve: (x) => {
          done();
          resolve(x);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      set.add(w);
      this.refPolling();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          done();
          this.store.get(id).then(
            (now) => {
              if (now !== undefined && (now.state === "pending" || this.isSettled(now))) resolve(now);
              else if (snapshot !== undefined || now !== undefined) resolve(snapshot ?? now!); // resolved, not yet recorded: as it was
              else reject(new ApprovalNotFound(id));
            },
            (e: unknown) => (snapshot !== undefined ? resolve(snapshot) : reject(e)),
          );
        }, Math.max(0, opts.timeoutMs));
      }
      this.store.get(id).then(
        (a) => {
          if (!set!.has(w)) return; // woken, timed out or aborted meanwhile
          if (!a) return w.reject(new ApprovalNotFound(id));
          snapshot = a;
          if (a.state !== "pending" && this.isSettled(a)) return w.resolve(a);
          // Resolved but not yet audited (by another process, or an audit write failed): write it.
          if (a.state !== "pending") this.background(a);
        },
        (e: unknown) => {
          if (set!.has(w)) w.reject(e);
        },
      );
    });
  }

  /**
   * Calls `listener` with each approval created here and each transition settled here (after its
   * audit record is durable): approve, deny, expire, and resolutions by other processes that the
   * poller noticed. Synchronous; a listener that throws is reported through onError. Returns
   * the unsubscribe function.
   */
  subscribe(listener: ApprovalListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get(id: string): Promise<Approval | undefined> {
    return this.store.get(id);
  }

  list(filter?: ApprovalFilter): Promise<Approval[]> {
    return this.store.list(filter);
  }

  pendingCount(approver?: string): Promise<number> {
    return this.store.pendingCount(approver);
  }

  /**
   * Resolves once no store operation the manager started by itself (an expiry, a poll, an audit
   * record's bookkeeping, a notification's follow-up) is in flight. Audit writes themselves are
   * not waited for.
   */
  async idle(): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      if (this.io.size > 0) {
        quiet = 0;
        await Promise.allSettled([...this.io]);
      } else {
        quiet++;
      }
      await nextTurn();
    }
  }

  /**
   * Clears timers and polling, stops listening and rejects waiters (ApprovalError "closed").
   * Pending approvals stay in the database; the next open reschedules them. A store opened from a
   * location is closed once audit writes in flight have finished (the promise waits for that).
   */
  close(): Promise<void> {
    if (this.closed) return this.storeClosing ?? Promise.resolve();
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    const unwatch = this.unwatch;
    this.unwatch = undefined;
    for (const [id, set] of [...this.waiters]) for (const w of [...set]) w.reject(closedError(id));
    this.waiters.clear();
    const stopped = unwatch ? unwatch().catch(() => undefined) : Promise.resolve();
    if (this.ownsStore) this.storeClosing = new Promise((resolve) => (this.storeClosed$ = resolve));
    this.maybeCloseStore();
    return Promise.all([stopped, this.storeClosing]).then(() => undefined);
  }

  // --- internals -------------------------------------------------------------------------

  /** A store operation the manager starts by itself: idle() waits for it. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.io.add(p);
    const drop = () => void this.io.delete(p);
    p.then(drop, drop);
    return p;
  }

  private async decide(id: string, to: "approved" | "denied", r: ResolveInput): Promise<Approval> {
    this.assertOpen(id);
    if (typeof r?.by !== "string" || r.by.trim() === "") throw new ApprovalError("invalid", id, `approving or denying needs 'by': who decided`);
    if (r.note !== undefined && r.note !== null && typeof r.note !== "string") throw new ApprovalError("invalid", id, `'note' must be a string`);
    if (this.audit && this.auditReady && !this.auditReady()) {
      throw new ApprovalError("unavailable", id, `approval ${id} stays pending: the audit log cannot be written, so it cannot be ${to} now`);
    }
    let a: Approval;
    try {
      a = await this.track(this.store.resolve(id, to, { by: r.by, note: r.note ?? null, at: new Date(this.now()).toISOString(), outcome: to === "approved" ? "allow" : "deny" }));
    } catch (e) {
      // Resolved by someone else (or expired just now): make sure that transition is audited.
      if (e instanceof ApprovalAlreadyResolved) this.background(e.approval);
      throw e;
    }
    // The resolution won in the store (exactly one does, across processes and instances). It
    // stands only if its record is written: if not, it is undone (settle) and the approval is
    // pending again.
    return this.settle(a, { undo: true, own: true });
  }

  private isSettled(a: Approval): boolean {
    return !this.audit || a.resolution_seq !== null;
  }

  /** Arms the expiry timer of a pending approval. */
  private schedule(a: Approval): void {
    this.clearTimer(a.id);
    const due = Date.parse(a.expires);
    const arm = () => {
      const delay = Math.max(0, due - this.now());
      const step = Math.min(delay, MAX_DELAY);
      const t = setTimeout(() => {
        this.timers.delete(a.id);
        if (this.closed) return;
        if (step < delay) arm();
        else void this.expire(a);
      }, step);
      t.unref?.();
      this.timers.set(a.id, t);
    };
    arm();
  }

  private clearTimer(id: string): void {
    const t = this.timers.get(id);
    if (t !== undefined) {
      clearTimeout(t);
      this.timers.delete(id);
    }
  }

  /**
   * Resolves a pending approval by its on_timeout (one conditional update: of several instances
   * whose timers fire, one wins; the others find it resolved), then audits it in the background.
   */
  private async expire(p: Approval): Promise<void> {
    this.clearTimer(p.id);
    let a: Approval;
    let own = true;
    try {
      a = await this.track(this.store.resolve(p.id, "expired", { by: "timeout", note: null, at: new Date(this.now()).toISOString(), outcome: p.on_timeout }));
    } catch (e) {
      if (e instanceof ApprovalAlreadyResolved) {
        a = e.approval;
        own = false;
      } else {
        if (!(e instanceof ApprovalNotFound)) this.report(e, `expiring approval ${p.id} failed`);
        return;
      }
    }
    this.background(a, own);
  }

  /** settle() for transitions nobody awaits: failures go to onError and are retried by polling. */
  private background(a: Approval, own = false): void {
    this.settle(a, { own }).catch((e) => {
      if (e instanceof ApprovalError && e.code === "unavailable") return; // undone: its caller was told
      this.report(e, `writing the audit record of approval ${a.id} (${a.state}) failed; will retry`);
    });
  }

  /**
   * For a resolved approval: writes its transition's audit record unless it has one (at most
   * one write in flight per approval), records it in the store, then wakes the waiters.
   * `own`: this manager made the transition (it won the conditional update, and with it the
   * writing of the record); otherwise it first claims the writing (ApprovalStore#claimAudit) and
   * leaves it to whoever holds it — the waiters then wake when that one's record is noticed.
   * `undo` (a resolution just made here by approve or deny): if the record cannot be written,
   * the resolution is undone in the store — the approval is pending again, with its expiry timer
   * — and the promise rejects with ApprovalError "unavailable". Otherwise (expiry, a resolution
   * made by another process) it stands and the record is retried from the poller.
   */
  private settle(a: Approval, opts: { undo?: boolean; own?: boolean } = {}): Promise<Approval> {
    this.clearTimer(a.id);
    if (this.isSettled(a)) {
      if (!this.audit) this.emit({ type: "resolved", approval: a }); // with an audit callback, emitted once its record was written
      this.wake(a);
      return Promise.resolve(a);
    }
    const inflight = this.settling.get(a.id);
    if (inflight) return inflight;
    const audit = this.audit!;
    let undone = false;
    let skipped = false;
    const p = (async () => {
      if (!opts.own && !(await this.track(this.store.claimAudit(a)))) {
        skipped = true; // another instance writes it (or it was recorded or undone meanwhile)
        return a;
      }
      let at: { seq: number; hash: string };
      try {
        at = await audit(a);
      } catch (e) {
        if (!opts.undo || this.storeClosed) throw e;
        let back: Approval | undefined;
        try {
          back = await this.track(this.store.unresolve(a));
        } catch {
          back = undefined; // the store failed too: the resolution stands, and its record is retried
        }
        if (back === undefined) throw e;
        undone = true;
        if (!this.closed) this.schedule(back);
        const verb = a.state === "approved" ? "approve" : "deny";
        throw new ApprovalError("unavailable", a.id, `approval ${a.id} stays pending: the audit record to ${verb} it could not be written (${(e as Error)?.message ?? String(e)})`, { cause: e });
      }
      if (!this.storeClosed) await this.track(this.store.markAudited(a.id, at.seq, at.hash));
      return { ...a, resolution_seq: at.seq, resolution_hash: at.hash };
    })();
    this.settling.set(a.id, p);
    p.then(
      (done) => {
        this.settling.delete(a.id);
        this.retries.delete(a.id);
        if (!skipped) {
          this.emit({ type: "resolved", approval: done });
          this.wake(done);
        }
        this.maybeCloseStore();
      },
      () => {
        this.settling.delete(a.id);
        if (undone) {
          this.retries.delete(a.id);
        } else {
          const prev = this.retries.get(a.id);
          const delay = prev ? Math.min(prev.delay * 2, MAX_RETRY_MS) : Math.max(this.pollMs, 100);
          this.retries.set(a.id, { at: this.now() + delay, delay });
        }
        this.maybeCloseStore();
      },
    );
    return p;
  }

  private emit(e: ApprovalEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.report(err, `an approvals listener failed for approval ${e.approval.id}`);
      }
    }
  }

  private wake(a: Approval): void {
    const set = this.waiters.get(a.id);
    if (!set) return;
    for (const w of [...set]) w.resolve(a);
  }

  /**
   * A change another instance or process made (PostgreSQL notification): a new approval gets its
   * expiry timer here too (whichever instance's timer fires first expires it); a transition is
   * audited by whoever made it — waiters here wake once its record is written; `{}` (missed
   * notifications): look at everything, as a poll that found a change does.
   */
  private onRemote(c: ApprovalChange): void {
    if (this.closed) return;
    if (c.id === undefined) {
      void this.poll(true);
      return;
    }
    const id = c.id;
    this.track(this.store.get(id)).then(
      (a) => {
        if (this.closed) return;
        if (!a) {
          for (const w of [...(this.waiters.get(id) ?? [])]) w.reject(new ApprovalNotFound(id));
          return;
        }
        if (a.state === "pending") {
          if (!this.timers.has(id) && !this.settling.has(id)) {
            this.schedule(a);
            if (c.kind === "created") this.emit({ type: "created", approval: a }); // the console's streams here hear of it too
          }
          return;
        }
        this.clearTimer(id);
        if (c.kind === "audited" && a.resolution_seq !== null) {
          this.emit({ type: "resolved", approval: a });
          if (this.onRecordedElsewhere) {
            try {
              this.onRecordedElsewhere(a);
            } catch (e) {
              this.report(e, `handling the transition of approval ${id} recorded by another instance failed`);
            }
          }
        }
        if (this.isSettled(a)) this.wake(a);
        // A transition with nobody to record it (the command line) is claimed by one instance.
        else if (!this.settling.has(id) && (this.waiters.has(id) || c.kind === "resolved")) this.background(a);
      },
      (e: unknown) => this.report(e, `reading approval ${id} after a notification failed`),
    );
  }

  /** Looks for resolutions made by other processes, and retries failed audit writes. */
  private async poll(force = false): Promise<void> {
    if (this.closed || this.polling) return;
    this.polling = true;
    try {
      const changed = await this.track(this.store.changed());
      const now = this.now();
      const retryDue = [...this.retries.values()].some((r) => r.at <= now);
      const sweepMs = this.store.sweepMs;
      if (this.audit && sweepMs !== undefined && !changed && !retryDue && !force && now - this.lastSweep >= sweepMs) {
        // A shared store: transitions whose writer's claim has lapsed (it crashed, or its log failed).
        this.lastSweep = now;
        for (const a of await this.track(this.store.unaudited())) {
          if (this.settling.has(a.id) || (this.retries.get(a.id)?.at ?? 0) > now) continue;
          this.background(a);
        }
        return;
      }
      if (!changed && !retryDue && !force) return;
      for (const id of [...this.waiters.keys()]) {
        const a = await this.track(this.store.get(id));
        if (!a) {
          for (const w of [...(this.waiters.get(id) ?? [])]) w.reject(new ApprovalNotFound(id));
        } else if (a.state !== "pending" && !this.settling.has(id) && (this.retries.get(id)?.at ?? 0) <= now) {
          this.background(a);
        }
      }
      if (this.audit) {
        for (const a of await this.track(this.store.unaudited())) {
          if (this.settling.has(a.id) || (this.retries.get(a.id)?.at ?? 0) > now) continue;
          this.background(a);
        }
      }
      if (force && this.store.shared) {
        // Approvals created elsewhere while nobody listened: their expiry timers.
        for (const p of await this.track(this.store.list({ state: "pending" }))) if (!this.timers.has(p.id) && !this.settling.has(p.id)) this.schedule(p);
      }
    } catch (e) {
      if (!this.closed) this.report(e, "polling the approvals database failed");
    } finally {
      this.polling = false;
    }
  }

  /** Polling keeps the process alive only while someone waits. */
  private refPolling(): void {
    if (!this.pollTimer) return;
    if (this.waiters.size > 0) this.pollTimer.ref?.();
    else this.pollTimer.unref?.();
  }

  private storeClosed$: (() => void) | undefined;

  private maybeCloseStore(): void {
    if (this.closed && this.ownsStore && !this.storeClosed && this.settling.size === 0) {
      this.storeClosed = true;
      const done = this.storeClosed$;
      // Store operations of the manager still in flight finish first (their results are dropped).
      void Promise.allSettled([...this.io]).then(() => this.store.close()).then(
        () => done?.(),
        (e: unknown) => {
          this.report(e, "closing the approvals store failed");
          done?.();
        },
      );
    }
  }

  private assertOpen(id: string): void {
    if (this.closed) throw closedError(id);
  }

  private report(e: unknown, context: string): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const wrapped = err instanceof ApprovalError ? err : new Error(`${context}: ${err.message}`, { cause: err });
    try {
      this.onError(wrapped);
    } catch {
      // never let a throwing onError escape into a timer
    }
  }
}

function closedError(id: string): ApprovalError {
  return new ApprovalError("closed", id, id ? `approvals closed while waiting for approval ${id}` : "approvals are closed");
}

