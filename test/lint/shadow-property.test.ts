// Property test of the shadowing lint (src/lint/shadow.ts), the guard against false positives:
// whenever lint says rule B can never decide because rule A applies whenever B does, then on every
// generated action (1) B does not decide and (2) if B applies (spec section 4: an allow on TRUE,
// a deny or escalate on TRUE or UNKNOWN), A applies too. Both are checked with the reference
// interpreter (test/support/reference, written from the spec independently of the product), or
// for the large workload policies with the product's explanations.
// Three sources of policies:
//   - a generator aimed at shadowing: few paths, small pools of constants shared by rules and
//     actions (so rules overlap often and actions hit every boundary), the supported operators
//     with unsupported ones mixed in (any, not, ne, not_in, matches, glob, contains), groups;
//     actions with absent, mistyped and boundary values;
//   - the property tests' general manifests and actions (test/property/arbitraries.ts);
//   - the benchmarks' realistic workload (test/support/workload/generate.ts).
// TOLLGATE_LINT_RUNS sets the number of generated policies (default 500), TOLLGATE_FUZZ_SEED the
// seed. Checked against mutations of the lint: a deny taken as applying only on TRUE, or tests
// under any/not taken as conjuncts, fail at the default; an undetermined allow taken as applying
// fails at about 1,000 policies (and at once in shadow.test.ts, "mistyped values").

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Policy } from "../../src/index.js";
import { ruleSites, shadowedRules, type Shadowing } from "../../src/lint/index.js";
import { ReferencePolicy } from "../support/reference/index.js";
import { explainRules } from "../support/reference/explain.js";
import { generateActions, generatePolicy } from "../support/workload/generate.js";
import { policyAndActionsArb } from "../property/arbitraries.js";

const RUNS = Number(process.env.TOLLGATE_LINT_RUNS ?? 500);
const SEED = process.env.TOLLGATE_FUZZ_SEED === undefined ? {} : { seed: Number(process.env.TOLLGATE_FUZZ_SEED) };

type Manifest = Record<string, any>;

/** Each rule's decision and result for an action (null: an input error, or counters). */
type Oracle = (action: unknown) => { rule: string | null; results: ((index: number) => { effect: string; result: string }) | null };

/** The reference interpreter: decision and every rule's result. */
function reference(manifest: Manifest): Oracle {
  const policy = new ReferencePolicy(manifest);
  return (action) => {
    const decision = policy.evaluate(action);
    const rules = manifest.counters === undefined ? explainRules(manifest, action, decision) : null;
    return { rule: decision.rule, results: rules === null ? null : (i) => rules[i]! };
  };
}

/** The product (for large policies, where the reference's full explanations take minutes): its
 *  explanation lists the tool index's candidates, every other rule is FALSE (both checked against
 *  the reference by test/property/explain-differential.test.ts). */
function product(manifest: Manifest): Oracle {
  const policy = Policy.fromObject(manifest);
  return (action) => {
    const e = policy.explain(action);
    const byIndex = new Map(e.rules.map((r) => [r.index, r]));
    return {
      rule: e.decision.rule,
      results: e.decision.error !== undefined ? null : (i) => byIndex.get(i) ?? { effect: policy.rules[i]!.effect, result: "FALSE" },
    };
  };
}

/** Checks the two properties for every shadowing lint reports; returns how many there were. */
function check(manifest: Manifest, actions: readonly unknown[], oracle: (m: Manifest) => Oracle = reference): number {
  const found: Shadowing[] = shadowedRules(ruleSites(manifest));
  if (found.length === 0) return 0;
  const decide = oracle(manifest);
  for (const action of actions) {
    const { rule: decided, results } = decide(action);
    for (const s of found) {
      const fail = (what: string): never => {
        throw new Error(`${what}\nmanifest: ${JSON.stringify(manifest)}\naction: ${JSON.stringify(action)}\nfinding: ${s.rule.id} by ${s.by?.id ?? "(never applies)"}`);
      };
      if (decided === s.rule.id) fail(`rule ${s.rule.id} decided`);
      if (results === null) continue;
      const applies = (index: number): boolean => {
        const r = results(index);
        return r.effect === "allow" ? r.result === "TRUE" : r.result !== "FALSE";
      };
      if (!applies(s.rule.index)) continue;
      if (s.by === null) fail(`rule ${s.rule.id} applies though lint says it never can`);
      if (!applies(s.by!.index)) fail(`rule ${s.rule.id} applies and ${s.by!.id} does not`);
    }
  }
  return found.length;
}

// --- a generator aimed at shadowing -----------------------------------------------------------

const TOOLS = ["a.x", "a.y", "a", "b.x", "ab"];
const PREFIXES = ["a.", "a", "b.", "", "a.x"];
const NUMBERS = [-1, 0, 1, 1.5, 5, 10];
const STRINGS = ["", "x", "5", "a.x"];

