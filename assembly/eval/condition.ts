// Kleene three-valued evaluation of conditions and tests (spec section 3) over encoded values.
// FALSE = 0, UNKNOWN = 1, TRUE = 2, so `all` is a minimum, `any` a maximum and `not` is 2 - x.
// Nothing here allocates.

import { ENTRY_SIZE, RECORD_HEADER, TAG_ABSENT, TAG_ARRAY, TAG_NUMBER, TAG_STRING } from "../abi";
import { hashValue } from "../compile/constant";
import { TestOp } from "../compile/operators";
import { CondOp } from "../compile/program";
import { counterValues, recordBase, recordSerial, span } from "./record";

export const FALSE: i32 = 0;
export const UNKNOWN: i32 = 1;
export const TRUE: i32 = 2;

// @ts-ignore: decorator
@inline function truth(b: bool): i32 { return b ? TRUE : FALSE; }

// @ts-ignore: decorator
@inline function opOf(p: usize): i32 { return load<i32>(p) & 0xff; }
// @ts-ignore: decorator
@inline function nextNode(p: usize): usize { return p + (<usize>(load<u32>(p) >>> 8) << 2); }

/** Evaluates the cond node at `p` (compile/code.ts) on the current record. */
export function evalCond(p: usize): i32 {
  const op = opOf(p);
  if (op == CondOp.Field) {
    const e = recordBase + <usize>(RECORD_HEADER + load<i32>(p, 4) * ENTRY_SIZE);
    return evalEntry(p + 8, e);
  }
  if (op == CondOp.All) {
    let acc = TRUE;
    const end = nextNode(p);
    for (let q = p + 4; q < end; q = nextNode(q)) {
      const r = evalCond(q);
      if (r == FALSE) return FALSE;
      if (r < acc) acc = r;
    }
    return acc;
  }
  if (op == CondOp.Any) {
    let acc = FALSE;
    const end = nextNode(p);
    for (let q = p + 4; q < end; q = nextNode(q)) {
      const r = evalCond(q);
      if (r == TRUE) return TRUE;
      if (r > acc) acc = r;
    }
    return acc;
  }
  if (op == CondOp.Counter) {
    // Spec section 8: an UNKNOWN value makes every test on it UNKNOWN, `exists` included.
    const v = counterValues + (<usize>load<i32>(p, 4) << 4);
    if (load<u32>(v) == 0) return UNKNOWN;
    return evalTest(p + 8, TAG_NUMBER, load<f64>(v, 8), 0, 0);
  }
  return TRUE - evalCond(p + 4); // Not
}

