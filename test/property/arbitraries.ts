// fast-check arbitraries for the differential tests: random VALID manifests
// (spec section 2 and 3) and random actions biased to hit them.
//
// A manifest is drawn from a small "universe" (a few keys, strings and
// numbers) so that conditions share paths and constants; actions are then
// built from what the manifest reads: its paths and their prefixes, its
// constants and near misses of them, strings sampled from its globs and
// regexes, wrong types, null, absent fields, mixed arrays, unicode.

import fc, { type Arbitrary } from "fast-check";
import { parsePath } from "../support/reference/path.js";
import { parseGlob, type GlobToken } from "../support/reference/glob.js";
import { parseRegex, type RegexNode } from "../support/reference/regex.js";
import { ReferencePolicy } from "../support/reference/index.js";

export type Manifest = Record<string, any>;

// ---------------------------------------------------------------- universe

const KEYS = ["tool", "args", "agent", "id", "amount", "roles", "sql", "env", "x", "y", "n_1", "A-b", "0", "é", "日本",
  "all", "any", "not", "exists", "eq", "a/b", "$ref", "@id"];
const ODD_KEYS = ["file.name", "a b", 'q"uote', "back\\slash", "[br]", "x]", "tab\there", ".", "é.ü", "😀 ", '\\"', '"', "a]["];

const STRINGS = ["", "a", "A", "abc", "payments.refund", "payments.", "refund", "DROP TABLE x", "drop", "db.query", "é",
  "e\u0301", "😀", "日本語", "a/b/c.txt", "b.txt", "K", "k", "\u212a", "\u017f", "s", "null", "true", "1", "500", " ",
  "\n", "x.y", "prod", "a\u0000b", "\ufffd", "ab|cd", "*.txt"];
const NUMBERS = [0, -0, 1, -1, 2, 3, 500, 500.5, 0.1, 0.3, 1e21, -1e-7, 2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE,
  Number.MIN_VALUE, -Number.MAX_VALUE, 1e300, 123456789.125,
  // decimal texts that are hard to round correctly into a double
  0.1 + 0.2, 2.2250738585072011e-308, 2.9366928860729787e40, 9007199254740993, 1.00000000000000011102230246251565];

export interface Universe {
  paths: string[][];
  strings: string[];
  numbers: number[];
}

// Any code point but a surrogate, weighted towards ASCII. (fast-check's own
// "binary" unit precomputes a table of every code point: seconds per instance.)
const codePoint = fc
  .oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1f }) },
    { weight: 2, arbitrary: fc.integer({ min: 0x7f, max: 0xd7ff }) },
    { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0x10ffff }) },
  )
  .map((c) => String.fromCodePoint(c));
const binaryKey = fc.string({ unit: codePoint, minLength: 1, maxLength: 4 });
const binaryString6 = fc.string({ unit: codePoint, maxLength: 6 });
const binaryString8 = fc.string({ unit: codePoint, maxLength: 8 });
const asciiString8 = fc.string({ unit: "grapheme-ascii", maxLength: 8 });
const policyName = fc.stringMatching(/^[A-Za-z0-9._-]{1,24}$/);

// Generators below are built per universe; `perUniverse` builds each one
// (for given arguments) once per universe, which keeps generation fast.
const built = new WeakMap<Universe, Map<string, Arbitrary<any>>>();
function perUniverse<A extends unknown[], T>(name: string, make: (u: Universe, ...args: A) => Arbitrary<T>) {
  return (u: Universe, ...args: A): Arbitrary<T> => {
    if (!built.has(u)) built.set(u, new Map());
    const cache = built.get(u)!;
    const key = name + JSON.stringify(args);
    if (!cache.has(key)) cache.set(key, make(u, ...args));
    return cache.get(key)!;
  };
}

export const universeArb: Arbitrary<Universe> = fc
  .uniqueArray(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...KEYS) },
      { weight: 2, arbitrary: fc.constantFrom(...ODD_KEYS) },
      { weight: 1, arbitrary: binaryKey },
    ),
    { minLength: 2, maxLength: 6 },
  )
  .chain((keys) =>
    fc.record({
      paths: fc.uniqueArray(fc.array(fc.constantFrom(...keys), { minLength: 1, maxLength: 3 }), {
        minLength: 1,
        maxLength: 6,
        selector: (p) => JSON.stringify(p),
      }),
      strings: fc.uniqueArray(
        fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...STRINGS) },
          { weight: 1, arbitrary: binaryString6 },
          { weight: 1, arbitrary: asciiString8 },
        ),
        { minLength: 2, maxLength: 6 },
      ),
      numbers: fc.uniqueArray(
        fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...NUMBERS) },
          { weight: 2, arbitrary: fc.integer({ min: -1000, max: 1000 }) },
          { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
        ),
        { minLength: 2, maxLength: 5 },
      ),
    }),
  );

