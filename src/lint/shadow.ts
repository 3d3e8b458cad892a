// Lint, rules that can never decide (spec section 4): rule B is shadowed by rule A when A wins
// over B (a higher effect anywhere in the policy, or the same effect earlier) and A applies to
// every action B applies to. "Applies" is section 4's: an allow rule applies when its effective
// condition is TRUE; a deny or escalate rule when it is TRUE or UNKNOWN (fail closed).
//
// Decided only where it can be decided exactly, and never guessed:
// - A's effective condition (its groups' `when`s and its own) must be a conjunction of tests on
//   field paths with the operators eq, in, gt, gte, lt, lte, prefix and exists (keys of a
//   mapping, several operators, `all`); anything else in A (any, not, counters, regex, glob...)
//   and A is not considered.
// - B's supported tests are kept and the others dropped: dropping a conjunct of B only widens
//   the set of actions B applies to (a TRUE conjunction stays TRUE without a conjunct; a FALSE
//   one stays FALSE only through a conjunct we keep), so a proof for the wider B holds for B.
// - Both "applies" are conjunctions over paths (all TRUE; none FALSE), so it suffices that, path
//   by path, every value v (absent included) for which B's tests on the path apply gives A's
//   tests on it applying too. That is decided on a finite set of values covering every class
//   the tests' constants distinguish (absent, null, booleans, an object, an array; each
//   constant number, a number between and beyond them; each constant string and prefix, and a
//   string just past each prefix that no other constant or prefix takes). With both conditions
//   conjunctions of supported tests the answer is exact (one path's witness extends to an
//   action, the other paths taking values B applies to).
// - A rule whose own supported tests on one path can never apply is reported as such.

import { fieldSites, operators, parsePath, type Effect, type RuleSite } from "./manifest.js";
import type { Finding } from "./finding.js";

type Tri = "T" | "F" | "U";
const ABSENT = Symbol("absent");
type Value = typeof ABSENT | null | boolean | number | string | Record<string, never> | never[];

interface Atom {
  op: "eq" | "in" | "gt" | "gte" | "lt" | "lte" | "prefix" | "exists";
  operand: unknown;
}

interface PathTests {
  text: string;
  atoms: Atom[];
  /** The atoms as JSON: the key under which implications are memoized. */
  id: string;
}

interface Conjunction {
  /** Every test of the rule is a supported atom. */
  complete: boolean;
  /** Supported atoms by path (key: the parsed segments as JSON). */
  paths: Map<string, PathTests>;
}

const SUPPORTED = new Set(["eq", "in", "gt", "gte", "lt", "lte", "prefix", "exists"]);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function scalarOk(v: unknown): boolean {
  if (v === null || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (typeof v === "string") return !LONE_SURROGATE.test(v);
  return false;
}

function atomOk(op: string, operand: unknown): boolean {
  switch (op) {
    case "eq":
      return scalarOk(operand);
    case "in":
      return Array.isArray(operand) && operand.length > 0 && operand.every(scalarOk);
    case "gt": case "gte": case "lt": case "lte":
      return typeof operand === "number" && Number.isFinite(operand);
    case "prefix":
      return typeof operand === "string" && !LONE_SURROGATE.test(operand);
    case "exists":
      return typeof operand === "boolean";
    default:
      return false;
  }
}

function conjunction(rule: RuleSite): Conjunction {
  let complete = true;
  const paths = new Map<string, PathTests>();
  const visit = (cond: Record<string, unknown>, pointer: string): void => {
    for (const site of fieldSites(cond, pointer)) {
      if (site.nested) {
        complete = false;
        continue;
      }
      const path = parsePath(site.key);
      if (path === null || path.counter) {
        complete = false;
        continue;
      }
      const key = JSON.stringify(path.segments);
      let entry = paths.get(key);
      for (const o of operators(site.test, site.pointer)) {
        if (!SUPPORTED.has(o.op) || !atomOk(o.op, o.operand)) {
          complete = false;
          continue;
        }
        if (entry === undefined) paths.set(key, (entry = { text: site.key, atoms: [], id: "" }));
        entry.atoms.push({ op: o.op as Atom["op"], operand: o.operand });
      }
    }
  };
  for (const w of rule.whens) visit(w.cond, w.pointer);
  for (const p of paths.values()) p.id = JSON.stringify(p.atoms);
  return { complete, paths };
}

function sameScalar(v: Value, c: unknown): boolean {
  if (v === null || c === null) return v === c;
  if (typeof v === "object" || typeof v !== typeof c) return false;
  return v === c;
}

function test(a: Atom, v: Value): Tri {
  if (a.op === "exists") return (v !== ABSENT) === a.operand ? "T" : "F";
  if (v === ABSENT) return "U";
  switch (a.op) {
    case "eq":
      return sameScalar(v, a.operand) ? "T" : "F";
    case "in":
      return (a.operand as unknown[]).some((c) => sameScalar(v, c)) ? "T" : "F";
    case "prefix":
      return typeof v !== "string" ? "U" : v.startsWith(a.operand as string) ? "T" : "F";
    default: {
      if (typeof v !== "number") return "U";
      const n = a.operand as number;
      const r = a.op === "gt" ? v > n : a.op === "gte" ? v >= n : a.op === "lt" ? v < n : v <= n;
      return r ? "T" : "F";
    }
  }
}

function all(atoms: readonly Atom[], v: Value): Tri {
  let out: Tri = "T";
  for (const a of atoms) {
    const r = test(a, v);
    if (r === "F") return "F";
    if (r === "U") out = "U";
  }
  return out;
}

/** Whether a rule of `effect` whose tests on a path are `atoms` lets that path apply for `v`. */
function applies(effect: Effect, atoms: readonly Atom[], v: Value): boolean {
  const r = all(atoms, v);
  return effect === "allow" ? r === "T" : r !== "F";
}

/** The least double above a finite `x`. */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + (x > 0 ? 1n : -1n));
  return view.getFloat64(0);
}

