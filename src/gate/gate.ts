// Gate: the layer around every decision — evaluate, audit (durably), count, and for an
// escalate decision open an approval and wait for a human. It runs both halves of the pipeline
// in one process (docs/architecture.md): `decideOne` (src/pipeline/decide.ts), then the
// Recorder (src/pipeline/record.ts) over its audit log and approvals.

import { join } from "node:path";
import type { Approvals } from "../approvals/approvals.js";
import type { Approval } from "../approvals/approval.js";
import type { Notifier } from "../approvals/notifier.js";
import type { ApprovalStore } from "../approvals/store-api.js";
import type { PostgresStoreOptions } from "../approvals/open-store.js";
import { AuditLog } from "../audit/log.js";
import type { AuditLogOptions } from "../audit/log.js";
import { GateMetrics } from "../metrics/metrics.js";
import type { PolicyMetricsSnapshot } from "../metrics/metrics.js";
import { PendingByRecord, rebuildCounters, rememberPending, settleTransition } from "../pipeline/counted.js";
import type { PendingEscalation } from "../pipeline/counted.js";
import { decideOne } from "../pipeline/decide.js";
import type { DecidedStep } from "../pipeline/decide.js";
import { recordableText } from "../audit/recordable.js";
import { redact } from "../redact.js";
import { SharedDecider } from "../pipeline/shared-decide.js";
import type { SharedCounterStore } from "../state/shared-store.js";
import { counterDefinitions } from "../counters.js";
import { Recorder } from "../pipeline/record.js";
import { bindingOf } from "../pipeline/redeem.js";
import { defaultShadowLog, Shadow, ShadowLog, ShadowMetrics } from "../pipeline/shadow.js";
import { Policy } from "../policy.js";
import { ActionDenied } from "./denied.js";
import type { GateDecision } from "./gate-decision.js";

export type { GateDecision } from "./gate-decision.js";

export interface GateOptions {
  /** A policy file, or a loaded Policy. */
  policy: string | Policy;
  /** Directory of the audit log (created if needed). */
  auditDir: string;
  /**
   * Where approvals live: a SQLite file (default: `approvals.db` in `auditDir`), a postgres:// URL
   * (shared by several gates or servers, each with its own audit log: docs/approvals.md,
   * "PostgreSQL"), or an open store.
   */
  approvals?: string | ApprovalStore;
  /** Options of a PostgreSQL approvals store opened from a URL (schema, table, instance, auditLeaseMs). */
  approvalsPostgres?: PostgresStoreOptions;
  /** Called when an approval is created (see `webhookNotifier`). */
  notifier?: Notifier;
  /** Audit log options (docs/audit.md); the gate's default `batchWindowMs` is 0, not the log's 2 ms. */
  audit?: AuditLogOptions;
  metrics?: GateMetrics;
  /** Errors that have no caller to reach (a failing notifier, a background audit write). */
  onError?: (err: Error) => void;
  /** Clock for approval expiry (default Date.now). */
  now?: () => number;
  /**
   * Where counters live (spec section 8). Default: in this process, rebuilt from the audit log
   * when the gate opens. A `redis://` URL or a SharedCounterStore: shared with every process
   * using the same store (docs/redis.md); closed by `close` when the gate opened it from a URL.
   */
  state?: string | SharedCounterStore;
  /**
   * A candidate policy (a file, or a Policy of its own) taking every decision too: its answer is
   * never used, its counters are its own (in memory, starting empty), and its disagreements with
   * the live decision are counted (`tollgate_shadow_disagreements_total`) and logged to
   * `shadowLog` (docs/gate.md, "Shadow"). Change it with `setShadow`.
   */
  shadow?: string | Policy;
  /** The disagreement log (JSON lines; default: beside the audit directory, `<auditDir>-shadow.jsonl`). */
  shadowLog?: string;
}

