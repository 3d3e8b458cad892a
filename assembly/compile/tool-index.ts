// Rules indexed by the `tool` constraint they carry, so a decision only evaluates the rules
// that can apply to the action's tool. A rule whose effective condition contains, at its top
// level, `tool: x`, `tool: [x, y]`, `tool: {prefix: p}` or `tool: {glob: g}` is FALSE for every
// string tool that fails that test, so it is skipped for those tools (the operators that say so
// have a ToolKey in compile/operators.ts). For an absent or non-string tool the test is UNKNOWN,
// not FALSE, so every rule is evaluated.

import { TAG_STRING } from "../abi";
import { ByteMap } from "./byte-map";
import { hashBytes } from "./constant";
import { operatorOf, Operand, TestOp, ToolKey } from "./operators";
import { Cond, CondOp, Rule, Test } from "./program";

/** Rules of one candidate source, split by effect (0 allow, 1 deny, 2 escalate), document order. */
export class Bucket {
  lists: Array<Array<Rule>> = [[], [], []];

  add(rule: Rule): void { this.lists[rule.effect].push(rule); }

  /** Adds every rule of `other`. */
  addAll(other: Bucket): void {
    for (let e = 0; e < 3; e++) {
      const src = other.lists[e];
      for (let i = 0; i < src.length; i++) this.lists[e].push(src[i]);
    }
  }

  /** Sorts each effect's rules back into document order. */
  sort(): void {
    for (let e = 0; e < 3; e++) this.lists[e].sort((a: Rule, b: Rule): i32 => a.index - b.index);
  }
}

/**
 * The frozen index: one block of 32-bit words, so that a lookup touches a few neighbouring cache
 * lines. A bucket is `count[3]` (allow, deny, escalate) then, per effect in that order, `count`
 * pairs (rule index, address of its flat condition). A table of names is `mask`, `mask + 1`
 * slots (word offset of an entry, or -1), then the entries: FNV-1a hash, byte length, the bytes
 * (padded to a word) and the name's bucket. Offsets are in words from the start of the block.
 */
class FlatWriter {
  words: Array<i32> = [];

  /** `named`: a bucket found by the action's tool name (an exact name or a prefix of it), where
   *  the tool conds it implies are TRUE: a rule's code without them (Rule#reducedCode). */
  bucket(b: Bucket, named: bool): i32 {
    const at = this.words.length;
    for (let e = 0; e < 3; e++) this.words.push(b.lists[e].length);
    for (let e = 0; e < 3; e++) {
      const list = b.lists[e];
      for (let i = 0; i < list.length; i++) {
        const r = list[i];
        this.words.push(r.index);
        this.words.push(<i32>(named && r.reducedCode != 0 ? r.reducedCode : r.code));
      }
    }
    return at;
  }

  table(keys: Array<ArrayBuffer>, buckets: Array<Bucket>): i32 {
    const at = this.words.length;
    let cap = 8;
    while (cap < keys.length * 2) cap <<= 1;
    const mask = cap - 1;
    this.words.push(mask);
    for (let i = 0; i < cap; i++) this.words.push(-1);
    for (let id = 0; id < keys.length; id++) {
      const key = keys[id];
      const ptr = changetype<usize>(key);
      const len = key.byteLength;
      const h = hashBytes(ptr, len);
      let s = <i32>(h & <u32>mask);
      while (this.words[at + 1 + s] >= 0) s = (s + 1) & mask;
      this.words[at + 1 + s] = this.words.length;
      this.words.push(<i32>h);
      this.words.push(len);
      for (let i = 0; i < len; i += 4) {
        let w: u32 = 0;
        for (let k = 0; k < 4 && i + k < len; k++) w |= (<u32>load<u8>(ptr + <usize>(i + k))) << (<u32>k * 8);
        this.words.push(<i32>w);
      }
      this.bucket(buckets[id], true);
    }
    return at;
  }

