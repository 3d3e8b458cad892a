// The record half of the pipeline (docs/architecture.md): the durable append of each Decided to
// the one audit log (its hash chain), an approval for each escalation, the audit-append metrics,
// and the records of approval transitions. One process owns it: Gate's, or the server's primary
// (for the Decided its workers send). Next: counters.

import { Approvals } from "../approvals/approvals.js";
import type { ApprovalsOptions, CreateInput } from "../approvals/approvals.js";
import type { Approval } from "../approvals/approval.js";
import type { AuditEntry } from "../audit/format.js";
import type { Appended, AuditLog } from "../audit/log.js";
import { AuditError } from "../audit/recover.js";
import type { Decision } from "../decision.js";
import type { GateMetrics } from "../metrics/metrics.js";
import type { Decided, DecidedLocal, Recorded, RecordedOne } from "./message.js";
import { transitionEntry } from "./transition.js";
import { redemptionEntry } from "./redeem.js";
import type { RedeemRequest, Redeemed, RedemptionDecision } from "./redeem.js";
import { ApprovalError } from "../approvals/approval.js";

export interface RecorderOptions {
  /** Counts the audit append time of every record, under the record's policy. */
  metrics?: GateMetrics | null;
  /**
   * Called once, at the first failure of the log itself (an AuditError: disk full, I/O error;
   * the log then refuses every append for good), not for a bad entry.
   */
  onAuditFailure?: (err: AuditError) => void;
}

export interface RecorderApprovalsOptions extends Omit<ApprovalsOptions, "audit" | "auditReady"> {
  /**
   * How the approvals of escalations are stored. "call" (default): those of each `record` call
   * in one store transaction, at once. "turn": those of one event-loop turn in one transaction,
   * and each commit (synchronous: it blocks the event loop for an fsync) is followed by a pause
   * at least as long as it took, so approvals get at most half of the process's time however
   * many escalations arrive — for a process that records for many clients (the server's primary).
   * (A PostgreSQL store does not block: its commits overlap, each followed by no pause.)
   */
  batch?: "call" | "turn";
  /** A store transaction that failed: every approval in it gets `err`. */
  onBatchError?: (err: Error, count: number) => void;
  /**
   * After each transition record is durable (Gate updates its pending gauge and settles pending
   * counter contributions) — and for each transition another instance recorded (a shared store).
   */
  onTransition?: (approval: Approval) => void;
}

/** The log's entry for a Decided: its texts are written verbatim (the log only hashes and writes). */
export function auditEntryOf(e: Decided, decision: Decision): AuditEntry {
  return { decision, decisionJson: e[0], actionJson: e[1], policy: e[2], policy_hash: e[3], eval_ns: e[4] };
}

/** Frozen decision objects by their canonical JSON, for Decided that come without their decision. */
class DecisionIntern {
  private map = new Map<string, Decision>();
  get(text: string): Decision {
    let d = this.map.get(text);
    if (d === undefined) {
      if (this.map.size >= 65_536) this.map.clear();
      d = Object.freeze(JSON.parse(text) as Decision);
      this.map.set(text, d);
    }
    return d;
  }
}

/** The escalations of one `record` call, waiting for their approvals. */
interface ApprovalGroup {
  entries: readonly Decided[];
  decisions: readonly Decision[];
  actions: readonly unknown[] | undefined;
  escalations: number[];
  seq: number;
  hashes: readonly string[];
  resolve: (created: (Approval | Error)[]) => void;
}

export class Recorder {
  /** The log's failure (AuditError), once it has failed: it then refuses every append. */
  failure: Error | null = null;
  private approvalsStore: Approvals | null = null;
  private batch: "call" | "turn" = "call";
  private onBatchError: ((err: Error, count: number) => void) | undefined;
  private readonly intern = new DecisionIntern();
  private readonly metrics: GateMetrics | null;
  private readonly onAuditFailure: ((err: AuditError) => void) | undefined;
  // "turn" batching: the groups queued for the next commit, and the pacing of commits.
  private queue: ApprovalGroup[] = [];
  private scheduled = false;
  private lastCommitEnd = 0;
  private lastCommitMs = 0;

  constructor(
    readonly audit: AuditLog,
    options: RecorderOptions = {},
  ) {
    this.metrics = options.metrics ?? null;
    this.onAuditFailure = options.onAuditFailure;
  }