export interface CheckOptions {
  /**
   * Redeem this approval for the action instead of deciding it (docs/approvals.md, "Redeeming"):
   * allow (with `approval_id`, `approved_by` and the escalating rule) only if the approval is
   * approved, not expired, not yet redeemed, issued to this action's `agent.id` and approved for
   * this very action (the SHA-256 of its canonical JSON); else deny with `redemption.check`
   * saying which check failed. Once per approval. The policy is not evaluated; nothing is counted.
   */
  approvalId?: string;
}

export interface EnforceOptions {
  /** Stops waiting for a human (the approval stays pending); enforce rejects with the reason. */
  signal?: AbortSignal;
}

export class Gate {
  /** Escalations whose contributions are pending, by the hash of their record. */
  private pending = new PendingByRecord();
  /** Counters in a shared store (Redis), when the gate was opened with `state`. */
  private shared: SharedDecider | null = null;
  private ownsStore = false;
  /** The candidate taking every decision too (null: none). */
  private shadowing: Shadow | null = null;
  private shadowLog: ShadowLog | null = null;
  private onError: (err: Error) => void = () => undefined;
  /** Counts of the pending gauge asked for so far: only the latest one asked sets it. */
  private pendingCounts = 0;

  private constructor(
    private current: Policy,
    private readonly recorder: Recorder,
    readonly approvals: Approvals,
    private readonly metricsRegistry: GateMetrics,
  ) {}

  static async open(options: GateOptions): Promise<Gate> {
    const policy = typeof options.policy === "string" ? Policy.fromFile(options.policy) : options.policy;
    // batchWindowMs 0 (as the server's primary): every check waits for its record, and actions
    // arrive from I/O (a request, a tool call), each in its own turn, so a timer's window would
    // be added to each of them; concurrent checks still share a sync.
    const audit = await AuditLog.open(options.auditDir, { batchWindowMs: 0, ...options.audit });
    const metrics = options.metrics ?? new GateMetrics();
    const recorder = new Recorder(audit, { metrics });
    let gate: Gate | undefined;
    try {
      // Counters are a view of the log's last window: rebuilt before the first decision; or they
      // live in a shared store.
      let pending = new PendingByRecord();
      let shared: SharedDecider | null = null;
      if (options.state !== undefined) {
        // The Redis client is loaded only by those who use it.
        const store = typeof options.state === "string" ? new (await import("../state/redis-store.js")).RedisCounterStore(options.state) : options.state;
        shared = new SharedDecider(store);
        await store.retain(counterDefinitions(policy.counters));
      } else if (policy.stateful) {
        const state = policy.newState();
        pending = (await rebuildCounters(options.auditDir, policy.counters, state, Date.now(), audit.countedSeal)).pending;
        policy.useState(state);
      }
      // Every transition (approve, deny, expire — here or in another process) is its own record;
      // once the log has failed, approve and deny refuse at once (the approval stays pending).
      const approvals = await recorder.openApprovals({
        store: options.approvals ?? join(options.auditDir, "approvals.db"),
        ...(options.approvalsPostgres !== undefined ? { postgres: options.approvalsPostgres } : {}),
        notifier: options.notifier,
        onError: options.onError,
        now: options.now,
        onTransition: (a) => gate?.onTransition(a),
      });
      gate = new Gate(policy, recorder, approvals, metrics);
      gate.pending = pending;
      gate.shared = shared;
      gate.ownsStore = typeof options.state === "string";
      gate.onError = options.onError ?? (() => undefined);
      gate.shadowLog = new ShadowLog(options.shadowLog ?? defaultShadowLog(options.auditDir), (e) => gate?.onError(e));
      if (options.shadow !== undefined) gate.setShadow(options.shadow);
      await gate.updatePending();
      return gate;
    } catch (err) {
      await audit.close();
      throw err;
    }
  }

  /** The audit log decisions and transitions are written to. */
  get audit(): AuditLog {
    return this.recorder.audit;
  }

  /** The policy decisions are made with now. */
  get policy(): Policy {
    return this.current;
  }

