// Translates the part of Tollgate's policy language that json-rules-engine can express with its
// built-in operators into json-rules-engine rules, exactly: same decision and same deciding rule.
// docs/peers.md explains it.
//
//   * Facts: the flat tagged request of test/support/peers/peers-context.ts (t<k> tag, f<k> value per path),
//     passed to `engine.run(facts)`.
//   * One json-rules-engine rule per Tollgate rule (`name` = rule id, event `{type: effect}`).
//     As for Cedar, each three-valued condition becomes T ("is TRUE") and F ("is FALSE"), as
//     nested `all` / `any` / `not` conditions; an allow rule's conditions are T, a deny or
//     escalate rule's are `not: F` (TRUE or UNKNOWN fires: Tollgate's fail-closed rule).
//   * json-rules-engine fires every rule whose conditions hold (one Promise per decision); the
//     decision is read off the fired rules as Tollgate decides: the first deny rule in document
//     order, else the first escalate rule, else the first allow rule, else the default.
//   * Built-in operators only: equal/notEqual (eq, ne), in/notIn (in, not_in), lessThan... (gt,
//     gte, lt, lte, guarded by the number tag), contains/doesNotContain (contains on arrays, with
//     a non-string operand), and the v7 decorators someFact:/everyFact: (some/every with eq/in).
//   * Not translated: `prefix`, `suffix`, `glob`, `matches`, `len` and `contains` with a string
//     operand (a substring test when the value is a string): no built-in string operator
//     (custom operators would be our code, not the peer's); `some`/`every` with other tests.

import { Engine, type RuleProperties, type TopLevelCondition } from "json-rules-engine";
import { checkPath, elementList, flattenRules, subsetOf, testOps, Untranslatable, type Cond, type Effect, type FlatRule, type SkippedRule } from "./peers-context.js";

type C = Record<string, unknown>;

export interface RulesEngineTranslation {
  rules: RuleProperties[];
  ids: string[];
  effects: Effect[];
  skipped: SkippedRule[];
  defaultEffect: "allow" | "deny";
  paths: string[];
}

const TRUE: C = { all: [] };
const FALSE: C = { any: [] };
const and = (xs: C[]): C => (xs.length === 1 ? xs[0]! : { all: xs });
const or = (xs: C[]): C => (xs.length === 1 ? xs[0]! : { any: xs });
const not = (x: C): C => (x === TRUE ? FALSE : x === FALSE ? TRUE : { not: x });

interface TF { t: C; f: C }

function scalar(v: unknown): unknown {
  if (v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) return v;
  throw new Untranslatable(`operand ${JSON.stringify(v)} is not a scalar`);
}

class Translator {
  constructor(private readonly index: Map<string, number>) {}

  condition(c: Cond): TF {
    const parts: TF[] = [];
    for (const [key, value] of Object.entries(c)) {
      if (key === "all" || key === "any") {
        const subs = (value as Cond[]).map((x) => this.condition(x));
        if (subs.length === 0) parts.push(key === "all" ? { t: TRUE, f: FALSE } : { t: FALSE, f: TRUE });
        else parts.push(key === "all" ? { t: and(subs.map((x) => x.t)), f: or(subs.map((x) => x.f)) } : { t: or(subs.map((x) => x.t)), f: and(subs.map((x) => x.f)) });
      } else if (key === "not") {
        const sub = this.condition(value as Cond);
        parts.push({ t: sub.f, f: sub.t });
      } else parts.push(this.fieldTest(key, value));
    }
    if (parts.length === 0) return { t: TRUE, f: FALSE };
    return { t: and(parts.map((p) => p.t)), f: or(parts.map((p) => p.f)) };
  }

  private fieldTest(path: string, test: unknown): TF {
    checkPath(path);
    let k = this.index.get(path);
    if (k === undefined) this.index.set(path, (k = this.index.size));
    const tag = (operator: string, value: string): C => ({ fact: `t${k}`, operator, value });
    const fact = (operator: string, value: unknown): C => ({ fact: `f${k}`, operator, value });
    const present = tag("notEqual", "x");
    const parts: TF[] = [];
    for (const [op, operand] of Object.entries(testOps(test))) {
      if (op === "exists") {
        parts.push(operand === true ? { t: present, f: tag("equal", "x") } : { t: tag("equal", "x"), f: present });
        continue;
      }
      const v = this.valueTest(op, operand, tag, fact);
      parts.push({ t: and([present, v.t]), f: and([present, v.f]) });
    }
    return { t: and(parts.map((p) => p.t)), f: or(parts.map((p) => p.f)) };
  }

