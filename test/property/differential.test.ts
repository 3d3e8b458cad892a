// Differential property tests: for random valid manifests and actions aimed
// at them, the product (src/, the WebAssembly core) must decide exactly as the
// reference interpreter (test/support/reference/) does.
//
// TOLLGATE_FUZZ_RUNS sets the number of manifests (default 500, each with
// ACTIONS actions: 10,000 pairs); TOLLGATE_FUZZ_SEED fixes the seed.
// `npm run fuzz` (scripts/fuzz.mjs) runs millions.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Policy } from "../../src/index.js";
import { ReferencePolicy } from "../support/reference/index.js";
import { manifestArb, policyAndActionsArb } from "./arbitraries.js";

const RUNS = Number(process.env.TOLLGATE_FUZZ_RUNS ?? 500);
const SEED = process.env.TOLLGATE_FUZZ_SEED === undefined ? undefined : Number(process.env.TOLLGATE_FUZZ_SEED);
const ACTIONS = 20;
const TIMEOUT_MS = Math.max(120_000, RUNS * 50);
const seed = SEED === undefined ? {} : { seed: SEED };

/** JSON that also shows what JSON cannot: NaN, infinities, lone surrogates. */
function show(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? `<${v}>` : v === undefined ? "<undefined>" : v),
    2,
  );
}

function load(manifest: unknown) {
  try {
    return Policy.fromObject(manifest, { filename: "generated.yaml" });
  } catch (e) {
    // a generator producing invalid manifests is a bug in the generator (or the product)
    throw new Error(`a generated manifest was rejected:\n${show(manifest)}\n${(e as Error).message}`);
  }
}

/** `expect(actual).toEqual(expected)`, failing with the manifest and action. */
function same(actual: unknown, expected: unknown, manifest: unknown, action: unknown, what: string) {
  try {
    expect(actual).toEqual(expected);
  } catch (e) {
    throw new Error(
      `${what}: product and reference disagree\n` +
        `manifest:\n${show(manifest)}\naction:\n${show(action)}\n` +
        `expected (reference):\n${show(expected)}\nactual (product):\n${show(actual)}\n${(e as Error).message}`,
    );
  }
}

describe("differential: product vs reference", () => {
  it(
    "every generated manifest is accepted",
    () => {
      // The differential property below loads every manifest it generates too;
      // this one states the contract on its own, so a long fuzz run caps it.
      fc.assert(
        fc.property(manifestArb, (manifest) => void load(manifest)),
        { numRuns: Math.min(RUNS, 5000), ...seed },
      );
    },
    TIMEOUT_MS,
  );

  it(
    `decisions are identical (${RUNS} manifests x ${ACTIONS} actions, evaluate and evaluateBatch)`,
    () => {
      fc.assert(
        fc.property(policyAndActionsArb(ACTIONS), ({ manifest, actions }) => {
          const reference = new ReferencePolicy(manifest);
          const product = load(manifest);
          const expected = actions.map((a) => reference.evaluate(a));
          actions.forEach((action, i) => same(product.evaluate(action), expected[i], manifest, action, "evaluate"));
          const batch = product.evaluateBatch(actions);
          same(batch.length, expected.length, manifest, actions, "evaluateBatch length");
          actions.forEach((action, i) => same(batch[i], expected[i], manifest, action, `evaluateBatch[${i}]`));
        }),
        { numRuns: RUNS, ...seed },
      );
    },
    TIMEOUT_MS,
  );
});
