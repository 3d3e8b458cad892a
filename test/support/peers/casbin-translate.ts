// Translates the part of Tollgate's policy language that node-casbin can express into a casbin
// model and policy, exactly as far as allow / not allow goes (casbin's `enforce` answers a
// boolean: Tollgate's deny and escalate are both "not allowed"). docs/peers.md explains it.
//
//   * Model: `r = c` (one request value: the flat tagged record of test/support/peers/peers-context.ts),
//     `p = rule, eft, id`, `m = eval(p.rule)`, and casbin's deny-override effect
//     `some(where (p.eft == allow)) && !some(where (p.eft == deny))` (`!some(where (p.eft == deny))`
//     for a `default: allow` policy). One policy line per Tollgate rule: its condition as a
//     matcher expression, eft `allow` for allow rules, `deny` for deny AND escalate rules.
//   * Conditions are three-valued in Tollgate and boolean in casbin. As for Cedar, each
//     condition becomes T ("is TRUE") and F ("is FALSE"); an allow rule's matcher is T, a deny or
//     escalate rule's is !F (TRUE or UNKNOWN denies: Tollgate's fail-closed rule).
//   * The matcher language is node-casbin's (@casbin/expression-eval over jsep): JavaScript
//     operators, member access and method calls on the request's values. Tests:
//       eq/ne/in/not_in   `===` / `!==` chains (strict: "1" is not 1)
//       gt/gte/lt/lte     `r_c.t3 == "n" && r_c.f3 > 500`
//       prefix/suffix     String startsWith / endsWith; contains: String or Array includes
//       glob              casbin's built-in regexMatch with the glob as an anchored regex
//       some eq/in        Array includes, or-ed; exists: the tag
//   * Not translated: `matches` (JavaScript regexes are not Tollgate's), `len`, `every` (the
//     matcher language has no iteration: no arrow functions), `some` with other tests, globs
//     with a character class holding astral or surrogate code points, and rules whose string
//     operands casbin would rewrite or misparse: a `r.`/`p.` after a delimiter (casbin's
//     escapeAssertion turns it into `r_`), `$&`, `$$`, `` $` ``, `$'` (eval() splices the rule
//     text with String.replace), or both " in " and " (" (casbin's bracketCompatible rewrite).

import { newEnforcer, newModelFromString, type Enforcer } from "casbin";
import { parseGlob, type GlobToken } from "../reference/glob.js";
import { and, checkPath, conditionTF, elementList, flattenRules, not, or, subsetOf, testOps, Untranslatable, type Cond, type FlatRule, type SkippedRule, type TF } from "./peers-context.js";

export interface CasbinTranslation {
  /** Policy lines [matcher expression, eft, rule id], in document order. */
  lines: [string, "allow" | "deny", string][];
  ids: string[];
  skipped: SkippedRule[];
  defaultEffect: "allow" | "deny";
  /** Field paths read, in the order of the request's t<k>/f<k> keys. */
  paths: string[];
  model: string;
}

export function casbinModel(defaultEffect: "allow" | "deny"): string {
  const effect = defaultEffect === "allow" ? "!some(where (p.eft == deny))" : "some(where (p.eft == allow)) && !some(where (p.eft == deny))";
  return `[request_definition]\nr = c\n\n[policy_definition]\np = rule, eft, id\n\n[policy_effect]\ne = ${effect}\n\n[matchers]\nm = eval(p.rule)\n`;
}

// ---------------------------------------------------------------------------------------------
// Expression text

const ESCAPED_BY_CASBIN = /([()\s|&,=!><+\-*/]|^)((r|p)[0-9]*)\./;
const REPLACEMENT_PATTERN = /\$[$&`']/;

/** A jsep string literal (jsep knows \\ \" \n \r \t \b \f \v; everything else is taken raw). */
function str(s: string): string {
  if (ESCAPED_BY_CASBIN.test(s)) throw new Untranslatable(`string ${JSON.stringify(s)}: casbin rewrites "r."/"p." after a delimiter`);
  if (REPLACEMENT_PATTERN.test(s)) throw new Untranslatable(`string ${JSON.stringify(s)}: casbin's eval() splices rules with String.replace ($ patterns)`);
  let out = '"';
  for (const c of s) out += c === "\\" ? "\\\\" : c === '"' ? '\\"' : c === "\n" ? "\\n" : c === "\r" ? "\\r" : c;
  return out + '"';
}

