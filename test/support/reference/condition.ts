// Conditions and tests (spec section 3) with Kleene three-valued logic.
// A condition compiles once into a function of the read field values.

import { ABSENT, counterReferenceName, isCounterReference, parsePath } from "./path.js";
import { compileRegex } from "./regex.js";
import { globMatch, parseGlob } from "./glob.js";

export type Tri = "TRUE" | "FALSE" | "UNKNOWN";
const T: Tri = "TRUE", F: Tri = "FALSE", U: Tri = "UNKNOWN";
const tri = (b: boolean): Tri => (b ? T : F);

/** all / several keys / several operators / every. */
export function kleeneAll(parts: Tri[]): Tri {
  if (parts.includes(F)) return F;
  if (parts.includes(U)) return U;
  return T;
}

/** any / some. */
export function kleeneAny(parts: Tri[]): Tri {
  if (parts.includes(T)) return T;
  if (parts.includes(U)) return U;
  return F;
}

export function kleeneNot(t: Tri): Tri {
  return t === T ? F : t === F ? T : U;
}

/** A value (normalised, see input.ts) or ABSENT. */
type Test = (value: unknown) => Tri;

/** The value of a counter for one action (spec section 8): a number, or
 *  UNKNOWN_VALUE, on which every test is UNKNOWN (`exists` included). */
export const UNKNOWN_VALUE: unique symbol = Symbol("unknown counter value");
export type CounterValue = number | typeof UNKNOWN_VALUE;

/** A condition of the read field values and, for a policy with counters, the
 *  counters' values for this action (indexed as declared). */
export type Condition = (fieldValues: unknown[], counterValues?: readonly CounterValue[]) => Tri;

/** Assigns one slot per distinct parsed path. */
export class FieldTable {
  readonly fields: string[][] = [];
  private readonly index = new Map<string, number>();
  slot(pathText: string): number {
    const keys = parsePath(pathText);
    const id = JSON.stringify(keys);
    if (!this.index.has(id)) {
      this.index.set(id, this.fields.length);
      this.fields.push(keys);
    }
    return this.index.get(id)!;
  }
}

/**
 * `counters` maps each declared counter's name to its index; it is given for
 * the rules of a policy that declares counters, and then a plain `$NAME` key
 * reads that counter (spec section 8). Without it (a policy without
 * `counters`, or a counter's own `when`) every key is a field path, as before
 * section 8: on a valid manifest no `$` key can appear there, and the
 * differential tests' generator (which predates section 8) keeps its meaning.
 * The manifest is assumed valid (validate.ts checks the section 8 parts).
 */
export function compileCondition(
  cond: Record<string, unknown>,
  table: FieldTable,
  counters?: ReadonlyMap<string, number>,
): Condition {
  const parts: Condition[] = Object.entries(cond).map(([key, operand]): Condition => {
    if (key === "all") {
      const subs = (operand as Record<string, unknown>[]).map((c) => compileCondition(c, table, counters));
      return (vs, cs) => kleeneAll(subs.map((s) => s(vs, cs)));
    }
    if (key === "any") {
      const subs = (operand as Record<string, unknown>[]).map((c) => compileCondition(c, table, counters));
      return (vs, cs) => kleeneAny(subs.map((s) => s(vs, cs)));
    }
    if (key === "not") {
      const sub = compileCondition(operand as Record<string, unknown>, table, counters);
      return (vs, cs) => kleeneNot(sub(vs, cs));
    }
    if (counters !== undefined && isCounterReference(key)) {
      const name = counterReferenceName(key);
      const index = name === null ? undefined : counters.get(name);
      if (index === undefined) throw new Error(`invalid counter reference ${key}`);
      const test = compileTest(operand);
      return (_vs, cs) => {
        const v = cs![index];
        return v === UNKNOWN_VALUE ? U : test(v);
      };
    }
    const slot = table.slot(key);
    const test = compileTest(operand);
    return (vs) => test(vs[slot]);
  });
  return (vs, cs) => kleeneAll(parts.map((p) => p(vs, cs)));
}

/** Scalars compare by JSON type and value. Strings are well-formed on both
 *  sides, so UTF-16 equality is UTF-8 byte equality; arrays and objects are
 *  never === to a scalar; 0 === -0 as doubles. */
const eq = (value: unknown, scalar: unknown): boolean => value === scalar;

export function compileTest(test: unknown): Test {
  if (Array.isArray(test)) return compileTest({ in: test });
  if (typeof test !== "object" || test === null) return compileTest({ eq: test });
  const ops = Object.entries(test).map(([op, operand]) => compileOperator(op, operand));
  return (value) => kleeneAll(ops.map((o) => o(value)));
}

function compileOperator(op: string, operand: any): Test {
  if (op === "exists") return (v) => tri((v !== ABSENT) === operand);
  const test = compilePresent(op, operand);
  return (v) => (v === ABSENT ? U : test(v));
}

// Operators on a present value: UNKNOWN when they do not apply to its type.
function compilePresent(op: string, operand: any): Test {
  const isString = (v: unknown): v is string => typeof v === "string";
  const isNumber = (v: unknown): v is number => typeof v === "number";
  switch (op) {
    case "eq": return (v) => tri(eq(v, operand));
    case "ne": return (v) => tri(!eq(v, operand));
    case "in": return (v) => tri(operand.some((x: unknown) => eq(v, x)));
    case "not_in": return (v) => tri(!operand.some((x: unknown) => eq(v, x)));
    case "gt": return (v) => (isNumber(v) ? tri(v > operand) : U);
    case "gte": return (v) => (isNumber(v) ? tri(v >= operand) : U);
    case "lt": return (v) => (isNumber(v) ? tri(v < operand) : U);
    case "lte": return (v) => (isNumber(v) ? tri(v <= operand) : U);
    case "prefix": return (v) => (isString(v) ? tri(v.startsWith(operand)) : U);
    case "suffix": return (v) => (isString(v) ? tri(v.endsWith(operand)) : U);
    case "contains":
      return (v) => {
        if (isString(v)) return isString(operand) ? tri(v.includes(operand)) : U;
        if (Array.isArray(v)) return tri(v.some((e) => eq(e, operand)));
        return U;
      };
    case "glob": {
      const tokens = parseGlob(operand);
      return (v) => (isString(v) ? tri(globMatch(tokens, v)) : U);
    }
    case "matches": {
      const re = compileRegex(operand);
      return (v) => (isString(v) ? tri(re.test(v)) : U);
    }
    case "len": {
      const sub = compileTest(operand);
      return (v) => {
        if (isString(v)) return sub(Array.from(v).length); // code points
        if (Array.isArray(v)) return sub(v.length);
        return U;
      };
    }
    case "some": {
      const sub = compileTest(operand);
      return (v) => (Array.isArray(v) ? kleeneAny(v.map(sub)) : U);
    }
    case "every": {
      const sub = compileTest(operand);
      return (v) => (Array.isArray(v) ? kleeneAll(v.map(sub)) : U);
    }
    default:
      throw new Error(`unknown operator ${op}`);
  }
}
