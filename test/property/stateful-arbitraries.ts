// fast-check arbitraries for the stateful differential tests
// (counters-differential.test.ts): random VALID manifests with counters (spec
// section 8) with variants to reload into, random runs against them (decisions
// at non-decreasing times that land exactly on window and expiry boundaries,
// resolutions of escalations, some after their expiry, and reloads), and the
// same manifests with faults in the parts the reference checks (counters,
// counter references, tests).
//
// A manifest has 1-4 counters (per: 0-2 paths, windows of a few ms to hours,
// an optional `when` from the stateless generators (arbitraries.ts: never a
// counter reference), an optional `sum`) and rules that test `$NAME` (numeric
// tests, exists, the shorthands, a wrong-typed test now and then) beside
// ordinary conditions; approvers time out into allow or deny after a few ms.
// Actions come from the stateless generator (aimed at every condition), with
// the `per`, `sum` and `tool` fields overwritten from small pools: absent,
// booleans, objects, 0 and -0, "1" and 1, negative and non-number amounts.

import fc, { type Arbitrary } from "fast-check";
import { parsePath } from "../support/reference/path.js";
import { type Manifest, type Universe, actionArbFor, conditionArb, pathTextArb, universeArb } from "./arbitraries.js";

export type { Manifest } from "./arbitraries.js";

// ---------------------------------------------------------------- pools

const TOOLS = ["a", "b", "pay"];
// "7" enumerates before the others in a JS object; "__proto__" is a trap for objects keyed by name.
const COUNTER_NAMES = ["n", "c_1", "refunds", "X9", "_", "7", "__proto__"];
const PER_PATHS = ["k", "agent.id", '["$ref"].id', 'a["b.c"]', "s", "__proto__"];
// "k" is also a per path: one field that is both a key and an amount
const SUM_PATHS = ["amount", "args.amount", '["v w"]', "k"];

/** Windows (ms): a few ms to hours. */
const WINDOWS = [1, 2, 5, 10, 30, 100, 1000, 60_000, 3_600_000, 7_200_000];
/** Approver and rule timeouts (ms): short, so that runs cross them. */
const TIMEOUTS = [1, 3, 5, 10, 50, 1000, 60_000];

const UNITS: [string, number][] = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]];

/** `ms` as a duration; `style` picks among the units that divide it (1h, 60m, 3600s...). */
export function renderDuration(ms: number, style = 0): string {
  const fits = UNITS.filter(([, u]) => ms % u === 0);
  const [unit, u] = fits[style % fits.length]!;
  return `${ms / u}${unit}`;
}

/** A path text written differently but the same path (`a.b` -> `["a"].b`). */
function rewritePath(text: string): string {
  const bracket = (k: string) => `["${k.replace(/[\\"]/g, (c) => "\\" + c)}"]`;
  return parsePath(text).map((k, i) => (i > 0 && /^[A-Za-z0-9_]+$/.test(k) ? `.${k}` : bracket(k))).join("");
}

// ---------------------------------------------------------------- counters

interface RawCounter {
  name: string;
  per: string[] | undefined;
  window: number;
  windowStyle: number;
  when: Record<string, unknown> | undefined;
  sum: string | undefined;
}

const maybe = <T>(arb: Arbitrary<T>, present = 1, absent = 1): Arbitrary<T | undefined> =>
  fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: present, arbitrary: arb });

/** A counter's `when`: absent, on the tool, or a stateless condition of the universe. */
const counterWhenArb = (u: Universe): Arbitrary<Record<string, unknown> | undefined> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: fc.constantFrom(...TOOLS).map((t) => ({ tool: t })) },
    { weight: 1, arbitrary: fc.constant({ tool: { in: ["a", "pay"] } }) },
    { weight: 1, arbitrary: fc.constant({ tool: { prefix: "p" } }) }, // UNKNOWN when tool is not a string
    { weight: 1, arbitrary: conditionArb(u, 1) },
  );

const perArb = (u: Universe): Arbitrary<string[] | undefined> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant([] as string[]) },
    {
      weight: 5,
      arbitrary: fc.uniqueArray(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PER_PATHS) }, { weight: 1, arbitrary: pathTextArb(u) }), {
        minLength: 1,
        maxLength: 2,
        selector: (p) => JSON.stringify(parsePath(p)),
      }),
    },
  );

