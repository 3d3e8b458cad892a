// Translates the part of Tollgate's policy language that Cedar can express into a Cedar policy
// set, exactly (same decision for every action that can be encoded), for the Cedar oracle
// (test/cedar-oracle.test.ts) and the peer benchmark (bench/peers.bench.ts). docs/peers.md
// explains the rules; in short:
//
//   * The request context is not the action itself but a flat, type-tagged record keyed by the
//     field paths the policy reads (the same "field table" Tollgate's own host fills):
//       context["args.amount"] == {t: "l", v: 120}        an integer (Cedar Long)
//                                 {t: "d", v: decimal("120.5")}   a non-integer number
//                                 {t: "s", v: "EUR"}  {t: "b", v: true}  {t: "n"} (null)
//                                 {t: "a", v: [<tagged scalars>]}  {t: "o"} (object)
//     and no attribute at all when the path is absent. Cedar has no run-time type test for
//     primitives and an ill-typed operation is an error that silently skips the policy, so the
//     tag is what lets every test be written without ever raising an error.
//   * Each condition c becomes two Cedar expressions that never error: T(c) ("c is TRUE") and
//     F(c) ("c is FALSE"); UNKNOWN is neither. all/any/not are Kleene's (T(all) = AND T,
//     F(all) = OR F, ...). A deny rule is `forbid when { !F }` (TRUE or UNKNOWN denies), an
//     escalate rule is also a `forbid when { !F }` (escalate is "not allowed now"; the oracle
//     tells deny from escalate by which forbids Cedar reports), an allow rule is
//     `permit when { T }` (UNKNOWN does not allow). A `default: allow` manifest gets a catch-all
//     permit; Cedar is default-deny otherwise. Groups conjoin their `when` into each rule.
//   * Not translated (the rule is left out, with the reason): `matches`, `len`, `some`/`every`
//     with anything but eq/in, non-integer number operands (and integers beyond ±9e14),
//     globs with `?`, `[...]`, a `*` together with a `**`, or more than one `*`.

import { parseGlob, type GlobToken } from "../reference/glob.js";
import { ABSENT, isPlainObject, lookup, parsePath } from "../reference/path.js";
import { and, checkPath, conditionTF, flattenRules, not, or, subsetOf, testOps, Untranslatable, type Cond, type Effect, type FlatRule, type SkippedRule, type TF } from "./peers-context.js";

export { Untranslatable, type SkippedRule };

/** A rule of the translation, in document order. */
export interface TranslatedRule {
  id: string;
  effect: Effect;
  /** The Cedar policy text (one `permit` or `forbid`). */
  cedar: string;
}

export interface CedarTranslation {
  /** Translated rules in document order; the Cedar policy id of each is its rule id. */
  rules: TranslatedRule[];
  skipped: SkippedRule[];
  defaultEffect: "allow" | "deny";
  /** Field paths (as written in the manifest) that the translated rules read: context keys. */
  paths: string[];
  /** Cedar policy set: policy id -> text (rule ids, plus DEFAULT_ID for a default allow). */
  policies: Record<string, string>;
  /** The same policies as one Cedar text (annotated with @id). */
  text: string;
}

/** Policy id of the catch-all permit of a `default: allow` manifest (not a valid Tollgate rule id). */
export const DEFAULT_ID = "tollgate default";

const MAX_ALTERNATIVES = 64;
const MAX_ABS_OPERAND = 9e14; // also within Cedar decimal's range (±922337203685477.5807)

// ---------------------------------------------------------------------------------------------
// Cedar text helpers

function escapeChar(c: string, inPattern: boolean): string {
  if (c === "\\") return "\\\\";
  if (c === '"') return '\\"';
  if (inPattern && c === "*") return "\\*";
  const cp = c.codePointAt(0)!;
  if (cp < 0x20 || cp === 0x7f) return `\\u{${cp.toString(16)}}`;
  return c;
}

/** A Cedar string literal. */
export function cedarString(s: string): string {
  let out = '"';
  for (const c of s) out += escapeChar(c, false);
  return out + '"';
}

/** A Cedar `like` pattern literal from parts: strings are literal text, null is the wildcard. */
function likePattern(parts: (string | null)[]): string {
  let out = '"';
  for (const p of parts) {
    if (p === null) out += "*";
    else for (const c of p) out += escapeChar(c, true);
  }
  return out + '"';
}

/** The tagged Cedar record literal of a scalar operand. */
function scalarLiteral(v: unknown): string {
  if (typeof v === "string") return `{t: "s", v: ${cedarString(v)}}`;
  if (typeof v === "boolean") return `{t: "b", v: ${v}}`;
  if (v === null) return `{t: "n"}`;
  if (typeof v === "number") return `{t: "l", v: ${integerOperand(v)}}`;
  throw new Untranslatable(`operand ${JSON.stringify(v)} is not a scalar`);
}