  /** The approvals store escalations go to, once opened. */
  get approvals(): Approvals | null {
    return this.approvalsStore;
  }

  /**
   * Opens the approvals store this recorder writes to: an approval for each escalation it
   * records, and a record for each transition (approve, deny, expire — here or in another
   * process: `recordTransition`); approve and deny are refused at once (the approval stays
   * pending) once the log has failed. Rejects with what `Approvals.open` rejects with.
   */
  async openApprovals(options: RecorderApprovalsOptions): Promise<Approvals> {
    const { batch, onBatchError, onTransition, ...rest } = options;
    const approvals = await Approvals.open({
      ...rest,
      audit: onTransition === undefined
        ? this.recordTransition
        : async (a: Approval) => {
          const appended = await this.recordTransition(a);
          onTransition(a);
          return appended;
        },
      auditReady: () => this.failure === null,
      ...(onTransition !== undefined ? { onRecordedElsewhere: onTransition } : {}),
    });
    this.approvalsStore = approvals;
    this.batch = batch ?? "call";
    this.onBatchError = onBatchError;
    return approvals;
  }

  /**
   * Appends the Decided as consecutive records (`AuditLog#appendMany`: one promise for all, all
   * or nothing) and resolves once they are durable, with the first seq, the hashes and the
   * escalations; their approvals are stored after that (`Recorded.approvals`), so that callers
   * answering the other decisions need not wait for the approvals' commit. Rejects (nothing is
   * recorded) for a bad entry or a failed log. `local`: what decide still holds in this process.
   */
  record(entries: readonly Decided[], local?: DecidedLocal): Promise<Recorded> {
    const n = entries.length;
    const started = process.hrtime.bigint();
    const own = local === undefined ? new Array<Decision>(n) : null;
    const records = new Array<AuditEntry>(n);
    let appended: Promise<{ seq: number; hashes: string[] }>;
    try {
      for (let i = 0; i < n; i++) {
        const e = entries[i]!;
        records[i] = auditEntryOf(e, own === null ? local!.decisions[i]! : (own[i] = this.intern.get(e[0])));
      }
      appended = this.audit.appendMany(records); // one promise for the lot
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const decisions = own ?? local!.decisions;
    return appended.then(
      ({ seq, hashes }) => {
        const ns = Number(process.hrtime.bigint() - started);
        const metrics = this.metrics;
        const escalations: number[] = [];
        for (let i = 0; i < n; i++) {
          metrics?.recordAuditAppend(entries[i]![2], ns);
          if (decisions[i]!.decision === "escalate") escalations.push(i);
        }
        const approvals = escalations.length === 0 || this.approvalsStore === null ? null : this.storeApprovals(entries, decisions, local?.actions, escalations, seq, hashes);
        return { seq, hashes, escalations, approvals };
      },
      (err: Error) => {
        this.noteFailure(err);
        throw err;
      },
    );
  }

