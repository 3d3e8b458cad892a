// Shadow decisions (issue 15, docs/change-safety.md "Shadow"): every live decision is also taken
// by a candidate policy, whose answer is never used. The candidate keeps its own counters (the
// Policy's own in-memory store: `step` records there and nowhere else), so it never reads or
// touches live state; decisions that differ are counted (tollgate_shadow_disagreements_total) and
// written as JSON lines for review. Shared by the gate (one process) and the server's workers.

import { mkdirSync, createWriteStream } from "node:fs";
import type { WriteStream } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Counter } from "prom-client";
import type { Registry } from "prom-client";
import { UNRECORDABLE_TEXT } from "../audit/recordable.js";
import type { Decision } from "../decision.js";
import { PendingByRecord, pendingOf, rememberPending, settleTransition } from "./counted.js";
import type { PendingEscalation } from "./counted.js";
import { DEFAULT_RULE } from "../metrics/metrics.js";
import type { Policy } from "../policy.js";
import { redact } from "../redact.js";

/** The shadow's Prometheus series, one set per registry (a replaced candidate keeps counting into them). */
export class ShadowMetrics {
  private static readonly byRegistry = new WeakMap<Registry, ShadowMetrics>();
  /** Decisions where the candidate's decision (allow/deny/escalate) differs from the live one. */
  readonly disagreements: Counter<"live" | "shadow" | "rule">;
  /** Live decisions also taken by a candidate (the denominator of the disagreement rate). */
  readonly decisions: Counter;
  /** Disagreement lines not written: the log's buffer was full, or the file failed. */
  readonly dropped: Counter;

  private constructor(registry: Registry) {
    const registers = [registry];
    this.disagreements = new Counter({
      name: "tollgate_shadow_disagreements_total",
      help: "Decisions the shadow (candidate) policy took differently from the live one; rule: the candidate's deciding rule",
      labelNames: ["live", "shadow", "rule"],
      registers,
    });
    this.decisions = new Counter({ name: "tollgate_shadow_decisions_total", help: "Live decisions also taken by the shadow policy", registers });
    this.dropped = new Counter({ name: "tollgate_shadow_log_dropped_total", help: "Shadow disagreement lines that could not be written", registers });
  }

  static of(registry: Registry): ShadowMetrics {
    let m = ShadowMetrics.byRegistry.get(registry);
    if (m === undefined) ShadowMetrics.byRegistry.set(registry, (m = new ShadowMetrics(registry)));
    return m;
  }
}

/** Lines kept in memory while the file is slow before new ones are dropped (and counted). */
const MAX_BUFFERED = 16 * 1024 * 1024;

/**
 * The disagreement log: JSON lines appended to a file (opened on the first line, with O_APPEND:
 * several processes — the server's workers — append whole lines to the same file, and a line is
 * written by one write(2)). A failing or slow file never holds up a decision: lines beyond
 * MAX_BUFFERED are dropped and counted, and after an error nothing more is written.
 */
export class ShadowLog {
  private stream: WriteStream | null = null;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** Appends one line (no newline in `line`); false if it was dropped. */
  write(line: string): boolean {
    if (this.failed) return false;
    if (this.stream === null) {
      try {
        mkdirSync(dirname(this.path), { recursive: true });
      } catch {
        // createWriteStream reports it
      }
      this.stream = createWriteStream(this.path, { flags: "a" });
      this.stream.on("error", (err) => {
        if (this.failed) return;
        this.failed = true;
        this.onError(new Error(`shadow log ${this.path}: ${err.message}; no more disagreements are written`));
      });
    }
    if (this.stream.writableLength > MAX_BUFFERED) return false;
    this.stream.write(`${line}\n`);
    return true;
  }

  /** Flushes what is buffered and closes the file. */
  close(): Promise<void> {
    const s = this.stream;
    this.stream = null;
    if (s === null || this.failed) return Promise.resolve();
    return new Promise((resolve) => s.end(() => resolve()));
  }
}

/** The disagreement log's default place: beside the audit directory (`./audit` → `./audit-shadow.jsonl`). */
export function defaultShadowLog(auditDir: string): string {
  const dir = resolve(auditDir);
  return join(dirname(dir), `${basename(dir)}-shadow.jsonl`);
}

/** What the shadow needs to know of the live policy. */
export type LivePolicy = Pick<Policy, "name" | "hash" | "redact">;

/** Where a live decision's record is. */
export interface RecordedAt {
  seq: number;
  hash: string;
}