function integerOperand(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new Untranslatable(`non-integer number ${JSON.stringify(v)} (Cedar has only Long)`);
  if (Math.abs(v) > MAX_ABS_OPERAND) throw new Untranslatable(`integer ${v} beyond ±9e14`);
  return v === 0 ? 0 : v; // no "-0"
}

const isScalar = (v: unknown) => v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean";

// ---------------------------------------------------------------------------------------------
// Globs -> `like`

/** The `like` expressions whose disjunction is exactly the glob, applied to string expression `s`. */
function globToCedar(glob: string, s: string): string {
  let tokens: GlobToken[];
  try {
    tokens = parseGlob(glob);
  } catch (e) {
    throw new Untranslatable((e as Error).message);
  }
  // Expand {a,b} alternatives into separate token lists of literals and stars.
  type Part = string | "*" | "**";
  let alts: Part[][] = [[]];
  for (const t of tokens) {
    if (t.type === "lit") alts = alts.map((a) => [...a, String.fromCodePoint(...t.text)]);
    else if (t.type === "star") alts = alts.map((a) => [...a, "*" as const]);
    else if (t.type === "dstar") alts = alts.map((a) => [...a, "**" as const]);
    else if (t.type === "alt") {
      alts = alts.flatMap((a) => t.options.map((o) => [...a, String.fromCodePoint(...o)]));
      if (alts.length > MAX_ALTERNATIVES) throw new Untranslatable(`glob ${JSON.stringify(glob)} expands to more than ${MAX_ALTERNATIVES} alternatives`);
    } else throw new Untranslatable(`glob ${JSON.stringify(glob)}: ${t.type === "any" ? "'?'" : "a character class"} has no Cedar equivalent`);
  }
  const stars = tokens.filter((t) => t.type === "star").length;
  const dstars = tokens.filter((t) => t.type === "dstar").length;
  if (stars > 0 && dstars > 0) throw new Untranslatable(`glob ${JSON.stringify(glob)} mixes '*' (no '/') with '**'`);
  if (stars > 1) throw new Untranslatable(`glob ${JSON.stringify(glob)} has more than one '*' (no '/')`);
  // Merge adjacent wildcards ('**' '**' is one run) and literals.
  const out: string[] = [];
  for (const a of alts) {
    const parts: (string | null)[] = [];
    for (const p of a) {
      const last = parts[parts.length - 1];
      if (p === "*" || p === "**") {
        if (last !== null || parts.length === 0) parts.push(null);
      } else if (typeof last === "string") parts[parts.length - 1] = last + p;
      else parts.push(p);
    }
    if (stars === 0) {
      out.push(`${s} like ${likePattern(parts)}`);
    } else {
      // Exactly one '*' and no '**': P1 * P2 with P1, P2 literal. The split is unique, so the
      // middle has no '/' iff the string is not also P1 * '/' * P2.
      const k = parts.indexOf(null);
      const withSlash = [...parts.slice(0, k), null, "/", null, ...parts.slice(k + 1)];
      out.push(and([`${s} like ${likePattern(parts)}`, not(`${s} like ${likePattern(withSlash)}`)]));
    }
  }
  return or(out);
}

// ---------------------------------------------------------------------------------------------
// Conditions -> (T, F)

class Translator {
  readonly paths = new Set<string>();

  condition(c: Cond): TF {
    return conditionTF(c, (path, test) => this.fieldTest(path, test));
  }

  private fieldTest(path: string, test: unknown): TF {
    checkPath(path);
    this.paths.add(path);
    const present = `context has ${cedarString(path)}`;
    const x = `context[${cedarString(path)}]`;
    const parts: TF[] = [];
    for (const [op, operand] of Object.entries(testOps(test))) {
      if (op === "exists") {
        parts.push(operand === true ? { t: present, f: not(present) } : { t: not(present), f: present });
        continue;
      }
      // Every other test is UNKNOWN on an absent path: T and F both require presence.
      const v = this.valueTest(op, operand, x);
      parts.push({ t: and([present, v.t]), f: and([present, v.f]) });
    }
    return { t: and(parts.map((p) => p.t)), f: or(parts.map((p) => p.f)) };
  }

