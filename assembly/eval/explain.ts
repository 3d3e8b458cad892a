// Explain (docs/abi.md, "Explain"): evaluates every candidate rule of the record being decided in
// full, no short-circuit, and writes a trace of every node. Separate from the decision's path:
// combinators are walked here over the compile-time trees (compile/program.ts) with the same
// Kleene logic as eval/condition.ts, while each operator is evaluated by eval/condition.ts itself
// at its node in the flat code, so a test cannot mean one thing to `evaluate` and another here.
// Nothing here allocates.

import {
  ENTRY_SIZE, EXPLAIN_ALL, EXPLAIN_ANY, EXPLAIN_COUNTER, EXPLAIN_FIELD, EXPLAIN_NOT, EXPLAIN_RULE, EXPLAIN_TEST,
  EXPLAIN_WHEN, RECORD_HEADER, TAG_NUMBER, TAG_STRING, TRACE_ENTRY_SIZE,
} from "../abi";
import { whenIsMapping } from "../compile/explain-tree";
import { TestOp } from "../compile/operators";
import { Cond, CondOp, Rule, Test } from "../compile/program";
import { ToolIndex } from "../compile/tool-index";
import { evalEntry, evalTest, FALSE, TRUE, UNKNOWN } from "./condition";
import { candidatesOf } from "./decide";
import { counterValues, recordBase, span } from "./record";

let cursor: usize = 0;
/** Tests written so far whose result is not TRUE (entries carry their subtree's count). */
let failed: i32 = 0;

// @ts-ignore: decorator
@inline function and(a: i32, b: i32): i32 { return a < b ? a : b; }
// @ts-ignore: decorator
@inline function or(a: i32, b: i32): i32 { return a > b ? a : b; }

function reserve(): usize {
  const e = cursor;
  cursor += TRACE_ENTRY_SIZE;
  return e;
}

/** Fills the entry at `e` once its subtree (everything written after it) is complete. */
function fill(e: usize, kind: u8, result: i32, op: u8, a: i32, id: i32, failedBefore: i32): void {
  store<u8>(e, kind);
  store<u8>(e, <u8>result, 1);
  store<u8>(e, op, 2);
  store<u8>(e, 0, 3);
  store<i32>(e, a, 4);
  store<i32>(e, id, 8);
  store<i32>(e, <i32>((cursor - e) / TRACE_ENTRY_SIZE), 12);
  store<i32>(e, failed - failedBefore, 16);
}

/** One operator of a field's or counter's test, on that value, as evalCond would compute it. */
function operator(c: Cond, t: Test): i32 {
  if (c.op == CondOp.Field) return evalEntry(t.code, recordBase + <usize>(RECORD_HEADER + c.slot * ENTRY_SIZE));
  // Spec section 8: an UNKNOWN value makes every test on it UNKNOWN, `exists` included.
  const v = counterValues + (<usize>c.slot << 4);
  if (load<u32>(v) == 0) return UNKNOWN;
  return evalTest(t.code, TAG_NUMBER, load<f64>(v, 8), 0, 0);
}

function testEntry(c: Cond, t: Test): i32 {
  const e = reserve();
  const before = failed;
  const r = operator(c, t);
  if (r != TRUE) failed++;
  fill(e, EXPLAIN_TEST, r, <u8>t.op, -1, t.id, before);
  return r;
}

function cond(c: Cond): i32 {
  const e = reserve();
  const before = failed;
  let r: i32;
  let kind: u8;
  let a: i32 = -1;
  if (c.op == CondOp.Field || c.op == CondOp.Counter) {
    // a mapping of operators is their conjunction; each is traced on its own
    kind = c.op == CondOp.Field ? EXPLAIN_FIELD : EXPLAIN_COUNTER;
    a = c.slot;
    const t = changetype<Test>(c.test);
    if (t.op == TestOp.All) {
      r = TRUE;
      const ops = t.ordered;
      for (let i = 0; i < ops.length; i++) r = and(r, testEntry(c, unchecked(ops[i])));
    } else r = testEntry(c, t);
  } else if (c.op == CondOp.Not) {
    kind = EXPLAIN_NOT;
    r = TRUE - cond(unchecked(c.ordered[0]));
  } else {
    const all = c.op == CondOp.All;
    kind = all ? EXPLAIN_ALL : EXPLAIN_ANY;
    r = all ? TRUE : FALSE;
    const children = c.ordered;
    for (let i = 0; i < children.length; i++) {
      const x = cond(unchecked(children[i]));
      r = all ? and(r, x) : or(r, x);
    }
  }
  fill(e, kind, r, 0, a, c.id, before);
  return r;
}

function rule(r: Rule): void {
  const e = reserve();
  const before = failed;
  let result = TRUE;
  for (let i = 0; i < r.whens.length; i++) {
    const w = reserve();
    const wBefore = failed;
    const c = unchecked(r.whens[i]);
    let x: i32;
    if (whenIsMapping(r, i)) {
      x = TRUE;
      for (let k = 0; k < c.ordered.length; k++) x = and(x, cond(unchecked(c.ordered[k])));
    } else x = cond(c);
    fill(w, EXPLAIN_WHEN, x, 0, i, unchecked(r.whenIds[i]), wBefore);
    result = and(result, x);
  }
  fill(e, EXPLAIN_RULE, result, r.effect, r.index, r.id, before);
}

/**
 * Writes at `out` the trace of the record at recordBase (beginRecord done, counter values set):
 * every candidate rule of the tool index, in document order. `marks` (one per rule) and `serial`
 * pick out the candidates without allocating. Returns the number of entries.
 */
export function explainRecord(index: ToolIndex, rules: Array<Rule>, marks: StaticArray<u32>, serial: u32, out: usize): i32 {
  const count = candidatesOf(index); // exactly as decide finds them
  const sources = index.sources;
  for (let s = 0; s < count; s++) {
    // a bucket (compile/tool-index.ts): a count per effect, then (index, code) pairs
    const b = unchecked(sources[s]);
    const n = load<i32>(b) + load<i32>(b, 4) + load<i32>(b, 8);
    for (let i = 0; i < n; i++) unchecked(marks[load<i32>(b + 12 + (<usize>i << 3))] = serial);
  }
  cursor = out;
  failed = 0;
  for (let i = 0; i < rules.length; i++) {
    if (unchecked(marks[i]) == serial) rule(unchecked(rules[i]));
  }
  return <i32>((cursor - out) / TRACE_ENTRY_SIZE);
}