/** One line of the disagreement log. */
export interface DisagreementLine {
  time: string;
  audit_id: string;
  audit_seq: number;
  live: { decision: string; rule: string | null; policy: string; policy_hash: string };
  shadow: { decision: string; rule: string | null; reason: string | null; policy: string; policy_hash: string };
  /** The action, with the `audit.redact` paths of both policies redacted. */
  action: unknown;
}

/**
 * A candidate policy taking every live decision too. `decide` takes the candidate's decisions
 * (and counts into its own counters); `report` compares them with the live ones once those are
 * recorded, counts the disagreements and logs them. Neither throws: the shadow never changes a
 * live answer (errors go to `onError`).
 */
export class Shadow {
  /** The candidate's escalations still pending, by the live record's hash. */
  private readonly pendingByRecord = new PendingByRecord();

  constructor(
    readonly policy: Policy,
    private readonly metrics: ShadowMetrics,
    private readonly log: ShadowLog | null,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /**
   * The candidate's decision for each action whose live decision was evaluated (null for one
   * denied unevaluated because it cannot be recorded: that deny holds whatever the policy).
   * A candidate with counters decides and records in its own in-memory store (`Policy.step`),
   * in the order given.
   */
  decide(actions: readonly unknown[], live: readonly Decision[], pending?: (PendingEscalation | null)[]): (Decision | null)[] {
    const out = new Array<Decision | null>(actions.length).fill(null);
    try {
      const p = this.policy;
      let all = true;
      for (const d of live) if (d.error === UNRECORDABLE_TEXT) all = false;
      if (!p.stateful && all && actions.length > 1) {
        const ds = p.evaluateBatch(actions);
        for (let i = 0; i < ds.length; i++) out[i] = ds[i]!;
        return out;
      }
      for (let i = 0; i < actions.length; i++) {
        if (live[i]!.error === UNRECORDABLE_TEXT) continue;
        if (p.stateful) {
          const step = p.step(actions[i]);
          out[i] = step.decision;
          if (pending !== undefined) pending[i] = pendingOf(step);
        } else out[i] = p.evaluate(actions[i]);
      }
    } catch (err) {
      this.onError(err as Error);
    }
    return out;
  }

  /**
   * The candidate's escalation of the action recorded live as `hash` (its `pending` from
   * `decide`) waits for the live escalation's answer: see `settle`.
   */
  remember(hash: string, pending: PendingEscalation | null): void {
    rememberPending(this.pendingByRecord, hash, pending);
  }

  /**
   * A live approval transition (approved, denied) settles the candidate's escalation of the same
   * action as if the same person had answered it: its contributions count, or are released. (An
   * escalation the live policy did not make is answered by nobody: it expires by the
   * candidate's own timeout.)
   */
  settle(a: { decision_hash: string; state: string }): void {
    try {
      settleTransition(this.pendingByRecord, a, (id, resolution) => this.policy.resolve(id, resolution, Date.now()));
    } catch (err) {
      this.onError(err as Error);
    }
  }

  /**
   * Compares the candidate's decisions with the live ones (recorded at `at(i)`): counts each
   * comparison and each disagreement (a different decision: allow, deny or escalate; a change of
   * rule alone is not one) and logs the disagreements. Returns how many there were.
   */
  report(livePolicy: LivePolicy, actions: readonly unknown[], live: readonly Decision[], shadow: readonly (Decision | null)[], at: (i: number) => RecordedAt): number {
    let n = 0;
    try {
      let compared = 0;
      const time = new Date().toISOString();
      for (let i = 0; i < actions.length; i++) {
        const s = shadow[i];
        if (s === null || s === undefined) continue;
        compared++;
        const l = live[i]!;
        if (s.decision === l.decision) continue;
        n++;
        this.metrics.disagreements.inc({ live: l.decision, shadow: s.decision, rule: s.rule ?? DEFAULT_RULE });
        if (this.log === null) continue;
        const where = at(i);
        const line: DisagreementLine = {
          time,
          audit_id: where.hash,
          audit_seq: where.seq,
          live: { decision: l.decision, rule: l.rule, policy: livePolicy.name, policy_hash: livePolicy.hash },
          shadow: { decision: s.decision, rule: s.rule, reason: s.reason, policy: this.policy.name, policy_hash: this.policy.hash },
          action: redact(redact(actions[i], livePolicy.redact), this.policy.redact),
        };
        if (!this.log.write(JSON.stringify(line))) this.metrics.dropped.inc();
      }
      if (compared > 0) this.metrics.decisions.inc(compared);
    } catch (err) {
      this.onError(err as Error);
    }
    return n;
  }
}
