// Running a manifest's `tests` (spec section 7), single tests and sequences.
// Every test starts with empty counters; the steps of a sequence share them.
// A failing step does not stop its test: the actual decision is recorded, as
// a running system would, and the next step goes on.

import { CounterState } from "./counters.js";
import type { Decision, Effect } from "./decide.js";
import { ReferencePolicy } from "./index.js";
import { MAX_STEP_AT_MS, parseDuration } from "./validate.js";

export interface StepFailure {
  /** The failing step's index in `steps` (0-based, as in the pointer
   *  /tests/N/steps/INDEX); null for a single-action test. */
  step: number | null;
  expected: { decision: Effect; rule?: string | null };
  actual: Decision;
}

export interface TestResult {
  name: string;
  passed: boolean;
  failures: StepFailure[];
}

interface Expectation {
  action: unknown;
  expect: Effect;
  rule?: string | null;
  at?: string;
  resolve?: "approved" | "denied";
}

function failure(s: Expectation, actual: Decision, step: number | null): StepFailure | null {
  // `rule` is compared only when given (null: a default decision).
  const ruleOk = !("rule" in s) || s.rule === actual.rule;
  if (actual.decision === s.expect && ruleOk) return null;
  return { step, expected: "rule" in s ? { decision: s.expect, rule: s.rule } : { decision: s.expect }, actual };
}

/** Runs every test of a manifest (checked first: ReferencePolicy.load throws
 *  ReferencePolicyError on a policy error). */
export function runTests(manifest: any): TestResult[] {
  const policy = ReferencePolicy.load(manifest);
  return ((manifest.tests ?? []) as any[]).map((t): TestResult => {
    const state = new CounterState();
    const failures: StepFailure[] = [];
    if (!("steps" in t)) {
      // A single-action test: a sequence of one step at time 0 (empty counters).
      const f = failure(t, policy.step(t.action, 0, state).decision, null);
      if (f) failures.push(f);
    } else {
      (t.steps as Expectation[]).forEach((s, i) => {
        const now = s.at === undefined ? 0 : parseDuration(s.at, MAX_STEP_AT_MS, true)!;
        const { decision, approval } = policy.step(s.action, now, state);
        const f = failure(s, decision, i);
        if (f) failures.push(f);
        // Resolved at the step's own time, right after its decision, when the
        // actual decision is an escalation; otherwise ignored.
        if (s.resolve !== undefined && approval !== null) state.resolve(approval, s.resolve, now);
      });
    }
    return { name: t.name, passed: failures.length === 0, failures };
  });
}