const rawCounterArb = (u: Universe, name: string): Arbitrary<RawCounter> =>
  fc.record({
    name: fc.constant(name),
    per: perArb(u),
    window: fc.constantFrom(...WINDOWS),
    windowStyle: fc.nat(3),
    when: counterWhenArb(u),
    sum: maybe(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SUM_PATHS) }, { weight: 1, arbitrary: pathTextArb(u) }), 2, 3),
  });

function buildCounter(c: RawCounter): Record<string, unknown> {
  return defined({ per: c.per, window: renderDuration(c.window, c.windowStyle), when: c.when, sum: c.sum });
}

// ---------------------------------------------------------------- rules

const NUMS = [0, 1, 2, 3, 5, 1.5, 2.5, 100, 0.5];

/** A test on a counter's value. */
const counterTestArb: Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom("gt", "gte", "lt", "lte"), fc.constantFrom(...NUMS)).map(([op, n]) => ({ [op]: n })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom("gt", "gte"), fc.constantFrom(...NUMS), fc.constantFrom("lt", "lte"), fc.constantFrom(3, 5, 100))
      .map(([a, x, b, y]) => ({ [a]: x, [b]: y })),
  },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom("eq", "ne"), fc.constantFrom(0, 1, 2, 3, "1", null)).map(([op, n]) => ({ [op]: n })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("in", "not_in"), fc.uniqueArray(fc.constantFrom(0, 1, 2, 3, "2"), { minLength: 1, maxLength: 3 })).map(([op, l]) => ({ [op]: l })) },
  { weight: 2, arbitrary: fc.boolean().map((b) => ({ exists: b })) },
  { weight: 1, arbitrary: fc.boolean().map((b) => ({ exists: b, gt: 1 })) },
  { weight: 1, arbitrary: fc.constantFrom(1, 2, [1, 2]) }, // shorthands
  { weight: 1, arbitrary: fc.constantFrom({ prefix: "1" }, { len: 1 }, { some: 1 }) }, // wrong type: UNKNOWN
);

/** A rule's `when` with counter references (and maybe a tool and an ordinary condition). */
const ruleWhenArb = (u: Universe, names: string[]): Arbitrary<Record<string, unknown> | undefined> => {
  const ref = fc.tuple(fc.constantFrom(...names), counterTestArb).map(([n, t]) => ({ [`$${n}`]: t }));
  const refs = fc.array(ref, { minLength: 1, maxLength: 2 }).map((rs) => Object.assign({}, ...rs) as Record<string, unknown>);
  const withCounters = fc
    .tuple(
      refs,
      maybe(fc.constantFrom(...TOOLS).map((t) => ({ tool: t })), 2, 1),
      maybe(conditionArb(u, 1), 1, 5),
      fc.nat(5),
    )
    .map(([r, tool, other, shape]) => {
      const plain = { ...r, ...tool, ...other };
      switch (shape) {
        case 0: return { any: [r, { ...tool, ...other, tool: "b" }] };
        case 1: return { not: r, ...tool };
        case 2: return { all: [r, plain] };
        default: return plain;
      }
    });
  return fc.oneof(
    { weight: 12, arbitrary: withCounters },
    { weight: 1, arbitrary: conditionArb(u, 1) },
  );
};

interface RawRule {
  effect: "allow" | "deny" | "escalate";
  when: Record<string, unknown> | undefined;
  approver: number;
  timeout: number | undefined;
}

const rawRuleArb = (u: Universe, names: string[]): Arbitrary<RawRule> =>
  fc.record({
    effect: fc.constantFrom("allow", "deny", "escalate", "escalate"),
    when: ruleWhenArb(u, names),
    approver: fc.nat(1),
    timeout: maybe(fc.constantFrom(...TIMEOUTS), 1, 3),
  });

const APPROVERS = ["oncall", "lenient"];

// ---------------------------------------------------------------- manifests

/** Drops undefined properties (an absent optional key). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export interface StatefulManifest {
  manifest: Manifest;
  /** Manifests to reload into: the same one, the same counters written differently, or changes. */
  variants: Manifest[];
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Renames every `$from` condition key to `$to` (conditions only hold counter references as `$` keys). */
function renameRefs(v: unknown, from: string, to: string): unknown {
  if (Array.isArray(v)) return v.map((x) => renameRefs(x, from, to));
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k === `$${from}` ? `$${to}` : k, renameRefs(x, from, to)]));
  }
  return v;
}