const scalar = fc.oneof(fc.constantFrom(...NUMBERS), fc.constantFrom(...STRINGS, ...TOOLS), fc.constantFrom(null, true, false));
const number = fc.constantFrom(...NUMBERS);
const supportedOp = fc.oneof(
  scalar.map((v) => ["eq", v] as const),
  fc.array(scalar, { minLength: 1, maxLength: 3 }).map((v) => ["in", v] as const),
  fc.tuple(fc.constantFrom("gt", "gte", "lt", "lte"), number),
  fc.constantFrom(...PREFIXES).map((v) => ["prefix", v] as const),
  fc.boolean().map((v) => ["exists", v] as const),
);
const otherOp = fc.oneof(
  scalar.map((v) => ["ne", v] as const),
  fc.array(scalar, { minLength: 1, maxLength: 2 }).map((v) => ["not_in", v] as const),
  fc.constantFrom("^a", "x", "\\.").map((v) => ["matches", v] as const),
  fc.constantFrom("a.*", "*").map((v) => ["glob", v] as const),
  fc.constantFrom("a", ".").map((v) => ["contains", v] as const),
);
const testArb = fc.oneof(
  { weight: 3, arbitrary: scalar },
  { weight: 2, arbitrary: fc.array(scalar, { minLength: 1, maxLength: 3 }) },
  { weight: 6, arbitrary: fc.array(fc.oneof({ weight: 5, arbitrary: supportedOp }, { weight: 1, arbitrary: otherOp }), { minLength: 1, maxLength: 3 })
    .map((ops) => Object.fromEntries(ops)) },
);
const PATHS = ["tool", "tool", "args.n", "args.n", "args.s", 'args["n"]'];
const fieldsArb = fc.uniqueArray(fc.constantFrom(...PATHS), { minLength: 1, maxLength: 3 })
  .chain((paths) => fc.tuple(...paths.map((p) => testArb.map((t) => [p, t] as const))))
  .map((entries) => Object.fromEntries(entries) as Record<string, unknown>);
const condArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 8, arbitrary: fieldsArb },
  { weight: 1, arbitrary: fc.tuple(fieldsArb, fieldsArb).map(([a, b]) => ({ all: [a, b] })) },
  { weight: 1, arbitrary: fc.tuple(fieldsArb, fieldsArb).map(([a, b]) => ({ ...a, any: [b] })) },
  { weight: 1, arbitrary: fc.tuple(fieldsArb, fieldsArb).map(([a, b]) => ({ ...a, not: b })) },
);
const ruleArb = fc.record({
  effect: fc.constantFrom("allow", "deny", "escalate"),
  when: fc.option(condArb, { nil: undefined, freq: 6 }),
});
const itemsArb = fc.array(fc.oneof(
  { weight: 4, arbitrary: ruleArb.map((r) => ({ rule: r })) },
  { weight: 1, arbitrary: fc.tuple(fc.option(condArb, { nil: undefined }), fc.array(ruleArb, { minLength: 1, maxLength: 3 })).map(([when, rules]) => ({ group: { when, rules } })) },
), { minLength: 2, maxLength: 7 });

function build(items: { rule?: { effect: string; when?: Record<string, unknown> }; group?: { when?: Record<string, unknown>; rules: { effect: string; when?: Record<string, unknown> }[] } }[]): Manifest {
  let n = 0;
  const rule = (r: { effect: string; when?: Record<string, unknown> }) => ({
    id: `r${n++}`, effect: r.effect,
    ...(r.effect === "allow" ? {} : { reason: "r" }),
    ...(r.effect === "escalate" ? { approver: "ap" } : {}),
    ...(r.when === undefined ? {} : { when: r.when }),
  });
  const rules = items.map((it, g) => it.rule !== undefined ? rule(it.rule)
    : { group: `g${g}`, ...(it.group!.when === undefined ? {} : { when: it.group!.when }), rules: it.group!.rules.map(rule) });
  return { tollgate: 1, name: "lint-property", approvers: { ap: { timeout: "1m" } }, rules };
}

const valueArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 6, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([], {}, ["a.x"], { n: 1 }, 2, 9.99, 10.01, -5, 100, "a.xy", "b", "a.") },
);
const actionArb = fc.record({ tool: valueArb, args: fc.oneof({ weight: 8, arbitrary: fc.record({ n: valueArb, s: valueArb }) }, { weight: 1, arbitrary: valueArb }) })
  .map((a) => JSON.parse(JSON.stringify(a)) as unknown);

describe("lint: shadowed rules never decide (property, reference interpreter)", () => {
  it(`policies aimed at shadowing (${RUNS} policies x 40 actions)`, () => {
    let flagged = 0;
    let loaded = 0;
    fc.assert(
      fc.property(itemsArb, fc.array(actionArb, { minLength: 40, maxLength: 40 }), (items, actions) => {
        const manifest = build(items);
        try {
          Policy.fromObject(manifest);
        } catch {
          return; // an invalid manifest (such as a duplicate key written twice as args.n and args["n"]): lint never sees it
        }
        loaded++;
        flagged += check(manifest, actions);
      }),
      { numRuns: RUNS, ...SEED },
    );
    // The generator must actually exercise the lint: a good share of the policies have findings.
    expect(loaded).toBeGreaterThan(RUNS / 2);
    expect(flagged).toBeGreaterThan(RUNS / 4);
  }, 300_000);

  it(`the property tests' general policies (${Math.ceil(RUNS / 3)} policies x 20 actions)`, () => {
    fc.assert(
      fc.property(policyAndActionsArb(20), ({ manifest, actions }) => {
        check(manifest, actions);
      }),
      { numRuns: Math.ceil(RUNS / 3), ...SEED },
    );
  }, 300_000);

  it("the benchmarks' realistic workload (policies of 100, 400 and 2,000 rules, 1,000 actions each, decided by the product)", () => {
    let flagged = 0;
    for (const [size, seed] of [[100, 2], [400, 3], [2000, 4]] as const) {
      const manifest = generatePolicy(size, seed);
      flagged += check(manifest, generateActions(manifest, 1000, seed), product);
    }
    expect(flagged).toBeGreaterThan(10); // the generator writes near-duplicate rules: real findings
  }, 300_000);
});
