// The evaluation image (docs/abi.md, "Images"): everything `evaluate` reads, serialised by an
// instance that compiled a policy so that a fresh instance can load it without compiling. Under
// the stub runtime nothing allocated while compiling is ever freed (about 50 bytes per byte of
// canonical manifest: the JSON tree, the manifest's objects, the condition trees, the writers'
// arrays); an instance that only loads an image holds the flat code, the frozen tool index, the
// matchers and its input and result regions, and no garbage.
//
// An image is 32-bit little-endian words:
//
//   header (16 words)  MAGIC, ABI_VERSION, byte length, field count, default decision, tool slot,
//                      code words, index words, the index's all / unconstrained / exact-table
//                      offsets, exact count, prefix-table offset (word offsets from the index
//                      block), prefix-length count, matcher count, counter count
//   resident block     the flat code (compile/code.ts) then the frozen tool index
//                      (compile/tool-index.ts, FlatWriter), used in place by the loading instance
//   prefix lengths     the tool index's distinct prefix lengths
//   matchers           per matcher: mode, engine, start, flags (1 hasWord, 2 anchored), lit
//                      length, prefilter length, ops length, trans length, then the lit and
//                      prefilter bytes (each padded to a word), ops and trans: its NFA program
//   counters           per counter: its `when`'s byte offset in the code (-1: none), sum slot,
//                      number of `per` slots, the slots
//
// Pointers do not survive the copy, so the image holds none: a Glob/Regex node's matcher word
// holds the matcher's index in the image, a Needle node's substring word holds 1 (a KMP table to
// build from the needle that follows it) or 0, and the tool index's rule code addresses are byte
// offsets from the start of the code. Loading turns them back into addresses, builds each matcher
// from its program (the same program, not a recompiled pattern) and each KMP table from its
// needle.

import { ABI_VERSION } from "../abi";
import { Matcher } from "../regex/index";
import { Program } from "../regex/program";
import { CounterInfo } from "../manifest/manifest";
import { CodeBlock } from "./code";
import { Operand, operatorOf, TestOp } from "./operators";
import { CondOp } from "./program";
import { Substring } from "./substring";
import { rebaseIndex, ToolIndex } from "./tool-index";

const MAGIC: u32 = 0x4d494754; // "TGIM"
const HEADER_WORDS: i32 = 16;

/** What an instance needs to decide: its compiled policy, or the one it loaded. */
export class Evaluation {
  constructor(
    public index: ToolIndex,
    public defaultDecision: u8,
    public fieldCount: i32,
    public counters: StaticArray<CounterInfo>,
  ) {}
}

// The walker's mode and tables (a walk runs to completion, never re-entered).
const COLLECT = 0;   // compile side: number every distinct matcher, in order of first use
const TO_IMAGE = 1;  // compile side, on the image's copy: pointers -> indexes / flags
const FROM_IMAGE = 2; // load side, in place: indexes / flags -> pointers
let mode = COLLECT;
let matcherIds: Map<usize, i32> = new Map();
let matcherList: Array<Matcher> = [];
let loaded: StaticArray<usize> = new StaticArray<usize>(0);
/** Set when a node's size is impossible (a damaged image): the walk stops, loading fails. */
let broken = false;

// @ts-ignore: decorator
@inline function nodeEnd(p: usize): usize { return p + (<usize>(load<u32>(p) >>> 8) << 2); }

/** Visits the nodes of the block [p, end): rule and counter conditions back to back. */
function walkBlock(p: usize, end: usize): void {
  while (p < end && !broken) {
    const next = nodeEnd(p);
    if (next <= p || next > end) { broken = true; return; }
    walkCond(p, next);
    p = next;
  }
}

function walkCond(p: usize, end: usize): void {
  const op = load<i32>(p) & 0xff;
  if (op == CondOp.Field || op == CondOp.Counter) {
    walkTest(p + 8, end);
    return;
  }
  // All, Any: children; Not: one child
  for (let q = p + 4; q < end && !broken; ) {
    const next = nodeEnd(q);
    if (next <= q || next > end) { broken = true; return; }
    walkCond(q, next);
    q = next;
  }
}

