// Validates one condition (spec section 3) and compiles it into a Cond tree.
// Errors go to the ErrorList with a JSON pointer; a condition with errors compiles to null.

import { MAX_CONDITION_DEPTH, MAX_LIST_ITEMS, MAX_PATTERN_CHARS } from "../abi";
import { JKind, JValue } from "../json/value";
import { child, childIndex, ErrorList } from "../common/diagnostics";
import { ParsedPath, parsePath } from "../common/path";
import { didYouMean } from "../common/suggest";
import { codePoints } from "../common/text";
import { compileGlob } from "../glob";
import { CompiledPattern, compileRegex } from "../regex/index";
import { Const } from "./constant";
import { FieldTable } from "./fields";
import { COST_CAP, Operand, Operator, operatorNamed, operatorNames, operatorOf, TestOp } from "./operators";
import { Cond, CondOp, Test } from "./program";
import { Substring } from "./substring";
import { ValueSet } from "./value-set";

const OPERATOR_NAMES: Array<string> = operatorNames();

// scripts/gen-schema.mjs reads this declaration (a plain array of string literals).
const COMBINATORS: Array<string> = ["all", "any", "not"];
/** Program states of all the distinct patterns of one policy: a state costs its matcher about
 *  200 bytes of core memory, never freed under the stub runtime, so a policy of many large
 *  patterns would exhaust it (a trap, not a policy error: 200 patterns of 4,000 '.' did). 16
 *  patterns of the largest size fit, or 32 of 4,000 '.'; the 10,000-rule benchmark policy's 194
 *  distinct patterns use a few thousand. */
const MAX_POLICY_PATTERN_STATES: i64 = 1 << 20;

function tooManyStates(detail: string): string {
  return "the policy's regular expressions and globs compile to more than " + MAX_POLICY_PATTERN_STATES.toString() +
    " program states in all" + detail + ": use fewer or simpler patterns";
}

/** The counters a condition may reference (spec section 8, "Names and references"). */
export class CounterNames {
  names: Array<string> = [];
  index: Map<string, i32> = new Map();
  /** Per counter: whether a rule references it (a decision carries its value). */
  referenced: Array<bool> = [];
  /** The counter whose own `when` is being compiled (no reference is allowed there), or null. */
  inCounter: string | null = null;
}

/** NAME of a `$NAME` reference with no further segments (nothing of `.[]" ` after `$`), else null. */
function referenceName(key: string): string | null {
  for (let i = 1; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c == 0x2e || c == 0x5b || c == 0x5d || c == 0x22 || c == 0x27 || c == 0x20) return null;
  }
  return key.substring(1);
}

/** The first segment of a reference written with further segments, for the bracket hint. */
function firstSegment(key: string): string {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c == 0x2e || c == 0x5b) return key.substring(0, i);
  }
  return key;
}

export class ConditionCompiler {
  /** One matcher per distinct pattern: policies repeat the same regex across many rules. */
  private patterns: Map<string, CompiledPattern> = new Map();
  /** Program states of the distinct patterns compiled so far (MAX_POLICY_PATTERN_STATES). */
  private patternStates: i64 = 0;
  /** Parsed field paths by their text: thousands of rules test the same few fields. */
  private paths: Map<string, ParsedPath> = new Map();