/** `o[key] = value` as an own property, also for "__proto__". */
function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

type Mutation =
  | { kind: "same" }
  | { kind: "cosmetic"; style: number }
  | { kind: "window"; counter: number; window: number }
  | { kind: "per"; counter: number; per: string[] | undefined }
  | { kind: "when"; counter: number; when: Record<string, unknown> | undefined }
  | { kind: "sum"; counter: number; sum: string | undefined }
  | { kind: "reorder" }
  | { kind: "rename"; counter: number }
  | { kind: "add" }
  | { kind: "rules"; delta: number }
  | { kind: "approvers"; timeout: number };

const mutationArb = (u: Universe): Arbitrary<Mutation> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant({ kind: "same" as const }) },
    { weight: 3, arbitrary: fc.nat(5).map((style) => ({ kind: "cosmetic" as const, style })) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("window" as const), counter: fc.nat(3), window: fc.constantFrom(...WINDOWS) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("per" as const), counter: fc.nat(3), per: perArb(u) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("when" as const), counter: fc.nat(3), when: counterWhenArb(u) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("sum" as const), counter: fc.nat(3), sum: maybe(fc.constantFrom(...SUM_PATHS)) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "reorder" as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("rename" as const), counter: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "add" as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("rules" as const), delta: fc.constantFrom(-1, 1, 2) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("approvers" as const), timeout: fc.constantFrom(...TIMEOUTS) }) },
  );

function mutate(m: Manifest, raw: RawCounter[], mu: Mutation): Manifest {
  const out = clone(m);
  const names = Object.keys(out.counters);
  const pick = (i: number) => names[i % names.length]!;
  switch (mu.kind) {
    case "same":
      return out;
    case "cosmetic": {
      // The same definitions written differently: state is kept (identity of state).
      out.description = "reloaded";
      out.counters = Object.fromEntries(raw.map((c) => {
        const per = c.per === undefined ? (mu.style % 3 === 0 ? [] : undefined) : c.per.length === 0 ? undefined : c.per.map((p, i) => ((mu.style + i) % 2 === 0 ? rewritePath(p) : p));
        const sum = c.sum !== undefined && mu.style % 2 === 1 ? rewritePath(c.sum) : c.sum;
        const def = buildCounter({ ...c, windowStyle: c.windowStyle + 1 + mu.style, per, sum });
        // key order never changes a definition: the counter's keys and its `when`'s, reversed
        if (def.when !== undefined) def.when = Object.fromEntries(Object.entries(def.when as object).reverse());
        const entries = Object.entries(def);
        return [c.name, Object.fromEntries(mu.style % 2 === 0 ? entries.reverse() : entries)];
      }));
      return out;
    }
    case "window":
      out.counters[pick(mu.counter)].window = renderDuration(mu.window);
      return out;
    case "per":
      setOwn(out.counters, pick(mu.counter), defined({ ...out.counters[pick(mu.counter)], per: mu.per }));
      return out;
    case "when":
      setOwn(out.counters, pick(mu.counter), defined({ ...out.counters[pick(mu.counter)], when: mu.when }));
      return out;
    case "sum":
      setOwn(out.counters, pick(mu.counter), defined({ ...out.counters[pick(mu.counter)], sum: mu.sum }));
      return out;
    case "reorder":
      // Same counters declared in the reverse order: decisions list them in the new order.
      out.counters = Object.fromEntries(Object.entries(out.counters).reverse());
      return out;
    case "rename": {
      const from = pick(mu.counter);
      const to = `${from}_v2`;
      out.counters = Object.fromEntries(Object.entries(out.counters).map(([k, v]) => [k === from ? to : k, v]));
      out.rules = renameRefs(out.rules, from, to);
      return out;
    }
    case "add":
      out.counters = { ...out.counters, extra: { window: "1h" } };
      return out;
    case "rules":
      // Every numeric threshold moves: same counters, other rules.
      out.rules = JSON.parse(JSON.stringify(out.rules), (k, v) => (["gt", "gte", "lt", "lte"].includes(k) && typeof v === "number" ? Math.max(0, v + mu.delta) : v));
      return out;
    case "approvers":
      for (const a of Object.values<any>(out.approvers)) a.timeout = renderDuration(mu.timeout);
      return out;
  }
}

