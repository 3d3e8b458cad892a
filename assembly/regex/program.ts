// Syntax tree -> Thompson NFA over UTF-8 bytes.
//
// A state is three i32 in `ops`: [op, a, b].
//   OP_MATCH                       the pattern has matched
//   OP_SPLIT   a = x, b = y         epsilon to both x and y
//   OP_BYTES   a = first, b = count transitions trans[2*first ..]: each is
//                                   (lo | hi << 8, target): a byte in [lo, hi]
//                                   moves to target. Zero transitions = fail.
//   OP_ASSERT  a = next, b = kind   epsilon to next when the assertion holds
// Code-point classes become a root OP_BYTES state whose transitions lead to
// shared single-transition continuation states (one per distinct
// (lo, hi, next)), so `.` costs 8 states, not one per UTF-8 sequence.
// The program is built back to front: compile(node, next) returns the entry.

import { Node, NodeKind, usesWordAssert, anchoredAtStart } from "./ast";
import { utf8Sequences } from "./charclass";

export const OP_MATCH: i32 = 0;
export const OP_SPLIT: i32 = 1;
export const OP_BYTES: i32 = 2;
export const OP_ASSERT: i32 = 3;

/** Compiled-program size limits (RE2 has the same kind of bound). 4,096 characters of the
 *  costliest single-character atom (`.`, a glob `?` or `*`, a negated class: ~8 states each) fit;
 *  counted repetition multiplies what it repeats (`.{1000}` is ~8,000 states), so a few large counts,
 *  or nested ones such as (a{1000}){1000}, do not. A policy's patterns together are bounded too
 *  (compile/condition.ts, MAX_POLICY_PATTERN_STATES). */
export const MAX_STATES: i32 = 65536;
export const MAX_TRANSITIONS: i32 = 655360;

export class Program {
  ops: StaticArray<i32>;
  trans: StaticArray<i32>;
  nstates: i32;
  start: i32;
  /** Uses \b or \B: the matcher must track whether the previous byte is a word byte. */
  hasWord: bool;
  /** Every match starts at offset 0: no new thread after the first byte. */
  anchored: bool;
  /** Byte -> equivalence class; bytes of a class behave identically everywhere. */
  classOf: StaticArray<u8> = new StaticArray<u8>(256);
  /** One byte of each class. */
  classRep: StaticArray<u8> = new StaticArray<u8>(256);
  nclasses: i32 = 0;

  constructor(ops: StaticArray<i32>, trans: StaticArray<i32>, start: i32, hasWord: bool, anchored: bool) {
    this.ops = ops;
    this.trans = trans;
    this.nstates = ops.length / 3;
    this.start = start;
    this.hasWord = hasWord;
    this.anchored = anchored;
    this.computeByteClasses();
  }

  private computeByteClasses(): void {
    const boundary = new StaticArray<bool>(256);
    const nt = this.trans.length >> 1;
    for (let i = 0; i < nt; i++) {
      const lh = this.trans[i << 1];
      const lo = lh & 0xff, hi = (lh >> 8) & 0xff;
      if (lo > 0) boundary[lo - 1] = true;
      boundary[hi] = true;
    }
    if (this.hasWord) {
      boundary[0x2f] = true; boundary[0x39] = true;
      boundary[0x40] = true; boundary[0x5a] = true;
      boundary[0x5e] = true; boundary[0x5f] = true;
      boundary[0x60] = true; boundary[0x7a] = true;
      boundary[0x7f] = true; boundary[0xbf] = true; // continuation bytes (for \B)
    }
    let cls = 0;
    for (let b = 0; b < 256; b++) {
      if (b == 0 || boundary[b - 1]) {
        if (b > 0) cls++;
        this.classRep[cls] = u8(b);
      }
      this.classOf[b] = u8(cls);
    }
    this.nclasses = cls + 1;
  }
}

export class CompileResult {
  prog: Program | null = null;
  error: string | null = null;
  /** The error is the program's size (MAX_STATES / MAX_TRANSITIONS). */
  tooLarge: bool = false;
}

class Compiler {
  ops: Array<i32> = new Array<i32>();
  trans: Array<i32> = new Array<i32>();
  cache: Map<i64, i32> = new Map<i64, i32>();
  tooBig: bool = false;
  seqs: Array<i32> = new Array<i32>();
  rootTrans: Array<i32> = new Array<i32>();

  get count(): i32 {
    return this.ops.length / 3;
  }

  newState(op: i32, a: i32, b: i32): i32 {
    const id = this.ops.length / 3;
    if (id >= MAX_STATES || this.trans.length >= MAX_TRANSITIONS * 2) {
      this.tooBig = true;
      return 0;
    }
    this.ops.push(op);
    this.ops.push(a);
    this.ops.push(b);
    return id;
  }