  finish(): usize {
    const n = this.words.length;
    const base = (heap.alloc(<usize>n * 4 + 8) + 7) & ~<usize>7;
    for (let i = 0; i < n; i++) store<i32>(base + (<usize>i << 2), unchecked(this.words[i]));
    return base;
  }
}

/**
 * Adds `delta` to every rule code address of the frozen index at `base` (FlatWriter's layout;
 * the `*At` are word offsets from `base`): an image stores them relative to its code block.
 */
export function rebaseIndex(base: usize, allAt: i32, unconstrainedAt: i32, exactAt: i32, prefixAt: i32, delta: u32): void {
  rebaseBucket(base + (<usize>allAt << 2), delta);
  rebaseBucket(base + (<usize>unconstrainedAt << 2), delta);
  rebaseTable(base, exactAt, delta);
  rebaseTable(base, prefixAt, delta);
}

function rebaseBucket(b: usize, delta: u32): void {
  const n = load<i32>(b) + load<i32>(b, 4) + load<i32>(b, 8);
  for (let i = 0, p = b + 16; i < n; i++, p += 8) store<u32>(p, load<u32>(p) + delta);
}

function rebaseTable(base: usize, at: i32, delta: u32): void {
  const t = base + (<usize>at << 2);
  const mask = load<i32>(t);
  for (let s = 0; s <= mask; s++) {
    const off = load<i32>(t + 4 + (<usize>s << 2));
    if (off < 0) continue;
    const e = base + (<usize>off << 2);
    rebaseBucket(e + 8 + (<usize>((load<i32>(e, 4) + 3) & ~3)), delta);
  }
}

/** The bucket of the bytes [ptr, ptr+len) with FNV-1a hash `h` in the table at `t`, or 0. */
function findIn(t: usize, ptr: usize, len: i32, h: u32): usize {
  const mask = load<u32>(t);
  let s = h & mask;
  while (true) {
    const off = load<i32>(t + 4 + (<usize>s << 2));
    if (off < 0) return 0;
    const e = flatBase + (<usize>off << 2);
    if (load<u32>(e) == h && load<i32>(e, 4) == len && memory.compare(e + 8, ptr, <usize>len) == 0) {
      return e + 8 + (<usize>((len + 3) & ~3));
    }
    s = (s + 1) & mask;
  }
}

let flatBase: usize = 0;

const KIND_NONE = 0;
const KIND_EXACT = 1;
const KIND_PREFIX = 2;

const NO_NAMES = new Array<ArrayBuffer>(0);
const NO_PREFIX = new ArrayBuffer(0);

/** What a rule's top-level conjunction says of the tool: nothing, exact names or a prefix. */
export class Constraint {
  kind: i32 = KIND_NONE;
  exact: Array<ArrayBuffer> = NO_NAMES; // a fresh list for a KIND_EXACT one
  prefix: ArrayBuffer = NO_PREFIX;
  rank: i32 = -1; // higher is more selective
}

/**
 * Each rule's constraint on the tool (the most selective its top-level conjunction has), for
 * the index, which is built once the rules are written. Sets each rule's `impliedConds`: the
 * top-level conds that are `tool` tests of one operator which finding the rule by the action's
 * tool name proves TRUE (`tool: x`, `tool: [x, y]`, `tool: {prefix: p}`: the rule's own and its
 * groups'). Called before the rules are written (compile/code.ts).
 */
export function toolConstraints(rules: Array<Rule>, toolSlot: i32): Array<Constraint> {
  const found = new Array<Constraint>(rules.length);
  for (let i = 0; i < rules.length; i++) {
    const conds = rules[i].conds;
    let best = NONE;
    let top = -1;
    if (toolSlot >= 0) {
      for (let k = 0; k < conds.length; k++) {
        const next = fromCond(conds[k], toolSlot, best);
        if (next != best) {
          best = next;
          top = k;
        }
      }
    }
    unchecked(found[i] = best);
    if (best.kind == KIND_NONE || top < 0) continue;
    let implied: StaticArray<bool> | null = null;
    for (let k = 0; k < conds.length; k++) {
      const c = conds[k];
      // Only a cond that is one test of the tool: not an All of conds, nor a test of several operators.
      if (c.op != CondOp.Field || c.slot != toolSlot || changetype<Test>(c.test).op == TestOp.All) continue;
      if (!provenBy(best, changetype<Test>(c.test))) continue;
      if (implied == null) implied = new StaticArray<bool>(conds.length);
      implied[k] = true;
    }
    rules[i].impliedConds = implied;
  }
  return found;
}

