// Runs a manifest's tests (spec section 7): single-action tests and sequences of steps that
// share counter state, each test from empty counters at time 0. Used by `tollgate test`; with
// coverage (`tollgate test --coverage`), each step is also explained (Policy.explain, against the
// test's own counter state) to learn which rules were evaluated for it.

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
  return runTest(policy, t);
}

/** What coverage learns of one step: its decision and the rules evaluated for it (indexes). */
export interface StepObserved {
  decision: Decision;
  evaluated: readonly number[];
}

/** With `observe`, each step is first explained (against the test's own counter state, which
 *  then becomes the policy's: the caller restores it). */
function runTest(policy: Policy, t: PolicyTest, observe?: (step: StepObserved) => void): TestResult {
  const { steps, sequence } = stepsOf(t);
  const state = policy.stateful ? policy.newState() : undefined;
  const failures: StepFailure[] = [];
  steps.forEach((s, i) => {
    const now = stepTimeMs(s.at);
    let evaluated: number[] = [];
    if (observe !== undefined) {
      if (state !== undefined) policy.useState(state);
      evaluated = policy.explain(s.action, { now }).rules.map((r) => r.index);
    }
    const done = policy.step(s.action, { now, state });
    observe?.({ decision: done.decision, evaluated });
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

/** A rule's coverage by the policy's tests: `decided` when it decided at least one test action
 *  (a step of a sequence counts as one), `evaluated` when it was evaluated for one (a candidate
 *  of the tool index: Policy.explain's rules) but never decided, `unreached` otherwise. */
export interface RuleCoverage {
  id: string;
  effect: Effect;
  index: number;
  status: "decided" | "evaluated" | "unreached";
  /** Test actions it decided. */
  decided: number;
  /** Test actions it was evaluated for. */
  evaluated: number;
}

export interface Coverage {
  /** Test actions run (single tests and sequence steps). */
  actions: number;
  rules: RuleCoverage[];
  /** Rules by status. */
  decided: number;
  evaluated: number;
  unreached: number;
}

/** Runs the tests (as runPolicyTests) and records which rules each action evaluated and which
 *  decided. The policy's own counter state is left as it was. */
export function runPolicyTestsWithCoverage(policy: Policy): { results: TestResult[]; coverage: Coverage } {
  const decided = new Array<number>(policy.rules.length).fill(0);
  const evaluated = new Array<number>(policy.rules.length).fill(0);
  const index = new Map(policy.rules.map((r, i) => [r.id, i]));
  let actions = 0;
  const original = policy.state;
  let results: TestResult[];
  try {
    results = policy.tests.map((t) => runTest(policy, t, (step) => {
      actions++;
      for (const i of step.evaluated) evaluated[i]!++;
      const i = step.decision.rule === null ? undefined : index.get(step.decision.rule);
      if (i !== undefined) decided[i]!++;
    }));
  } finally {
    if (original !== null) policy.useState(original);
  }
  const rules = policy.rules.map((r, i): RuleCoverage => ({
    id: r.id, effect: r.effect, index: i,
    status: decided[i]! > 0 ? "decided" : evaluated[i]! > 0 ? "evaluated" : "unreached",
    decided: decided[i]!, evaluated: evaluated[i]!,
  }));
  const count = (s: RuleCoverage["status"]): number => rules.filter((r) => r.status === s).length;
  return { results, coverage: { actions, rules, decided: count("decided"), evaluated: count("evaluated"), unreached: count("unreached") } };
}