export const statefulManifestArb: Arbitrary<StatefulManifest & { raw: RawCounter[] }> = universeArb.chain((u) =>
  fc
    .uniqueArray(fc.constantFrom(...COUNTER_NAMES), { minLength: 1, maxLength: 4 })
    .chain((names) =>
      fc.record({
        counters: fc.tuple(...names.map((n) => rawCounterArb(u, n))),
        rules: fc.array(rawRuleArb(u, names), { minLength: 1, maxLength: 5 }),
        group: fc.nat(3),
        groupWhen: ruleWhenArb(u, names),
        default: maybe(fc.constantFrom("allow", "allow", "deny"), 4, 1),
        approverTimeouts: fc.tuple(fc.constantFrom(...TIMEOUTS), fc.constantFrom(...TIMEOUTS)),
        approverStyle: fc.nat(3),
        mutations: fc.array(mutationArb(u), { minLength: 1, maxLength: 2 }),
      }),
    )
    .map((r) => {
      const rules: object[] = r.rules.map((rule, i) =>
        defined({
          id: `r${i}`,
          effect: rule.effect,
          reason: rule.effect === "allow" ? undefined : `reason ${i}`,
          approver: rule.effect === "escalate" ? APPROVERS[rule.approver] : undefined,
          timeout: rule.effect === "escalate" && rule.timeout !== undefined ? renderDuration(rule.timeout) : undefined,
          when: rule.when,
        }),
      );
      // Sometimes the last rules sit in a group whose `when` reads counters too.
      if (r.group === 0 && rules.length > 1) {
        const inner = rules.splice(1);
        rules.push(defined({ group: "g", when: r.groupWhen, rules: inner }));
      }
      const manifest: Manifest = defined({
        tollgate: 1,
        name: "stateful",
        default: r.default,
        approvers: {
          oncall: { timeout: renderDuration(r.approverTimeouts[0], r.approverStyle) },
          lenient: { timeout: renderDuration(r.approverTimeouts[1]), on_timeout: "allow" },
        },
        counters: Object.fromEntries(r.counters.map((c) => [c.name, buildCounter(c)])),
        rules,
      });
      if (r.approverStyle === 1) manifest.approvers.oncall.on_timeout = "deny";
      // Variant 0 is the manifest itself: reloading back to it after a change starts the changed counters empty.
      return { manifest, raw: r.counters, variants: [clone(manifest), ...r.mutations.map((mu) => mutate(manifest, r.counters, mu))] };
    }),
);

// ---------------------------------------------------------------- actions

const KEY_VALUES: unknown[] = ["a", "b", "1", 1, 0, -0, 2, true, false, null, {}, { x: 1 }, [1], "", "é", "\ud800", "\ufffd", 1e21, "1e+21", 0.1, 2 ** 53, 2 ** 53 + 2, -1.5];
const SUM_VALUES: unknown[] = [0, -0, 1, 2, 3, 0.5, 1 / 1024, 100, 1000, -1, -0.5, "1", "2", null, true, [1], {}];

type Write = [string[], unknown] | undefined;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Writes `value` at `keys` inside `root` (an object on the way replaces a non-object). */
function writeAt(root: Record<string, unknown>, keys: string[], value: unknown): void {
  let cur = root;
  for (const key of keys.slice(0, -1)) {
    if (!Object.prototype.hasOwnProperty.call(cur, key) || !isPlainObject(cur[key])) {
      Object.defineProperty(cur, key, { value: {}, enumerable: true, writable: true, configurable: true });
    }
    cur = cur[key] as Record<string, unknown>;
  }
  // defined, not assigned: `o["__proto__"] = v` would set the prototype
  // a copy: the pools' objects are shared by every action
  Object.defineProperty(cur, keys[keys.length - 1]!, { value: structuredClone(value), enumerable: true, writable: true, configurable: true });
}

/** Actions aimed at the manifest and its variants: the stateless generator on
 *  every condition (rules and counters' `when`), then per, sum and tool fields
 *  from small pools (present 5 times in 6). */