  /** A state with the single transition [lo, hi] -> next, shared. */
  single(lo: i32, hi: i32, next: i32): i32 {
    const key = i64(lo) | (i64(hi) << 8) | (i64(next) << 16);
    if (this.cache.has(key)) return this.cache.get(key);
    const first = this.trans.length >> 1;
    this.trans.push(lo | (hi << 8));
    this.trans.push(next);
    const s = this.newState(OP_BYTES, first, 1);
    this.cache.set(key, s);
    return s;
  }

  compileClass(node: Node, next: i32): i32 {
    let seqs = node.seqs;
    if (seqs == null) {
      // once per class node, however many copies repetition makes
      const tmp = this.seqs;
      tmp.length = 0;
      const set = node.set!;
      const n = set.count;
      for (let i = 0; i < n; i++) utf8Sequences(set.lo(i), set.hi(i), tmp);
      seqs = new StaticArray<i32>(tmp.length);
      for (let i = 0; i < tmp.length; i++) unchecked(seqs[i] = tmp[i]);
      node.seqs = seqs;
    }
    const root = this.rootTrans;
    root.length = 0;
    let i = 0;
    while (i < seqs.length) {
      const len = seqs[i];
      let target = next;
      for (let j = len - 1; j >= 1; j--) {
        target = this.single(seqs[i + 1 + 2 * j], seqs[i + 2 + 2 * j], target);
        if (this.tooBig) return next;
      }
      root.push(seqs[i + 1] | (seqs[i + 2] << 8));
      root.push(target);
      i += 1 + 2 * len;
    }
    if (root.length == 2) {
      // a single sequence: share the root too
      const lh = root[0];
      return this.single(lh & 0xff, lh >> 8, root[1]);
    }
    const first = this.trans.length >> 1;
    for (let k = 0; k < root.length; k++) this.trans.push(root[k]);
    return this.newState(OP_BYTES, first, root.length >> 1);
  }

  compile(node: Node, next: i32): i32 {
    if (this.tooBig) return next;
    switch (node.kind) {
      case NodeKind.Empty:
        return next;
      case NodeKind.Class:
        return this.compileClass(node, next);
      case NodeKind.Assert:
        return this.newState(OP_ASSERT, next, node.assertKind);
      case NodeKind.Concat: {
        let t = next;
        for (let i = node.subs.length - 1; i >= 0; i--) {
          t = this.compile(node.subs[i], t);
          if (this.tooBig) return next;
        }
        return t;
      }
      case NodeKind.Alt: {
        const k = node.subs.length;
        let t = this.compile(node.subs[k - 1], next);
        for (let i = k - 2; i >= 0; i--) {
          const e = this.compile(node.subs[i], next);
          if (this.tooBig) return next;
          t = this.newState(OP_SPLIT, e, t);
        }
        return t;
      }
      case NodeKind.Repeat: {
        const sub = node.subs[0];
        const min = node.min, max = node.max;
        let t = next;
        let copies = min;
        if (max < 0) {
          // x{min,}: (min - 1) copies then x+, or x* when min == 0
          const loop = this.newState(OP_SPLIT, -1, next);
          if (this.tooBig) return next;
          const body = this.compile(sub, loop);
          if (this.tooBig) return next;
          unchecked(this.ops[loop * 3 + 1] = body);
          if (min == 0) {
            t = loop;
          } else {
            t = body;
            copies = min - 1;
          }
        } else {
          // x{min,max}: min copies then (x(x(x)?)?)? with max - min levels
          for (let i = 0; i < max - min; i++) {
            const e = this.compile(sub, t);
            if (this.tooBig) return next;
            t = this.newState(OP_SPLIT, e, next);
          }
        }
        for (let i = 0; i < copies; i++) {
          t = this.compile(sub, t);
          if (this.tooBig) return next;
        }
        return t;
      }
    }
    return next;
  }
}

export function compileProgram(root: Node, anchoredByConstruction: bool): CompileResult {
  const c = new Compiler();
  const res = new CompileResult();
  const match = c.newState(OP_MATCH, 0, 0);
  const start = c.compile(root, match);
  if (c.tooBig) {
    // (the remedy depends on the language: buildMatcher says it)
    res.error = "pattern too large: the compiled program would exceed " + MAX_STATES.toString() + " instructions";
    res.tooLarge = true;
    return res;
  }
  const ops = new StaticArray<i32>(c.ops.length);
  for (let i = 0; i < c.ops.length; i++) unchecked(ops[i] = c.ops[i]);
  const trans = new StaticArray<i32>(c.trans.length);
  for (let i = 0; i < c.trans.length; i++) unchecked(trans[i] = c.trans[i]);
  res.prog = new Program(ops, trans, start, usesWordAssert(root),
    anchoredByConstruction || anchoredAtStart(root));
  return res;
}