  constructor(private errors: ErrorList, private fields: FieldTable, private counters: CounterNames = new CounterNames()) {}

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
          c.pointer = p;
          c.children = StaticArray.fromArray<Cond>([inner]);
        }
      } else c = this.field(key, value, p, depth);
      if (c == null) ok = false;
      else parts.push(c);
    }
    if (!ok) return null;
    if (parts.length == 1) return parts[0];
    const all = new Cond(CondOp.All); // a mapping of several keys: their conjunction
    all.pointer = ptr;
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
    c.pointer = ptr;
    c.children = StaticArray.fromArray<Cond>(cheapestFirst(parts));
    return c;
  }

  private field(key: string, v: JValue, ptr: string, depth: i32): Cond | null {
    // A plain first segment starting with '$' is a counter reference, never an action key.
    if (key.length > 0 && key.charCodeAt(0) == 0x24) return this.reference(key, v, ptr, depth);
    let path: ParsedPath;
    if (this.paths.has(key)) path = this.paths.get(key);
    else {
      path = parsePath(key);
      this.paths.set(key, path);
    }
    if (path.error != null) {
      this.errors.key(ptr, <string>path.error);
      return null;
    }
    // A field's test sits at its condition's level; only tests nested in len/some/every go deeper.
    const test = this.test(v, ptr, depth);
    if (test == null) return null;
    const c = new Cond(CondOp.Field);
    c.pointer = ptr;
    c.slot = this.fields.slotOf(path.segments);
    c.test = test;
    return c;
  }

  /** `$NAME: test`: the test applies to the counter's value (eval/counters.ts). */
  private reference(key: string, v: JValue, ptr: string, depth: i32): Cond | null {
    const name = referenceName(key);
    const counters = this.counters;
    let ok = true;
    if (counters.inCounter != null) {
      this.errors.key(ptr, "counter '" + <string>counters.inCounter + "': a counter's 'when' cannot read counters ('" + key + "')");
      ok = false;
    } else if (name == null) {
      const first = firstSegment(key);
      this.errors.key(ptr, "a counter reference is '$NAME' with no further segments, not '" + key + "' (an action key that starts with '$' is written [\"" + first + "\"])");
      ok = false;
    } else if (!counters.index.has(name)) {
      this.errors.key(ptr, "unknown counter '" + key + "': declare it under 'counters'" + didYouMean(name, counters.names, "$"));
      ok = false;
    }
    const test = this.test(v, ptr, depth);
    if (test == null || !ok) return null;
    const c = new Cond(CondOp.Counter);
    c.pointer = ptr;
    c.slot = counters.index.get(<string>name);
    counters.referenced[c.slot] = true;
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
      t.pointer = ptr;
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
    all.pointer = ptr;
    parts.sort((a: Test, b: Test): i32 => testCost(a) - testCost(b));
    all.children = StaticArray.fromArray<Test>(parts);
    return all;
  }

  /** One operator of a test mapping: its operand is validated and stored as its row's kind says. */
  private operator(name: string, v: JValue, ptr: string, depth: i32): Test | null {
    const t = this.operand(name, v, ptr, depth);
    if (t != null) t.pointer = ptr;
    return t;
  }

  private operand(name: string, v: JValue, ptr: string, depth: i32): Test | null {
    const row = operatorNamed(name);
    if (row == null) {
      const hint = COMBINATORS.includes(name)
        ? " ('" + name + "' is a combinator: it belongs in a condition, not in a field's test)"
        : didYouMean(name, OPERATOR_NAMES);
      this.errors.key(ptr, "unknown operator '" + name + "'" + hint);
      return null;
    }
    const kind = row.operand;
    switch (kind) {
      case Operand.Scalar: case Operand.Needle: {
        if (!v.isScalar) return this.expected(ptr, name, operandText(kind), v);
        const t = new Test(row.op);
        const c = Const.fromJson(v);
        t.constant = c;
        if (kind == Operand.Needle && v.isString) t.substring = new Substring(c.ptr, c.len);
        return t;
      }
      case Operand.List: return this.inList(row.op, name, v, ptr, false);
      case Operand.Number: {
        if (!v.isNumber) return this.expected(ptr, name, operandText(kind), v);
        const t = new Test(row.op);
        t.num = v.num;
        return t;
      }
      case Operand.String: {
        if (!v.isString) return this.expected(ptr, name, operandText(kind), v);
        const t = new Test(row.op);
        t.constant = Const.fromJson(v);
        return t;
      }
      case Operand.Glob: case Operand.Regex: return this.pattern(row, v, ptr);
      case Operand.Bool: {
        if (!v.isBool) return this.expected(ptr, name, operandText(kind), v);
        const t = new Test(row.op);
        t.flag = v.kind == JKind.True;
        return t;
      }
      default: { // Operand.Test
        const inner = this.test(v, ptr, depth + 1);
        if (inner == null) return null;
        const t = new Test(row.op);
        t.inner = inner;
        return t;
      }
    }
  }

  /** A glob or regex operand: compiled once per distinct pattern. */
  private pattern(row: Operator, v: JValue, ptr: string): Test | null {
    const glob = row.operand == Operand.Glob;
    if (!v.isString) return this.expected(ptr, row.name, operandText(row.operand), v);
    if (codePoints(v.str) > MAX_PATTERN_CHARS) {
      this.errors.value(ptr, (glob ? "glob pattern" : "regular expression") + " is longer than " + MAX_PATTERN_CHARS.toString() + " characters");
      return null;
    }
    const key = row.name + "\u0000" + v.str;
    let compiled: CompiledPattern;
    if (this.patterns.has(key)) compiled = this.patterns.get(key);
    else if (this.patternStates > MAX_POLICY_PATTERN_STATES) {
      // over the budget already (and reported): not compiled, so memory stops growing here
      compiled = CompiledPattern.fail(tooManyStates(""));
      this.patterns.set(key, compiled);
    } else {
      compiled = glob ? compileGlob(v.str) : compileRegex(v.str);
      if (compiled.matcher != null) {
        this.patternStates += compiled.matcher!.prog.nstates;
        if (this.patternStates > MAX_POLICY_PATTERN_STATES) {
          compiled = CompiledPattern.fail(tooManyStates(" (this one brings them to " + this.patternStates.toString() + ")"));
        }
      }
      this.patterns.set(key, compiled);
    }
    if (compiled.matcher == null) {
      this.errors.value(ptr, <string>compiled.error);
      return null;
    }
    const t = new Test(row.op);
    t.matcher = compiled.matcher;
    t.pattern = v.str;
    return t;
  }

  private inList(op: TestOp, name: string, v: JValue, ptr: string, shorthand: bool): Test | null {
    if (!v.isArray) return this.expected(ptr, name, operandText(Operand.List), v);
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
    t.pointer = ptr;
    t.set = new ValueSet(consts);
    return t;
  }

  private expected(ptr: string, op: string, what: string, v: JValue): Test | null {
    this.errors.value(ptr, "'" + op + "' takes " + what + ", not " + v.typeName);
    return null;
  }
}

