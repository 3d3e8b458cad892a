// Kleene three-valued evaluation of conditions and tests (spec section 3) over encoded values.
// FALSE = 0, UNKNOWN = 1, TRUE = 2, so `all` is a minimum, `any` a maximum and `not` is 2 - x.
// Nothing here allocates.

import { ENTRY_SIZE, RECORD_HEADER, TAG_ABSENT, TAG_ARRAY, TAG_NUMBER, TAG_STRING } from "../abi";
import { equalsConst } from "../compile/constant";
import { Cond, CondOp, Test, TestOp } from "../compile/program";
import { recordBase, recordSerial, span } from "./record";

export const FALSE: i32 = 0;
export const UNKNOWN: i32 = 1;
export const TRUE: i32 = 2;

// @ts-ignore: decorator
@inline function truth(b: bool): i32 { return b ? TRUE : FALSE; }

export function evalConds(conds: StaticArray<Cond>): i32 {
  let acc = TRUE;
  for (let i = 0, n = conds.length; i < n; i++) {
    const r = evalCond(unchecked(conds[i]));
    if (r == FALSE) return FALSE;
    if (r < acc) acc = r;
  }
  return acc;
}

export function evalCond(c: Cond): i32 {
  switch (c.op) {
    case CondOp.Field: {
      const e = recordBase + <usize>(RECORD_HEADER + c.slot * ENTRY_SIZE);
      return evalEntry(changetype<Test>(c.test), e);
    }
    case CondOp.All: return evalConds(c.children);
    case CondOp.Any: {
      let acc = FALSE;
      const ch = c.children;
      for (let i = 0, n = ch.length; i < n; i++) {
        const r = evalCond(unchecked(ch[i]));
        if (r == TRUE) return TRUE;
        if (r > acc) acc = r;
      }
      return acc;
    }
    default: return TRUE - evalCond(unchecked(c.children[0])); // Not
  }
}

/** Evaluates a test on the 16-byte value entry at absolute address `e`. */
function evalEntry(t: Test, e: usize): i32 {
  const tag = load<u8>(e);
  let num: f64 = 0;
  let ptr: usize = 0;
  let len: i32 = 0;
  if (tag == TAG_NUMBER) {
    num = load<f64>(e, 8);
  } else if (tag == TAG_STRING || tag == TAG_ARRAY) {
    const off = load<u32>(e, 4);
    const count = load<u32>(e, 8);
    const bytes: u64 = tag == TAG_STRING ? <u64>count : <u64>count * <u64>ENTRY_SIZE;
    ptr = span(off, bytes);
    if (ptr == 0) return UNKNOWN; // malformed; the caller turns the record into an error
    len = <i32>count;
  }
  return evalTest(t, tag, num, ptr, len);
}

