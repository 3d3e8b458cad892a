// Runs every file of test/conformance/ (the cross-host contract; Python runs the same files).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
// A manifest is read as the Node host reads it (the yaml package with its lexer repaired).
import { parseYaml } from "../src/yaml-document.js";
import { Policy, PolicyError } from "../src/index.js";
import { canonicalJson } from "../src/canonical.js";
import { runPolicyTests, stepTimeMs } from "../src/policy-tests.js";
import { ReferencePolicy, ReferenceSession } from "./support/reference/index.js";
import type { Step as ReferenceStep } from "./support/reference/index.js";
import { errorDecision } from "./support/reference/decide.js";
import { ERROR_TEXT } from "./support/reference/input.js";
import { runTests } from "./support/reference/tests.js";
import { closestRules, explainRules } from "./support/reference/explain.js";
import { UNKNOWN_VALUE, type CounterValue } from "./support/reference/condition.js";
import type { Decision as ReferenceDecision } from "./support/reference/decide.js";

const dir = join(import.meta.dirname, "conformance");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

interface DecisionCase { name: string; action?: unknown; input?: string; expect: Record<string, unknown>; explain?: ExplainExpectation }
/** An explanation as JSON (`tollgate eval --explain --format json`; docs/semantics.md, "Explain"). */
interface ExplainExpectation {
  decision: Record<string, unknown>;
  rules: { index: number }[];
  closest: unknown[];
  counters?: { name: string; value: number | null; contribution: number | null }[];
}
interface ErrorCase { line: number; column: number; contains: string }
interface SequenceStep {
  action?: unknown;
  input?: string;
  at?: string;
  resolve?: "approved" | "denied";
  expect: Record<string, unknown>;
  explain?: ExplainExpectation;
}
interface Sequence { name: string; steps: SequenceStep[] }
interface TestOutcome { name: string; failures: { step: number | null; actual: unknown }[] }

/** The order of a decision's keys and of its `counters`' keys (canonical JSON sorts them). */
function keyOrder(d: unknown): string[][] {
  const o = d as Record<string, unknown>;
  const counters = o.counters;
  return [Object.keys(o), counters !== null && typeof counters === "object" ? Object.keys(counters) : []];
}

/** The keys of every object of an explanation, in order, outside the data it shows (a test's
 *  `operand`, a value seen): the format's key order, which both hosts keep. */
function explainKeyOrder(e: unknown): string[][] {
  const out: string[][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === "object") {
      out.push(Object.keys(v));
      for (const [k, x] of Object.entries(v)) if (k !== "operand" && k !== "value") walk(x);
    }
  };
  walk(e);
  return out;
}

/**
 * Checks an `explain` expectation: against the reference interpreter first (its decision, the
 * rules it lists — the reference explains every rule, the product the tool index's candidates,
 * so the expectation must list a subset whose every other rule is FALSE — and the closest allow
 * rules among them), then against `actual`, the product's explanation, as JSON and key order.
 * `counters`: the counter values the rules saw (a policy with counters), taken from the
 * expectation; the decision they give is checked with the step's own expectation.
 */
function checkExplain(actual: unknown, expected: ExplainExpectation, decision: Record<string, unknown>, manifest: any, action: unknown, what: string): void {
  expect(canonicalJson(expected.decision), `${what}: the explanation's decision is the decision`).toBe(canonicalJson(decision));
  const counters = manifest.counters === undefined
    ? undefined
    : new Map<string, CounterValue>((expected.counters ?? []).map((c) => [c.name, c.value === null ? UNKNOWN_VALUE : c.value]));
  if (counters === undefined) {
    expect(canonicalJson(new ReferencePolicy(manifest).evaluate(action)), `${what}: the reference's decision`).toBe(canonicalJson(decision));
  }
  const all = explainRules(manifest, action, expected.decision as unknown as ReferenceDecision, counters);
  if (all === null) {
    expect(expected.rules, `${what}: an input error explains no rule`).toEqual([]);
  } else {
    const listed = new Set(expected.rules.map((r) => r.index));
    const rules = all.filter((r) => listed.has(r.index));
    expect(canonicalJson(expected.rules), `${what}: the expectation disagrees with the reference interpreter`).toBe(canonicalJson(rules));
    expect(all.filter((r) => !listed.has(r.index) && r.result !== "FALSE").map((r) => r.id), `${what}: rules left out are FALSE`).toEqual([]);
    expect(canonicalJson(expected.closest), `${what}: closest, by the reference`).toBe(canonicalJson(closestRules(rules, expected.decision as unknown as ReferenceDecision)));
  }
  const json = JSON.parse(JSON.stringify(actual)) as unknown;
  expect(canonicalJson(json), what).toBe(canonicalJson(expected));
  expect(explainKeyOrder(json), `${what}: key order`).toEqual(explainKeyOrder(expected));
}

function loadPolicy(spec: any, file: string): Policy {
  return spec.policy_text ? Policy.fromYaml(spec.policy_text, { filename: file }) : Policy.fromObject(spec.policy, { filename: file });
}