// ---------------------------------------------------------------- paths

// Keys written bare; anything else is bracketed (the spec requires brackets
// only for dots, brackets, quotes and spaces, but bare backslashes, control
// characters and the like are left unexplored on purpose).
const BARE = /^[\p{L}\p{N}_$@/-]+$/u;

function renderPath(keys: string[], bracket: boolean[]): string {
  let out = "";
  keys.forEach((key, i) => {
    // A first segment written plainly with a leading `$` is a counter reference (spec section 8).
    const mustBracket = !BARE.test(key) || (i === 0 && (["all", "any", "not"].includes(key) || key.startsWith("$")));
    if (mustBracket || bracket[i]) out += `["${key.replace(/[\\"]/g, (c) => "\\" + c)}"]`;
    else out += (i === 0 ? "" : ".") + key;
  });
  return out;
}

export const pathTextArb = perUniverse("pathTextArb", (u: Universe): Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...u.paths), fc.array(fc.nat(3), { minLength: 3, maxLength: 3 }))
    // sometimes brackets where none are needed
    .map(([keys, b]) => renderPath(keys, b.map((x) => x === 0))));

// ---------------------------------------------------------------- scalars

const scalarArb = perUniverse("scalarArb", (u: Universe): Arbitrary<unknown> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...u.strings) },
    { weight: 3, arbitrary: fc.constantFrom(...u.numbers) },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.constant(null) },
  ));

// ---------------------------------------------------------------- globs

const escapeGlob = (s: string) => s.replace(/[*?[\]{}\\,!]/g, (c) => "\\" + c);

const globTokenArb = perUniverse("globTokenArb", (u: Universe): Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...u.strings, "a", ".", "/", "é", "-").map(escapeGlob) },
    { weight: 2, arbitrary: fc.constant("*") },
    { weight: 1, arbitrary: fc.constant("**") },
    { weight: 1, arbitrary: fc.constant("?") },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.boolean(), fc.array(fc.constantFrom("a", "b", "x", "a-c", "0-9", "A-Z", "é", "😀", "\\]", "\\-", "/"), { minLength: 1, maxLength: 3 }))
        .map(([neg, items]) => `[${neg ? "!" : ""}${items.join("")}]`),
    },
    {
      weight: 1,
      arbitrary: fc
        .uniqueArray(fc.constantFrom("a", "ab", "x/y", ".js", "é", "txt", "refund"), { minLength: 2, maxLength: 3 })
        .map((o) => `{${o.join(",")}}`),
    },
  ));

const isStar = (t: string) => t === "*" || t === "**";

export const globArb = perUniverse("globArb", (u: Universe): Arbitrary<string> =>
  fc
    .array(globTokenArb(u), { minLength: 1, maxLength: 5 })
    // never two star tokens in a row: `***` is not something the spec defines
    .map((ts) => ts.filter((t, i) => !(isStar(t) && i > 0 && isStar(ts[i - 1]))).join("")));

// ---------------------------------------------------------------- regexes

// A safe subset: no nested quantifiers (a quantified group holds no
// quantifier), so the reference's backtracking JS RegExp stays fast.
const REGEX_LITERALS = ["a", "b", "c", "x", "K", "k", "s", "é", "日", "😀", " ", "-", "/", "_", "1", "#", ",", "<"];
const REGEX_ESCAPES = ["\\.", "\\\\", "\\*", "\\(", "\\)", "\\[", "\\]", "\\{", "\\}", "\\|", "\\?", "\\+", "\\^", "\\$",
  "\\-", "\\/", "\\#", "\\n", "\\t", "\\r", "\\x41", "\\x2e", "\\x7a"];
const CLASS_ITEMS = ["a", "b", "x", "a-c", "0-9", "A-Z", "é", "日-本", "😀", "_", "\\d", "\\D", "\\w", "\\W", "\\s", "\\S",
  "\\.", "\\]", "\\-", "\\^", "\\n"];
