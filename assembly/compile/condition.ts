// Validates one condition (spec section 3) and compiles it into a Cond tree.
// Errors go to the ErrorList with a JSON pointer; a condition with errors compiles to null.

import { MAX_CONDITION_DEPTH, MAX_LIST_ITEMS, MAX_PATTERN_CHARS } from "../abi";
import { JKind, JValue } from "../json/value";
import { child, childIndex, ErrorList } from "../common/diagnostics";
import { parsePath } from "../common/path";
import { didYouMean } from "../common/suggest";
import { codePoints } from "../common/text";
import { compileGlob } from "../glob";
import { CompiledPattern, compileRegex } from "../regex/index";
import { Const } from "./constant";
import { FieldTable } from "./fields";
import { Cond, CondOp, Test, TestOp } from "./program";
import { Substring } from "./substring";
import { ValueSet } from "./value-set";

const OPERATORS: Array<string> = [
  "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "suffix",
  "contains", "glob", "matches", "exists", "len", "some", "every",
];

const COMBINATORS: Array<string> = ["all", "any", "not"];

export class ConditionCompiler {
  /** One matcher per distinct pattern: policies repeat the same regex across many rules. */
  private patterns: Map<string, CompiledPattern> = new Map();

  constructor(private errors: ErrorList, private fields: FieldTable) {}

  /** Compiles the condition at `ptr`; `depth` counts enclosing conditions and tests. */
  condition(v: JValue, ptr: string, depth: i32): Cond | null {
    if (depth > MAX_CONDITION_DEPTH) {
      this.errors.value(ptr, "condition nesting is deeper than " + MAX_CONDITION_DEPTH.toString() + " levels");
      return null;
    }
    if (!v.isObject) {
      this.errors.value(ptr, "a condition must be a mapping of field paths and combinators (all, any, not), not " + v.typeName);
      return null;
    }
    if (v.keys.length == 0) {
      this.errors.value(ptr, "a condition must not be empty: omit 'when' for a rule that always applies");
      return null;
    }
    const parts = new Array<Cond>();
    let ok = true;
    for (let i = 0; i < v.keys.length; i++) {
      const key = v.keys[i];
      const value = v.values[i];
      const p = child(ptr, key);
      let c: Cond | null;
      if (key == "all" || key == "any") c = this.list(key, value, p, depth);
      else if (key == "not") {
        const inner = this.condition(value, p, depth + 1);
        if (inner == null) c = null;
        else {
          c = new Cond(CondOp.Not);
          c.children = StaticArray.fromArray<Cond>([inner]);
        }
      } else c = this.field(key, value, p, depth);
      if (c == null) ok = false;
      else parts.push(c);
    }
    if (!ok) return null;
    if (parts.length == 1) return parts[0];
    const all = new Cond(CondOp.All);
    all.children = StaticArray.fromArray<Cond>(cheapestFirst(parts));
    return all;
  }

  private list(key: string, v: JValue, ptr: string, depth: i32): Cond | null {
    if (!v.isArray) {
      this.errors.value(ptr, "'" + key + "' takes a list of conditions, not " + v.typeName);
      return null;
    }
    if (v.items.length == 0) {
      this.errors.value(ptr, "'" + key + "' needs at least one condition");
      return null;
    }
    const parts = new Array<Cond>();
    let ok = true;
    for (let i = 0; i < v.items.length; i++) {
      const c = this.condition(v.items[i], childIndex(ptr, i), depth + 1);
      if (c == null) ok = false;
      else parts.push(c);
    }
    if (!ok) return null;
    const c = new Cond(key == "all" ? CondOp.All : CondOp.Any);
    c.children = StaticArray.fromArray<Cond>(cheapestFirst(parts));
    return c;
  }

  private field(key: string, v: JValue, ptr: string, depth: i32): Cond | null {
    const path = parsePath(key);
    if (path.error != null) {
      this.errors.key(ptr, <string>path.error);
      return null;
    }
    // A field's test sits at its condition's level; only tests nested in len/some/every go deeper.
    const test = this.test(v, ptr, depth);
    if (test == null) return null;
    const c = new Cond(CondOp.Field);
    c.slot = this.fields.slotOf(path.segments);
    c.test = test;
    return c;
  }

  /** A test: a scalar (eq), a list of scalars (in) or a mapping of operators. */
  test(v: JValue, ptr: string, depth: i32): Test | null {
    if (depth > MAX_CONDITION_DEPTH) {
      this.errors.value(ptr, "condition nesting is deeper than " + MAX_CONDITION_DEPTH.toString() + " levels");
      return null;
    }
    if (v.isScalar) {
      const t = new Test(TestOp.Eq);
      t.constant = Const.fromJson(v);
      return t;
    }
    if (v.isArray) return this.inList(TestOp.In, "in", v, ptr, true);
    if (v.keys.length == 0) {
      this.errors.value(ptr, "a test must not be empty: give a value, a list or operators such as eq, in, gt");
      return null;
    }
    const parts = new Array<Test>();
    let ok = true;
    for (let i = 0; i < v.keys.length; i++) {
      const t = this.operator(v.keys[i], v.values[i], child(ptr, v.keys[i]), depth);
      if (t == null) ok = false;
      else parts.push(t);
    }
    if (!ok) return null;
    if (parts.length == 1) return parts[0];
    const all = new Test(TestOp.All);
    parts.sort((a: Test, b: Test): i32 => testCost(a) - testCost(b));
    all.children = StaticArray.fromArray<Test>(parts);
    return all;
  }