  /**
   * Swaps in a new policy: a path is loaded and validated first, so a bad policy throws a
   * PolicyError and the old one keeps deciding. Decisions carry the `policy_hash` they used.
   */
  reload(policy: string | Policy): Policy {
    const next = typeof policy === "string" ? Policy.fromFile(policy) : policy;
    next.adoptState(this.current); // unchanged counters keep their state (spec section 8)
    if (this.shared !== null) void this.shared.store.retain(counterDefinitions(next.counters));
    this.current = next;
    return this.current;
  }

  /** The candidate policy taking every decision too (null: none). */
  get shadow(): Policy | null {
    return this.shadowing?.policy ?? null;
  }

  /**
   * Starts (or replaces, or with null stops) shadowing: every later decision is also taken by
   * `policy`, with counters of its own (a path is loaded first: a bad policy throws a PolicyError
   * and nothing changes). The live answers and counters are never affected. A Policy object must
   * be one of its own (not the live one): its in-memory counter store is the candidate's state.
   */
  setShadow(policy: string | Policy | null): Policy | null {
    if (policy === null) {
      this.shadowing = null;
      return null;
    }
    const p = typeof policy === "string" ? Policy.fromFile(policy) : policy;
    if (p === this.current) throw new TypeError("the shadow policy must be a Policy of its own, not the live one (its counters are the candidate's)");
    this.shadowing = new Shadow(p, ShadowMetrics.of(this.metricsRegistry.registry), this.shadowLog, (e) => this.onError(e));
    return p;
  }

  /**
   * Decides, and resolves once the decision's audit record is durable. For escalate it also
   * opens the approval. Rejects (the action must not run) if the record cannot be written.
   * An action that cannot be recorded faithfully (a lone surrogate, nesting deeper than 512, a
   * value that is not JSON: `unrecordableReason`) is not evaluated: it is denied with `error`,
   * and that deny is recorded.
   */
  async check(action: unknown, options: CheckOptions = {}): Promise<GateDecision> {
    if (options.approvalId !== undefined) {
      const redeemed = await this.redeem(action, options.approvalId);
      if (redeemed !== null) return redeemed;
    }
    const policy = this.current;
    let decided: DecidedStep | undefined;
    if (this.shared !== null && policy.stateful && recordableText(redact(action, policy.redact)) !== null) {
      decided = await this.shared.decide(policy, action); // rejects if the store cannot be reached
    }
    const { decision, recorded, entry, redacted, pending } = decideOne(policy, action, this.audit.countedSeal, this.metricsRegistry, undefined, decided);
    // The candidate decides now (the caller may change the action once check returns); it is
    // compared and logged once the live record is durable (the log names it).
    const shadow = this.shadowing;
    const shadowPending: (PendingEscalation | null)[] = [null];
    const shadowed = shadow?.decide([action], [decision], shadowPending);
    const { seq, hash, approval } = await this.recorder.recordOne(entry, recorded, redacted);
    if (shadowed !== undefined) {
      shadow!.report(policy, [action], [decision], shadowed, () => ({ seq, hash }));
      shadow!.remember(hash, shadowPending[0]!);
    }
    rememberPending(this.pending, hash, pending);
    if (approval === null) return { ...decision, audit_id: hash, audit_seq: seq };
    const a = await approval;
    if (a instanceof Error) throw a;
    await this.updatePending();
    return { ...decision, audit_id: hash, audit_seq: seq, approval_id: a.id, expires: a.expires };
  }

  /**
   * Redeems an approval for `action` (`check(action, { approvalId })`), recorded; null for an
   * action that cannot be recorded (check then denies it as it denies any such action).
   */
  private async redeem(action: unknown, approvalId: string): Promise<GateDecision | null> {
    const policy = this.current;
    const redacted = redact(action, policy.redact);
    if (recordableText(redacted) === null) return null;
    let digest: string;
    let agent: string | null;
    try {
      [digest, agent] = bindingOf(action);
    } catch {
      return null;
    }
    const r = await this.recorder.redeem({ id: String(approvalId), digest, agent, action: redacted, policy: policy.name, policy_hash: policy.hash });
    this.metricsRegistry.recordDecision(r.decision.policy, r.decision, 0);
    return { ...r.decision, audit_id: r.hash, audit_seq: r.seq };
  }