/** What an operand kind takes, for "'gt' takes a number, not string". */
function operandText(kind: Operand): string {
  switch (kind) {
    case Operand.Scalar: case Operand.Needle: return "a scalar (string, number, boolean or null)";
    case Operand.List: return "a non-empty list of scalars";
    case Operand.Number: return "a number";
    case Operand.String: return "a string";
    case Operand.Glob: return "a glob pattern (a string)";
    case Operand.Regex: return "a regular expression (a string)";
    case Operand.Bool: return "true or false";
    default: return "a test";
  }
}

// Kleene all/any give the same value in any order and evaluation has no side effects, so
// the cheap parts of a conjunction or disjunction are tried first: they usually settle it.

function cheapestFirst(parts: Array<Cond>): Array<Cond> {
  parts.sort((a: Cond, b: Cond): i32 => condCost(a) - condCost(b));
  return parts;
}

export function condCost(c: Cond): i32 {
  if (c.op == CondOp.Field || c.op == CondOp.Counter) return testCost(changetype<Test>(c.test));
  let sum = 1;
  for (let i = 0; i < c.children.length; i++) sum += condCost(c.children[i]);
  return min(sum, COST_CAP);
}

/** A test's cost from its operator's row (compile/operators.ts); a mapping sums its operators. */
export function testCost(t: Test): i32 {
  if (t.op == TestOp.All) {
    let sum = 0;
    for (let i = 0; i < t.children.length; i++) sum += testCost(t.children[i]);
    return min(sum, COST_CAP);
  }
  const row = operatorOf(t.op);
  if (row.operand != Operand.Test) return row.cost;
  // len adds its inner test's cost; some/every multiply it, capped. The order of conjuncts
  // decides which bad offset of a malformed record is met first, so these figures must stay.
  const cost = row.cost + row.perInner * testCost(changetype<Test>(t.inner));
  return row.perInner > 1 ? min(cost, COST_CAP) : cost;
}