  private operator(op: string, v: JValue, ptr: string, depth: i32): Test | null {
    if (op == "eq" || op == "ne" || op == "contains") {
      if (!v.isScalar) return this.expected(ptr, op, "a scalar (string, number, boolean or null)", v);
      const t = new Test(op == "eq" ? TestOp.Eq : (op == "ne" ? TestOp.Ne : TestOp.Contains));
      const c = Const.fromJson(v);
      t.constant = c;
      if (t.op == TestOp.Contains && v.isString) t.substring = new Substring(c.ptr, c.len);
      return t;
    }
    if (op == "in" || op == "not_in") {
      return this.inList(op == "in" ? TestOp.In : TestOp.NotIn, op, v, ptr, false);
    }
    if (op == "gt" || op == "gte" || op == "lt" || op == "lte") {
      if (!v.isNumber) return this.expected(ptr, op, "a number", v);
      const t = new Test(op == "gt" ? TestOp.Gt : op == "gte" ? TestOp.Gte : op == "lt" ? TestOp.Lt : TestOp.Lte);
      t.num = v.num;
      return t;
    }
    if (op == "prefix" || op == "suffix") {
      if (!v.isString) return this.expected(ptr, op, "a string", v);
      const t = new Test(op == "prefix" ? TestOp.Prefix : TestOp.Suffix);
      t.constant = Const.fromJson(v);
      return t;
    }
    if (op == "glob" || op == "matches") {
      if (!v.isString) return this.expected(ptr, op, op == "glob" ? "a glob pattern (a string)" : "a regular expression (a string)", v);
      if (codePoints(v.str) > MAX_PATTERN_CHARS) {
        this.errors.value(ptr, (op == "glob" ? "glob pattern" : "regular expression") + " is longer than " + MAX_PATTERN_CHARS.toString() + " characters");
        return null;
      }
      const key = op + "\u0000" + v.str;
      let compiled: CompiledPattern;
      if (this.patterns.has(key)) compiled = this.patterns.get(key);
      else {
        compiled = op == "glob" ? compileGlob(v.str) : compileRegex(v.str);
        this.patterns.set(key, compiled);
      }
      if (compiled.matcher == null) {
        this.errors.value(ptr, <string>compiled.error);
        return null;
      }
      const t = new Test(op == "glob" ? TestOp.Glob : TestOp.Matches);
      t.matcher = compiled.matcher;
      t.pattern = v.str;
      return t;
    }
    if (op == "exists") {
      if (!v.isBool) return this.expected(ptr, op, "true or false", v);
      const t = new Test(TestOp.Exists);
      t.flag = v.kind == JKind.True;
      return t;
    }
    if (op == "len" || op == "some" || op == "every") {
      const inner = this.test(v, ptr, depth + 1);
      if (inner == null) return null;
      const t = new Test(op == "len" ? TestOp.Len : op == "some" ? TestOp.Some : TestOp.Every);
      t.inner = inner;
      return t;
    }
    const hint = COMBINATORS.includes(op)
      ? " ('" + op + "' is a combinator: it belongs in a condition, not in a field's test)"
      : didYouMean(op, OPERATORS);
    this.errors.key(ptr, "unknown operator '" + op + "'" + hint);
    return null;
  }

  private inList(op: TestOp, name: string, v: JValue, ptr: string, shorthand: bool): Test | null {
    if (!v.isArray) return this.expected(ptr, name, "a non-empty list of scalars", v);
    if (v.items.length == 0) {
      this.errors.value(ptr, (shorthand ? "a list test" : "'" + name + "'") + " needs a non-empty list");
      return null;
    }
    if (v.items.length > MAX_LIST_ITEMS) {
      this.errors.value(ptr, "list has " + v.items.length.toString() + " items; the limit is " + MAX_LIST_ITEMS.toString());
      return null;
    }
    const consts = new Array<Const>(v.items.length);
    for (let i = 0; i < v.items.length; i++) {
      const item = v.items[i];
      if (!item.isScalar) {
        this.errors.value(childIndex(ptr, i), "list items must be scalars (string, number, boolean or null), not " + item.typeName);
        return null;
      }
      consts[i] = Const.fromJson(item);
    }
    const t = new Test(op);
    t.set = new ValueSet(consts);
    return t;
  }

  private expected(ptr: string, op: string, what: string, v: JValue): Test | null {
    this.errors.value(ptr, "'" + op + "' takes " + what + ", not " + v.typeName);
    return null;
  }
}

// Kleene all/any give the same value in any order and evaluation has no side effects, so
// the cheap parts of a conjunction or disjunction are tried first: they usually settle it.

function cheapestFirst(parts: Array<Cond>): Array<Cond> {
  parts.sort((a: Cond, b: Cond): i32 => condCost(a) - condCost(b));
  return parts;
}

export function condCost(c: Cond): i32 {
  if (c.op == CondOp.Field) return testCost(changetype<Test>(c.test));
  let sum = 1;
  for (let i = 0; i < c.children.length; i++) sum += condCost(c.children[i]);
  return min(sum, 1 << 20);
}

export function testCost(t: Test): i32 {
  switch (t.op) {
    case TestOp.All: {
      let sum = 0;
      for (let i = 0; i < t.children.length; i++) sum += testCost(t.children[i]);
      return min(sum, 1 << 20);
    }
    case TestOp.In: case TestOp.NotIn: case TestOp.Prefix: case TestOp.Suffix: return 2;
    case TestOp.Contains: return 4;
    case TestOp.Glob: return 8;
    case TestOp.Matches: return 16;
    case TestOp.Len: return 2 + testCost(changetype<Test>(t.inner));
    case TestOp.Some: case TestOp.Every: return min(8 + 4 * testCost(changetype<Test>(t.inner)), 1 << 20);
    default: return 1;
  }
}