const QUANTIFIERS = ["*", "+", "?", "{2}", "{1,}", "{0,2}", "{1,3}", "{0}", "{3,3}"];

const escapeRegex = (s: string) => s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");

const regexSimpleAtomArb = perUniverse("regexSimpleAtom", (u: Universe): Arbitrary<string> => {
  const literalChunks = u.strings.filter((s) => /^[\p{L}\p{N} ._/-]+$/u.test(s)).map(escapeRegex);
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...REGEX_LITERALS, ...literalChunks) },
    { weight: 2, arbitrary: fc.constantFrom(...REGEX_ESCAPES) },
    { weight: 2, arbitrary: fc.constant(".") },
    { weight: 2, arbitrary: fc.constantFrom("\\d", "\\D", "\\w", "\\W", "\\s", "\\S") },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.boolean(), fc.array(fc.constantFrom(...CLASS_ITEMS), { minLength: 1, maxLength: 3 }))
        .map(([neg, items]) => `[${neg ? "^" : ""}${items.join("")}]`),
    },
  );
});

const regexAltArb = perUniverse("regexAlt", (u: Universe, depth: number, quantifiers: boolean): Arbitrary<string> => {
  const simple = regexSimpleAtomArb(u);
  const quant = fc.tuple(fc.constantFrom(...QUANTIFIERS), fc.boolean()).map(([q, lazy]) => q + (lazy ? "?" : ""));
  const group = (body: Arbitrary<string>) =>
    fc.tuple(fc.boolean(), body).map(([capture, b]) => (capture ? `(${b})` : `(?:${b})`));
  const pieces: { weight: number; arbitrary: Arbitrary<string> }[] = [
    { weight: 6, arbitrary: simple },
    { weight: 1, arbitrary: fc.constantFrom("^", "$", "\\b", "\\B") },
  ];
  if (quantifiers) pieces.push({ weight: 3, arbitrary: fc.tuple(simple, quant).map(([a, q]) => a + q) });
  if (depth > 0) {
    pieces.push({ weight: 1, arbitrary: group(regexAltArb(u, depth - 1, quantifiers)) });
    if (quantifiers) {
      pieces.push({
        weight: 1,
        arbitrary: fc.tuple(group(regexAltArb(u, 0, false)), quant).map(([g, q]) => g + q),
      });
    }
  }
  const seq = fc.array(fc.oneof(...pieces), { minLength: 1, maxLength: 4 }).map((xs) => xs.join(""));
  return fc.uniqueArray(seq, { minLength: 1, maxLength: 3 }).map((alts) => alts.join("|"));
});

export const regexArb = perUniverse("regexArb", (u: Universe): Arbitrary<string> =>
  fc
    .tuple(fc.nat(4), regexAltArb(u, 2, true))
    .map(([flag, body]) => (flag === 0 ? "(?i)" + body : body)));

// ---------------------------------------------------------------- tests and conditions

const pair = <T>(op: string | Arbitrary<string>, operand: Arbitrary<T>): Arbitrary<[string, T]> =>
  fc.tuple(typeof op === "string" ? fc.constant(op) : op, operand);

const lenTestArb = perUniverse("lenTest", (u: Universe): Arbitrary<unknown> => {
  const n = fc.nat(5);
  return fc.oneof(
    { weight: 3, arbitrary: n },
    { weight: 1, arbitrary: fc.array(n, { minLength: 1, maxLength: 3 }) },
    {
      weight: 4,
      arbitrary: fc
        .array(pair(fc.constantFrom("eq", "ne", "gt", "gte", "lt", "lte"), n), { minLength: 1, maxLength: 2 })
        .map((es) => Object.fromEntries(es)),
    },
    { weight: 1, arbitrary: testArb(u, 0) }, // mostly wrong types: UNKNOWN
  );
});