  /**
   * `record` for one Decided (`AuditLog#append`), with its decision and, when given, the
   * redacted action an approval keeps (else parsed from the record's text).
   */
  recordOne(entry: Decided, decision: Decision, action?: unknown): Promise<RecordedOne> {
    const started = process.hrtime.bigint();
    let appended: Promise<Appended>;
    try {
      appended = this.audit.append(auditEntryOf(entry, decision));
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return appended.then(
      ({ seq, hash }) => {
        this.metrics?.recordAuditAppend(entry[2], Number(process.hrtime.bigint() - started));
        if (decision.decision !== "escalate" || this.approvalsStore === null) return { seq, hash, approval: null };
        const approval = this.storeApprovals([entry], [decision], action === undefined ? undefined : [action], [0], seq, [hash]).then((created) => created[0]!);
        return { seq, hash, approval };
      },
      (err: Error) => {
        this.noteFailure(err);
        throw err;
      },
    );
  }

  /** Appends the record of an approval's transition; resolves once it is durable (Approvals' `audit`). */
  readonly recordTransition = async (approval: Approval): Promise<Appended> => {
    try {
      return await this.audit.append(transitionEntry(approval));
    } catch (err) {
      this.noteFailure(err);
      throw err;
    }
  };

  /**
   * Redeems approval `req.id` for the action `req` describes (docs/approvals.md, "Redeeming"):
   * the claim is one store transaction (ApprovalStore#claim: exactly one of racing redemptions
   * wins, across processes and instances), then its record — allow, or deny with the check that failed — is appended, linked to
   * the approval's records; resolves once it is durable. If the record cannot be written the
   * claim is undone (the approval stays redeemable) and it rejects with ApprovalError
   * "unavailable". Nothing is evaluated or counted.
   */
  async redeem(req: RedeemRequest): Promise<Redeemed> {
    const approvals = this.approvalsStore;
    if (approvals === null) throw new ApprovalError("closed", req.id, "no approvals store is open");
    if (this.failure !== null) throw new ApprovalError("unavailable", req.id, `approval ${req.id} cannot be redeemed now: the audit log cannot be written (${this.failure.message})`);
    const r = await approvals.store.claim(req.id, { digest: req.digest, agent: req.agent, at: new Date(approvals.now()).toISOString(), requireRecord: true });
    const entry = redemptionEntry(r, req);
    let appended: Appended;
    try {
      appended = await this.audit.append(entry);
    } catch (err) {
      this.noteFailure(err);
      if (r.ok) await approvals.store.unclaim(r.approval).catch(() => false); // the store failed too: it stays claimed, unrecorded
      throw new ApprovalError("unavailable", req.id, `approval ${req.id} was not redeemed: its audit record could not be written (${(err as Error)?.message ?? String(err)})`, { cause: err });
    }
    if (r.ok) await approvals.store.markRedeemed(req.id, appended.seq, appended.hash);
    return { decision: entry.decision as RedemptionDecision, policy_hash: entry.policy_hash, seq: appended.seq, hash: appended.hash };
  }

  /** Resolves when everything appended so far is durable; notes a failure of the log (a probe). */
  probe(): Promise<void> {
    return this.audit.flush().catch((err: unknown) => this.noteFailure(err));
  }

  private noteFailure(err: unknown): void {
    if (this.failure !== null || !(err instanceof AuditError)) return;
    this.failure = err;
    this.onAuditFailure?.(err);
  }

  /** Stores the approvals of a group's escalations, now ("call") or with the turn's others ("turn"). */
  private storeApprovals(entries: readonly Decided[], decisions: readonly Decision[], actions: readonly unknown[] | undefined, escalations: number[], seq: number, hashes: readonly string[]): Promise<(Approval | Error)[]> {
    return new Promise((resolve) => {
      const group: ApprovalGroup = { entries, decisions, actions, escalations, seq, hashes, resolve };
      if (this.batch === "call") {
        void this.commit([group]);
        return;
      }
      this.queue.push(group);
      if (this.scheduled) return;
      this.scheduled = true;
      const wait = this.lastCommitEnd + Math.max(2, this.lastCommitMs) - performance.now();
      if (wait > 0) setTimeout(this.commitQueued, wait);
      else setImmediate(this.commitQueued);
    });
  }

  private readonly commitQueued = (): void => {
    this.scheduled = false;
    const groups = this.queue;
    this.queue = [];
    const started = performance.now();
    // A SQLite store commits synchronously, inside this call: what it blocked is measured.
    void this.commit(groups);
    this.lastCommitEnd = performance.now();
    this.lastCommitMs = this.lastCommitEnd - started;
  };

  /** One store transaction for the escalations of `groups`; each group gets its approvals or errors. */
  private async commit(groups: readonly ApprovalGroup[]): Promise<void> {
    let count = 0;
    for (const g of groups) count += g.escalations.length;
    let created: (Approval | Error)[];
    try {
      const inputs = new Array<CreateInput>(count);
      let k = 0;
      for (const g of groups) {
        for (const i of g.escalations) {
          inputs[k++] = {
            decision: g.decisions[i]!,
            action: g.actions !== undefined ? g.actions[i] : JSON.parse(g.entries[i]![1]),
            policy_hash: g.entries[i]![3],
            decision_seq: g.seq + i,
            decision_hash: g.hashes[i]!,
            action_digest: g.entries[i]![6]?.[0] ?? null,
            agent: g.entries[i]![6]?.[1] ?? null,
          };
        }
      }
      created = await this.approvalsStore!.createMany(inputs);
    } catch (err) {
      this.onBatchError?.(err as Error, count);
      created = new Array<Error>(count).fill(err as Error);
    }
    let at = 0;
    for (const g of groups) {
      const m = g.escalations.length;
      g.resolve(created.slice(at, at + m));
      at += m;
    }
  }
}
