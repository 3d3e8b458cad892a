// Gate: the layer around every decision — evaluate, audit (durably), count, and for an
// escalate decision open an approval and wait for a human.

import { join } from "node:path";
import { Approvals } from "../approvals/approvals.js";
import type { Approval } from "../approvals/approval.js";
import type { Notifier } from "../approvals/notifier.js";
import type { ApprovalStore } from "../approvals/store.js";
import { AuditLog } from "../audit/log.js";
import type { AuditLogOptions } from "../audit/log.js";
import { NOT_JSON } from "../audit/format.js";
import type { AuditEntry } from "../audit/format.js";
import { recordableText, unrecordableDecision } from "../audit/recordable.js";
import { redact } from "../audit/redact.js";
import { AuditError } from "../audit/recover.js";
import type { Decision } from "../decision.js";
import { GateMetrics } from "../metrics/metrics.js";
import type { PolicyMetricsSnapshot } from "../metrics/metrics.js";
import { Policy } from "../policy.js";
import { ActionDenied } from "./denied.js";
import { transitionEntry } from "./transition.js";

export interface GateOptions {
  /** A policy file, or a loaded Policy. */
  policy: string | Policy;
  /** Directory of the audit log (created if needed). */
  auditDir: string;
  /** SQLite file of pending approvals (default: `approvals.db` in `auditDir`), or an open store. */
  approvals?: string | ApprovalStore;
  /** Called when an approval is created (see `webhookNotifier`). */
  notifier?: Notifier;
  audit?: AuditLogOptions;
  metrics?: GateMetrics;
  /** Errors that have no caller to reach (a failing notifier, a background audit write). */
  onError?: (err: Error) => void;
  /** Clock for approval expiry (default Date.now). */
  now?: () => number;
}

/** A decision as the gate returns it: the spec's decision object plus where it was recorded. */
export type GateDecision = Decision & {
  /** Hash of the decision's audit record (`tollgate audit show DIR --seq <audit_seq>`). */
  readonly audit_id: string;
  readonly audit_seq: number;
  /** For escalate: the approval a human resolves. */
  readonly approval_id?: string;
  /** For escalate: when the approval resolves by `on_timeout` (RFC 3339). */
  readonly expires?: string;
};

export interface EnforceOptions {
  /** Stops waiting for a human (the approval stays pending); enforce rejects with the reason. */
  signal?: AbortSignal;
}

const NOT_JSON_TEXT = JSON.stringify(NOT_JSON);

/** What the gate knows of its audit log's health: after a failed write it refuses every append for good. */
interface AuditHealth {
  failure: Error | null;
}

/** `p`, noting in `health` a failure of the log itself (not a bad entry). */
function watched<T>(p: Promise<T>, health: AuditHealth): Promise<T> {
  return p.catch((err: unknown) => {
    if (err instanceof AuditError) health.failure ??= err;
    throw err;
  });
}

export class Gate {
  private constructor(
    private current: Policy,
    readonly audit: AuditLog,
    readonly approvals: Approvals,
    private readonly metricsRegistry: GateMetrics,
    private readonly health: AuditHealth,
  ) {}

  static async open(options: GateOptions): Promise<Gate> {
    const policy = typeof options.policy === "string" ? Policy.fromFile(options.policy) : options.policy;
    const audit = await AuditLog.open(options.auditDir, options.audit);
    const metrics = options.metrics ?? new GateMetrics();
    const health: AuditHealth = { failure: null };
    let gate: Gate | undefined;
    try {
      const approvals = Approvals.open({
        store: options.approvals ?? join(options.auditDir, "approvals.db"),
        notifier: options.notifier,
        onError: options.onError,
        now: options.now,
        // Every transition (approve, deny, expire — here or in another process) is its own record.
        audit: async (approval: Approval) => {
          const appended = await watched(audit.append(transitionEntry(approval)), health);
          gate?.updatePending();
          return appended;
        },
        // Once the log has failed, approve and deny refuse at once (the approval stays pending).
        auditReady: () => health.failure === null,
      });
      gate = new Gate(policy, audit, approvals, metrics, health);
      gate.updatePending();
      return gate;
    } catch (err) {
      await audit.close();
      throw err;
    }
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
    this.current = typeof policy === "string" ? Policy.fromFile(policy) : policy;
    return this.current;
  }

  /**
   * Decides, and resolves once the decision's audit record is durable. For escalate it also
   * opens the approval. Rejects (the action must not run) if the record cannot be written.
   * An action that cannot be recorded faithfully (a lone surrogate, nesting deeper than 512, a
   * value that is not JSON: `unrecordableReason`) is not evaluated: it is denied with `error`,
   * and that deny is recorded.
   */
  async check(action: unknown): Promise<GateDecision> {
    const policy = this.current;
    const redacted = redact(action, policy.redact);
    const actionJson = recordableText(redacted); // the record's text, checked and made in one go
    let decision: Decision;
    let evalNs = 0;
    if (actionJson === null) {
      decision = unrecordableDecision(policy.name);
    } else {
      const t0 = process.hrtime.bigint();
      decision = policy.evaluate(action);
      evalNs = Number(process.hrtime.bigint() - t0);
    }
    this.metricsRegistry.recordDecision(policy.name, decision, evalNs);
    // Written as it is: the checked canonical text, or "[not JSON]" for the deny.
    const entry: AuditEntry = { decision, action: redacted, actionJson: actionJson ?? NOT_JSON_TEXT, policy: policy.name, policy_hash: policy.hash, eval_ns: evalNs };
    const a0 = process.hrtime.bigint();
    const { seq, hash } = await watched(this.audit.append(entry), this.health);
    this.metricsRegistry.recordAuditAppend(policy.name, Number(process.hrtime.bigint() - a0));
    if (decision.decision !== "escalate") return { ...decision, audit_id: hash, audit_seq: seq };
    const approval = await this.approvals.create({ decision, action: entry.action, policy_hash: policy.hash, decision_seq: seq, decision_hash: hash });
    this.updatePending();
    return { ...decision, audit_id: hash, audit_seq: seq, approval_id: approval.id, expires: approval.expires };
  }

  /**
   * Runs `run` only if the action is allowed: allow runs it; deny throws ActionDenied;
   * escalate waits for a human (or the approval's expiry, which resolves by `on_timeout`),
   * then runs it or throws ActionDenied.
   */
  async enforce<T>(action: unknown, run: () => T | Promise<T>, options: EnforceOptions = {}): Promise<T> {
    const decision = await this.check(action);
    if (decision.decision === "allow") return run();
    if (decision.decision === "deny") throw new ActionDenied(decision);
    const approval = await this.approvals.wait(decision.approval_id!, { signal: options.signal });
    if (approval.outcome === "allow") return run();
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

  /** Prometheus text exposition of this gate's metrics. */
  metrics(): Promise<string> {
    return this.metricsRegistry.prometheus();
  }

  /** The current policy's figures as JSON (counts, latency percentiles in ns, pending approvals). */
  metricsSnapshot(): PolicyMetricsSnapshot | undefined {
    return this.metricsRegistry.snapshot().policies[this.current.name];
  }

  /** Stops expiry timers, syncs and checkpoints the audit log. Pending approvals stay in the store. */
  async close(): Promise<void> {
    this.approvals.close();
    await this.audit.close();
  }

  private updatePending(): void {
    this.metricsRegistry.setPendingApprovals(this.current.name, this.approvals.pendingCount());
  }
}