function lit(v: unknown): string {
  if (typeof v === "string") return str(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Untranslatable(`number ${v}`);
    return v < 0 ? `(-${String(-v)})` : String(v);
  }
  if (typeof v === "boolean") return String(v);
  if (v === null) return "null";
  throw new Untranslatable(`operand ${JSON.stringify(v)} is not a scalar`);
}


// Globs -> anchored JavaScript regexes (no flags: casbin's regexMatch is `new RegExp(p).test(s)`).
const ASTRAL = "[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]";
function reChar(cp: number): string {
  const c = String.fromCodePoint(cp);
  if (/^[A-Za-z0-9_]$/.test(c)) return c;
  let out = "";
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
}
function globRegex(glob: string): string {
  let tokens: GlobToken[];
  try {
    tokens = parseGlob(glob);
  } catch (e) {
    throw new Untranslatable((e as Error).message);
  }
  let re = "^";
  for (const t of tokens) {
    if (t.type === "lit") re += t.text.map(reChar).join("");
    else if (t.type === "star") re += "[^/]*";
    else if (t.type === "dstar") re += "[\\s\\S]*";
    else if (t.type === "any") re += `(?:${ASTRAL}|[^/])`;
    else if (t.type === "alt") re += `(?:${t.options.map((o) => o.map(reChar).join("")).join("|")})`;
    else {
      if (t.ranges.some(([lo, hi]) => hi > 0xffff || (hi >= 0xd800 && lo <= 0xdfff))) throw new Untranslatable(`glob ${JSON.stringify(glob)}: class with astral or surrogate code points`);
      const set = t.ranges.map(([lo, hi]) => (lo === hi ? reChar(lo) : `${reChar(lo)}-${reChar(hi)}`)).join("");
      // A class never matches "/"; a negated one matches one code point (a surrogate pair too).
      re += t.negated ? `(?:${ASTRAL}|[^${set}/])` : `(?!/)[${set}]`;
    }
  }
  return re + "$";
}

// ---------------------------------------------------------------------------------------------
// Conditions -> (T, F)

class Translator {
  constructor(private readonly index: Map<string, number>) {}

  private key(path: string): number {
    checkPath(path);
    let k = this.index.get(path);
    if (k === undefined) this.index.set(path, (k = this.index.size));
    return k;
  }

  condition(c: Cond): TF {
    return conditionTF(c, (path, test) => this.fieldTest(path, test));
  }

  private fieldTest(path: string, test: unknown): TF {
    const k = this.key(path);
    const tag = `r_c.t${k}`;
    const x = `r_c.f${k}`;
    const present = `${tag} != "x"`;
    const parts: TF[] = [];
    for (const [op, operand] of Object.entries(testOps(test))) {
      if (op === "exists") {
        parts.push(operand === true ? { t: present, f: `${tag} == "x"` } : { t: `${tag} == "x"`, f: present });
        continue;
      }
      const v = this.valueTest(op, operand, tag, x);
      parts.push({ t: and([present, v.t]), f: and([present, v.f]) });
    }
    return { t: and(parts.map((p) => p.t)), f: or(parts.map((p) => p.f)) };
  }

