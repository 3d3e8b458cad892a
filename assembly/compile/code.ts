// Rule conditions flattened into one contiguous block of 32-bit words, in document order.
// The object trees (program.ts) are what the compiler builds and the tool index inspects; a
// decision reads only this block. With the stub runtime nothing allocated while reading a
// manifest is ever freed, so object trees end up spread over the whole instance (~800 bytes and
// a dozen scattered objects per rule at 10,000 rules); the flat form keeps a rule in a few
// dozen bytes next to its neighbours, so the rules of one decision share few cache lines and
// pages, and the rules of the whole policy stay within the caches.
//
// Every node starts with a header word: `op | size << 8`, size in words, header included, so a
// list of children is walked by adding sizes. A test's layout follows from its operator's operand
// kind (compile/operators.ts). Layouts (after the header):
//
//   cond All / Any      children...
//   cond Not            child
//   cond Field          slot, test
//   cond Counter        counter index, test
//   test All            children...
//   Scalar, String      const (eq, ne; prefix, suffix: a string)
//   Needle              substring (pointer to its KMP table, 0 for a non-string operand), const (contains)
//   List                mask, slots[mask + 1] (word offset of an item from the node, or -1), items (consts) (in, not_in)
//   Number              f64 (2 words) (gt, gte, lt, lte)
//   Glob, Regex         matcher (pointer) (glob, matches)
//   Bool                flag (exists)
//   Test                inner test (len, some, every)
//
// A const is `tag`, then for a number its f64 (2 words), for a string its byte length and its
// UTF-8 bytes (padded to a word); nothing more for null, false and true.

import { TAG_NUMBER, TAG_STRING } from "../abi";
import { Const } from "./constant";
import { Operand, operatorOf, TestOp } from "./operators";
import { Cond, CondOp, Rule, Test } from "./program";

export class CodeWriter {
  words: Array<i32> = [];
  /** Old matcher address -> its relocated copy (see relocateMatchers). */
  matchers: Map<usize, usize> = new Map();
  /** Every test node written and its word offset: explain evaluates a test at its flat node. */
  placed: Array<Test> = [];
  placedAt: Array<i32> = [];

  private begin(op: i32): i32 {
    const at = this.words.length;
    this.words.push(op);
    return at;
  }

  private end(at: i32): void {
    const size = this.words.length - at;
    this.words[at] = this.words[at] | (size << 8);
  }

  private f64(v: f64): void {
    const bits = reinterpret<u64>(v);
    this.words.push(<i32>(bits & 0xffffffff));
    this.words.push(<i32>(bits >> 32));
  }

  private constant(c: Const): void {
    this.words.push(c.tag);
    if (c.tag == TAG_NUMBER) this.f64(c.num);
    else if (c.tag == TAG_STRING) this.bytes(c.ptr, c.len);
  }

  private bytes(ptr: usize, len: i32): void {
    this.words.push(len);
    for (let i = 0; i < len; i += 4) {
      let w: u32 = 0;
      for (let k = 0; k < 4 && i + k < len; k++) w |= (<u32>load<u8>(ptr + <usize>(i + k))) << (<u32>k * 8);
      this.words.push(<i32>w);
    }
  }

  /** Word offset of the last rule's condition without its implied tool cond (-1: none). */
  reducedAt: i32 = -1;

  /**
   * A rule's effective condition: the conjunction of its conds. Returns its word offset. A rule
   * with an implied tool cond is written All(that cond, All(the others)), which is the same
   * conjunction (Kleene AND is associative and commutative), and `reducedAt` is the inner All:
   * the tool index's name buckets, whose lookup proves the tool cond TRUE, point there.
   */
  rule(r: Rule): i32 {
    const at = this.begin(CondOp.All);
    this.reducedAt = -1;
    const implied = r.impliedConds;
    if (implied != null) {
      for (let i = 0; i < r.conds.length; i++) if (implied[i]) this.cond(r.conds[i]);
      const inner = this.begin(CondOp.All);
      for (let i = 0; i < r.conds.length; i++) if (!implied[i]) this.cond(r.conds[i]);
      this.end(inner);
      this.reducedAt = inner;
    } else {
      for (let i = 0; i < r.conds.length; i++) this.cond(r.conds[i]);
    }
    this.end(at);
    return at;
  }

  cond(c: Cond): void {
    const at = this.begin(c.op);
    if (c.op == CondOp.Field || c.op == CondOp.Counter) {
      this.words.push(c.slot);
      this.test(changetype<Test>(c.test));
    } else {
      for (let i = 0; i < c.children.length; i++) this.cond(c.children[i]);
    }
    this.end(at);
  }