/** Values covering every class of values that `atoms` can tell apart (see the file's head). */
function representatives(atoms: readonly Atom[]): Value[] {
  const numbers = new Set<number>();
  const strings = new Set<string>();
  const prefixes = new Set<string>([""]);
  const constant = (c: unknown): void => {
    if (typeof c === "number") numbers.add(c === 0 ? 0 : c);
    else if (typeof c === "string") strings.add(c);
  };
  for (const a of atoms) {
    if (a.op === "eq") constant(a.operand);
    else if (a.op === "in") (a.operand as unknown[]).forEach(constant);
    else if (a.op === "prefix") prefixes.add(a.operand as string);
    else if (a.op !== "exists") numbers.add(a.operand as number);
  }
  const out: Value[] = [ABSENT, null, true, false, {}, []];
  const sorted = [...numbers].sort((x, y) => x - y);
  if (sorted.length === 0) out.push(0);
  else {
    const lo = sorted[0]!, hi = sorted[sorted.length - 1]!;
    out.push(lo > -Number.MAX_VALUE ? Math.max(-Number.MAX_VALUE, lo - Math.abs(lo) - 1) : lo);
    out.push(hi < Number.MAX_VALUE ? Math.min(Number.MAX_VALUE, hi + Math.abs(hi) + 1) : hi);
    sorted.forEach((n, i) => {
      out.push(n);
      if (i + 1 < sorted.length) {
        const m = sorted[i + 1]!;
        let mid = n / 2 + m / 2;
        if (!(n < mid && mid < m)) mid = nextUp(n); // should halving ever round onto an end
        if (n < mid && mid < m) out.push(mid);
      }
    });
  }
  out.push(...strings, ...prefixes);
  for (const base of prefixes) {
    // base + one character: no constant, and no prefix it did not already have.
    const next = new Set([...prefixes].filter((q) => q.length > base.length && q.startsWith(base)).map((q) => q.codePointAt(base.length)));
    for (let cp = 0x21; ; cp++) {
      const s = base + String.fromCodePoint(cp);
      if (!next.has(cp) && !strings.has(s)) {
        out.push(s);
        break;
      }
    }
  }
  return out;
}

/** Whether, for every value, B applying on this path implies A applying on it. */
function implies(b: Effect, bAtoms: readonly Atom[], a: Effect, aAtoms: readonly Atom[]): boolean {
  for (const v of representatives([...bAtoms, ...aAtoms])) {
    if (applies(b, bAtoms, v) && !applies(a, aAtoms, v)) return false;
  }
  return true;
}

const TOOL = JSON.stringify(["tool"]);

/**
 * The rules that can shadow others (complete conjunctions), by what their `tool` tests let through:
 * A can shadow B only if A applies where B does, in particular for a string tool B applies to. A
 * rule with an eq/in test on `tool` applies to a string tool only if it is one of those names, one
 * with a prefix test only to names under it. A lookup gives, in document order, every rule that may
 * apply to that tool (a superset: each is then checked in full), so the pairs checked are few.
 */
class ToolIndex {
  readonly complete: RuleSite[];
  private readonly exact = new Map<string, RuleSite[]>();
  private readonly prefixes = new Map<string, RuleSite[]>();
  private readonly other: RuleSite[] = [];