export function evalTest(t: Test, tag: u8, num: f64, ptr: usize, len: i32): i32 {
  if (tag == TAG_ABSENT) {
    if (t.op == TestOp.Exists) return truth(!t.flag);
    if (t.op != TestOp.All) return UNKNOWN;
  }
  switch (t.op) {
    case TestOp.All: {
      let acc = TRUE;
      const ch = t.children;
      for (let i = 0, n = ch.length; i < n; i++) {
        const r = evalTest(unchecked(ch[i]), tag, num, ptr, len);
        if (r == FALSE) return FALSE;
        if (r < acc) acc = r;
      }
      return acc;
    }
    case TestOp.Eq: return truth(equalsConst(changetype<Const_>(t.constant), tag, num, ptr, len));
    case TestOp.Ne: return truth(!equalsConst(changetype<Const_>(t.constant), tag, num, ptr, len));
    case TestOp.In: return truth(changetype<Set_>(t.set).has(tag, num, ptr, len));
    case TestOp.NotIn: return truth(!changetype<Set_>(t.set).has(tag, num, ptr, len));
    case TestOp.Gt: return tag == TAG_NUMBER ? truth(num > t.num) : UNKNOWN;
    case TestOp.Gte: return tag == TAG_NUMBER ? truth(num >= t.num) : UNKNOWN;
    case TestOp.Lt: return tag == TAG_NUMBER ? truth(num < t.num) : UNKNOWN;
    case TestOp.Lte: return tag == TAG_NUMBER ? truth(num <= t.num) : UNKNOWN;
    case TestOp.Prefix: {
      if (tag != TAG_STRING) return UNKNOWN;
      const c = changetype<Const_>(t.constant);
      return truth(len >= c.len && memory.compare(ptr, c.ptr, <usize>c.len) == 0);
    }
    case TestOp.Suffix: {
      if (tag != TAG_STRING) return UNKNOWN;
      const c = changetype<Const_>(t.constant);
      return truth(len >= c.len && memory.compare(ptr + <usize>(len - c.len), c.ptr, <usize>c.len) == 0);
    }
    case TestOp.Contains: {
      if (tag == TAG_STRING) {
        const s = t.substring;
        if (s == null) return UNKNOWN; // non-string operand on a string value
        return truth(s.foundIn(ptr, len));
      }
      if (tag == TAG_ARRAY) {
        const c = changetype<Const_>(t.constant);
        for (let i = 0; i < len; i++) {
          const e = ptr + <usize>(i * ENTRY_SIZE);
          const r = evalElementEq(c, e);
          if (r == TRUE) return TRUE;
        }
        return FALSE;
      }
      return UNKNOWN;
    }
    case TestOp.Glob:
    case TestOp.Matches:
      return tag == TAG_STRING ? truth(search(changetype<Matcher_>(t.matcher), ptr, len)) : UNKNOWN;
    case TestOp.Exists: return truth(t.flag);
    case TestOp.Len: {
      let n: i32;
      if (tag == TAG_STRING) n = codePointCount(ptr, len);
      else if (tag == TAG_ARRAY) n = len;
      else return UNKNOWN;
      return evalTest(changetype<Test>(t.inner), TAG_NUMBER, <f64>n, 0, 0);
    }
    case TestOp.Some: {
      if (tag != TAG_ARRAY) return UNKNOWN;
      const inner = changetype<Test>(t.inner);
      let acc = FALSE;
      for (let i = 0; i < len; i++) {
        const r = evalEntry(inner, ptr + <usize>(i * ENTRY_SIZE));
        if (r == TRUE) return TRUE;
        if (r > acc) acc = r;
      }
      return acc;
    }
    default: { // Every
      if (tag != TAG_ARRAY) return UNKNOWN;
      const inner = changetype<Test>(t.inner);
      let acc = TRUE;
      for (let i = 0; i < len; i++) {
        const r = evalEntry(inner, ptr + <usize>(i * ENTRY_SIZE));
        if (r == FALSE) return FALSE;
        if (r < acc) acc = r;
      }
      return acc;
    }
  }
}

function search(m: Matcher_, ptr: usize, len: i32): bool {
  if (m.memoRecord == recordSerial && m.memoPtr == ptr && m.memoLen == len) return m.memoHit;
  const hit = m.test(ptr, len);
  m.memoRecord = recordSerial;
  m.memoPtr = ptr;
  m.memoLen = len;
  m.memoHit = hit;
  return hit;
}

function evalElementEq(c: Const_, e: usize): i32 {
  const tag = load<u8>(e);
  if (tag != c.tag) return FALSE;
  if (tag == TAG_NUMBER) return truth(load<f64>(e, 8) == c.num);
  if (tag == TAG_STRING) {
    const count = load<u32>(e, 8);
    const p = span(load<u32>(e, 4), <u64>count);
    if (p == 0) return FALSE;
    return truth(<i32>count == c.len && memory.compare(p, c.ptr, <usize>count) == 0);
  }
  return TRUE;
}

/** Unicode code points in valid UTF-8: every byte that is not a continuation byte. */
function codePointCount(ptr: usize, len: i32): i32 {
  let n = 0;
  for (let i = 0; i < len; i++) {
    if ((load<u8>(ptr + <usize>i) & 0xc0) != 0x80) n++;
  }
  return n;
}

// Aliases keep the hot-path casts short.
import { Const as Const_ } from "../compile/constant";
import { ValueSet as Set_ } from "../compile/value-set";
import { Matcher as Matcher_ } from "../regex/index";