describe("conformance", () => {
  it("has cases", () => expect(files.length).toBeGreaterThan(0));

  for (const file of files) {
    const spec = parse(readFileSync(join(dir, file), "utf8"), { version: "1.2" });
    describe(file, () => {
      if (spec.errors) {
        it("reports every error at its position", () => {
          let error: unknown;
          try {
            Policy.fromYaml(spec.policy_text, { filename: spec.filename ?? file });
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(PolicyError);
          const got = (error as PolicyError).errors.map((e) => ({ line: e.line, column: e.column, message: e.message }));
          const expected = (spec.errors as ErrorCase[]);
          for (const exp of expected) {
            const hit = got.find((g) => g.line === exp.line && g.column === exp.column && g.message.includes(exp.contains));
            expect(hit, `expected ${exp.line}:${exp.column} containing ${JSON.stringify(exp.contains)}; got ${JSON.stringify(got, null, 1)}`).toBeDefined();
          }
          expect(got.length, `unexpected extra errors: ${JSON.stringify(got, null, 1)}`).toBe(expected.length);
        });
        return;
      }
      let policy: Policy;
      try {
        policy = loadPolicy(spec, file);
      } catch (e) {
        it("loads its policy", () => {
          throw new Error(`policy of ${file} did not load: ${e instanceof PolicyError ? e.format() : String(e)}`);
        });
        return;
      }
      if (spec.sequences) {
        // A sequence file: each sequence from a freshly loaded policy (empty counters), step by
        // step at its `at`; every expectation is also checked against the reference interpreter.
        const manifest = spec.policy_text ? parseYaml(spec.policy_text, { version: "1.2" }) : spec.policy;
        for (const seq of spec.sequences as Sequence[]) {
          it(seq.name, () => {
            const fresh = loadPolicy(spec, file);
            const reference = new ReferenceSession(manifest);
            seq.steps.forEach((s, i) => {
              const now = stepTimeMs(s.at);
              let actual: unknown;
              let ref: ReferenceStep;
              if (s.input !== undefined) {
                actual = fresh.evaluateLines([s.input], { now })[0];
                let parsed: unknown;
                let ok = true;
                try {
                  parsed = JSON.parse(s.input);
                } catch {
                  ok = false;
                }
                ref = ok ? reference.decide(parsed, now) : { decision: errorDecision(ERROR_TEXT[1]!, reference.policy.name), approval: null };
              } else {
                // An explanation at the step's time, before it decides: it must record nothing.
                if (s.explain !== undefined) checkExplain(fresh.explain(s.action, { now }), s.explain, s.expect, manifest, s.action, `step ${i}: explain`);
                const step = fresh.step(s.action, { now });
                actual = step.decision;
                if (s.resolve !== undefined && step.decision.decision === "escalate" && step.pending !== null) {
                  fresh.resolve(step.pending, s.resolve, now);
                }
                ref = reference.decide(s.action, now);
              }
              if (s.resolve !== undefined && ref.approval !== null) reference.resolve(ref.approval, s.resolve, now);
              // As printed (JSON): a counter value that overflowed to infinity is null (docs/semantics.md).
              const printed = (d: unknown) => canonicalJson(JSON.parse(JSON.stringify(d)));
              expect(printed(ref.decision), `step ${i}: the expectation disagrees with the reference interpreter`).toBe(canonicalJson(s.expect));
              expect(printed(actual), `step ${i}`).toBe(canonicalJson(s.expect));
              expect(keyOrder(actual), `step ${i}: key order`).toEqual(keyOrder(s.expect));
            });
          });
        }
        if (spec.test_results) {
          it("runs the manifest's tests", () => {
            const got: TestOutcome[] = runPolicyTests(policy).map((r) => ({
              name: r.name,
              failures: r.failures.map((f) => ({ step: f.step, actual: f.actual })),
            }));
            const ref: TestOutcome[] = runTests(manifest).map((r) => ({
              name: r.name,
              failures: r.failures.map((f) => ({ step: f.step, actual: f.actual })),
            }));
            expect(canonicalJson(ref), "the expectation disagrees with the reference interpreter").toBe(canonicalJson(spec.test_results));
            expect(canonicalJson(got)).toBe(canonicalJson(spec.test_results));
          });
        }
        return;
      }
      const cases = spec.cases as DecisionCase[];
      const manifest = spec.policy_text ? parseYaml(spec.policy_text, { version: "1.2" }) : spec.policy;
      for (const c of cases) {
        it(c.name, () => {
          if (c.explain !== undefined) {
            expect(c.input, "an explain expectation goes with an `action`").toBeUndefined();
            checkExplain(policy.explain(c.action), c.explain, c.expect, manifest, c.action, "explain");
          }
          const actual = c.input !== undefined ? policy.evaluateLines([c.input])[0] : policy.evaluate(c.action);
          expect(canonicalJson(actual)).toBe(canonicalJson(c.expect));
        });
      }
      it("decides the same in one batch", () => {
        const lines = cases.map((c) => (c.input !== undefined ? c.input : JSON.stringify(c.action)));
        const batch = policy.evaluateLines(lines).map(canonicalJson);
        expect(batch).toEqual(cases.map((c) => canonicalJson(c.expect)));
      });
    });
  }
});
