// Lazy DFA over byte equivalence classes, built on demand from the NFA, with
// a bounded, preallocated state cache that is flushed when full (as RE2 does).
//
// A DFA state is (flags, kernel): the kernel is the sorted set of NFA states
// reached right after consuming a byte (plus the start state for an
// unanchored search); flags say whether the position is the start of the
// text and whether the previous byte was a word byte (only when the pattern
// uses \b or \B). The transition on byte b first takes the epsilon closure of
// the kernel knowing b (so `\b` and `$` can look one byte ahead, and the end
// of text is the extra column `eot`), then steps over b. Reaching MATCH in
// that closure means the pattern matched: the search stops there.

import { Program, OP_BYTES } from "./program";
import { SparseSet, closure, setHas, setAdd, isContByte, AT_START, AT_END, PREV_WORD, NEXT_WORD, NEXT_CONT } from "./nfa";
import { isWordByte } from "./charclass";
import { findBytes } from "./literal";

export const T_UNKNOWN: i32 = -1;
export const T_MATCH: i32 = -2;
export const T_DEAD: i32 = -3;
export const T_GIVEUP: i32 = -4;

/** Flushes allowed in one search before handing over to the NFA. */
const MAX_FLUSHES: i32 = 8;
/**
 * Budget per pattern, in i32 entries, for the transition table and for the
 * kernel pool. Memory is per pattern and lives as long as the policy, so the
 * cache stays small: patterns that need more states than this thrash, and
 * then the NFA finishes the search (still linear).
 */
const TABLE_BUDGET: i32 = 1 << 15;
const POOL_PER_STATE: i32 = 8;
const MIN_STATES: i32 = 32;
const MAX_STATES: i32 = 2048;

export class LazyDFA {
  prog: Program;
  stride: i32;
  eot: i32;
  /** The program's byte classes, copied next to the DFA: the search reads it for every byte. */
  classOf: StaticArray<u8>;
  maxStates: i32;
  table: StaticArray<i32>;
  flags: StaticArray<i32>;
  kStart: StaticArray<i32>;
  kLen: StaticArray<i32>;
  pool: StaticArray<i32>;
  poolCap: i32;
  poolUsed: i32 = 0;
  hash: StaticArray<i32>;
  hmask: i32;
  count: i32 = 0;
  startState: i32 = -1;
  idleState: i32 = -1;
  generation: i32 = 0;
  flushes: i32 = 0;
  set1: SparseSet;
  set2: SparseSet;
  stack: StaticArray<i32>;
  kbuf: StaticArray<i32>;
  /** Literal every match starts with (used to skip ahead from the idle state). */
  pre: StaticArray<u8>;
  preLen: i32 = 0;
  /** Total flushes over the matcher's life (diagnostics). */
  totalFlushes: i32 = 0;

  /** `small`: the matcher normally answers without the DFA (literal patterns); keep it minimal. */
  constructor(prog: Program, set1: SparseSet, set2: SparseSet, stack: StaticArray<i32>,
              pre: StaticArray<u8>, preLen: i32, small: bool) {
    const n = prog.nstates;
    const stride = prog.nclasses + 1;
    let ms = small ? 8 : min(max(n * 2 + 32, MIN_STATES), MAX_STATES);
    while (ms > 8 && ms * stride > TABLE_BUDGET) ms >>= 1;
    const poolCap = max(ms * POOL_PER_STATE, n * 2 + 16);
    let hc = 16;
    while (hc < ms * 2) hc <<= 1;
    this.prog = prog;
    const classOf = new StaticArray<u8>(256);
    memory.copy(changetype<usize>(classOf), changetype<usize>(prog.classOf), 256);
    this.classOf = classOf;
    this.set1 = set1;
    this.set2 = set2;
    this.stack = stack;
    this.stride = stride;
    this.eot = prog.nclasses;
    this.maxStates = ms;
    this.table = new StaticArray<i32>(ms * stride);
    this.flags = new StaticArray<i32>(ms);
    this.kStart = new StaticArray<i32>(ms);
    this.kLen = new StaticArray<i32>(ms);
    this.poolCap = poolCap;
    this.pool = new StaticArray<i32>(poolCap);
    this.hash = new StaticArray<i32>(hc);
    this.hmask = hc - 1;
    this.kbuf = new StaticArray<i32>(n + 1);
    this.pre = pre;
    this.preLen = prog.anchored || prog.hasWord ? 0 : preLen;
  }