function walkTest(t: usize, limit: usize): void {
  const end = nodeEnd(t);
  if (end <= t || end > limit) { broken = true; return; }
  const op = load<i32>(t) & 0xff;
  if (op == TestOp.All) {
    for (let q = t + 4; q < end && !broken; q = nodeEnd(q)) walkTest(q, end);
    return;
  }
  if (op > <i32>TestOp.Every) { broken = true; return; }
  switch (operatorOf(<TestOp>op).operand) {
    case Operand.Glob: case Operand.Regex: {
      const w = load<u32>(t, 4);
      if (mode == COLLECT) {
        if (!matcherIds.has(<usize>w)) {
          matcherIds.set(<usize>w, matcherList.length);
          matcherList.push(changetype<Matcher>(<usize>w));
        }
      } else if (mode == TO_IMAGE) {
        store<u32>(t, <u32>matcherIds.get(<usize>w), 4);
      } else {
        if (w >= <u32>loaded.length) { broken = true; return; }
        store<u32>(t, <u32>unchecked(loaded[w]), 4);
      }
      break;
    }
    case Operand.Needle: {
      const w = load<u32>(t, 4);
      if (mode == TO_IMAGE) store<u32>(t, w != 0 ? 1 : 0, 4);
      else if (mode == FROM_IMAGE && w != 0) {
        // the needle: const tag at +8, byte length at +12, bytes at +16 (a string: it has a table)
        const len = load<i32>(t, 12);
        if (len < 0 || t + 16 + <usize>len > end) { broken = true; return; }
        store<u32>(t, <u32>changetype<usize>(new Substring(t + 16, len)), 4);
      }
      break;
    }
    case Operand.Test: {
      walkTest(t + 4, end);
      break;
    }
    default: break;
  }
}

// @ts-ignore: decorator
@inline function padded(bytes: i32): i32 { return (bytes + 3) >> 2; }

function matcherWords(m: Matcher): i32 {
  const p = m.prog;
  return 8 + padded(m.litLen) + padded(m.dfa.preLen) + p.ops.length + p.trans.length;
}

function putBytes(at: usize, src: usize, len: i32): usize {
  memory.copy(at, src, <usize>len);
  const end = at + (<usize>padded(len) << 2);
  memory.fill(at + <usize>len, 0, end - (at + <usize>len));
  return end;
}

/**
 * Writes the image of a compiled policy into one fresh 8-byte aligned block and returns its
 * address; its byte length is the header's third word.
 */