export function statefulActionArb(manifests: Manifest[]): Arbitrary<unknown> {
  const whens: object[] = [];
  const perPaths = new Map<string, string[]>();
  const sumPaths = new Map<string, string[]>();
  for (const m of manifests) {
    for (const c of Object.values<any>(m.counters ?? {})) {
      if (c.when) whens.push({ id: "w", effect: "allow", when: c.when });
      for (const p of c.per ?? []) perPaths.set(JSON.stringify(parsePath(p)), parsePath(p));
      if (c.sum) sumPaths.set(JSON.stringify(parsePath(c.sum)), parsePath(c.sum));
    }
  }
  const base = actionArbFor({ ...manifests[0], rules: [...manifests.flatMap((m) => m.rules), ...whens] });
  // Mostly a few keys and good amounts, so that sums grow and limits are crossed.
  const keyValue = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom("a", "a", 1, "b") },
    { weight: 3, arbitrary: fc.constantFrom(...KEY_VALUES) },
  );
  const sumValue = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(1, 1, 2, 0.5, 1 / 1024) },
    { weight: 3, arbitrary: fc.constantFrom(...SUM_VALUES) },
  );
  const at = (keys: string[], value: Arbitrary<unknown>): Arbitrary<Write> =>
    maybe(value.map((v): [string[], unknown] => [keys, v]), 12, 1);
  // A per path that is also a sum path ("k") takes its number keys from the amounts that spec
  // section 8 sums exactly (multiples of 1/1024 below 2^40): beyond them a store may differ from
  // the reference's in-order sum in the last bits (docs/semantics.md; the Neumaier sum is the
  // more accurate one), which is not a disagreement of decisions.
  const exactAmount = (v: unknown) => typeof v !== "number" || (Number.isInteger(v * 1024) && Math.abs(v) < 2 ** 40);
  const keyValueAlsoSummed = keyValue.filter(exactAmount);
  const sumKeys = new Set(sumPaths.keys());
  return fc
    .tuple(
      base,
      fc.tuple(...[...perPaths.entries()].map(([k, p]) => at(p, sumKeys.has(k) ? keyValueAlsoSummed : keyValue))),
      fc.tuple(...[...sumPaths.values()].map((p) => at(p, sumValue))),
      at(["tool"], fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...TOOLS) }, { weight: 1, arbitrary: fc.constantFrom(5, null, "c") })),
    )
    .map(([action, pers, sums, tool]) => {
      if (!isPlainObject(action)) return action; // not an object: an error decision
      const out = structuredClone(action); // keeps -0, NaN and lone surrogates
      for (const w of [...pers, ...sums, tool]) if (w !== undefined) writeAt(out, w[0], w[1]);
      return out;
    });
}

// ---------------------------------------------------------------- runs

/** When an operation happens: `delta` ms after the previous one, or exactly at
 *  a boundary (`offset` -1, 0 or +1 ms from it) of one of the last 4 decisions
 *  (`decision` counts back from the last): its time + a counter's window; or
 *  of one of the last 4 escalations: its expiry t + timeout_ms. Never before
 *  the previous operation. */
export type TimeSpec =
  | { kind: "delta"; ms: number }
  | { kind: "window"; decision: number; counter: number; offset: number }
  | { kind: "expiry"; escalation: number; offset: number };

/** How the engine decides: Policy#step; Policy#evaluate; Policy#evaluateBatch of the action
 *  twice (the reference decides it twice); or counterRefs + the sums read from the policy's
 *  state + decideWithCounters, recorded as step records (what a shared store does). */
export type Via = "step" | "evaluate" | "batch" | "refs";

export type Op =
  | { op: "decide"; action: unknown; time: TimeSpec; resolve: "approved" | "denied" | undefined; via: Via }
  | { op: "resolve"; escalation: number; resolution: "approved" | "denied"; time: TimeSpec }
  | { op: "reload"; variant: number; time: TimeSpec };

const timeArb: Arbitrary<TimeSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 0, 1).map((ms) => ({ kind: "delta" as const, ms })) },
  { weight: 2, arbitrary: fc.constantFrom(2, 5, 10, 100, 1000, 60_000, 3_600_000).map((ms) => ({ kind: "delta" as const, ms })) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("window" as const), decision: fc.nat(), counter: fc.nat(3), offset: fc.constantFrom(-1, 0, 0, 1) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("expiry" as const), escalation: fc.nat(), offset: fc.constantFrom(-1, 0, 0, 1) }) },
);