  test(t: Test): void {
    const at = this.begin(t.op);
    this.placed.push(t);
    this.placedAt.push(at);
    if (t.op == TestOp.All) {
      for (let i = 0; i < t.children.length; i++) this.test(t.children[i]);
      this.end(at);
      return;
    }
    switch (operatorOf(t.op).operand) {
      case Operand.Scalar: case Operand.String: {
        this.constant(changetype<Const>(t.constant));
        break;
      }
      case Operand.List: {
        const items = changetype<ValueSet_>(t.set).items; // distinct members
        let cap: i32 = 8;
        while (cap < items.length * 2) cap <<= 1;
        const mask = cap - 1;
        this.words.push(mask);
        const slots = this.words.length;
        for (let i = 0; i < cap; i++) this.words.push(-1);
        for (let i = 0; i < items.length; i++) {
          const c = items[i];
          let s = <i32>(c.hash & <u32>mask);
          while (this.words[slots + s] >= 0) s = (s + 1) & mask;
          this.words[slots + s] = this.words.length - at;
          this.constant(c);
        }
        break;
      }
      case Operand.Number: {
        this.f64(t.num);
        break;
      }
      case Operand.Needle: {
        this.words.push(<i32>changetype<usize>(t.substring));
        this.constant(changetype<Const>(t.constant));
        break;
      }
      case Operand.Glob: case Operand.Regex: {
        this.words.push(<i32>this.matchers.get(changetype<usize>(t.matcher)));
        break;
      }
      case Operand.Bool: {
        this.words.push(t.flag ? 1 : 0);
        break;
      }
      default: { // Operand.Test
        this.test(changetype<Test>(t.inner));
      }
    }
    this.end(at);
  }

  /** Copies the words into one fresh, 8-byte aligned block and returns its address. */
  finish(): usize {
    const n = this.words.length;
    const base = (heap.alloc(<usize>n * 4 + 8) + 7) & ~<usize>7;
    for (let i = 0; i < n; i++) store<i32>(base + (<usize>i << 2), unchecked(this.words[i]));
    return base;
  }
}

/**
 * Gives every matcher the rules use a fresh copy, allocated one after the other in order of
 * first use: the originals sit among the garbage of reading the manifest.
 */
function relocateMatchers(rules: Array<Rule>, map: Map<usize, usize>): void {
  for (let i = 0; i < rules.length; i++) {
    const conds = rules[i].conds;
    for (let k = 0; k < conds.length; k++) condMatchers(conds[k], map);
  }
}

function condMatchers(c: Cond, map: Map<usize, usize>): void {
  if (c.op == CondOp.Field || c.op == CondOp.Counter) testMatchers(changetype<Test>(c.test), map);
  for (let i = 0; i < c.children.length; i++) condMatchers(c.children[i], map);
}

function testMatchers(t: Test, map: Map<usize, usize>): void {
  const m = t.matcher;
  if (m != null && !map.has(changetype<usize>(m))) map.set(changetype<usize>(m), changetype<usize>(m.relocated()));
  const inner = t.inner;
  if (inner != null) testMatchers(inner, map);
  for (let i = 0; i < t.children.length; i++) testMatchers(t.children[i], map);
}

/** Where emitRules put the flat code: one block of `words` 32-bit words (an image copies it). */
export class CodeBlock {
  constructor(public base: usize, public words: i32) {}
}

/**
 * Compiles every rule, and every counter's `when` (as a rule of one condition, `code` 0 when it
 * has none), to flat code and sets each one's `code` address. The block holds the rules' nodes
 * back to back, then the counters' (compile/image.ts walks it node by node).
 */
export function emitRules(rules: Array<Rule>, counterWhens: Array<Rule>): CodeBlock {
  const w = new CodeWriter();
  relocateMatchers(counterWhens, w.matchers);
  relocateMatchers(rules, w.matchers);
  const offsets = new Array<i32>(rules.length);
  const reduced = new Array<i32>(rules.length);
  for (let i = 0; i < rules.length; i++) {
    offsets[i] = w.rule(rules[i]);
    reduced[i] = w.reducedAt;
  }
  const counterOffsets = new Array<i32>(counterWhens.length);
  for (let i = 0; i < counterWhens.length; i++) counterOffsets[i] = counterWhens[i].conds.length == 0 ? -1 : w.rule(counterWhens[i]);
  const base = w.finish();
  // A test shared by several rules (a group's `when`) is written once per rule, identically.
  for (let i = 0; i < w.placed.length; i++) w.placed[i].code = base + (<usize>w.placedAt[i] << 2);
  for (let i = 0; i < rules.length; i++) {
    rules[i].code = base + (<usize>offsets[i] << 2);
    rules[i].reducedCode = reduced[i] < 0 ? 0 : base + (<usize>reduced[i] << 2);
  }
  for (let i = 0; i < counterWhens.length; i++) {
    counterWhens[i].code = counterOffsets[i] < 0 ? 0 : base + (<usize>counterOffsets[i] << 2);
  }
  return new CodeBlock(base, w.words.length);
}

import { ValueSet as ValueSet_ } from "./value-set";