export function writeImage(e: Evaluation, code: CodeBlock): usize {
  const index = e.index;
  // 1. The matchers the code uses, numbered in order of first use.
  mode = COLLECT;
  matcherIds = new Map();
  matcherList = [];
  broken = false;
  const codeEnd = code.base + (<usize>code.words << 2);
  walkBlock(code.base, codeEnd);
  const counters = e.counters;
  let words = HEADER_WORDS + code.words + index.flatWords + index.prefixLengths.length;
  for (let i = 0; i < matcherList.length; i++) words += matcherWords(matcherList[i]);
  for (let i = 0; i < counters.length; i++) words += 3 + counters[i].perSlots.length;
  const img = (heap.alloc(<usize>words * 4 + 8) + 7) & ~<usize>7;

  // 2. The resident block: code and index, pointers made position-free.
  const res = img + (<usize>HEADER_WORDS << 2);
  memory.copy(res, code.base, <usize>code.words << 2);
  const flat = res + (<usize>code.words << 2);
  memory.copy(flat, index.flat, <usize>index.flatWords << 2);
  mode = TO_IMAGE;
  walkBlock(res, flat);
  const allAt = <i32>((index.allBucket - index.flat) >> 2);
  const unconstrainedAt = <i32>((index.unconstrainedBucket - index.flat) >> 2);
  const exactAt = <i32>((index.exactTable - index.flat) >> 2);
  const prefixAt = <i32>((index.prefixTable - index.flat) >> 2);
  rebaseIndex(flat, allAt, unconstrainedAt, exactAt, prefixAt, <u32>0 - <u32>code.base);

  // 3. The header.
  store<u32>(img, MAGIC);
  store<u32>(img, ABI_VERSION, 4);
  store<u32>(img, <u32>words * 4, 8);
  store<i32>(img, e.fieldCount, 12);
  store<i32>(img, e.defaultDecision, 16);
  store<i32>(img, index.toolSlot, 20);
  store<i32>(img, code.words, 24);
  store<i32>(img, index.flatWords, 28);
  store<i32>(img, allAt, 32);
  store<i32>(img, unconstrainedAt, 36);
  store<i32>(img, exactAt, 40);
  store<i32>(img, index.exactCount, 44);
  store<i32>(img, prefixAt, 48);
  store<i32>(img, index.prefixLengths.length, 52);
  store<i32>(img, matcherList.length, 56);
  store<i32>(img, counters.length, 60);

  // 4. The sections after the resident block.
  let p = flat + (<usize>index.flatWords << 2);
  const lengths = index.prefixLengths;
  for (let i = 0; i < lengths.length; i++, p += 4) store<i32>(p, lengths[i]);
  for (let i = 0; i < matcherList.length; i++) {
    const m = matcherList[i];
    const prog = m.prog;
    const dfa = m.dfa;
    store<i32>(p, m.mode);
    store<i32>(p, m.engine, 4);
    store<i32>(p, prog.start, 8);
    store<i32>(p, (prog.hasWord ? 1 : 0) | (prog.anchored ? 2 : 0), 12);
    store<i32>(p, m.litLen, 16);
    store<i32>(p, dfa.preLen, 20);
    store<i32>(p, prog.ops.length, 24);
    store<i32>(p, prog.trans.length, 28);
    p += 32;
    p = putBytes(p, changetype<usize>(m.lit), m.litLen);
    p = putBytes(p, changetype<usize>(dfa.pre), dfa.preLen);
    memory.copy(p, changetype<usize>(prog.ops), <usize>prog.ops.length << 2);
    p += <usize>prog.ops.length << 2;
    memory.copy(p, changetype<usize>(prog.trans), <usize>prog.trans.length << 2);
    p += <usize>prog.trans.length << 2;
  }
  for (let i = 0; i < counters.length; i++) {
    const c = counters[i];
    store<i32>(p, c.when.code == 0 ? -1 : <i32>(c.when.code - code.base));
    store<i32>(p, c.sumSlot, 4);
    store<i32>(p, c.perSlots.length, 8);
    p += 12;
    for (let k = 0; k < c.perSlots.length; k++, p += 4) store<i32>(p, c.perSlots[k]);
  }
  matcherIds = new Map();
  matcherList = [];
  return img;
}

/**
 * Loads the image of `len` bytes at `img` (8-byte aligned) in place: its resident block becomes
 * this instance's code and tool index. Returns null when it is not an image of this ABI or is
 * damaged (the instance then has no policy; the host drops it).
 */
