// What explain (eval/explain.ts) needs beyond the flat code, prepared on the first explain call
// (a policy that is never explained pays nothing): every node's children in source order, an id
// per JSON pointer with the table of those pointers (UTF-8 JSON, for the host), and how many trace
// entries the largest possible trace takes.

import { JsonWriter } from "../json/writer";
import { TestOp } from "./operators";
import { Cond, CondOp, Rule, Test } from "./program";

export class ExplainTable {
  /** The pointers as a JSON array of strings: id i is the i-th. */
  json: ArrayBuffer = new ArrayBuffer(0);
  /** Trace entries of every rule together: no trace can be longer. */
  maxEntries: i32 = 0;
}

class Builder {
  ids: Map<string, i32> = new Map();
  pointers: Array<string> = [];

  id(pointer: string): i32 {
    if (this.ids.has(pointer)) return this.ids.get(pointer);
    const id = this.pointers.length;
    this.pointers.push(pointer);
    this.ids.set(pointer, id);
    return id;
  }

  /** Prepares a cond once (groups share theirs) and returns its trace entries. */
  cond(c: Cond): i32 {
    if (c.id < 0) {
      c.id = this.id(c.pointer);
      c.ordered = bySeq<Cond>(c.children);
      if (c.op == CondOp.Field || c.op == CondOp.Counter) this.test(changetype<Test>(c.test));
    }
    if (c.op == CondOp.Field || c.op == CondOp.Counter) {
      const t = changetype<Test>(c.test);
      return 1 + (t.op == TestOp.All ? t.children.length : 1);
    }
    let n = 1;
    for (let i = 0; i < c.ordered.length; i++) n += this.cond(c.ordered[i]);
    return n;
  }

  test(t: Test): void {
    t.id = this.id(t.pointer);
    t.ordered = bySeq<Test>(t.children);
    for (let i = 0; i < t.ordered.length; i++) this.test(t.ordered[i]);
  }
}

/** Children in creation order, which is source order (compile/program.ts, `seq`). */
function bySeq<T>(children: StaticArray<T>): StaticArray<T> {
  const out = StaticArray.slice<T>(children);
  // insertion sort: a handful of children, and AssemblyScript's sort is not stable anyway
  for (let i = 1; i < out.length; i++) {
    const x = out[i];
    let j = i - 1;
    // @ts-ignore: T is Cond or Test, both with seq
    while (j >= 0 && out[j].seq > x.seq) {
      out[j + 1] = out[j];
      j--;
    }
    out[j + 1] = x;
  }
  return out;
}

/** Whether a rule's `when` at `i` is a mapping of several keys (its conjunction, written at the
 *  `when` itself): the trace then lists those keys directly under the `when`. */
export function whenIsMapping(r: Rule, i: i32): bool {
  const c = r.whens[i];
  return c.op == CondOp.All && c.pointer == r.whenPointers[i];
}

export function prepareExplain(rules: Array<Rule>): ExplainTable {
  const b = new Builder();
  const table = new ExplainTable();
  let total = 0;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    r.id = b.id(r.pointer);
    const ids = new StaticArray<i32>(r.whens.length);
    let n = 1;
    for (let k = 0; k < r.whens.length; k++) {
      ids[k] = b.id(r.whenPointers[k]);
      n += 1 + b.cond(r.whens[k]) - (whenIsMapping(r, k) ? 1 : 0);
    }
    r.whenIds = ids;
    total += n;
  }
  table.maxEntries = total;
  const w = new JsonWriter();
  w.raw("[");
  for (let i = 0; i < b.pointers.length; i++) {
    if (i > 0) w.raw(",");
    w.str(b.pointers[i]);
  }
  w.raw("]");
  table.json = String.UTF8.encode(w.toString());
  return table;
}
