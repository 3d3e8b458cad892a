// Thompson-NFA simulation (a Pike VM without captures: only match/no-match is
// needed, so a thread is just a state). Always correct, O(len * states).
// Allocation-free: all scratch space is preallocated by the Matcher. The hot
// loops work on raw pointers into that space (no managed references cross
// calls, so the runtime's shadow stack stays out of the loop).

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

  @inline get densePtr(): usize {
    return changetype<usize>(this.dense);
  }

  @inline get sparsePtr(): usize {
    return changetype<usize>(this.sparse);
  }

  @inline has(x: i32): bool {
    return setHas(this.densePtr, this.sparsePtr, this.size, x);
  }

  @inline add(x: i32): void {
    this.size = setAdd(this.densePtr, this.sparsePtr, this.size, x);
  }

  @inline clear(): void {
    this.size = 0;
  }
}

@inline function ld(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

@inline function st(p: usize, i: i32, v: i32): void {
  store<i32>(p + (<usize>i << 2), v);
}

@inline export function setHas(dense: usize, sparse: usize, size: i32, x: i32): bool {
  const i = ld(sparse, x);
  return u32(i) < u32(size) && ld(dense, i) == x;
}

@inline export function setAdd(dense: usize, sparse: usize, size: i32, x: i32): i32 {
  st(sparse, x, size);
  st(dense, size, x);
  return size + 1;
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
 * Adds to the set (dense, sparse, size) the epsilon closure of state `s` in
 * context `ctx`. Returns the new size, or -1 as soon as MATCH is reached.
 * `ops` points at the program's state array (3 i32 per state).
 */
export function closure(ops: usize, dense: usize, sparse: usize, size: i32, stack: usize, s: i32, ctx: i32): i32 {
  if (setHas(dense, sparse, size, s)) return size;
  size = setAdd(dense, sparse, size, s);
  st(stack, 0, s);
  let sp = 1;
  while (sp > 0) {
    const base = ops + <usize>ld(stack, --sp) * 12;
    const op = load<i32>(base);
    if (op == OP_SPLIT) {
      const y = load<i32>(base, 8);
      if (!setHas(dense, sparse, size, y)) {
        size = setAdd(dense, sparse, size, y);
        st(stack, sp++, y);
      }
      const x = load<i32>(base, 4);
      if (!setHas(dense, sparse, size, x)) {
        size = setAdd(dense, sparse, size, x);
        st(stack, sp++, x);
      }
    } else if (op == OP_ASSERT) {
      if (assertHolds(load<i32>(base, 8), ctx)) {
        const n = load<i32>(base, 4);
        if (!setHas(dense, sparse, size, n)) {
          size = setAdd(dense, sparse, size, n);
          st(stack, sp++, n);
        }
      }
    } else if (op == OP_MATCH) {
      return -1;
    }
  }
  return size;
}

/** Context bits at offset i of the text. */
@inline export function ctxAt(ptr: usize, len: i32, i: i32): i32 {
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

/**
 * Unanchored search for `prog` in the bytes [ptr, ptr + len), starting at
 * offset `pos` with the threads `kernel[0 .. klen)` (states before their
 * epsilon closure). With klen == 0 the search starts afresh (pos must be 0).
 */
export function nfaSearch(prog: Program, a: SparseSet, b: SparseSet, stack: StaticArray<i32>,
                          ptr: usize, len: i32, pos: i32, kernel: usize, klen: i32): bool {
  const ops = changetype<usize>(prog.ops);
  const trans = changetype<usize>(prog.trans);
  const start = prog.start;
  const anchored = prog.anchored;
  const stk = changetype<usize>(stack);
  let cd = a.densePtr, cs = a.sparsePtr, csize = 0;
  let nd = b.densePtr, ns = b.sparsePtr, nsize = 0;
  let ctx = ctxAt(ptr, len, pos);
  for (let k = 0; k < klen; k++) {
    csize = closure(ops, cd, cs, csize, stk, ld(kernel, k), ctx);
    if (csize < 0) return true;
  }
  for (let i = pos; ; i++) {
    if (i == 0 || !anchored) {
      csize = closure(ops, cd, cs, csize, stk, start, ctx);
      if (csize < 0) return true;
    }
    if (csize == 0 || i == len) return false;
    const byte = i32(load<u8>(ptr + <usize>i));
    const nctx = ctxAt(ptr, len, i + 1);
    nsize = 0;
    for (let k = 0; k < csize; k++) {
      const base = ops + <usize>ld(cd, k) * 12;
      if (load<i32>(base) != OP_BYTES) continue;
      let t = trans + (<usize>load<i32>(base, 4) << 3);
      const end = t + (<usize>load<i32>(base, 8) << 3);
      for (; t < end; t += 8) {
        const lh = load<i32>(t);
        const lo = lh & 0xff;
        if (u32(byte - lo) <= u32(((lh >> 8) & 0xff) - lo)) {
          const tgt = load<i32>(t, 4);
          if (setHas(nd, ns, nsize, tgt)) continue;
          if (load<i32>(ops + <usize>tgt * 12) == OP_BYTES) {
            nsize = setAdd(nd, ns, nsize, tgt);
          } else {
            nsize = closure(ops, nd, ns, nsize, stk, tgt, nctx);
            if (nsize < 0) return true;
          }
        }
      }
    }
    let tp = cd;
    cd = nd;
    nd = tp;
    tp = cs;
    cs = ns;
    ns = tp;
    csize = nsize;
    ctx = nctx;
  }
  return false; // unreachable
}
