// Rules indexed by the `tool` constraint they carry, so a decision only evaluates the rules
// that can apply to the action's tool. A rule whose effective condition contains, at its top
// level, `tool: x`, `tool: [x, y]`, `tool: {prefix: p}` or `tool: {glob: g}` is FALSE for every
// string tool that fails that test, so it is skipped for those tools. For an absent or
// non-string tool the test is UNKNOWN, not FALSE, so every rule is evaluated.

import { TAG_STRING } from "../abi";
import { ByteMap } from "./byte-map";
import { Cond, CondOp, Rule, Test, TestOp } from "./program";

/**
 * Rules of one candidate source, split by effect (0 allow, 1 deny, 2 escalate), document order.
 * Once frozen, each effect's list is (rule index, address of its flat condition) pairs.
 */
export class Bucket {
  byEffect: StaticArray<StaticArray<i32>> = new StaticArray<StaticArray<i32>>(3);
  private lists: Array<Array<Rule>> = [[], [], []];

  add(rule: Rule): void { this.lists[rule.effect].push(rule); }

  /** Adds every rule of `other` (both frozen or not, read from its open lists). */
  addAll(other: Bucket): void {
    for (let e = 0; e < 3; e++) {
      const src = other.lists[e];
      for (let i = 0; i < src.length; i++) this.lists[e].push(src[i]);
    }
  }

  /** Freezes with each effect's rules sorted back into document order. */
  freezeSorted(): void {
    for (let e = 0; e < 3; e++) this.lists[e].sort((a: Rule, b: Rule): i32 => a.index - b.index);
    this.freeze();
  }

  freeze(): void {
    for (let e = 0; e < 3; e++) {
      const list = this.lists[e];
      const pairs = new StaticArray<i32>(list.length * 2);
      for (let i = 0; i < list.length; i++) {
        pairs[2 * i] = list[i].index;
        pairs[2 * i + 1] = <i32>list[i].code;
      }
      this.byEffect[e] = pairs;
    }
  }
}

const KIND_NONE = 0;
const KIND_EXACT = 1;
const KIND_PREFIX = 2;

class Constraint {
  kind: i32 = KIND_NONE;
  exact: Array<ArrayBuffer> = [];
  prefix: ArrayBuffer = new ArrayBuffer(0);
  rank: i32 = -1; // higher is more selective
}

export class ToolIndex {
  all: Bucket = new Bucket();
  unconstrained: Bucket = new Bucket();
  private exactIds: ByteMap = new ByteMap();
  private exactBuckets: Array<Bucket> = [];
  private prefixIds: ByteMap = new ByteMap();
  private prefixBuckets: Array<Bucket> = [];
  private prefixKeys: Array<ArrayBuffer> = [];
  /** Per exact tool name: every candidate (unconstrained, exact, matching prefixes), merged. */
  exactList: StaticArray<Bucket> = new StaticArray<Bucket>(0);
  prefixList: StaticArray<Bucket> = new StaticArray<Bucket>(0);
  prefixLengths: StaticArray<i32> = new StaticArray<i32>(0);
  /** Scratch for the candidate sources of one action: preallocated, reused. */
  sources: StaticArray<Bucket> = new StaticArray<Bucket>(0);

  constructor(public toolSlot: i32, rules: Array<Rule>) {
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      this.all.add(r);
      const c = toolSlot < 0 ? new Constraint() : constraintOf(r.conds, toolSlot);
      if (c.kind == KIND_EXACT) {
        for (let k = 0; k < c.exact.length; k++) this.bucketFor(this.exactIds, this.exactBuckets, c.exact[k]).add(r);
      } else if (c.kind == KIND_PREFIX) {
        this.bucketFor(this.prefixIds, this.prefixBuckets, c.prefix).add(r);
      } else {
        this.unconstrained.add(r);
      }
    }
    this.exactList = StaticArray.fromArray<Bucket>(this.mergeExact());
    this.all.freeze();
    this.unconstrained.freeze();
    for (let i = 0; i < this.prefixBuckets.length; i++) this.prefixBuckets[i].freeze();
    this.prefixList = StaticArray.fromArray<Bucket>(this.prefixBuckets);
    const lengths = new Array<i32>();
    for (let i = 0; i < this.prefixKeys.length; i++) {
      const l = this.prefixKeys[i].byteLength;
      if (!lengths.includes(l)) lengths.push(l);
    }
    lengths.sort((a: i32, b: i32): i32 => a - b);
    this.prefixLengths = StaticArray.fromArray<i32>(lengths);
    this.sources = new StaticArray<Bucket>(2 + lengths.length);
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
      b.freezeSorted();
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
      unchecked(sources[0] = this.all);
      return 1;
    }
    if (this.exactList.length > 0) {
      let h: u32 = 0x811c9dc5;
      for (let i = 0; i < len; i++) h = (h ^ <u32>load<u8>(ptr + <usize>i)) * 0x01000193;
      const id = this.exactIds.find(ptr, len, h);
      if (id >= 0) {
        unchecked(sources[0] = unchecked(this.exactList[id]));
        return 1;
      }
    }
    let n = 0;
    unchecked(sources[n++] = this.unconstrained);
    const lengths = this.prefixLengths;
    if (lengths.length > 0) {
      let h: u32 = 0x811c9dc5;
      let done = 0;
      for (let k = 0, m = lengths.length; k < m; k++) {
        const l = unchecked(lengths[k]);
        if (l > len) break;
        for (; done < l; done++) h = (h ^ <u32>load<u8>(ptr + <usize>done)) * 0x01000193;
        const id = this.prefixIds.find(ptr, l, h);
        if (id >= 0) unchecked(sources[n++] = unchecked(this.prefixList[id]));
      }
    }
    return n;
  }
}

function constraintOf(conds: StaticArray<Cond>, toolSlot: i32): Constraint {
  let best = new Constraint();
  for (let i = 0; i < conds.length; i++) best = fromCond(conds[i], toolSlot, best);
  return best;
}

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
  const c = new Constraint();
  if (t.op == TestOp.Eq) {
    c.kind = KIND_EXACT;
    const k = changetype<Const_>(t.constant);
    if (k.tag == TAG_STRING) c.exact.push(changetype<ArrayBuffer>(k.buf));
    c.rank = 1000000 - c.exact.length;
  } else if (t.op == TestOp.In) {
    c.kind = KIND_EXACT;
    const items = changetype<ValueSet_>(t.set).items;
    for (let i = 0; i < items.length; i++) {
      if (items[i].tag == TAG_STRING) c.exact.push(changetype<ArrayBuffer>(items[i].buf));
    }
    c.rank = 1000000 - c.exact.length;
  } else if (t.op == TestOp.Prefix) {
    c.kind = KIND_PREFIX;
    c.prefix = changetype<ArrayBuffer>(changetype<Const_>(t.constant).buf);
    c.rank = c.prefix.byteLength;
  } else if (t.op == TestOp.Glob) {
    c.kind = KIND_PREFIX;
    c.prefix = String.UTF8.encode(literalPrefix(t.pattern));
    c.rank = c.prefix.byteLength;
  } else {
    return best;
  }
  return c.rank > best.rank ? c : best;
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
