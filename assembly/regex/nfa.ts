// Thompson-NFA simulation (a Pike VM without captures: only match/no-match is
// needed, so a thread is just a state). Always correct, O(len * states).
// Allocation-free: all scratch space is preallocated by the Matcher.

import { Program, OP_MATCH, OP_SPLIT, OP_BYTES, OP_ASSERT } from "./program";
import { AssertKind } from "./ast";
import { isWordByte } from "./charclass";

// Context bits at a text position.
export const AT_START: i32 = 1;
export const AT_END: i32 = 2;
export const PREV_WORD: i32 = 4;
export const NEXT_WORD: i32 = 8;
/** The next byte continues a UTF-8 sequence: not a code-point boundary. */
export const NEXT_CONT: i32 = 16;

/** Is b a UTF-8 continuation byte (10xxxxxx)? */
@inline export function isContByte(b: i32): bool {
  return (b & 0xc0) == 0x80;
}

/** Sparse set of states with O(1) clear (Briggs & Torczon). */
export class SparseSet {
  dense: StaticArray<i32>;
  sparse: StaticArray<i32>;
  size: i32 = 0;

  constructor(n: i32) {
    this.dense = new StaticArray<i32>(n + 1);
    this.sparse = new StaticArray<i32>(n + 1);
  }

  @inline has(x: i32): bool {
    const i = unchecked(this.sparse[x]);
    return u32(i) < u32(this.size) && unchecked(this.dense[i]) == x;
  }

  @inline add(x: i32): void {
    const n = this.size;
    unchecked(this.sparse[x] = n);
    unchecked(this.dense[n] = x);
    this.size = n + 1;
  }

  @inline clear(): void {
    this.size = 0;
  }
}

/** Does the assertion `kind` hold in context `ctx`? */
@inline export function assertHolds(kind: i32, ctx: i32): bool {
  if (kind == AssertKind.Bol) return (ctx & AT_START) != 0;
  if (kind == AssertKind.Eol) return (ctx & AT_END) != 0;
  const boundary = ((ctx >> 2) ^ (ctx >> 3)) & 1;
  if (kind == AssertKind.WordB) return boundary != 0;
  // \B holds only between code points: inside a multi-byte character both
  // neighbouring bytes are non-word bytes, but that is not a position.
  return boundary == 0 && (ctx & NEXT_CONT) == 0;
}

/**
 * Adds to `set` the epsilon closure of state `s` in context `ctx`.
 * Returns true as soon as a MATCH state is reached.
 */
export function closure(ops: StaticArray<i32>, set: SparseSet, stack: StaticArray<i32>, s: i32, ctx: i32): bool {
  if (set.has(s)) return false;
  set.add(s);
  unchecked(stack[0] = s);
  let sp = 1;
  while (sp > 0) {
    const st = unchecked(stack[--sp]);
    const base = st * 3;
    const op = unchecked(ops[base]);
    if (op == OP_SPLIT) {
      const y = unchecked(ops[base + 2]);
      if (!set.has(y)) {
        set.add(y);
        unchecked(stack[sp++] = y);
      }
      const x = unchecked(ops[base + 1]);
      if (!set.has(x)) {
        set.add(x);
        unchecked(stack[sp++] = x);
      }
    } else if (op == OP_ASSERT) {
      if (assertHolds(unchecked(ops[base + 2]), ctx)) {
        const n = unchecked(ops[base + 1]);
        if (!set.has(n)) {
          set.add(n);
          unchecked(stack[sp++] = n);
        }
      }
    } else if (op == OP_MATCH) {
      return true;
    }
  }
  return false;
}

@inline function ctxAt(ptr: usize, len: i32, i: i32): i32 {
  let c = 0;
  if (i == 0) c |= AT_START;
  else if (isWordByte(load<u8>(ptr + <usize>(i - 1)))) c |= PREV_WORD;
  if (i == len) c |= AT_END;
  else {
    const b = i32(load<u8>(ptr + <usize>i));
    if (isWordByte(b)) c |= NEXT_WORD;
    else if (isContByte(b)) c |= NEXT_CONT;
  }
  return c;
}

/** Unanchored search for `prog` in the bytes [ptr, ptr + len). */
export function nfaSearch(prog: Program, a: SparseSet, b: SparseSet, stack: StaticArray<i32>,
                          ptr: usize, len: i32): bool {
  const ops = prog.ops;
  const trans = prog.trans;
  const start = prog.start;
  const anchored = prog.anchored;
  let clist = a, nlist = b;
  clist.clear();
  let ctx = ctxAt(ptr, len, 0);
  for (let i = 0; ; i++) {
    if (i == 0 || !anchored) {
      if (closure(ops, clist, stack, start, ctx)) return true;
    }
    if (clist.size == 0 || i == len) return false;
    const byte = i32(load<u8>(ptr + <usize>i));
    const nctx = ctxAt(ptr, len, i + 1);
    nlist.clear();
    const n = clist.size;
    const dense = clist.dense;
    for (let k = 0; k < n; k++) {
      const st = unchecked(dense[k]);
      const base = st * 3;
      if (unchecked(ops[base]) != OP_BYTES) continue;
      let t = unchecked(ops[base + 1]) << 1;
      const end = t + (unchecked(ops[base + 2]) << 1);
      for (; t < end; t += 2) {
        const lh = unchecked(trans[t]);
        const lo = lh & 0xff;
        if (u32(byte - lo) <= u32(((lh >> 8) & 0xff) - lo)) {
          if (closure(ops, nlist, stack, unchecked(trans[t + 1]), nctx)) return true;
        }
      }
    }
    const tmp = clist;
    clist = nlist;
    nlist = tmp;
    ctx = nctx;
  }
  return false; // unreachable
}
