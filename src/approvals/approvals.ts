// The live approvals manager (docs/approvals.md): creates approvals for escalate decisions,
// expires them on time, resolves them, has each transition audited exactly once, and wakes
// whoever waits for them. One process owns it: the one that owns the audit log. Other
// processes (the `tollgate approvals` CLI) may resolve approvals in the same SQLite file; the
// owner notices by polling and writes their audit records.

import { randomUUID } from "node:crypto";
import type { Decision } from "../decision.js";
import type { Approval } from "./approval.js";
import { ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "./approval.js";
import type { Notifier } from "./notifier.js";
import { ApprovalStore } from "./store.js";
import type { ApprovalFilter } from "./store.js";

/** Writes the audit record of a transition (supplied by the gate); resolves once it is durable. */
export type TransitionAudit = (approval: Approval) => Promise<{ seq: number; hash: string }>;

export interface ApprovalsOptions {
  /** A database file (opened and closed by the manager) or an open store (left open by close()). */
  store: string | ApprovalStore;
  audit?: TransitionAudit;
  notifier?: Notifier;
  /** Milliseconds since the epoch; default Date.now (so fake timers drive it). */
  now?: () => number;
  /** How often to look for resolutions made by other processes; default 250. 0 disables polling. */
  pollMs?: number;
  /** Errors nobody awaits: notifier failures, audit writes for background transitions, polling. */
  onError?: (e: Error) => void;
  /**
   * Whether the audit log can take a record now (false once it has failed: disk full, I/O
   * error). While false, approve and deny refuse at once with ApprovalError "unavailable" and
   * change nothing. Without it they find out from the failed write (and undo, as always).
   */
  auditReady?: () => boolean;
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
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly listeners = new Set<ApprovalListener>();
  /** Audit writes in flight, by approval id: one per transition. */
  private readonly settling = new Map<string, Promise<Approval>>();
  /** Failed audit writes: when to try again, and the next back-off. */
  private readonly retries = new Map<string, { at: number; delay: number }>();
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private lastVersion = -1;
  private closed = false;
  private storeClosed = false;

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
  }

  /**
   * Opens the store, expires overdue pending approvals at once, schedules the expiry of the
   * others, writes the missing audit records of transitions made while no owner ran (in the
   * background), and starts polling.
   */
  static open(opts: ApprovalsOptions): Approvals {
    const owns = typeof opts.store === "string";
    const store = typeof opts.store === "string" ? ApprovalStore.open(opts.store) : opts.store;
    const pollMs = opts.pollMs ?? 250;
    const m = new Approvals(store, owns, pollMs, opts);
    try {
      const now = m.now();
      for (const p of store.list({ state: "pending" })) {
        if (Date.parse(p.expires) <= now) m.expire(p);
        else m.schedule(p);
      }
      if (m.audit) for (const a of store.unaudited()) m.background(a);
      m.lastVersion = store.dataVersion();
      if (pollMs > 0 && Number.isFinite(pollMs)) {
        m.pollTimer = setInterval(() => m.poll(), pollMs);
        m.pollTimer.unref?.();
      }
    } catch (err) {
      m.close();
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
    this.store.insert(a);
    this.started(a);
    return a;
  }

  /**
   * Creates the approvals of several escalate decisions in one store transaction: one commit
   * (one fsync) for all, where `create` commits each. Returns, in input order, each approval or
   * the ApprovalError its input met (an invalid input does not stop the others); throws, and
   * creates none, if the transaction fails.
   */
  createMany(inputs: readonly CreateInput[]): (Approval | ApprovalError)[] {
    this.assertOpen("");
    const out = inputs.map((input): Approval | ApprovalError => {
      try {
        return this.build(input);
      } catch (err) {
        if (err instanceof ApprovalError) return err;
        throw err;
      }
    });
    this.store.insertMany(out.filter((x): x is Approval => !(x instanceof ApprovalError)));
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
    this.schedule(a);
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
    let a: Approval | undefined;
    try {
      a = this.store.get(id);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!a) return Promise.reject(new ApprovalNotFound(id));
    if (a.state !== "pending" && this.isSettled(a)) return Promise.resolve(a);
    const snapshot = a;
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
          let now: Approval | undefined;
          try {
            now = this.store.get(id);
          } catch {
            now = undefined;
          }
          resolve(now?.state === "pending" ? now : snapshot.state === "pending" ? snapshot : (now ?? snapshot));
        }, Math.max(0, opts.timeoutMs));
      }
      // Resolved but not yet audited (by another process, or an audit write failed): write it.
      if (snapshot.state !== "pending") this.background(snapshot);
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

  get(id: string): Approval | undefined {
    return this.store.get(id);
  }

  list(filter?: ApprovalFilter): Approval[] {
    return this.store.list(filter);
  }

  pendingCount(approver?: string): number {
    return this.store.pendingCount(approver);
  }

  /**
   * Clears timers and polling and rejects waiters (ApprovalError "closed"). Pending approvals
   * stay in the database; the next open reschedules them. A store opened from a path is closed
   * once audit writes in flight have finished.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    for (const [id, set] of [...this.waiters]) for (const w of [...set]) w.reject(closedError(id));
    this.waiters.clear();
    this.maybeCloseStore();
  }

  // --- internals -------------------------------------------------------------------------

  private async decide(id: string, to: "approved" | "denied", r: ResolveInput): Promise<Approval> {
    this.assertOpen(id);
    if (typeof r?.by !== "string" || r.by.trim() === "") throw new ApprovalError("invalid", id, `approving or denying needs 'by': who decided`);
    if (r.note !== undefined && r.note !== null && typeof r.note !== "string") throw new ApprovalError("invalid", id, `'note' must be a string`);
    if (this.audit && this.auditReady && !this.auditReady()) {
      throw new ApprovalError("unavailable", id, `approval ${id} stays pending: the audit log cannot be written, so it cannot be ${to} now`);
    }
    let a: Approval;
    try {
      a = this.store.resolve(id, to, { by: r.by, note: r.note ?? null, at: new Date(this.now()).toISOString(), outcome: to === "approved" ? "allow" : "deny" });
    } catch (e) {
      // Resolved by someone else (or expired just now): make sure that transition is audited.
      if (e instanceof ApprovalAlreadyResolved) this.background(e.approval);
      throw e;
    }
    // The resolution won in SQLite (exactly one does, across processes). It stands only if its
    // record is written: if not, it is undone (settle) and the approval is pending again.
    return this.settle(a, true);
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
        else this.expire(a);
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

  /** Resolves a pending approval by its on_timeout (synchronously in SQLite), then audits it in the background. */
  private expire(p: Approval): void {
    this.clearTimer(p.id);
    let a: Approval;
    try {
      a = this.store.resolve(p.id, "expired", { by: "timeout", note: null, at: new Date(this.now()).toISOString(), outcome: p.on_timeout });
    } catch (e) {
      if (e instanceof ApprovalAlreadyResolved) a = e.approval;
      else {
        if (!(e instanceof ApprovalNotFound)) this.report(e, `expiring approval ${p.id} failed`);
        return;
      }
    }
    this.background(a);
  }

  /** settle() for transitions nobody awaits: failures go to onError and are retried by polling. */
  private background(a: Approval): void {
    this.settle(a).catch((e) => {
      if (e instanceof ApprovalError && e.code === "unavailable") return; // undone: its caller was told
      this.report(e, `writing the audit record of approval ${a.id} (${a.state}) failed; will retry`);
    });
  }

  /**
   * For a resolved approval: writes its transition's audit record unless it has one (at most
   * one write in flight per approval), records it in the store, then wakes the waiters.
   * `undo` (a resolution just made here by approve or deny): if the record cannot be written,
   * the resolution is undone in the store — the approval is pending again, with its expiry timer
   * — and the promise rejects with ApprovalError "unavailable". Otherwise (expiry, a resolution
   * made by another process) it stands and the record is retried from the poller.
   */
  private settle(a: Approval, undo = false): Promise<Approval> {
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
    const p = (async () => {
      let at: { seq: number; hash: string };
      try {
        at = await audit(a);
      } catch (e) {
        if (!undo || this.storeClosed) throw e;
        let back: Approval | undefined;
        try {
          back = this.store.unresolve(a);
        } catch {
          back = undefined; // the store failed too: the resolution stands, and its record is retried
        }
        if (back === undefined) throw e;
        undone = true;
        if (!this.closed) this.schedule(back);
        const verb = a.state === "approved" ? "approve" : "deny";
        throw new ApprovalError("unavailable", a.id, `approval ${a.id} stays pending: the audit record to ${verb} it could not be written (${(e as Error)?.message ?? String(e)})`, { cause: e });
      }
      if (!this.storeClosed) this.store.markAudited(a.id, at.seq, at.hash);
      return { ...a, resolution_seq: at.seq, resolution_hash: at.hash };
    })();
    this.settling.set(a.id, p);
    p.then(
      (done) => {
        this.settling.delete(a.id);
        this.retries.delete(a.id);
        this.emit({ type: "resolved", approval: done });
        this.wake(done);
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

  /** Looks for resolutions made by other processes, and retries failed audit writes. */
  private poll(): void {
    if (this.closed) return;
    try {
      const version = this.store.dataVersion();
      const changed = version !== this.lastVersion;
      this.lastVersion = version;
      const now = this.now();
      const retryDue = [...this.retries.values()].some((r) => r.at <= now);
      if (!changed && !retryDue) return;
      for (const id of [...this.waiters.keys()]) {
        const a = this.store.get(id);
        if (!a) {
          for (const w of [...(this.waiters.get(id) ?? [])]) w.reject(new ApprovalNotFound(id));
        } else if (a.state !== "pending" && !this.settling.has(id) && (this.retries.get(id)?.at ?? 0) <= now) {
          this.background(a);
        }
      }
      if (this.audit) {
        for (const a of this.store.unaudited()) {
          if (this.settling.has(a.id) || (this.retries.get(a.id)?.at ?? 0) > now) continue;
          this.background(a);
        }
      }
    } catch (e) {
      this.report(e, "polling the approvals database failed");
    }
  }

  /** Polling keeps the process alive only while someone waits. */
  private refPolling(): void {
    if (!this.pollTimer) return;
    if (this.waiters.size > 0) this.pollTimer.ref?.();
    else this.pollTimer.unref?.();
  }

  private maybeCloseStore(): void {
    if (this.closed && this.ownsStore && !this.storeClosed && this.settling.size === 0) {
      this.storeClosed = true;
      this.store.close();
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