const operatorArb = perUniverse("operator", (u: Universe, depth: number): Arbitrary<[string, unknown]> => {
  const str = fc.constantFrom(...u.strings);
  const num = fc.constantFrom(...u.numbers);
  const list = fc.array(scalarArb(u), { minLength: 1, maxLength: 4 });
  const ops: { weight: number; arbitrary: Arbitrary<[string, unknown]> }[] = [
    { weight: 3, arbitrary: pair("eq", scalarArb(u)) },
    { weight: 2, arbitrary: pair("ne", scalarArb(u)) },
    { weight: 2, arbitrary: pair(fc.constantFrom("in", "not_in"), list) },
    { weight: 3, arbitrary: pair(fc.constantFrom("gt", "gte", "lt", "lte"), num) },
    { weight: 2, arbitrary: pair(fc.constantFrom("prefix", "suffix"), str) },
    { weight: 2, arbitrary: pair("contains", fc.oneof({ weight: 3, arbitrary: str }, { weight: 2, arbitrary: scalarArb(u) })) },
    { weight: 2, arbitrary: pair("glob", globArb(u)) },
    { weight: 2, arbitrary: pair("matches", regexArb(u)) },
    { weight: 2, arbitrary: pair("exists", fc.boolean()) },
  ];
  if (depth > 0) {
    ops.push(
      { weight: 2, arbitrary: pair("len", lenTestArb(u)) },
      { weight: 1, arbitrary: pair(fc.constantFrom("some", "every"), testArb(u, depth - 1)) },
    );
  }
  return fc.oneof(...ops);
});

/** A test (spec section 3): scalar shorthand, list shorthand, or operators. */
export const testArb = perUniverse("test", (u: Universe, depth: number): Arbitrary<unknown> => {
  return fc.oneof(
    { weight: 2, arbitrary: scalarArb(u) },
    { weight: 1, arbitrary: fc.array(scalarArb(u), { minLength: 1, maxLength: 4 }) },
    {
      weight: 6,
      arbitrary: fc.array(operatorArb(u, depth), { minLength: 1, maxLength: 3 }).map((es) => Object.fromEntries(es)),
    },
  );
});

/** A condition: a non-empty mapping of field paths and combinators. */
export const conditionArb = perUniverse("condition", (u: Universe, depth: number): Arbitrary<Record<string, unknown>> => {
  const entries: { weight: number; arbitrary: Arbitrary<[string, unknown]> }[] = [
    { weight: 6, arbitrary: fc.tuple(pathTextArb(u), testArb(u, 2)) },
  ];
  if (depth > 0) {
    const sub = conditionArb(u, depth - 1);
    entries.push(
      { weight: 1, arbitrary: pair(fc.constantFrom("all", "any"), fc.array(sub, { minLength: 1, maxLength: 3 })) },
      { weight: 1, arbitrary: pair("not", sub) },
    );
  }
  return fc.array(fc.oneof(...entries), { minLength: 1, maxLength: 3 }).map((es) => Object.fromEntries(es));
});

// ---------------------------------------------------------------- manifests

const UNIT_MAX: Record<string, number> = { ms: 604_800_000, s: 604_800, m: 10_080, h: 168, d: 7 };
export const durationArb: Arbitrary<string> = fc
  .constantFrom(...Object.keys(UNIT_MAX))
  .chain((unit) =>
    fc
      .oneof(fc.integer({ min: 1, max: UNIT_MAX[unit] }), fc.constantFrom(1, UNIT_MAX[unit]))
      .map((n) => `${n}${unit}`),
  );

const reasonArb = fc.oneof(
  fc.constantFrom("Destructive SQL is never allowed", "Refunds over 500 need a human", "é 😀 日本", "x"),
  fc.string({ unit: codePoint, minLength: 1, maxLength: 30 }),
);

type RawRule = { kind: "rule"; effect: string; when?: object; reason?: string; timeout?: string; description?: string; approver: number };
type RawGroup = { kind: "group"; when?: object; description?: string; items: RawItem[] };
type RawItem = RawRule | RawGroup;

/** `arb` in `present` out of `present + absent` cases, else undefined (an absent key). */
const maybe = <T>(arb: Arbitrary<T>, present = 1, absent = 1): Arbitrary<T | undefined> =>
  fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: present, arbitrary: arb });

const rawRuleArb = perUniverse("rawRule", (u: Universe): Arbitrary<RawRule> => {
  return fc.record({
    kind: fc.constant("rule" as const),
    effect: fc.constantFrom("allow", "allow", "deny", "escalate"),
    when: maybe(conditionArb(u, 2), 6, 1),
    reason: maybe(reasonArb),
    timeout: maybe(durationArb),
    description: maybe(fc.constantFrom("a rule", "описание"), 1, 4),
    approver: fc.nat(3),
  });
});