  /**
   * Runs `run` only if the action is allowed: allow runs it; deny throws ActionDenied;
   * escalate waits for a human (or the approval's expiry, which resolves by `on_timeout`),
   * then runs it or throws ActionDenied. An approved action is redeemed first
   * (`check(action, { approvalId })`): it runs once, and only as it was approved.
   */
  async enforce<T>(action: unknown, run: () => T | Promise<T>, options: EnforceOptions = {}): Promise<T> {
    const decision = await this.check(action);
    if (decision.decision === "allow") return run();
    if (decision.decision === "deny") throw new ActionDenied(decision);
    const approval = await this.approvals.wait(decision.approval_id!, { signal: options.signal });
    if (approval.state === "approved") {
      const redeemed = await this.check(action, { approvalId: approval.id });
      if (redeemed.decision === "allow") return run();
      throw new ActionDenied(redeemed, approval);
    }
    if (approval.outcome === "allow") return run(); // expired with on_timeout allow
    throw new ActionDenied(decision, approval);
  }

  /**
   * Approves: resolves once the transition's audit record is durable. If the record cannot be
   * written (the log has failed: disk full, I/O error), it rejects with ApprovalError
   * "unavailable" and the approval stays pending. A lone surrogate in `by` or `note` is refused
   * (ApprovalError "invalid").
   */
  approve(id: string, resolution: { by: string; note?: string }): Promise<Approval> {
    return this.approvals.approve(id, resolution);
  }

  /** Denies; as `approve`. */
  deny(id: string, resolution: { by: string; note?: string }): Promise<Approval> {
    return this.approvals.deny(id, resolution);
  }

  /**
   * Prometheus text exposition of this gate's metrics. The pending gauge is counted in the store
   * now (as `tollgate serve` does at each scrape): with PostgreSQL, it includes the approvals
   * other gates and servers sharing the store opened or resolved.
   */
  async metrics(): Promise<string> {
    await this.updatePending();
    return this.metricsRegistry.prometheus();
  }

  /**
   * The current policy's figures as JSON (counts, latency percentiles in ns, pending approvals).
   * The pending count is the store's as of this gate's last count: when check returns an
   * escalation, in the background after each transition (approve, deny, expiry, or one made
   * elsewhere and noticed), and at `metrics()` — a snapshot does not read the store.
   */
  metricsSnapshot(): PolicyMetricsSnapshot | undefined {
    return this.metricsRegistry.snapshot().policies[this.current.name];
  }

  /** Stops expiry timers, syncs and checkpoints the audit log. Pending approvals stay in the store. */
  async close(): Promise<void> {
    await this.approvals.close();
    await this.audit.close();
    await this.shadowLog?.close();
    if (this.ownsStore) await this.shared?.store.close();
  }

  /** An approval was approved, denied or expired: its pending contributions follow (spec section 8). */
  private onTransition(a: Approval): void {
    void this.updatePending();
    this.shadowing?.settle(a); // the candidate's escalation of the same action, as if answered alike
    settleTransition(this.pending, a, (id, resolution) => {
      if (this.shared === null) this.current.resolve(id, resolution, Date.now());
      else void this.shared.store.resolve(id, resolution, Date.now()).catch(() => undefined);
    });
  }

  /**
   * The pending gauge, once the store has counted (a store that cannot be read leaves it as it
   * is). check and metrics() wait for it (a PostgreSQL store counts in a round trip, where
   * SQLite's answer is already settled); after a transition it runs in the background, so that
   * approve and deny resolve, and waiters wake, as before. Counts may finish out of order (a
   * pool of connections): only the latest one asked for sets the gauge.
   */
  private updatePending(): Promise<void> {
    const name = this.current.name;
    const asked = ++this.pendingCounts;
    return this.approvals.pendingCount().then(
      (n) => {
        if (asked === this.pendingCounts) this.metricsRegistry.setPendingApprovals(name, n);
      },
      () => undefined,
    );
  }
}