/** Dense time: a few ms between operations, so that thousands of entries share the windows. */
const denseTimeArb: Arbitrary<TimeSpec> = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(0, 1, 1, 2).map((ms) => ({ kind: "delta" as const, ms })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("window" as const), decision: fc.nat(), counter: fc.nat(3), offset: fc.constantFrom(-1, 0, 1) }) },
);

/** A run: mostly decisions, some resolutions and reloads (`dense`: see denseTimeArb). */
export function opsArb(manifests: Manifest[], length: { min: number; max: number }, dense = false): Arbitrary<Op[]> {
  const action = statefulActionArb(manifests);
  const timeArb_ = dense ? denseTimeArb : timeArb;
  const op: Arbitrary<Op> = fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record({
        op: fc.constant("decide" as const),
        action,
        time: timeArb_,
        // an escalation resolved at its own time, right after its decision (as a sequence test's `resolve`)
        resolve: maybe(fc.constantFrom("approved" as const, "denied" as const), 1, 3),
        via: fc.constantFrom<Via>("step", "step", "step", "step", "step", "step", "evaluate", "batch", "refs", "refs"),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant("resolve" as const),
        escalation: fc.nat(),
        resolution: fc.constantFrom("approved" as const, "denied" as const),
        time: timeArb_,
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("reload" as const), variant: fc.nat(), time: timeArb_ }) },
  );
  return fc.array(op, { minLength: length.min, maxLength: length.max });
}

// ---------------------------------------------------------------- invalid manifests

/** Values of the wrong type, for any key. */
const WRONG_TYPES: unknown[] = [null, true, 5, "x", [], ["1h"], {}, { a: 1 }];
const BAD_WINDOWS: unknown[] = [
  "31d", "721h", "2592000001ms", "0s", "0ms", "0d", "1w", "1.5h", "-1h", "+1h", "h", "", " 1h", "1h ", "1H", "1 h", "1hh",
  "99999999999999999ms", "9999999999999999d", "1e3ms", "0x10s", "１h", 3600, null, true, ["1h"], { h: 1 },
];
/** Windows that are fine, some of them odd-looking. */
const ODD_WINDOWS = ["1ms", "30d", "720h", "43200m", "2592000s", "2592000000ms", "01h", "0000000000000001ms", "001d"];
const BAD_PATHS: unknown[] = [
  "a..b", "a.", ".a", '["x"', '["x\\n"]', '["x\\', "[x]", '["x"]y', "", "a b", "all", "not.x", "any", "$x", "$n.x", "$",
  Array(17).fill("k").join("."), 5, null, ["a"], {}, true,
];
const BAD_NAMES = ["", "a-b", "a.b", "é", "$a", "a b", "x".repeat(65), "-", "日本"];
const BAD_STEP_TIMES: unknown[] = ["366d", "8761h", "0", "1", "1w", "-1s", "", " 1s", "1.5s", "0x", 0, 1, null, true, ["1s"]];

/** What can be wrong in the parts of a manifest the reference checks (test/support/reference/validate.ts):
 *  the counters, counter references in rules, and tests. */
type Fault =
  | { at: "counter-key"; counter: number; key: string }
  | { at: "counter-drop-window"; counter: number }
  | { at: "window"; counter: number; value: unknown }
  | { at: "per"; counter: number; value: unknown }
  | { at: "per-item"; counter: number; value: unknown; index: number }
  | { at: "sum"; counter: number; value: unknown }
  | { at: "counter-when"; counter: number; value: unknown }
  | { at: "counter-name"; name: string }
  | { at: "counter-not-mapping"; counter: number; value: unknown }
  | { at: "counters"; value: unknown }
  | { at: "too-many"; extra: number }
  | { at: "rule-ref"; rule: number; key: string; nest: number }
  | { at: "tests"; tests: unknown };