const rawItemArb = perUniverse("rawItem", (u: Universe, depth: number): Arbitrary<RawItem> => {
  if (depth === 0) return rawRuleArb(u);
  const group: Arbitrary<RawGroup> = fc.record({
    kind: fc.constant("group" as const),
    when: maybe(conditionArb(u, 1), 4, 1),
    description: maybe(fc.constant("a group"), 1, 4),
    items: fc.array(rawItemArb(u, depth - 1), { minLength: 1, maxLength: 3 }),
  });
  return fc.oneof({ weight: 4, arbitrary: rawRuleArb(u) }, { weight: 1, arbitrary: group });
});

const APPROVER_NAMES = ["finance-oncall", "sec", "ops.team", "a_b", "Ω"];

const baseManifestArb: Arbitrary<Manifest> = universeArb.chain((u) =>
  fc
    .record({
      name: policyName,
      description: maybe(fc.constantFrom("Refund bot", ""), 1, 3),
      default: maybe(fc.constantFrom("allow", "deny"), 2, 1),
      approvers: fc.uniqueArray(
        fc.record({ name: fc.constantFrom(...APPROVER_NAMES), timeout: durationArb, on_timeout: maybe(fc.constantFrom("allow", "deny"), 2, 1) }),
        { maxLength: 3, selector: (a) => a.name },
      ),
      redact: maybe(fc.array(pathTextArb(u), { minLength: 1, maxLength: 2 }), 1, 3),
      items: fc.array(rawItemArb(u, 2), { maxLength: 6 }),
      idStyle: fc.constantFrom("r", "rule.", "block-", "R_"),
    })
    .map((raw) => {
      let ruleCount = 0, groupCount = 0;
      const approvers = raw.approvers.length > 0 ? raw.approvers : [{ name: "fallback", timeout: "1h", on_timeout: undefined }];
      const build = (item: RawItem): object => {
        if (item.kind === "group") {
          return defined({ group: `g${groupCount++}`, description: item.description, when: item.when, rules: item.items.map(build) });
        }
        const escalate = item.effect === "escalate";
        return defined({
          id: `${raw.idStyle}${ruleCount++}`,
          effect: item.effect,
          description: item.description,
          reason: item.effect === "allow" ? item.reason : item.reason ?? "needs a reason",
          approver: escalate ? approvers[item.approver % approvers.length].name : undefined,
          timeout: escalate ? item.timeout : undefined,
          when: item.when,
        });
      };
      const rules = raw.items.map(build);
      const usesApprovers = JSON.stringify(rules).includes('"escalate"');
      return defined({
        tollgate: 1,
        name: raw.name,
        description: raw.description,
        default: raw.default,
        approvers: raw.approvers.length > 0 || usesApprovers
          ? Object.fromEntries(approvers.map((a) => [a.name, defined({ timeout: a.timeout, on_timeout: a.on_timeout })]))
          : undefined,
        audit: raw.redact ? { redact: raw.redact } : undefined,
        rules,
      });
    }),
);

/** Drops undefined properties (an absent optional key). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Random valid manifests; some carry a `tests` section whose expectations
 *  come from the reference interpreter. */
export const manifestArb: Arbitrary<Manifest> = baseManifestArb.chain((m) =>
  maybe(fc.array(actionArbFor(m, { clean: true }), { minLength: 1, maxLength: 2 }), 1, 4).map((actions) => {
    if (!actions) return m;
    const ref = new ReferencePolicy(m);
    const tests = actions.map((action, i) => {
      const d = ref.evaluate(action);
      return { name: `case ${i}`, action, expect: d.decision, rule: d.rule };
    });
    return { ...m, tests };
  }),
);

// ---------------------------------------------------------------- actions

interface Hints {
  paths: string[][]; // the paths conditions read
  prefixes: string[][]; // their proper prefixes (intermediate objects)
  strings: string[];
  numbers: number[];
  samples: Arbitrary<string>[];
}