/** Evaluates the test node at `t` on the 16-byte value entry at absolute address `e`. */
export function evalEntry(t: usize, e: usize): i32 {
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

/** JSON equality of an encoded value with the const at `q` (compile/code.ts): same type and value. */
// @ts-ignore: decorator
@inline function equalsConstAt(q: usize, tag: u8, num: f64, ptr: usize, len: i32): bool {
  if (<i32>tag != load<i32>(q)) return false;
  if (tag == TAG_NUMBER) return num == load<f64>(q, 4);
  if (tag == TAG_STRING) return len == load<i32>(q, 4) && memory.compare(ptr, q + 8, <usize>len) == 0;
  return true;
}

/** Whether the value is a member of the hashed set of the In/NotIn node at `t`. */
function setHas(t: usize, tag: u8, num: f64, ptr: usize, len: i32): bool {
  const mask = load<u32>(t, 4);
  const slots = t + 8;
  let s = hashValue(tag, num, ptr, len) & mask;
  while (true) {
    const off = load<i32>(slots + (<usize>s << 2));
    if (off < 0) return false;
    if (equalsConstAt(t + (<usize>off << 2), tag, num, ptr, len)) return true;
    s = (s + 1) & mask;
  }
}

/**
 * Evaluates the test node at `t` on a value. One case per operator of compile/operators.ts, which
 * reads its operand where its kind puts it in the node (compile/code.ts).
 */
export function evalTest(t: usize, tag: u8, num: f64, ptr: usize, len: i32): i32 {
  const op = opOf(t);
  if (tag == TAG_ABSENT) {
    if (op == TestOp.Exists) return truth(load<i32>(t, 4) == 0);
    if (op != TestOp.All) return UNKNOWN;
  }
  switch (op) {
    case TestOp.All: {
      let acc = TRUE;
      const end = nextNode(t);
      for (let q = t + 4; q < end; q = nextNode(q)) {
        const r = evalTest(q, tag, num, ptr, len);
        if (r == FALSE) return FALSE;
        if (r < acc) acc = r;
      }
      return acc;
    }
    case TestOp.Eq: return truth(equalsConstAt(t + 4, tag, num, ptr, len));
    case TestOp.Ne: return truth(!equalsConstAt(t + 4, tag, num, ptr, len));
    case TestOp.In: return truth(setHas(t, tag, num, ptr, len));
    case TestOp.NotIn: return truth(!setHas(t, tag, num, ptr, len));
    case TestOp.Gt: return tag == TAG_NUMBER ? truth(num > load<f64>(t, 4)) : UNKNOWN;
    case TestOp.Gte: return tag == TAG_NUMBER ? truth(num >= load<f64>(t, 4)) : UNKNOWN;
    case TestOp.Lt: return tag == TAG_NUMBER ? truth(num < load<f64>(t, 4)) : UNKNOWN;
    case TestOp.Lte: return tag == TAG_NUMBER ? truth(num <= load<f64>(t, 4)) : UNKNOWN;
    case TestOp.Prefix: {
      if (tag != TAG_STRING) return UNKNOWN;
      const n = load<i32>(t, 8);
      return truth(len >= n && memory.compare(ptr, t + 12, <usize>n) == 0);
    }
    case TestOp.Suffix: {
      if (tag != TAG_STRING) return UNKNOWN;
      const n = load<i32>(t, 8);
      return truth(len >= n && memory.compare(ptr + <usize>(len - n), t + 12, <usize>n) == 0);
    }
    case TestOp.Contains: {
      if (tag == TAG_STRING) {
        const s = load<u32>(t, 4);
        if (s == 0) return UNKNOWN; // non-string operand on a string value
        return truth(changetype<Substring_>(<usize>s).foundIn(ptr, len));
      }
      if (tag == TAG_ARRAY) {
        const c = t + 8;
        for (let i = 0; i < len; i++) {
          const r = evalElementEq(c, ptr + <usize>(i * ENTRY_SIZE));
          if (r == TRUE) return TRUE;
        }
        return FALSE;
      }
      return UNKNOWN;
    }
    case TestOp.Glob:
    case TestOp.Matches:
      return tag == TAG_STRING ? truth(search(changetype<Matcher_>(<usize>load<u32>(t, 4)), ptr, len)) : UNKNOWN;
    case TestOp.Exists: return truth(load<i32>(t, 4) != 0);
    case TestOp.Len: {
      let n: i32;
      if (tag == TAG_STRING) n = codePointCount(ptr, len);
      else if (tag == TAG_ARRAY) n = len;
      else return UNKNOWN;
      return evalTest(t + 4, TAG_NUMBER, <f64>n, 0, 0);
    }
    case TestOp.Some: {
      if (tag != TAG_ARRAY) return UNKNOWN;
      let acc = FALSE;
      for (let i = 0; i < len; i++) {
        const r = evalEntry(t + 4, ptr + <usize>(i * ENTRY_SIZE));
        if (r == TRUE) return TRUE;
        if (r > acc) acc = r;
      }
      return acc;
    }
    default: { // Every
      if (tag != TAG_ARRAY) return UNKNOWN;
      let acc = TRUE;
      for (let i = 0; i < len; i++) {
        const r = evalEntry(t + 4, ptr + <usize>(i * ENTRY_SIZE));
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

function evalElementEq(c: usize, e: usize): i32 {
  const tag = load<u8>(e);
  if (<i32>tag != load<i32>(c)) return FALSE;
  if (tag == TAG_NUMBER) return truth(load<f64>(e, 8) == load<f64>(c, 4));
  if (tag == TAG_STRING) {
    const count = load<u32>(e, 8);
    const p = span(load<u32>(e, 4), <u64>count);
    if (p == 0) return FALSE;
    return truth(<i32>count == load<i32>(c, 4) && memory.compare(p, c + 8, <usize>count) == 0);
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
import { Substring as Substring_ } from "../compile/substring";
import { Matcher as Matcher_ } from "../regex/index";