  private valueTest(op: string, operand: unknown, tag: (o: string, v: string) => C, fact: (o: string, v: unknown) => C): TF {
    const isArr = tag("equal", "a");
    switch (op) {
      case "eq":
        return { t: fact("equal", scalar(operand)), f: fact("notEqual", scalar(operand)) };
      case "ne":
        return { t: fact("notEqual", scalar(operand)), f: fact("equal", scalar(operand)) };
      case "in":
      case "not_in": {
        if (!Array.isArray(operand)) throw new Untranslatable(`${op} operand is not a list`);
        const list = operand.map(scalar);
        return op === "in" ? { t: fact("in", list), f: fact("notIn", list) } : { t: fact("notIn", list), f: fact("in", list) };
      }
      case "gt":
      case "gte":
      case "lt":
      case "lte": {
        if (typeof operand !== "number" || !Number.isFinite(operand)) throw new Untranslatable(`${op} operand is not a number`);
        const name = { gt: "greaterThan", gte: "greaterThanInclusive", lt: "lessThan", lte: "lessThanInclusive" }[op];
        const neg = { gt: "lessThanInclusive", gte: "lessThan", lt: "greaterThanInclusive", lte: "greaterThan" }[op];
        const isNum = tag("equal", "n");
        return { t: and([isNum, fact(name, operand)]), f: and([isNum, fact(neg, operand)]) };
      }
      case "contains":
        if (typeof operand === "string") throw new Untranslatable("contains with a string operand: no built-in substring operator");
        return { t: and([isArr, fact("contains", scalar(operand))]), f: and([isArr, fact("doesNotContain", scalar(operand))]) };
      case "some":
      case "every": {
        const list = elementList(op, operand);
        return op === "some"
          ? { t: and([isArr, fact("someFact:in", list)]), f: and([isArr, fact("everyFact:notIn", list)]) }
          : { t: and([isArr, fact("everyFact:in", list)]), f: and([isArr, fact("someFact:notIn", list)]) };
      }
      case "prefix":
      case "suffix":
      case "glob":
        throw new Untranslatable(`${op}: no built-in string operator`);
      case "matches":
        throw new Untranslatable("matches: no regular expressions");
      case "len":
        throw new Untranslatable("len: no length operator");
      default:
        throw new Untranslatable(`unknown operator ${op}`);
    }
  }
}

function ruleConditions(r: FlatRule, tr: Translator): TopLevelCondition {
  const tf = tr.condition({ all: r.conds.length > 0 ? r.conds : [{}] });
  const c = r.effect === "allow" ? tf.t : not(tf.f);
  // The top level must be all / any / not.
  return ("all" in c || "any" in c || "not" in c ? c : { all: [c] }) as TopLevelCondition;
}

/** Translates a (valid) manifest; rules that cannot be translated are skipped with the reason. */
export function translateRulesEngine(manifest: Record<string, unknown>): RulesEngineTranslation {
  const out: RulesEngineTranslation = { rules: [], ids: [], effects: [], skipped: [], defaultEffect: manifest.default === "allow" ? "allow" : "deny", paths: [] };
  const index = new Map<string, number>();
  for (const r of flattenRules((manifest.rules as unknown[]) ?? [])) {
    const local = new Map(index);
    try {
      const conditions = ruleConditions(r, new Translator(local));
      out.rules.push({ name: r.id, conditions, event: { type: r.effect } });
      out.ids.push(r.id);
      out.effects.push(r.effect);
      for (const [p, k] of local) index.set(p, k);
    } catch (e) {
      if (!(e instanceof Untranslatable)) throw e;
      out.skipped.push({ id: r.id, reason: e.message });
    }
  }
  out.paths = [...index.entries()].sort((a, b) => a[1] - b[1]).map(([p]) => p);
  return out;
}

/** The rules of a manifest that translate to json-rules-engine, as a manifest. */
export function rulesEngineSubset(manifest: Record<string, unknown>): { manifest: Record<string, unknown>; skipped: SkippedRule[] } {
  return subsetOf(manifest, (r) => ruleConditions(r, new Translator(new Map())));
}

export function rulesEngine(tr: RulesEngineTranslation): Engine {
  return new Engine(tr.rules, { allowUndefinedFacts: false });
}

/** Tollgate's decision from the rules json-rules-engine fired. */
export function decisionFromRulesEngine(fired: readonly string[], tr: RulesEngineTranslation, order: Map<string, number>): { decision: Effect; rule: string | null } {
  let best: Record<Effect, number> = { deny: Infinity, escalate: Infinity, allow: Infinity };
  for (const id of fired) {
    const i = order.get(id)!;
    const e = tr.effects[i]!;
    if (i < best[e]) best = { ...best, [e]: i };
  }
  for (const e of ["deny", "escalate", "allow"] as const) if (best[e] !== Infinity) return { decision: e, rule: tr.ids[best[e]]! };
  return { decision: tr.defaultEffect, rule: null };
}

export function rulesEngineOrder(tr: RulesEngineTranslation): Map<string, number> {
  return new Map(tr.ids.map((id, i) => [id, i]));
}

/** Runs the engine on one flat request and returns the fired rules' names. */
export async function runRulesEngine(engine: Engine, facts: Record<string, unknown>): Promise<string[]> {
  const r = await engine.run(facts);
  return r.results.map((x) => x.name as string);
}