function faultyRefKey(names: string[], pick: number, kind: number): string {
  const n = names[pick % names.length]!;
  switch (kind % 8) {
    case 0: return `$${n}x`; // undeclared, close to a name
    case 1: return `$${n.toUpperCase() === n ? n.toLowerCase() : n.toUpperCase()}`;
    case 2: return `$${n}.x`;
    case 3: return `$${n}["x"]`;
    case 4: return "$";
    case 5: return `$${n} x`;
    case 6: return "$zzzzzzzz";
    default: return `$${n}.x.y`;
  }
}

const stepArb: Arbitrary<Record<string, unknown>> = fc.record(
  {
    action: fc.oneof({ weight: 5, arbitrary: fc.constantFrom<unknown>({}, { tool: "a" }) }, { weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES) }),
    expect: fc.oneof({ weight: 5, arbitrary: fc.constantFrom<unknown>("allow", "deny", "escalate", "escalate") }, { weight: 1, arbitrary: fc.constantFrom<unknown>("allw", "Allow", 1, null, "") }),
    rule: fc.oneof({ weight: 3, arbitrary: fc.constantFrom<unknown>("r0", null) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(5, true, [], {}) }),
    at: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<unknown>("0s", "1ms", "1s", "2s", "1000ms", "1m", "365d", "0d") }, { weight: 1, arbitrary: fc.constantFrom(...BAD_STEP_TIMES) }),
    resolve: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<unknown>("approved", "denied") }, { weight: 1, arbitrary: fc.constantFrom<unknown>("approve", "Denied", 1, null) }),
    ruel: fc.constant<unknown>("x"),
  },
  { requiredKeys: [] },
);

