// Syntax tree shared by the regular-expression and glob front ends.

import { RangeSet } from "./charclass";

export const enum NodeKind {
  Empty = 0,   // matches the empty string
  Class = 1,   // one code point from `set` (a literal is a one-element class)
  Concat = 2,
  Alt = 3,
  Repeat = 4,  // subs[0] repeated min..max times (max -1: unbounded)
  Assert = 5,  // zero-width assertion `assertKind`
}

export const enum AssertKind {
  Bol = 1,        // ^ : start of text
  Eol = 2,        // $ : end of text
  WordB = 3,      // \b
  NotWordB = 4,   // \B
}

export class Node {
  kind: i32;
  set: RangeSet | null = null;
  subs: Array<Node> = new Array<Node>();
  min: i32 = 0;
  max: i32 = 0;
  assertKind: i32 = 0;
  /** Class: its UTF-8 byte-range sequences, computed once by the compiler. */
  seqs: StaticArray<i32> | null = null;

  constructor(kind: i32) {
    this.kind = kind;
  }

  static empty(): Node {
    return new Node(NodeKind.Empty);
  }

  static cls(set: RangeSet): Node {
    const n = new Node(NodeKind.Class);
    set.canonicalize();
    n.set = set;
    return n;
  }

  static literal(cp: i32, fold: bool): Node {
    const s = new RangeSet();
    s.add(cp, cp);
    if (fold) s.foldAscii();
    return Node.cls(s);
  }

  static assert(kind: i32): Node {
    const n = new Node(NodeKind.Assert);
    n.assertKind = kind;
    return n;
  }

  static repeat(sub: Node, min: i32, max: i32): Node {
    const n = new Node(NodeKind.Repeat);
    n.subs.push(sub);
    n.min = min;
    n.max = max;
    return n;
  }

  /** Concat/Alt of `items`, collapsing the trivial cases. */
  static list(kind: i32, items: Array<Node>): Node {
    if (items.length == 0) return Node.empty();
    if (items.length == 1) return items[0];
    const n = new Node(kind);
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (it.kind == kind) {
        for (let j = 0; j < it.subs.length; j++) n.subs.push(it.subs[j]);
      } else if (kind == NodeKind.Concat && it.kind == NodeKind.Empty) {
        // drop
      } else {
        n.subs.push(it);
      }
    }
    if (n.subs.length == 0) return Node.empty();
    if (n.subs.length == 1) return n.subs[0];
    return n;
  }

  /** The code point of a plain literal, or -1. */
  literalCp(): i32 {
    if (this.kind != NodeKind.Class) return -1;
    return this.set!.single();
  }
}

/** True when the tree uses \b or \B. */
export function usesWordAssert(n: Node): bool {
  if (n.kind == NodeKind.Assert) {
    return n.assertKind == AssertKind.WordB || n.assertKind == AssertKind.NotWordB;
  }
  for (let i = 0; i < n.subs.length; i++) if (usesWordAssert(n.subs[i])) return true;
  return false;
}

/** True when every match must start at the start of the text (a leading ^). */
export function anchoredAtStart(n: Node): bool {
  switch (n.kind) {
    case NodeKind.Assert:
      return n.assertKind == AssertKind.Bol;
    case NodeKind.Concat:
      return n.subs.length > 0 && anchoredAtStart(n.subs[0]);
    case NodeKind.Alt: {
      for (let i = 0; i < n.subs.length; i++) if (!anchoredAtStart(n.subs[i])) return false;
      return true;
    }
    case NodeKind.Repeat:
      return n.min >= 1 && anchoredAtStart(n.subs[0]);
  }
  return false;
}
