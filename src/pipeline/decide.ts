// The decide half of the pipeline (docs/architecture.md): redact the action and make the
// record's canonical text of it, deny what cannot be recorded faithfully without evaluating it,
// evaluate the rest, count every decision, and hand over a `Decided` per action. Pure and in
// memory: the record half (record.ts) does the I/O. Gate calls `decideOne`; each server worker
// calls `decideMany` for a request (one engine call for the lot).

import type { CountedSeal } from "../audit/counted-seal.js";
import { canonicalDecision, NOT_JSON } from "../audit/format.js";
import { recordableParsedText, recordableText, unrecordableDecision } from "../audit/recordable.js";
import { redact } from "../redact.js";
import type { CounterEntry } from "../counters.js";
import type { Decision } from "../decision.js";
import type { GateMetrics } from "../metrics/metrics.js";
import type { Policy } from "../policy.js";
import { countedDecision, pendingOf } from "./counted.js";
import type { PendingEscalation } from "./counted.js";
import type { Decided } from "./message.js";
import { bindEscalation } from "./redeem.js";

/** What decide needs of a policy (a `Policy` has all of it). */
export type DecidingPolicy = Pick<Policy, "name" | "hash" | "redact" | "evaluate" | "evaluateBatch" | "stateful" | "step" | "counters">;

/** A decision already made and counted (against a shared store). */
export interface DecidedStep {
  decision: Decision;
  entries: readonly CounterEntry[];
  now: number;
  pending: string | null;
}

/** The record's action text for an action that cannot be recorded as itself. */
export const NOT_JSON_TEXT = JSON.stringify(NOT_JSON);

export interface DecidedOne {
  decision: Decision;
  /** The decision as its record holds it (what it counted; a redacted field's sum "[redacted]"). */
  recorded: Decision;
  entry: Decided;
  /** The action with the policy's `audit.redact` paths redacted (copy-on-write): what an approval keeps. */
  redacted: unknown;
  /** For an escalation that counted something: the id its pending contributions wait under. */
  pending: PendingEscalation | null;
}

/**
 * Decides one action (any JavaScript value). The record's text of the redacted action is made
 * first, together with the check that it has one (`recordableText`, one walk): an action without
 * one (a lone surrogate, nesting deeper than 512, a value that is not JSON) is not evaluated but
 * denied with `error` (`unrecordableDecision`), and that deny is recorded as "[not JSON]" with
 * eval_ns 0. `seal`: the log's, for the counter values a record must not show (counted.ts); null
 * when the record will not be written. `metrics`, when given, counts the decision.
 */
export function decideOne(policy: DecidingPolicy, action: unknown, seal: CountedSeal | null, metrics?: GateMetrics | null, now?: number, decided?: DecidedStep): DecidedOne {
  const redacted = redact(action, policy.redact);
  const actionJson = recordableText(redacted); // the record's text, checked and made in one go
  let decision: Decision;
  let recorded: Decision;
  let evalNs = 0;
  let pending: DecidedOne["pending"] = null;
  if (actionJson === null) {
    decision = recorded = unrecordableDecision(policy.name);
  } else if (policy.stateful) {
    // Counters: decide and count in one synchronous step (nothing interleaves in this process),
    // or take the step decided against a shared store (shared-decide.ts); the record carries
    // what was counted, which is what makes it durable (counted.ts).
    const t0 = process.hrtime.bigint();
    const step = decided ?? policy.step(action, { now });
    evalNs = decided === undefined ? Number(process.hrtime.bigint() - t0) : 0;
    decision = step.decision;
    recorded = countedDecision(decision, policy, step.entries, step.now, step.pending, seal);
    pending = pendingOf(step);
  } else {
    const t0 = process.hrtime.bigint();
    decision = recorded = policy.evaluate(action);
    evalNs = Number(process.hrtime.bigint() - t0);
  }
  metrics?.recordDecision(policy.name, decision, evalNs);
  const entry: Decided = [canonicalDecision(recorded), actionJson ?? NOT_JSON_TEXT, policy.name, policy.hash, evalNs];
  if (decision.decision === "escalate") bindEscalation(entry, action);
  return { decision, recorded, entry, redacted, pending };
}

export interface DecideManyOptions {
  /** Counts every decision (an unevaluated deny with 0 ns, the others with the mean evaluation time). */
  metrics?: GateMetrics | null;
  /**
   * The actions come straight from `JSON.parse` (plain objects, arrays, strings, numbers,
   * booleans, null): their text is made by the fast key-sorted path when it is certainly
   * canonical (`recordableParsedText`), the full check only otherwise. The server's request bodies.
   */
  parsed?: boolean;
}

/**
 * Decides actions as `decideOne` does each, with one engine call for those that can be recorded
 * (`Policy.evaluateBatch`; `evaluate` for a single one). `evalNs` is the evaluation time per
 * evaluated action (the mean; each Decided has it rounded).
 */
export function decideMany(policy: DecidingPolicy, actions: readonly unknown[], options: DecideManyOptions = {}): { decisions: Decision[]; entries: Decided[]; evalNs: number } {
  const textOf = options.parsed === true ? recordableParsedText : recordableText;
  const metrics = options.metrics;
  const n = actions.length;
  const texts = new Array<string | null>(n);
  let unrecordable = 0;
  for (let i = 0; i < n; i++) {
    const t = textOf(redact(actions[i], policy.redact)); // the record's text, checked and made in one go
    texts[i] = t;
    if (t === null) unrecordable++;
  }
  const t0 = process.hrtime.bigint();
  let decisions: Decision[];
  if (unrecordable === 0) {
    decisions = n === 1 ? [policy.evaluate(actions[0])] : policy.evaluateBatch(actions);
  } else {
    const evaluable = actions.filter((_, i) => texts[i] !== null);
    const decided = evaluable.length === 0 ? [] : evaluable.length === 1 ? [policy.evaluate(evaluable[0])] : policy.evaluateBatch(evaluable);
    const denied = unrecordableDecision(policy.name);
    decisions = new Array<Decision>(n);
    for (let i = 0, k = 0; i < n; i++) decisions[i] = texts[i] === null ? denied : decided[k++]!;
  }
  const evaluated = n - unrecordable;
  const evalNs = evaluated === 0 ? 0 : Number(process.hrtime.bigint() - t0) / evaluated;
  const each = Math.max(0, Math.round(evalNs));
  const entries = new Array<Decided>(n);
  for (let i = 0; i < n; i++) {
    const t = texts[i]!;
    const d = decisions[i]!;
    metrics?.recordDecision(policy.name, d, t === null ? 0 : evalNs);
    entries[i] = [canonicalDecision(d), t ?? NOT_JSON_TEXT, policy.name, policy.hash, t === null ? 0 : each];
    if (d.decision === "escalate") bindEscalation(entries[i]!, actions[i]);
  }
  return { decisions, entries, evalNs };
}
