// What the casbin and json-rules-engine translations share (test/support/peers/casbin-translate.ts,
// test/support/peers/rules-engine-translate.ts), and with them the Cedar one (test/support/peers/cedar-translate.ts): the
// rules of a manifest flattened in document order, the translatable subset of a manifest, the
// (T, F) pair of a condition as text (casbin and Cedar), and the flat, type-tagged request built
// from an action (casbin and json-rules-engine).
//
// The request is keyed by the field paths the translated policy reads, numbered in sorted order:
//   t<k>: the type tag of the value at path k: "s" string, "n" number, "b" boolean, "z" null,
//         "a" array, "o" object, "x" absent (missing key, or an intermediate non-object);
//   f<k>: the value itself (null when absent).
// Both peers compare with JavaScript operators (`===`, `>`...), which never fail but coerce
// ("900" > 500 is true): every test is guarded by its tag, so a string never passes a numeric
// comparison and an absent field is neither TRUE nor FALSE for any test but `exists`.

import { ABSENT, isPlainObject, lookup, parsePath } from "../reference/path.js";

export type Cond = Record<string, unknown>;
export type Effect = "allow" | "deny" | "escalate";

export class Untranslatable extends Error {}

export interface FlatRule {
  id: string;
  effect: Effect;
  /** The enclosing groups' `when`s (outermost first) and the rule's own. */
  conds: Cond[];
}

export interface SkippedRule {
  id: string;
  reason: string;
}

export function flattenRules(items: unknown[], enclosing: Cond[] = [], out: FlatRule[] = []): FlatRule[] {
  for (const it of items as Record<string, unknown>[]) {
    if ("group" in it) flattenRules(it.rules as unknown[], it.when ? [...enclosing, it.when as Cond] : enclosing, out);
    else out.push({ id: it.id as string, effect: it.effect as Effect, conds: it.when ? [...enclosing, it.when as Cond] : enclosing });
  }
  return out;
}

/** The rules of a manifest that `canTranslate` accepts, as a manifest: the others and emptied groups dropped. */
export function subsetOf(manifest: Record<string, unknown>, canTranslate: (r: FlatRule) => void): { manifest: Record<string, unknown>; skipped: SkippedRule[] } {
  const skipped: SkippedRule[] = [];
  const keep = (items: unknown[], enclosing: Cond[]): unknown[] => {
    const out: unknown[] = [];
    for (const it of items as Record<string, unknown>[]) {
      if ("group" in it) {
        const inner = keep(it.rules as unknown[], it.when ? [...enclosing, it.when as Cond] : enclosing);
        if (inner.length > 0) out.push({ ...it, rules: inner });
      } else {
        try {
          canTranslate({ id: it.id as string, effect: it.effect as Effect, conds: it.when ? [...enclosing, it.when as Cond] : enclosing });
          out.push(it);
        } catch (e) {
          if (!(e instanceof Untranslatable)) throw e;
          skipped.push({ id: it.id as string, reason: e.message });
        }
      }
    }
    return out;
  };
  return { manifest: { ...manifest, rules: keep((manifest.rules as unknown[]) ?? [], []) }, skipped };
}

// Conditions as text (casbin matchers and Cedar `when` clauses share && || !).

export const and = (xs: string[]): string => (xs.length === 0 ? "true" : xs.length === 1 ? xs[0]! : xs.map((x) => `(${x})`).join(" && "));
export const or = (xs: string[]): string => (xs.length === 0 ? "false" : xs.length === 1 ? xs[0]! : xs.map((x) => `(${x})`).join(" || "));
export const not = (x: string): string => (x === "true" ? "false" : x === "false" ? "true" : `!(${x})`);

/** A condition as two expressions: T ("it is TRUE") and F ("it is FALSE"); UNKNOWN is neither. */
export interface TF {
  t: string;
  f: string;
}

/** T and F of a condition: all/any/not are Kleene's (T(all) = AND T, F(all) = OR F, ...); `fieldTest` gives a field test's. */
export function conditionTF(c: Cond, fieldTest: (path: string, test: unknown) => TF): TF {
  const parts: TF[] = [];
  for (const [key, value] of Object.entries(c)) {
    if (key === "all" || key === "any") {
      const subs = (value as Cond[]).map((x) => conditionTF(x, fieldTest));
      parts.push(key === "all" ? { t: and(subs.map((x) => x.t)), f: or(subs.map((x) => x.f)) } : { t: or(subs.map((x) => x.t)), f: and(subs.map((x) => x.f)) });
    } else if (key === "not") {
      const sub = conditionTF(value as Cond, fieldTest);
      parts.push({ t: sub.f, f: sub.t });
    } else parts.push(fieldTest(key, value));
  }
  return { t: and(parts.map((p) => p.t)), f: or(parts.map((p) => p.f)) };
}

export const isScalar = (v: unknown): v is string | number | boolean | null => v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean";

/** A field test in its long form: `{op: operand, ...}`. */
export function testOps(test: unknown): Record<string, unknown> {
  if (isScalar(test)) return { eq: test };
  if (Array.isArray(test)) return { in: test };
  return test as Record<string, unknown>;
}

/** The scalar list of a `some`/`every` element test that is eq or in (else throws). */
export function elementList(op: string, operand: unknown): (string | number | boolean | null)[] {
  if (isScalar(operand)) return [operand];
  if (Array.isArray(operand) && operand.every(isScalar)) return operand as (string | number | boolean | null)[];
  const o = operand as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === "eq" && isScalar(o.eq)) return [o.eq];
  if (keys.length === 1 && keys[0] === "in" && Array.isArray(o.in) && o.in.every(isScalar)) return o.in as (string | number | boolean | null)[];
  throw new Untranslatable(`${op} with ${keys.join("/")}`);
}

export function checkPath(path: string): void {
  // `$name` reads a counter (spec section 8): state over a sequence of actions, which no peer's
  // request of one action holds.
  if (path.startsWith("$")) throw new Untranslatable(`counter ${path}: state over a sequence of actions, not a field of the action`);
  try {
    parsePath(path);
  } catch (e) {
    throw new Untranslatable((e as Error).message);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function tagOf(v: unknown): string {
  if (typeof v === "string") return "s";
  if (typeof v === "number") return "n";
  if (typeof v === "boolean") return "b";
  if (v === null) return "z";
  if (Array.isArray(v)) return "a";
  return "o";
}

/** The flat request of an action (see the header), or why it cannot be encoded exactly. */
export function flatRequest(action: unknown, paths: readonly string[]): Record<string, unknown> | { error: string } {
  if (!isPlainObject(action)) return { error: "the action is not a JSON object" };
  const out: Record<string, unknown> = {};
  paths.forEach((p, k) => {
    const v = lookup(action, parsePath(p));
    if (v === ABSENT) {
      out[`t${k}`] = "x";
      out[`f${k}`] = null;
    } else {
      out[`t${k}`] = tagOf(v);
      out[`f${k}`] = v;
    }
  });
  for (const p of paths) {
    const v = lookup(action, parsePath(p));
    if (typeof v === "string" && LONE_SURROGATE.test(v)) return { error: `${p}: a string with a lone surrogate` };
  }
  return out;
}

export const isRequestError = (r: Record<string, unknown> | { error: string }): r is { error: string } => typeof (r as { error?: unknown }).error === "string" && Object.keys(r).length === 1;