  /** T and F of one operator on a present value `x` (a tagged record). */
  private valueTest(op: string, operand: unknown, x: string): TF {
    const isStr = `${x}.t == "s"`;
    switch (op) {
      case "eq":
      case "ne": {
        const eq = `${x} == ${scalarLiteral(operand)}`;
        return op === "eq" ? { t: eq, f: not(eq) } : { t: not(eq), f: eq };
      }
      case "in":
      case "not_in": {
        const has = `[${(operand as unknown[]).map(scalarLiteral).join(", ")}].contains(${x})`;
        return op === "in" ? { t: has, f: not(has) } : { t: not(has), f: has };
      }
      case "gt":
      case "gte":
      case "lt":
      case "lte": {
        const n = integerOperand(operand);
        const sym = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[op];
        const neg = { gt: "<=", gte: "<", lt: ">=", lte: ">" }[op];
        const fn = { ">": "greaterThan", ">=": "greaterThanOrEqual", "<": "lessThan", "<=": "lessThanOrEqual" } as const;
        const dec = `decimal("${n}.0")`;
        const holds = (s: ">" | ">=" | "<" | "<=") => or([and([`${x}.t == "l"`, `${x}.v ${s} ${n}`]), and([`${x}.t == "d"`, `${x}.v.${fn[s]}(${dec})`])]);
        return { t: holds(sym as ">"), f: holds(neg as ">") };
      }
      case "prefix":
      case "suffix":
      case "glob": {
        if (typeof operand !== "string") throw new Untranslatable(`${op} operand is not a string`);
        const m = op === "prefix" ? `${x}.v like ${likePattern([operand, null])}` : op === "suffix" ? `${x}.v like ${likePattern([null, operand])}` : globToCedar(operand, `${x}.v`);
        return { t: and([isStr, m]), f: and([isStr, not(m)]) };
      }
      case "contains": {
        if (!isScalar(operand)) throw new Untranslatable("contains operand is not a scalar");
        const inArray = `${x}.v.contains(${scalarLiteral(operand)})`;
        const isArr = `${x}.t == "a"`;
        if (typeof operand === "string") {
          const sub = `${x}.v like ${likePattern([null, operand, null])}`;
          return { t: or([and([isStr, sub]), and([isArr, inArray])]), f: or([and([isStr, not(sub)]), and([isArr, not(inArray)])]) };
        }
        return { t: and([isArr, inArray]), f: and([isArr, not(inArray)]) }; // on a string: UNKNOWN
      }
      case "some":
      case "every": {
        // Only element tests that are never UNKNOWN and are set operations: eq / in (scalar or list shorthand).
        let list: unknown[];
        if (isScalar(operand)) list = [operand];
        else if (Array.isArray(operand)) list = operand;
        else {
          const keys = Object.keys(operand as object);
          const o = operand as Record<string, unknown>;
          if (keys.length === 1 && keys[0] === "eq" && isScalar(o.eq)) list = [o.eq];
          else if (keys.length === 1 && keys[0] === "in" && Array.isArray(o.in)) list = o.in;
          else throw new Untranslatable(`${op} with ${keys.join("/")} (Cedar cannot iterate a set)`);
        }
        const set = `[${list.map(scalarLiteral).join(", ")}]`;
        const isArr = `${x}.t == "a"`;
        const holds = op === "some" ? `${x}.v.containsAny(${set})` : `${set}.containsAll(${x}.v)`;
        return { t: and([isArr, holds]), f: and([isArr, not(holds)]) };
      }
      case "matches":
        throw new Untranslatable("matches: Cedar has no regular expressions");
      case "len":
        throw new Untranslatable("len: Cedar has no string or set length");
      default:
        throw new Untranslatable(`unknown operator ${op}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Manifests

/** Cedar for one rule (throws Untranslatable). */
function ruleToCedar(r: FlatRule, tr: Translator): string {
  const tf = tr.condition({ all: r.conds.length > 0 ? r.conds : [{}] });
  return r.effect === "allow" ? `permit (principal, action, resource) when { ${tf.t} };` : `forbid (principal, action, resource) when { ${not(tf.f)} };`;
}

/** Translates a (valid) manifest; rules that cannot be translated are skipped with the reason. */
export function translatePolicy(manifest: Record<string, unknown>): CedarTranslation {
  const rules: TranslatedRule[] = [];
  const skipped: SkippedRule[] = [];
  const paths = new Set<string>();
  for (const r of flattenRules((manifest.rules as unknown[]) ?? [])) {
    const tr = new Translator();
    try {
      const cedar = ruleToCedar(r, tr);
      rules.push({ id: r.id, effect: r.effect, cedar });
      for (const p of tr.paths) paths.add(p);
    } catch (e) {
      if (!(e instanceof Untranslatable)) throw e;
      skipped.push({ id: r.id, reason: e.message });
    }
  }
  const defaultEffect = manifest.default === "allow" ? "allow" : "deny";
  const policies: Record<string, string> = {};
  for (const r of rules) policies[r.id] = r.cedar;
  if (defaultEffect === "allow") policies[DEFAULT_ID] = "permit (principal, action, resource);";
  const text = Object.entries(policies).map(([id, p]) => `@id(${cedarString(id)})\n${p}`).join("\n\n") + "\n";
  return { rules, skipped, defaultEffect, paths: [...paths].sort(), policies, text };
}

/** The rules of a manifest that translate, as a manifest: untranslatable rules and emptied groups dropped. */
export function translatableSubset(manifest: Record<string, unknown>): { manifest: Record<string, unknown>; skipped: SkippedRule[] } {
  return subsetOf(manifest, (r) => ruleToCedar(r, new Translator()));
}

// ---------------------------------------------------------------------------------------------
// Actions -> context

type CedarValue = boolean | number | string | CedarValue[] | { [k: string]: CedarValue };

const DECIMAL_TEXT = /^-?\d+\.\d{1,4}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A scalar or array element, tagged. Numbers that are neither safe integers nor decimals keep only their tag. */
function tagged(v: unknown, top: boolean): CedarValue | { error: string } {
  if (typeof v === "string") {
    if (LONE_SURROGATE.test(v)) return { error: "a string with a lone surrogate" };
    return { t: "s", v };
  }
  if (typeof v === "boolean") return { t: "b", v };
  if (v === null) return { t: "n" };
  if (typeof v === "number") {
    if (Number.isSafeInteger(v)) return { t: "l", v: v === 0 ? 0 : v };
    const text = String(v);
    if (!Number.isInteger(v) && DECIMAL_TEXT.test(text) && Math.abs(v) < MAX_ABS_OPERAND) return { t: "d", v: { __extn: { fn: "decimal", arg: text } } };
    // A number no integer operand can equal: fine inside an array (only compared for equality);
    // at the top of a path a comparison could read it, so the action does not encode.
    return top ? { error: `number ${text} is neither a safe integer nor a decimal of at most 4 places` } : { t: "d" };
  }
  if (Array.isArray(v)) {
    if (!top) return { t: "a" };
    const elems: CedarValue[] = [];
    for (const e of v) {
      const te = tagged(e, false);
      if (typeof te === "object" && te !== null && "error" in te) return te;
      elems.push(te as CedarValue);
    }
    return { t: "a", v: elems };
  }
  if (isPlainObject(v)) return { t: "o" };
  return { error: `not a JSON value: ${typeof v}` };
}

/** The Cedar context of an action for a translation, or why the action cannot be encoded exactly. */
export function actionContext(action: unknown, paths: readonly string[]): Record<string, CedarValue> | { error: string } {
  if (!isPlainObject(action)) return { error: "the action is not a JSON object" };
  const ctx: Record<string, CedarValue> = {};
  for (const p of paths) {
    const v = lookup(action, parsePath(p));
    if (v === ABSENT) continue;
    const t = tagged(v, true);
    if (typeof t === "object" && t !== null && "error" in t) return { error: `${p}: ${(t as { error: string }).error}` };
    ctx[p] = t as CedarValue;
  }
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// Cedar answers -> Tollgate decisions

export interface BinaryDecision {
  decision: Effect;
  rule: string | null;
}

/**
 * The Tollgate decision a Cedar answer stands for: Cedar reports every satisfied policy that
 * determined the decision; the first deny rule among the forbids wins, else the first escalate
 * rule; for allow, the first permit in document order (or the default catch-all).
 */
export function decisionFromCedar(answer: { type: string; response?: { decision: string; diagnostics: { reason: string[]; errors: unknown[] } }; errors?: unknown[] }, tr: CedarTranslation, order: Map<string, number>): BinaryDecision & { cedarErrors?: unknown[] } {
  if (answer.type !== "success" || !answer.response) return { decision: "deny", rule: null, cedarErrors: answer.errors ?? ["cedar failure"] };
  const { decision, diagnostics } = answer.response;
  const reasons = diagnostics.reason.slice().sort((a, b) => (order.get(a) ?? 1e9) - (order.get(b) ?? 1e9));
  const errs = diagnostics.errors.length > 0 ? { cedarErrors: diagnostics.errors } : {};
  if (decision === "allow") return { decision: "allow", rule: reasons[0] === DEFAULT_ID ? null : reasons[0] ?? null, ...errs };
  if (reasons.length === 0) return { decision: tr.defaultEffect === "allow" ? "allow" : "deny", rule: null, ...errs };
  const effectOf = new Map(tr.rules.map((r) => [r.id, r.effect]));
  const deny = reasons.find((id) => effectOf.get(id) === "deny");
  if (deny !== undefined) return { decision: "deny", rule: deny, ...errs };
  return { decision: "escalate", rule: reasons[0]!, ...errs };
}

/** Policy id -> document position, for decisionFromCedar. */
export function ruleOrder(tr: CedarTranslation): Map<string, number> {
  const m = new Map<string, number>();
  tr.rules.forEach((r, i) => m.set(r.id, i));
  m.set(DEFAULT_ID, tr.rules.length);
  return m;
}