  /** Shrinks the state cache (testing: makes flushes and give-ups frequent). */
  limitStates(n: i32): void {
    this.maxStates = max(1, min(n, this.maxStates));
    this.flush();
    this.totalFlushes = 0;
  }

  flush(): void {
    this.count = 0;
    this.poolUsed = 0;
    memory.fill(changetype<usize>(this.hash), 0, <usize>this.hash.length << 2);
    this.startState = -1;
    this.idleState = -1;
    this.generation++;
    this.flushes++;
    this.totalFlushes++;
  }

  @inline hashKernel(f: i32, n: i32): i32 {
    let h: u32 = u32(f) * 0x9e3779b1 + u32(n);
    const kb = this.kbuf;
    for (let i = 0; i < n; i++) {
      h = (h ^ u32(unchecked(kb[i]))) * 0x01000193;
    }
    h ^= h >> 15;
    h *= 0x2c1b3c6d;
    h ^= h >> 12;
    return i32(h);
  }

  /** Index of the state (f, kbuf[0..n)), created if needed; T_GIVEUP if thrashing. */
  findOrInsert(f: i32, n: i32): i32 {
    const h = this.hashKernel(f, n);
    const mask = this.hmask;
    const kb = this.kbuf;
    let slot = h & mask;
    while (true) {
      const e = unchecked(this.hash[slot]);
      if (e == 0) break;
      const s = e - 1;
      if (unchecked(this.flags[s]) == f && unchecked(this.kLen[s]) == n) {
        const ks = unchecked(this.kStart[s]);
        let same = true;
        for (let i = 0; i < n; i++) {
          if (unchecked(this.pool[ks + i]) != unchecked(kb[i])) {
            same = false;
            break;
          }
        }
        if (same) return s;
      }
      slot = (slot + 1) & mask;
    }
    if (this.count >= this.maxStates || this.poolUsed + n > this.poolCap) {
      if (this.flushes >= MAX_FLUSHES) return T_GIVEUP;
      this.flush();
      slot = h & mask;
    }
    const s = this.count++;
    unchecked(this.flags[s] = f);
    const ks = this.poolUsed;
    unchecked(this.kStart[s] = ks);
    unchecked(this.kLen[s] = n);
    for (let i = 0; i < n; i++) unchecked(this.pool[ks + i] = unchecked(kb[i]));
    this.poolUsed = ks + n;
    memory.fill(changetype<usize>(this.table) + (<usize>(s * this.stride) << 2), 0xff,
      <usize>this.stride << 2);
    while (unchecked(this.hash[slot]) != 0) slot = (slot + 1) & mask;
    unchecked(this.hash[slot] = s + 1);
    if (n == 1 && unchecked(kb[0]) == this.prog.start) {
      if (f == AT_START) this.startState = s;
      else if (f == 0) this.idleState = s;
    }
    return s;
  }

  /** The state for kernel {start} with flags f. */
  startWith(f: i32): i32 {
    unchecked(this.kbuf[0] = this.prog.start);
    return this.findOrInsert(f, 1);
  }