/**
 * Whether every tool that a name lookup by `c` finds passes the tool test `t`: for an exact
 * constraint the tool is one of its names (each checked); for a prefix it starts with the
 * prefix (a group's `tool: {prefix: p}` is proven by any longer prefix, or name, under p).
 * Only `eq`, `in` and `prefix` are decided here; anything else is not proven.
 */
function provenBy(c: Constraint, t: Test): bool {
  if (c.kind == KIND_EXACT) {
    if (c.exact.length == 0) return false;
    for (let i = 0; i < c.exact.length; i++) {
      const name = c.exact[i];
      if (!passes(t, changetype<usize>(name), name.byteLength, false)) return false;
    }
    return true;
  }
  if (c.kind == KIND_PREFIX) return passes(t, changetype<usize>(c.prefix), c.prefix.byteLength, true);
  return false;
}

/** Whether the string tool (ptr, len) passes `t` (`eq`, `in` or `prefix`), statically; with
 *  `onlyPrefix`, (ptr, len) is the start of the tool, so only a `prefix` test can be proven. */
function passes(t: Test, ptr: usize, len: i32, onlyPrefix: bool): bool {
  if (t.op == TestOp.Prefix) {
    const p = changetype<Const_>(t.constant);
    return p.tag == TAG_STRING && p.len <= len && memory.compare(p.ptr, ptr, <usize>p.len) == 0;
  }
  if (onlyPrefix) return false;
  if (t.op == TestOp.Eq) {
    const e = changetype<Const_>(t.constant);
    return e.tag == TAG_STRING && e.len == len && memory.compare(e.ptr, ptr, <usize>len) == 0;
  }
  if (t.op == TestOp.In) return changetype<ValueSet_>(t.set).find(TAG_STRING, 0, ptr, len) >= 0;
  return false;
}

export class ToolIndex {
  all: Bucket = new Bucket();
  unconstrained: Bucket = new Bucket();
  private exactIds: ByteMap = new ByteMap();
  private exactBuckets: Array<Bucket> = [];
  private prefixIds: ByteMap = new ByteMap();
  private prefixBuckets: Array<Bucket> = [];
  private prefixKeys: Array<ArrayBuffer> = [];
  prefixLengths: StaticArray<i32> = new StaticArray<i32>(0);
  /** Scratch for the candidate sources of one action (bucket addresses): preallocated, reused. */
  sources: StaticArray<usize> = new StaticArray<usize>(0);
  /** The frozen index (FlatWriter): bucket addresses and name tables. */
  allBucket: usize = 0;
  unconstrainedBucket: usize = 0;
  /** Per exact tool name: every candidate (unconstrained, exact, matching prefixes), merged. */
  exactTable: usize = 0;
  exactCount: i32 = 0;
  prefixTable: usize = 0;
  /** The FlatWriter block (its first word) and its size in words: what an image copies. */
  flat: usize = 0;
  flatWords: i32 = 0;

  /** Indexes `rules` by their `constraints` (toolConstraints); with null rules, an empty shell
   *  that `adopt` fills from an image. */
  constructor(public toolSlot: i32, rules: Array<Rule> | null, constraints: Array<Constraint> | null = null) {
    if (rules != null) this.build(rules, changetype<Array<Constraint>>(constraints));
  }