  constructor(rules: readonly RuleSite[], conj: readonly Conjunction[]) {
    this.complete = rules.filter((r) => conj[r.index]!.complete);
    const add = (map: Map<string, RuleSite[]>, key: string, r: RuleSite): void => {
      const list = map.get(key);
      if (list === undefined) map.set(key, [r]);
      else if (list[list.length - 1] !== r) list.push(r);
    };
    for (const r of this.complete) {
      const atoms = conj[r.index]!.paths.get(TOOL)?.atoms ?? [];
      const set = atoms.find((x) => x.op === "eq" || x.op === "in");
      const prefix = atoms.find((x) => x.op === "prefix");
      if (set !== undefined) {
        for (const name of set.op === "eq" ? [set.operand] : (set.operand as unknown[])) if (typeof name === "string") add(this.exact, name, r);
      } else if (prefix !== undefined) add(this.prefixes, prefix.operand as string, r);
      else this.other.push(r);
    }
  }

  lookup(tool: string): RuleSite[] {
    const found = [...this.other, ...(this.exact.get(tool) ?? [])];
    for (let k = 0; k <= tool.length; k++) found.push(...(this.prefixes.get(tool.slice(0, k)) ?? []));
    return [...new Set(found)].sort((x, y) => x.index - y.index);
  }
}

const RANK: Record<Effect, number> = { allow: 0, escalate: 1, deny: 2 };

/** Whether A's decision takes precedence over B's (spec section 4). */
export function wins(a: RuleSite, b: RuleSite): boolean {
  return RANK[a.effect] > RANK[b.effect] || (a.effect === b.effect && a.index < b.index);
}

export interface Shadowing {
  rule: RuleSite;
  /** The rule that applies whenever `rule` does and wins; null when `rule` can never apply. */
  by: RuleSite | null;
  /** For a rule that can never apply: the path whose tests can never all apply. */
  path?: string;
}

/** Every rule that can never decide, with the first rule (in document order) that shadows it. */
export function shadowedRules(rules: readonly RuleSite[]): Shadowing[] {
  const conj = rules.map(conjunction);
  const out: Shadowing[] = [];
  // Rules of a group share its tests, and many rules repeat a test: each implication once.
  const memo = new Map<string, boolean>();
  const NONE: PathTests = { text: "", atoms: [], id: "[]" };
  const holds = (b: Effect, bp: PathTests, a: Effect, ap: PathTests): boolean => {
    const key = `${b}\u0000${bp.id}\u0000${a}\u0000${ap.id}`;
    let r = memo.get(key);
    if (r === undefined) memo.set(key, (r = implies(b, bp.atoms, a, ap.atoms)));
    return r;
  };
  const index = new ToolIndex(rules, conj);
  const candidates = (b: RuleSite, cb: Conjunction): RuleSite[] => {
    const tool = cb.paths.get(TOOL);
    const w = representatives(tool?.atoms ?? []).find((v): v is string => typeof v === "string" && applies(b.effect, tool?.atoms ?? [], v));
    return w === undefined ? index.complete : index.lookup(w);
  };
  for (const b of rules) {
    const cb = conj[b.index]!;
    let never: string | undefined;
    for (const p of cb.paths.values()) {
      if (!representatives(p.atoms).some((v) => applies(b.effect, p.atoms, v))) {
        never = p.text;
        break;
      }
    }
    if (never !== undefined) {
      out.push({ rule: b, by: null, path: never });
      continue;
    }
    for (const a of candidates(b, cb)) {
      if (a === b || !wins(a, b)) continue;
      const ca = conj[a.index]!;
      let ok = true;
      for (const [key, p] of ca.paths) {
        if (!holds(b.effect, cb.paths.get(key) ?? NONE, a.effect, p)) {
          ok = false;
          break;
        }
      }
      if (ok) {
        out.push({ rule: b, by: a });
        break;
      }
    }
  }
  return out;
}

export function shadowFindings(rules: readonly RuleSite[]): Finding[] {
  return shadowedRules(rules).map((s): Finding => {
    const b = s.rule;
    if (s.by === null) {
      return {
        family: "shadowed", pointer: b.pointer, at: "value", rule: b.id,
        message: `rule '${b.id}' can never decide: its tests on ${s.path} can never ${b.effect === "allow" ? "all hold" : "apply"}`,
      };
    }
    const a = s.by;
    const why = a.effect === b.effect ? "earlier, same effect" : `${a.effect} wins over ${b.effect}`;
    return {
      family: "shadowed", pointer: b.pointer, at: "value", rule: b.id, by: a.id, byPointer: a.pointer,
      message: `rule '${b.id}' can never decide: rule '${a.id}' (${why}) applies whenever it does`,
    };
  });
}