  /** Computes (and caches) the transition of state s on byte b (class cls), or at the end of text. */
  computeTransition(s: i32, b: i32, cls: i32, eot: bool): i32 {
    const prog = this.prog;
    const ops = changetype<usize>(prog.ops);
    const trans = changetype<usize>(prog.trans);
    const f = unchecked(this.flags[s]);
    let ctx = f;
    if (eot) ctx |= AT_END;
    else if (isWordByte(b)) ctx |= NEXT_WORD;
    else if (isContByte(b)) ctx |= NEXT_CONT;
    const set1 = this.set1;
    const d1 = set1.densePtr, s1 = set1.sparsePtr;
    const stack = changetype<usize>(this.stack);
    let n1 = 0;
    const ks = unchecked(this.kStart[s]);
    const kl = unchecked(this.kLen[s]);
    const row = s * this.stride + cls;
    for (let k = 0; k < kl; k++) {
      n1 = closure(ops, d1, s1, n1, stack, unchecked(this.pool[ks + k]), ctx);
      if (n1 < 0) {
        unchecked(this.table[row] = T_MATCH);
        return T_MATCH;
      }
    }
    if (eot) {
      unchecked(this.table[row] = T_DEAD);
      return T_DEAD;
    }
    const set2 = this.set2;
    const d2 = set2.densePtr, s2 = set2.sparsePtr;
    let n = 0;
    for (let k = 0; k < n1; k++) {
      const base = ops + <usize>load<i32>(d1 + (<usize>k << 2)) * 12;
      if (load<i32>(base) != OP_BYTES) continue;
      let t = trans + (<usize>load<i32>(base, 4) << 3);
      const end = t + (<usize>load<i32>(base, 8) << 3);
      for (; t < end; t += 8) {
        const lh = load<i32>(t);
        const lo = lh & 0xff;
        if (u32(b - lo) <= u32(((lh >> 8) & 0xff) - lo)) {
          const tgt = load<i32>(t, 4);
          if (!setHas(d2, s2, n, tgt)) n = setAdd(d2, s2, n, tgt);
        }
      }
    }
    if (!prog.anchored && !setHas(d2, s2, n, prog.start)) n = setAdd(d2, s2, n, prog.start);
    set2.size = n;
    if (n == 0) {
      unchecked(this.table[row] = T_DEAD);
      return T_DEAD;
    }
    // canonical (sorted) kernel in kbuf
    const kb = this.kbuf;
    if (n <= 32) {
      const d2 = set2.dense;
      for (let i = 0; i < n; i++) {
        const v = unchecked(d2[i]);
        let j = i - 1;
        while (j >= 0 && unchecked(kb[j]) > v) {
          unchecked(kb[j + 1] = unchecked(kb[j]));
          j--;
        }
        unchecked(kb[j + 1] = v);
      }
    } else {
      let j = 0;
      const ns = prog.nstates;
      for (let st = 0; st < ns; st++) if (set2.has(st)) unchecked(kb[j++] = st);
    }
    const nf = prog.hasWord && isWordByte(b) ? PREV_WORD : 0;
    const gen = this.generation;
    const next = this.findOrInsert(nf, n);
    // the table holds row offsets (state * stride): no multiply in the search loop
    if (next >= 0 && gen == this.generation) unchecked(this.table[row] = next * this.stride);
    return next;
  }

  /** Where the last search gave up: offset and the state there (its kernel is intact). */
  resumeAt: i32 = 0;
  resumeState: i32 = 0;

  /** Pointer to the kernel of state s (valid until the next flush). */
  @inline kernelPtr(s: i32): usize {
    return changetype<usize>(this.pool) + (<usize>unchecked(this.kStart[s]) << 2);
  }

  /**
   * 1: match, 0: no match, -1: the cache thrashed; then resumeAt/resumeState
   * say where to continue with the NFA.
   */
  search(ptr: usize, len: i32): i32 {
    this.flushes = 0;
    const stride = this.stride;
    const classOf = this.classOf;
    const preLen = this.preLen;
    this.resumeAt = 0;
    this.resumeState = -1;
    let s = this.startState;
    if (s < 0) {
      s = this.startWith(AT_START);
      if (s < 0) return -1;
    }
    let i = 0;
    if (preLen > 0) {
      const j = findBytes(ptr, len, 0, changetype<usize>(this.pre), preLen);
      if (j < 0) return 0;
      if (j > 0) {
        s = this.idleState;
        if (s < 0) {
          s = this.startWith(0);
          if (s < 0) return -1; // resumeState -1: restart from scratch
        }
        i = j;
      }
    }
    const tbl = changetype<usize>(this.table);
    const cmap = changetype<usize>(classOf);
    let idleRow = this.idleState * stride;
    let row = s * stride;
    while (i < len) {
      const b = i32(load<u8>(ptr + <usize>i));
      let t = load<i32>(tbl + (<usize>(row + i32(load<u8>(cmap + <usize>b))) << 2));
      if (t < 0) {
        if (t == T_UNKNOWN) t = this.computeTransition(row / stride, b, i32(load<u8>(cmap + <usize>b)), false);
        if (t < 0) {
          if (t == T_MATCH) return 1;
          if (t == T_DEAD) return 0;
          this.resumeAt = i;
          this.resumeState = row / stride;
          return -1;
        }
        t *= stride;
        idleRow = this.idleState * stride;
      }
      row = t;
      i++;
      if (row == idleRow && preLen > 0) {
        const j = findBytes(ptr, len, i, changetype<usize>(this.pre), preLen);
        if (j < 0) return 0;
        i = j;
      }
    }
    s = row / stride;
    let t = unchecked(this.table[s * stride + this.eot]);
    if (t == T_UNKNOWN) t = this.computeTransition(s, 0, this.eot, true);
    if (t == T_MATCH) return 1;
    if (t == T_GIVEUP) {
      this.resumeAt = len;
      this.resumeState = s;
      return -1;
    }
    return 0;
  }
}