  private valueTest(op: string, operand: unknown, tag: string, x: string): TF {
    const isStr = `${tag} == "s"`;
    const isArr = `${tag} == "a"`;
    switch (op) {
      case "eq":
      case "ne": {
        const eq = `${x} === ${lit(operand)}`;
        return op === "eq" ? { t: eq, f: not(eq) } : { t: not(eq), f: eq };
      }
      case "in":
      case "not_in": {
        if (!Array.isArray(operand)) throw new Untranslatable(`${op} operand is not a list`);
        const has = or(operand.map((v) => `${x} === ${lit(v)}`));
        return op === "in" ? { t: has, f: not(has) } : { t: not(has), f: has };
      }
      case "gt":
      case "gte":
      case "lt":
      case "lte": {
        if (typeof operand !== "number") throw new Untranslatable(`${op} operand is not a number`);
        const sym = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[op];
        const neg = { gt: "<=", gte: "<", lt: ">=", lte: ">" }[op];
        const isNum = `${tag} == "n"`;
        return { t: and([isNum, `${x} ${sym} ${lit(operand)}`]), f: and([isNum, `${x} ${neg} ${lit(operand)}`]) };
      }
      case "prefix":
      case "suffix":
      case "glob": {
        if (typeof operand !== "string") throw new Untranslatable(`${op} operand is not a string`);
        const m = op === "prefix" ? `${x}.startsWith(${str(operand)})` : op === "suffix" ? `${x}.endsWith(${str(operand)})` : `regexMatch(${x}, ${str(globRegex(operand))})`;
        return { t: and([isStr, m]), f: and([isStr, not(m)]) };
      }
      case "contains": {
        const has = `${x}.includes(${lit(operand)})`;
        if (typeof operand === "string") {
          const strOrArr = or([isStr, isArr]);
          return { t: and([strOrArr, has]), f: and([strOrArr, not(has)]) };
        }
        return { t: and([isArr, has]), f: and([isArr, not(has)]) }; // on a string: UNKNOWN
      }
      case "some": {
        const has = or(elementList(op, operand).map((v) => `${x}.includes(${lit(v)})`));
        return { t: and([isArr, has]), f: and([isArr, not(has)]) };
      }
      case "every":
        throw new Untranslatable("every: casbin matchers cannot iterate an array");
      case "matches":
        throw new Untranslatable("matches: JavaScript regexes (regexMatch) are not Tollgate's");
      case "len":
        throw new Untranslatable("len: not translated");
      default:
        throw new Untranslatable(`unknown operator ${op}`);
    }
  }
}

function ruleLine(r: FlatRule, tr: Translator): [string, "allow" | "deny"] {
  const tf = tr.condition({ all: r.conds.length > 0 ? r.conds : [{}] });
  const expr = r.effect === "allow" ? tf.t : not(tf.f);
  if (expr.includes(" in ") && expr.includes(" (")) throw new Untranslatable(`casbin's bracketCompatible would rewrite the matcher (" in " and " (")`);
  return [expr, r.effect === "allow" ? "allow" : "deny"];
}

/** Translates a (valid) manifest; rules that cannot be translated are skipped with the reason. */
export function translateCasbin(manifest: Record<string, unknown>): CasbinTranslation {
  const lines: [string, "allow" | "deny", string][] = [];
  const ids: string[] = [];
  const skipped: SkippedRule[] = [];
  const index = new Map<string, number>();
  for (const r of flattenRules((manifest.rules as unknown[]) ?? [])) {
    const local = new Map(index);
    try {
      lines.push([...ruleLine(r, new Translator(local)), r.id]);
      ids.push(r.id);
      for (const [p, k] of local) index.set(p, k);
    } catch (e) {
      if (!(e instanceof Untranslatable)) throw e;
      skipped.push({ id: r.id, reason: e.message });
    }
  }
  const defaultEffect = manifest.default === "allow" ? "allow" : "deny";
  const paths = [...index.entries()].sort((a, b) => a[1] - b[1]).map(([p]) => p);
  return { lines, ids, skipped, defaultEffect, paths, model: casbinModel(defaultEffect) };
}

/** The rules of a manifest that translate to casbin, as a manifest. */
export function casbinSubset(manifest: Record<string, unknown>): { manifest: Record<string, unknown>; skipped: SkippedRule[] } {
  return subsetOf(manifest, (r) => ruleLine(r, new Translator(new Map())));
}

/** A casbin enforcer holding the translated policy. */
export async function casbinEnforcer(tr: CasbinTranslation): Promise<Enforcer> {
  const e = await newEnforcer(newModelFromString(tr.model));
  if (tr.lines.length > 0) await e.addPolicies(tr.lines);
  return e;
}