const testsArb: Arbitrary<unknown> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom<unknown>({}, "x", 5, null) },
  {
    weight: 8,
    arbitrary: fc.array(
      fc.oneof(
        { weight: 1, arbitrary: fc.constantFrom<unknown>("x", 5, null, []) },
        {
          weight: 6,
          arbitrary: fc.record(
            {
              name: fc.oneof({ weight: 5, arbitrary: fc.constant<unknown>("t") }, { weight: 1, arbitrary: fc.constantFrom<unknown>(5, null) }),
              steps: fc.oneof(
                { weight: 8, arbitrary: fc.array(fc.oneof({ weight: 8, arbitrary: stepArb }, { weight: 1, arbitrary: fc.constantFrom<unknown>("x", null, []) }), { minLength: 1, maxLength: 4 }) },
                { weight: 1, arbitrary: fc.constantFrom<unknown>([], {}, "x", null) },
              ),
              action: fc.constant<unknown>({}),
              expect: fc.constant<unknown>("allow"),
              rule: fc.constant<unknown>(null),
              nmae: fc.constant<unknown>("t"),
            },
            { requiredKeys: [] },
          ),
        },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  },
);

const faultArb = (names: number): Arbitrary<Fault> => {
  const counter = fc.nat(names - 1);
  return fc.oneof(
    { weight: 2, arbitrary: fc.record({ at: fc.constant("counter-key" as const), counter, key: fc.constantFrom("windwo", "Window", "key", "sums", "pre", "whn", "") }) },
    { weight: 1, arbitrary: fc.record({ at: fc.constant("counter-drop-window" as const), counter }) },
    { weight: 3, arbitrary: fc.record({ at: fc.constant("window" as const), counter, value: fc.constantFrom(...BAD_WINDOWS, ...ODD_WINDOWS) }) },
    { weight: 2, arbitrary: fc.record({ at: fc.constant("per" as const), counter, value: fc.constantFrom<unknown>("a", 5, {}, null, Array(9).fill("k").map((k, i) => k + i), ["a", "a"], []) }) },
    { weight: 3, arbitrary: fc.record({ at: fc.constant("per-item" as const), counter, value: fc.constantFrom(...BAD_PATHS), index: fc.nat(2) }) },
    { weight: 3, arbitrary: fc.record({ at: fc.constant("sum" as const), counter, value: fc.constantFrom(...BAD_PATHS) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        at: fc.constant("counter-when" as const),
        counter,
        value: fc.constantFrom<unknown>("always", null, [], 5, { $n: 1 }, { not: { $n: { gt: 1 } } }, { any: [{ tool: "a" }, { "$n.x": 1 }] }, { all: [{ $zz: 1 }] }, { tool: "a", $: 1 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ at: fc.constant("counter-name" as const), name: fc.constantFrom(...BAD_NAMES) }) },
    { weight: 1, arbitrary: fc.record({ at: fc.constant("counter-not-mapping" as const), counter, value: fc.constantFrom<unknown>("1h", 5, null, [], true) }) },
    { weight: 1, arbitrary: fc.record({ at: fc.constant("counters" as const), value: fc.constantFrom<unknown>([], "x", null, 5, [{ window: "1h" }]) }) },
    { weight: 1, arbitrary: fc.record({ at: fc.constant("too-many" as const), extra: fc.integer({ min: 60, max: 66 }) }) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.nat(), fc.nat(), fc.nat(7), fc.nat(3))
        .map(([rule, pick, kind, nest]) => ({ at: "rule-ref" as const, rule, key: String(pick) + ":" + String(kind), nest })),
    },
    { weight: 4, arbitrary: testsArb.map((tests) => ({ at: "tests" as const, tests })) },
  );
};

function applyFault(m: Manifest, f: Fault): void {
  const names = Object.keys(m.counters ?? {});
  const counters = m.counters as Record<string, Record<string, unknown>> | undefined;
  const c = (i: number): Record<string, unknown> | undefined => {
    if (!isPlainObject(counters) || names.length === 0) return undefined;
    const v = counters[names[i % names.length]!];
    return isPlainObject(v) ? v : undefined;
  };
  switch (f.at) {
    case "counter-key": { const x = c(f.counter); if (x) setOwn(x, f.key, "1h"); return; }
    case "counter-drop-window": { const x = c(f.counter); if (x) delete x.window; return; }
    case "window": { const x = c(f.counter); if (x) x.window = f.value; return; }
    case "per": { const x = c(f.counter); if (x) x.per = f.value; return; }
    case "per-item": {
      const x = c(f.counter);
      if (!x) return;
      const per = Array.isArray(x.per) ? [...x.per] : [];
      per.splice(Math.min(f.index, per.length), 0, f.value);
      x.per = per;
      return;
    }
    case "sum": { const x = c(f.counter); if (x) x.sum = f.value; return; }
    case "counter-when": { const x = c(f.counter); if (x) x.when = f.value; return; }
    case "counter-name": {
      if (!isPlainObject(counters)) return;
      setOwn(counters, f.name, { window: "1h" });
      // and, now and then, a rule reading it
      const rules = m.rules as Record<string, unknown>[];
      if (f.name.length % 2 === 1 && rules.length > 0) rules[0]!.when = { ...(isPlainObject(rules[0]!.when) ? rules[0]!.when : {}), [`$${f.name}`]: 1 };
      return;
    }
    case "counter-not-mapping": if (isPlainObject(counters) && names.length > 0) setOwn(counters, names[f.counter % names.length]!, f.value); return;
    case "counters": m.counters = f.value; return;
    case "too-many":
      if (!isPlainObject(counters)) return;
      for (let i = 0; i < f.extra; i++) setOwn(counters, `extra${i}`, { window: "1h" });
      return;
    case "rule-ref": {
      // into the `when` of a top-level rule, maybe nested in not / all / any
      const rules = m.rules as Record<string, unknown>[];
      if (rules.length === 0) return;
      const rule = rules[f.rule % rules.length]!;
      const [pick, kind] = f.key.split(":").map(Number) as [number, number];
      const key = faultyRefKey(names.length > 0 ? names : ["n"], pick, kind);
      let cond: Record<string, unknown> = {};
      setOwn(cond, key, { gt: 1 });
      if (f.nest === 1) cond = { not: cond };
      else if (f.nest === 2) cond = { any: [{ tool: "a" }, cond] };
      else if (f.nest === 3) cond = { all: [cond] };
      rule.when = { ...(isPlainObject(rule.when) ? rule.when : {}), ...cond };
      return;
    }
    case "tests":
      m.tests = f.tests;
      return;
  }
}

/** Valid stateful manifests with 1-3 faults in the parts the reference checks
 *  (sometimes none, or only unusual but valid values). */
export const faultyManifestArb: Arbitrary<Manifest> = statefulManifestArb.chain(({ manifest }) =>
  fc.array(faultArb(Object.keys(manifest.counters).length), { minLength: 0, maxLength: 3 }).map((faults) => {
    const m = clone(manifest);
    for (const f of faults) applyFault(m, f);
    return m;
  }),
);