  /**
   * Takes over a frozen index already in memory at `base` (`words` words, laid out by FlatWriter,
   * its rule code addresses final): what loading an image does (compile/image.ts). The `*At`
   * arguments are word offsets from `base`.
   */
  adopt(base: usize, words: i32, allAt: i32, unconstrainedAt: i32, exactAt: i32, exactCount: i32, prefixAt: i32,
        prefixLengths: StaticArray<i32>): void {
    flatBase = base;
    this.flat = base;
    this.flatWords = words;
    this.allBucket = base + (<usize>allAt << 2);
    this.unconstrainedBucket = base + (<usize>unconstrainedAt << 2);
    this.exactTable = base + (<usize>exactAt << 2);
    this.exactCount = exactCount;
    this.prefixTable = base + (<usize>prefixAt << 2);
    this.prefixLengths = prefixLengths;
    this.sources = new StaticArray<usize>(2 + prefixLengths.length);
  }

  private build(rules: Array<Rule>, constraints: Array<Constraint>): void {
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      this.all.add(r);
      const c = constraints[i];
      if (c.kind == KIND_EXACT) {
        for (let k = 0; k < c.exact.length; k++) this.bucketFor(this.exactIds, this.exactBuckets, c.exact[k]).add(r);
      } else if (c.kind == KIND_PREFIX) {
        this.bucketFor(this.prefixIds, this.prefixBuckets, c.prefix).add(r);
      } else {
        this.unconstrained.add(r);
      }
    }
    const merged = this.mergeExact();
    const lengths = new Array<i32>();
    for (let i = 0; i < this.prefixKeys.length; i++) {
      const l = this.prefixKeys[i].byteLength;
      if (!lengths.includes(l)) lengths.push(l);
    }
    lengths.sort((a: i32, b: i32): i32 => a - b);
    this.prefixLengths = StaticArray.fromArray<i32>(lengths);
    this.sources = new StaticArray<usize>(2 + lengths.length);
    const w = new FlatWriter();
    const allAt = w.bucket(this.all, false);
    const unconstrainedAt = w.bucket(this.unconstrained, false);
    const exactAt = w.table(this.exactKeys, merged);
    const prefixAt = w.table(this.prefixKeys, this.prefixBuckets);
    const base = w.finish();
    flatBase = base;
    this.flat = base;
    this.flatWords = w.words.length;
    this.allBucket = base + (<usize>allAt << 2);
    this.unconstrainedBucket = base + (<usize>unconstrainedAt << 2);
    this.exactTable = base + (<usize>exactAt << 2);
    this.exactCount = merged.length;
    this.prefixTable = base + (<usize>prefixAt << 2);
  }


  private exactKeys: Array<ArrayBuffer> = [];

  /**
   * For a tool that has an exact bucket, the candidates are known at compile time: its own
   * rules, the unconstrained ones and those of every prefix of its name. Merging them here makes
   * such a lookup one probe and one list per effect.
   */
  private mergeExact(): Array<Bucket> {
    const merged = new Array<Bucket>();
    for (let i = 0; i < this.exactBuckets.length; i++) {
      const key = this.exactKeys[i];
      const b = new Bucket();
      b.addAll(this.exactBuckets[i]);
      b.addAll(this.unconstrained);
      for (let j = 0; j < this.prefixKeys.length; j++) {
        const p = this.prefixKeys[j];
        if (p.byteLength <= key.byteLength && memory.compare(changetype<usize>(p), changetype<usize>(key), <usize>p.byteLength) == 0) {
          b.addAll(this.prefixBuckets[j]);
        }
      }
      b.sort();
      merged.push(b);
    }
    return merged;
  }

  private bucketFor(ids: ByteMap, buckets: Array<Bucket>, key: ArrayBuffer): Bucket {
    const id = ids.intern(key);
    if (id == buckets.length) {
      buckets.push(new Bucket());
      if (ids == this.prefixIds) this.prefixKeys.push(key);
      else this.exactKeys.push(key);
    }
    return buckets[id];
  }

  /**
   * Fills `sources` with the buckets that can hold a rule applying to the tool value
   * (tag, ptr, len) and returns how many. Never allocates.
   */
  candidates(tag: u8, ptr: usize, len: i32): i32 {
    const sources = this.sources;
    if (tag != TAG_STRING) {
      unchecked(sources[0] = this.allBucket);
      return 1;
    }
    if (this.exactCount > 0) {
      const b = findIn(this.exactTable, ptr, len, hashBytes(ptr, len));
      if (b != 0) {
        unchecked(sources[0] = b);
        return 1;
      }
    }
    let n = 0;
    unchecked(sources[n++] = this.unconstrainedBucket);
    const lengths = this.prefixLengths;
    if (lengths.length > 0) {
      let h: u32 = 0x811c9dc5;
      let done = 0;
      for (let k = 0, m = lengths.length; k < m; k++) {
        const l = unchecked(lengths[k]);
        if (l > len) break;
        for (; done < l; done++) h = (h ^ <u32>load<u8>(ptr + <usize>done)) * 0x01000193;
        const b = findIn(this.prefixTable, ptr, l, h);
        if (b != 0) unchecked(sources[n++] = b);
      }
    }
    return n;
  }
}