/** What the manifest reads and compares against. */
function collectHints(manifest: Manifest): Hints {
  const h: Hints = { paths: [], prefixes: [], strings: [], numbers: [], samples: [] };
  const scalar = (v: unknown) => {
    if (typeof v === "string") h.strings.push(v);
    if (typeof v === "number") h.numbers.push(v);
  };
  const test = (t: any) => {
    if (Array.isArray(t)) return t.forEach(scalar);
    if (typeof t !== "object" || t === null) return scalar(t);
    for (const [op, operand] of Object.entries<any>(t)) {
      if (op === "glob") h.samples.push(globSampleArb(parseGlob(operand)));
      else if (op === "matches") h.samples.push(regexSampleArb(parseRegex(operand).node));
      else if (op === "len" || op === "some" || op === "every") test(operand);
      else if (Array.isArray(operand)) operand.forEach(scalar);
      else scalar(operand);
    }
  };
  const condition = (c: Record<string, any>) => {
    for (const [key, v] of Object.entries(c)) {
      if (key === "all" || key === "any") v.forEach(condition);
      else if (key === "not") condition(v);
      else {
        const keys = parsePath(key);
        h.paths.push(keys);
        for (let i = 1; i < keys.length; i++) h.prefixes.push(keys.slice(0, i));
        test(v);
      }
    }
  };
  const walk = (items: any[]) =>
    items.forEach((item) => {
      if (item.when) condition(item.when);
      if (item.rules) walk(item.rules);
    });
  walk(manifest.rules ?? []);
  const unique = (ps: string[][]) => [...new Map(ps.map((p) => [JSON.stringify(p), p])).values()];
  h.paths = unique(h.paths);
  h.prefixes = unique(h.prefixes);
  if (h.paths.length === 0) h.paths.push(["tool"]);
  if (h.strings.length === 0) h.strings.push("a");
  if (h.numbers.length === 0) h.numbers.push(1);
  if (h.samples.length === 0) h.samples.push(fc.constant("x"));
  return h;
}

function globSampleArb(tokens: GlobToken[]): Arbitrary<string> {
  const one = (t: GlobToken): Arbitrary<string> => {
    switch (t.type) {
      case "lit": return fc.constant(String.fromCodePoint(...t.text));
      case "star": return fc.constantFrom("", "a", "ab.c", "é", "a/b");
      case "dstar": return fc.constantFrom("", "a/b", "/", "x");
      case "any": return fc.constantFrom("q", "/", "😀");
      case "class": return fc.constantFrom(...t.ranges.flat(), 0x7a, 0x2f).map((c) => String.fromCodePoint(c));
      case "alt": return fc.constantFrom(...t.options).map((o) => String.fromCodePoint(...o));
    }
  };
  return fc.tuple(...tokens.map(one)).map((parts) => parts.join(""));
}

function regexSampleArb(node: RegexNode): Arbitrary<string> {
  switch (node.type) {
    case "assert": return fc.constant("");
    case "set":
      if (node.ranges.length === 0) return fc.constant(""); // e.g. [^\d\D]: nothing matches
      return fc
        .constantFrom(...node.ranges)
        .chain(([lo, hi]) => fc.oneof(fc.constantFrom(lo, hi), fc.integer({ min: lo, max: Math.min(hi, lo + 200) })))
        .map((c) => String.fromCodePoint(c));
    case "seq": return fc.tuple(...node.items.map(regexSampleArb)).map((p) => p.join(""));
    case "alt": return fc.oneof(...node.alts.map(regexSampleArb));
    case "repeat":
      return fc
        .array(regexSampleArb(node.node), { minLength: node.min, maxLength: Math.min(node.max, node.min + 3) })
        .map((p) => p.join(""));
  }
}

const cps = (s: string) => Array.from(s);
const NEAR_MISS_STRINGS: ((s: string) => string)[] = [
  (s) => s + "x", (s) => "x" + s, (s) => cps(s).slice(1).join(""), (s) => cps(s).slice(0, -1).join(""),
  (s) => s.toUpperCase(), (s) => s.toLowerCase(), (s) => s + "/", (s) => s + "\n", (s) => s + s, (s) => " " + s,
];
const NEAR_MISS_NUMBERS: ((n: number) => unknown)[] = [
  (n) => n + 1, (n) => n - 1, (n) => n + 0.5, (n) => -n, (n) => n * (1 + Number.EPSILON), (n) => String(n), (n) => [n],
];

