// Runs a manifest's tests (spec section 7): single-action tests and sequences of steps that
// share counter state, each test from empty counters at time 0. Used by `tollgate test`.

import type { Decision, Effect } from "./decision.js";
import type { Policy, PolicyTest, PolicyTestStep } from "./policy.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A step time as the core validated it (`0s`, `30s`, `2h`) in ms. */
export function stepTimeMs(text: string | undefined): number {
  if (text === undefined) return 0;
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new Error(`invalid step time '${text}'`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export interface StepFailure {
  /** The step's index in a sequence (0-based), null for a single-action test. */
  step: number | null;
  expect: Effect;
  /** The expected rule; undefined when the test does not say. */
  rule: string | null | undefined;
  actual: Decision;
}

export interface TestResult {
  name: string;
  failures: StepFailure[];
}

function stepsOf(t: PolicyTest): { steps: PolicyTestStep[]; sequence: boolean } {
  if (t.steps !== undefined) return { steps: t.steps, sequence: true };
  return { steps: [{ action: t.action!, expect: t.expect!, rule: t.rule }], sequence: false };
}

/** Runs one test. A failing step does not stop a sequence: it goes on with the actual decision
 *  recorded, as a running system would. */
export function runPolicyTest(policy: Policy, t: PolicyTest): TestResult {
  const { steps, sequence } = stepsOf(t);
  const state = policy.stateful ? policy.newState() : undefined;
  const failures: StepFailure[] = [];
  steps.forEach((s, i) => {
    const now = stepTimeMs(s.at);
    const done = policy.step(s.action, { now, state });
    const actual = done.decision;
    if (s.resolve !== undefined && actual.decision === "escalate" && done.pending !== null) {
      state!.resolve(done.pending, s.resolve, now);
    }
    const ruleOk = s.rule === undefined || s.rule === actual.rule;
    if (actual.decision !== s.expect || !ruleOk) failures.push({ step: sequence ? i : null, expect: s.expect, rule: s.rule, actual });
  });
  return { name: t.name, failures };
}

export function runPolicyTests(policy: Policy): TestResult[] {
  return policy.tests.map((t) => runPolicyTest(policy, t));
}