export function readImage(img: usize, len: i32): Evaluation | null {
  if (len < HEADER_WORDS * 4 || (img & 7) != 0) return null;
  if (load<u32>(img) != MAGIC || load<u32>(img, 4) != <u32>ABI_VERSION || load<u32>(img, 8) != <u32>len) return null;
  const fieldCount = load<i32>(img, 12);
  const defaultDecision = load<i32>(img, 16);
  const toolSlot = load<i32>(img, 20);
  const codeWords = load<i32>(img, 24);
  const flatWords = load<i32>(img, 28);
  const nLengths = load<i32>(img, 52);
  const nMatchers = load<i32>(img, 56);
  const nCounters = load<i32>(img, 60);
  const end = img + <usize>len;
  if (fieldCount < 0 || codeWords < 0 || flatWords < 0 || nLengths < 0 || nMatchers < 0 || nCounters < 0) return null;
  if (defaultDecision < 0 || defaultDecision > 2 || toolSlot >= fieldCount) return null;
  for (let o = 32; o <= 48; o += 4) {
    if (o == 44) continue; // the exact count
    const at = load<i32>(img + <usize>o);
    if (at < 0 || at >= flatWords) return null;
  }
  const res = img + (<usize>HEADER_WORDS << 2);
  const flat = res + (<usize>codeWords << 2);
  let p = flat + (<usize>flatWords << 2);
  if (<u64>p + (<u64>nLengths << 2) > <u64>end) return null;
  const lengths = new StaticArray<i32>(nLengths);
  for (let i = 0; i < nLengths; i++, p += 4) lengths[i] = load<i32>(p);

  const matchers = new StaticArray<usize>(nMatchers);
  for (let i = 0; i < nMatchers; i++) {
    if (p + 32 > end) return null;
    const litLen = load<i32>(p, 16);
    const preLen = load<i32>(p, 20);
    const opsLen = load<i32>(p, 24);
    const transLen = load<i32>(p, 28);
    if (litLen < 0 || preLen < 0 || opsLen < 3 || opsLen % 3 != 0 || transLen < 0 || (transLen & 1) != 0) return null;
    const size = <u64>32 + (<u64>padded(litLen) << 2) + (<u64>padded(preLen) << 2) + (<u64>opsLen << 2) + (<u64>transLen << 2);
    if (<u64>p + size > <u64>end) return null;
    const matcherMode = load<i32>(p);
    const engine = load<i32>(p, 4);
    const start = load<i32>(p, 8);
    const flags = load<i32>(p, 12);
    let q = p + 32;
    const lit = new Array<u8>(litLen);
    for (let k = 0; k < litLen; k++) unchecked(lit[k] = load<u8>(q + <usize>k));
    q += <usize>padded(litLen) << 2;
    const pre = new Array<u8>(preLen);
    for (let k = 0; k < preLen; k++) unchecked(pre[k] = load<u8>(q + <usize>k));
    q += <usize>padded(preLen) << 2;
    const ops = new StaticArray<i32>(opsLen);
    memory.copy(changetype<usize>(ops), q, <usize>opsLen << 2);
    q += <usize>opsLen << 2;
    const trans = new StaticArray<i32>(transLen);
    memory.copy(changetype<usize>(trans), q, <usize>transLen << 2);
    q += <usize>transLen << 2;
    if (start < 0 || start >= opsLen / 3) return null;
    const m = new Matcher(new Program(ops, trans, start, (flags & 1) != 0, (flags & 2) != 0), matcherMode, lit, pre);
    m.engine = engine;
    matchers[i] = changetype<usize>(m);
    p = q;
  }

  const counters = new StaticArray<CounterInfo>(nCounters);
  for (let i = 0; i < nCounters; i++) {
    if (p + 12 > end) return null;
    const when = load<i32>(p);
    const n = load<i32>(p, 8);
    if (n < 0 || when < -1 || when >= codeWords * 4 || <u64>p + 12 + (<u64>n << 2) > <u64>end) return null;
    const c = new CounterInfo();
    c.when.code = when < 0 ? 0 : res + <usize>when;
    c.sumSlot = load<i32>(p, 4);
    p += 12;
    for (let k = 0; k < n; k++, p += 4) c.perSlots.push(load<i32>(p));
    counters[i] = c;
  }
  if (p != end) return null;

  mode = FROM_IMAGE;
  loaded = matchers;
  broken = false;
  walkBlock(res, flat);
  loaded = new StaticArray<usize>(0);
  if (broken) return null;
  rebaseIndex(flat, load<i32>(img, 32), load<i32>(img, 36), load<i32>(img, 40), load<i32>(img, 48), <u32>res);
  const index = new ToolIndex(toolSlot, null);
  index.adopt(flat, flatWords, load<i32>(img, 32), load<i32>(img, 36), load<i32>(img, 40), load<i32>(img, 44),
    load<i32>(img, 48), lengths);
  return new Evaluation(index, <u8>defaultDecision, fieldCount, counters);
}