function valueArb(h: Hints, clean: boolean, depth: number): Arbitrary<unknown> {
  const str = fc.constantFrom(...h.strings);
  const num = fc.constantFrom(...h.numbers);
  const options: { weight: number; arbitrary: Arbitrary<unknown> }[] = [
    { weight: 5, arbitrary: str },
    { weight: 3, arbitrary: fc.tuple(str, fc.constantFrom(...NEAR_MISS_STRINGS)).map(([s, f]) => f(s)) },
    { weight: 5, arbitrary: fc.oneof(...h.samples) },
    { weight: 4, arbitrary: num },
    // A near miss of the largest double can overflow to infinity: not JSON, so not in a clean value.
    { weight: 2, arbitrary: fc.tuple(num, fc.constantFrom(...NEAR_MISS_NUMBERS)).map(([n, f]) => {
      const x = f(n);
      return clean && typeof x === "number" && !Number.isFinite(x) ? n : x;
    }) },
    { weight: 1, arbitrary: fc.nat(6) },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom("", "é", "😀😀", "e\u0301", "K", "\u212a", "ǅ", "İ") },
    { weight: 1, arbitrary: binaryString8 },
    { weight: 1, arbitrary: fc.constantFrom({}, []) },
  ];
  if (depth > 0) {
    const inner = valueArb(h, clean, depth - 1);
    options.push(
      { weight: 3, arbitrary: fc.array(inner, { maxLength: 5 }) },
      { weight: 1, arbitrary: fc.dictionary(fc.constantFrom("a", "b", ...h.paths.flat()), inner, { maxKeys: 2, noNullPrototype: true }) },
    );
  }
  if (!clean) {
    options.push(
      { weight: 1, arbitrary: fc.constantFrom("\ud800", "a\udc00", "\udbff\ud800x", "😀".slice(0, 1)) }, // lone surrogates
    );
  }
  // weights x5, so that the rare non-JSON numbers can weigh 1
  const weighted = options.map((o) => ({ ...o, weight: o.weight * 5 }));
  if (!clean) weighted.push({ weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) });
  return fc.oneof(...weighted);
}

function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  return v;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Builds an object by writing each value at its path, in order (a later
 *  write replaces a non-object met on the way). */
function buildAction(entries: [string[], unknown][]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [keys, value] of entries) {
    let cur = root;
    for (const key of keys.slice(0, -1)) {
      if (!isPlainObject(cur[key])) cur[key] = {};
      cur = cur[key] as Record<string, unknown>;
    }
    cur[keys[keys.length - 1]] = clone(value);
  }
  return root;
}

/** Actions aimed at `manifest`. With `clean`, only JSON objects without lone
 *  surrogates or non-JSON numbers (fit for a manifest's `tests`). */
export function actionArbFor(manifest: Manifest, opts: { clean?: boolean } = {}): Arbitrary<unknown> {
  const clean = opts.clean ?? false;
  const h = collectHints(manifest);
  const value = valueArb(h, clean, 2);
  const at = (path: string[], present: number, absent: number) =>
    maybe(value.map((v): [string[], unknown] => [path, v]), present, absent);
  const noise = fc.tuple(fc.constantFrom<string[]>(["zzz"], ["tool"], ["args", "amount"], ["a", "b", "c"]), value);
  // Each read path is written 3 times in 4, a prefix of one 1 time in 8, plus
  // some noise; writing a prefix after a deeper path replaces the object on
  // the way by a non-object (the deeper path is then absent).
  const objectArb = fc
    .tuple(
      fc.tuple(...h.paths.map((p) => at(p, 3, 1))),
      fc.tuple(...h.prefixes.map((p) => at(p, 1, 7))),
      fc.array(noise, { maxLength: 2 }),
      fc.boolean(),
    )
    .map(([leaves, prefixes, extra, prefixesLast]) => {
      const writes = prefixesLast ? [...leaves, ...prefixes] : [...prefixes, ...leaves];
      return buildAction([...extra, ...writes].filter((w): w is [string[], unknown] => w !== undefined));
    });
  if (clean) return objectArb;
  return fc.oneof(
    { weight: 40, arbitrary: objectArb },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], [{}], "x", '{"tool":"a"}', 5, true) },
  );
}

/** A manifest with `n` actions aimed at it. */
export const policyAndActionsArb = (n: number): Arbitrary<{ manifest: Manifest; actions: unknown[] }> =>
  manifestArb.chain((manifest) =>
    fc.array(actionArbFor(manifest), { minLength: n, maxLength: n }).map((actions) => ({ manifest, actions })),
  );
