// Differential property test of explain: for random valid manifests and actions aimed at them
// (the generators of differential.test.ts), the product's explanation (the core's trace, named by
// src/explain.ts) equals the reference's (test/support/reference/explain.ts, from the spec):
// same decision, and for every rule the product evaluated the same tree, results, values seen
// and failed counts; every rule the product skipped (the tool index) is FALSE in the reference;
// the closest allow rules are the reference's choice among the rules evaluated.
//
// TOLLGATE_EXPLAIN_RUNS sets the number of manifests (default 150, each with ACTIONS actions);
// TOLLGATE_FUZZ_SEED fixes the seed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Policy } from "../../src/index.js";
import { ReferencePolicy } from "../support/reference/index.js";
import { closestRules, explainRules } from "../support/reference/explain.js";
import { policyAndActionsArb } from "./arbitraries.js";

const RUNS = Number(process.env.TOLLGATE_EXPLAIN_RUNS ?? 150);
const SEED = process.env.TOLLGATE_FUZZ_SEED === undefined ? undefined : Number(process.env.TOLLGATE_FUZZ_SEED);
const ACTIONS = 10;
const seed = SEED === undefined ? {} : { seed: SEED };

const show = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === "number" && !Number.isFinite(x) ? `<${x}>` : x === undefined ? "<undefined>" : x), 2);

/** Explanations are compared as JSON (their `--format json`): an operand the manifest writes as
 *  -0 is 0 in the canonical JSON the core compiled. */
const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? "null");

function same(actual: unknown, expected: unknown, manifest: unknown, action: unknown, what: string): void {
  try {
    expect(json(actual)).toEqual(json(expected));
  } catch (e) {
    throw new Error(`${what}: product and reference disagree\nmanifest:\n${show(manifest)}\naction:\n${show(action)}\n${(e as Error).message}`);
  }
}

describe("differential: explain, product vs reference", () => {
  it(`explanations are identical (${RUNS} manifests x ${ACTIONS} actions)`, () => {
    fc.assert(
      fc.property(policyAndActionsArb(ACTIONS), ({ manifest, actions }) => {
        const reference = new ReferencePolicy(manifest);
        const product = Policy.fromObject(manifest, { filename: "generated.yaml" });
        for (const action of actions) {
          const decision = reference.evaluate(action);
          const e = product.explain(action);
          same(e.decision, decision, manifest, action, "decision");
          same(e.decision, product.evaluate(action), manifest, action, "explain vs evaluate");
          const all = explainRules(manifest, action, decision);
          if (all === null) {
            same(e.rules, [], manifest, action, "rules of an input error");
            continue;
          }
          const evaluated = new Set(e.rules.map((r) => r.index));
          const expected = all.filter((r) => evaluated.has(r.index));
          same(e.rules, expected, manifest, action, "rules");
          const skipped = all.filter((r) => !evaluated.has(r.index)).map((r) => [r.id, r.result]);
          same(skipped.filter(([, result]) => result !== "FALSE"), [], manifest, action, "rules the tool index skipped are FALSE");
          same(e.closest, closestRules(expected, decision), manifest, action, "closest");
        }
      }),
      { numRuns: RUNS, ...seed },
    );
  }, Math.max(120_000, RUNS * 400));
});
