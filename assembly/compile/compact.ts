// Copies the compiled rules into one contiguous stretch of memory, rule by rule.
// The stub runtime never frees, so while a manifest is read its program objects end up
// interleaved with the JSON tree and validation garbage; a decision then touches many scattered
// cache lines. Copying each rule's condition tree right after the rule (document order) keeps
// what one decision reads close together. Matchers and hashed sets are shared, not copied.

import { Const } from "./constant";
import { Cond, Rule, Test } from "./program";

function copyConst(c: Const | null): Const | null {
  if (c == null) return null;
  const out = new Const();
  out.tag = c.tag;
  out.num = c.num;
  out.len = c.len;
  out.hash = c.hash;
  const buf = c.buf;
  if (buf != null) {
    const copy = buf.slice(0);
    out.buf = copy;
    out.ptr = changetype<usize>(copy);
  }
  return out;
}

function copyTest(t: Test): Test {
  const out = new Test(t.op);
  out.num = t.num;
  out.flag = t.flag;
  out.constant = copyConst(t.constant);
  out.set = t.set;
  out.matcher = t.matcher;
  out.substring = t.substring;
  out.pattern = t.pattern;
  const inner = t.inner;
  if (inner != null) out.inner = copyTest(inner);
  const n = t.children.length;
  if (n > 0) {
    const children = new StaticArray<Test>(n);
    for (let i = 0; i < n; i++) children[i] = copyTest(t.children[i]);
    out.children = children;
  }
  return out;
}

function copyCond(c: Cond): Cond {
  const out = new Cond(c.op);
  out.slot = c.slot;
  const test = c.test;
  if (test != null) out.test = copyTest(test);
  const n = c.children.length;
  if (n > 0) {
    const children = new StaticArray<Cond>(n);
    for (let i = 0; i < n; i++) children[i] = copyCond(c.children[i]);
    out.children = children;
  }
  return out;
}

export function compactRules(rules: Array<Rule>): Array<Rule> {
  const out = new Array<Rule>(rules.length);
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    const conds = new StaticArray<Cond>(r.conds.length);
    const copy = new Rule(r.index, r.effect, conds);
    for (let k = 0; k < conds.length; k++) conds[k] = copyCond(r.conds[k]);
    out[i] = copy;
  }
  return out;
}