/** No constraint: shared, never changed (fromTest makes a new one for what it finds). */
const NONE = new Constraint();

function fromCond(c: Cond, toolSlot: i32, best: Constraint): Constraint {
  if (c.op == CondOp.All) {
    for (let i = 0; i < c.children.length; i++) best = fromCond(c.children[i], toolSlot, best);
    return best;
  }
  if (c.op == CondOp.Field && c.slot == toolSlot) return fromTest(changetype<Test>(c.test), best);
  return best;
}

function fromTest(t: Test, best: Constraint): Constraint {
  if (t.op == TestOp.All) {
    for (let i = 0; i < t.children.length; i++) best = fromTest(t.children[i], best);
    return best;
  }
  // What an operator lets the index conclude is its row's toolKey (compile/operators.ts).
  // What an operator lets the index conclude is its row's toolKey (compile/operators.ts). The
  // rank is worked out first: a Constraint is made only when it beats `best`.
  const row = operatorOf(t.op);
  if (row.toolKey == ToolKey.Exact) {
    // A non-string operand matches no string tool: the rule is a candidate only for non-strings.
    let n = 0;
    if (row.operand == Operand.List) {
      const items = changetype<ValueSet_>(t.set).items;
      for (let i = 0; i < items.length; i++) if (items[i].tag == TAG_STRING) n++;
    } else if (changetype<Const_>(t.constant).tag == TAG_STRING) n = 1;
    if (1000000 - n <= best.rank) return best;
    const c = new Constraint();
    c.kind = KIND_EXACT;
    c.exact = new Array<ArrayBuffer>(0);
    if (row.operand == Operand.List) {
      const items = changetype<ValueSet_>(t.set).items;
      for (let i = 0; i < items.length; i++) {
        if (items[i].tag == TAG_STRING) c.exact.push(changetype<ArrayBuffer>(items[i].buf));
      }
    } else if (n == 1) {
      c.exact.push(changetype<ArrayBuffer>(changetype<Const_>(t.constant).buf));
    }
    c.rank = 1000000 - n;
    return c;
  }
  if (row.toolKey == ToolKey.Prefix) {
    const prefix = row.operand == Operand.Glob
      ? String.UTF8.encode(literalPrefix(t.pattern))
      : changetype<ArrayBuffer>(changetype<Const_>(t.constant).buf);
    if (prefix.byteLength <= best.rank) return best;
    const c = new Constraint();
    c.kind = KIND_PREFIX;
    c.prefix = prefix;
    c.rank = prefix.byteLength;
    return c;
  }
  return best;
}

/** The text a glob's matches must start with: everything before its first special character. */
function literalPrefix(glob: string): string {
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charCodeAt(i);
    if (c == 0x2a || c == 0x3f || c == 0x5b || c == 0x7b || c == 0x5c) return glob.substring(0, i);
  }
  return glob;
}

import { Const as Const_ } from "./constant";
import { ValueSet as ValueSet_ } from "./value-set";
