// Runs every file of test/conformance/ (the cross-host contract; Python runs the same files).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Policy, PolicyError } from "../src/index.js";
import { canonicalJson } from "../src/canonical.js";
import { runPolicyTests, stepTimeMs } from "../src/policy-tests.js";
import { ReferenceSession } from "./support/reference/index.js";
import type { Step as ReferenceStep } from "./support/reference/index.js";
import { errorDecision } from "./support/reference/decide.js";
import { ERROR_TEXT } from "./support/reference/input.js";
import { runTests } from "./support/reference/tests.js";

const dir = join(import.meta.dirname, "conformance");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

interface DecisionCase { name: string; action?: unknown; input?: string; expect: Record<string, unknown> }
interface ErrorCase { line: number; column: number; contains: string }
interface SequenceStep {
  action?: unknown;
  input?: string;
  at?: string;
  resolve?: "approved" | "denied";
  expect: Record<string, unknown>;
}
interface Sequence { name: string; steps: SequenceStep[] }
interface TestOutcome { name: string; failures: { step: number | null; actual: unknown }[] }

/** The order of a decision's keys and of its `counters`' keys (canonical JSON sorts them). */
function keyOrder(d: unknown): string[][] {
  const o = d as Record<string, unknown>;
  const counters = o.counters;
  return [Object.keys(o), counters !== null && typeof counters === "object" ? Object.keys(counters) : []];
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
        const manifest = spec.policy_text ? parse(spec.policy_text, { version: "1.2" }) : spec.policy;
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
                const step = fresh.step(s.action, { now });
                actual = step.decision;
                if (s.resolve !== undefined && step.decision.decision === "escalate" && step.pending !== null) {
                  fresh.resolve(step.pending, s.resolve, now);
                }
                ref = reference.decide(s.action, now);
              }
              if (s.resolve !== undefined && ref.approval !== null) reference.resolve(ref.approval, s.resolve, now);
              expect(canonicalJson(ref.decision), `step ${i}: the expectation disagrees with the reference interpreter`).toBe(canonicalJson(s.expect));
              expect(canonicalJson(actual), `step ${i}`).toBe(canonicalJson(s.expect));
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
      for (const c of cases) {
        it(c.name, () => {
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
