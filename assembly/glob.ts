// Glob patterns (spec section 3, "Glob patterns"), compiled to the same
// syntax tree and matcher as regular expressions, matching the whole string:
//   *      any run of code points except '/'      -> [^/]*
//   **     any run, '/' included                  -> (?s:.)*
//   ?      one code point except '/'              -> [^/]
//   [abc] [a-z] [!a-z]  one code point of / not of the class, never '/'
//   {a,b}  one of the literal alternatives (no wildcards, no nesting)
//   \c     the character c
// A leading or trailing `**` is dropped together with the anchor it sits
// next to (`**.txt` is "ends with .txt"), which lets the literal fast paths
// and the DFA's prefilter apply.

import { codePointAt, unitAt } from "./regex/source";
import { Node, NodeKind, AssertKind } from "./regex/ast";
import { RangeSet, MAX_CP } from "./regex/charclass";
import { CompiledPattern, buildMatcher } from "./regex/index";

const SLASH: i32 = 0x2f;

function anyChar(): RangeSet {
  const s = new RangeSet();
  s.add(0, MAX_CP);
  return s;
}

function notSlash(): RangeSet {
  const s = new RangeSet();
  s.add(0, SLASH - 1);
  s.add(SLASH + 1, MAX_CP);
  return s;
}

class GlobParser {
  src: string;
  len: i32;
  pos: i32 = 0;
  err: string | null = null;

  constructor(src: string) {
    this.src = src;
    this.len = src.length;
  }

  fail(msg: string, at: i32): Node {
    if (this.err == null) this.err = "invalid glob: " + msg + " (at offset " + at.toString() + ")";
    return Node.empty();
  }

  @inline unit(i: i32): i32 { return unitAt(this.src, this.len, i); }

  /** Code point at i; -2 for an unpaired surrogate, -1 at the end. */
  @inline cp(i: i32): i32 { return codePointAt(this.src, this.len, i); }

  /** Reads one (possibly escaped) character at pos; -1 on error. */
  char(what: string, openedAt: i32): i32 {
    let c = this.cp(this.pos);
    if (c == 0x5c) {
      c = this.cp(this.pos + 1);
      if (c == -1) {
        this.fail("unclosed '" + what + "' (a trailing '\\' escapes nothing)", openedAt);
        return -1;
      }
      this.pos++;
    }
    if (c == -2) {
      this.fail("unpaired UTF-16 surrogate in pattern", this.pos);
      return -1;
    }
    this.pos += c > 0xffff ? 2 : 1;
    return c;
  }

  parseClass(): Node {
    const start = this.pos;
    this.pos++;
    let negate = false;
    if (this.unit(this.pos) == 0x21 /* ! */) {
      negate = true;
      this.pos++;
    }
    const set = new RangeSet();
    let first = true;
    while (true) {
      if (this.pos >= this.len) return this.fail("unclosed '['", start);
      if (this.unit(this.pos) == 0x5d && !first) {
        this.pos++;
        break;
      }
      first = false;
      const itemStart = this.pos;
      const lo = this.char("[", start);
      if (lo < 0) return Node.empty();
      if (this.unit(this.pos) == 0x2d && this.pos + 1 < this.len && this.unit(this.pos + 1) != 0x5d) {
        this.pos++;
        const hi = this.char("[", start);
        if (hi < 0) return Node.empty();
        if (hi < lo) {
          return this.fail("invalid range '" + this.src.substring(itemStart, this.pos) +
            "' in '[...]': start is after end", itemStart);
        }
        set.add(lo, hi);
      } else {
        set.add(lo, lo);
      }
    }
    if (negate) set.negate();
    set.remove(SLASH); // a class never matches '/'
    return Node.cls(set);
  }

  parseBraces(): Node {
    const start = this.pos;
    this.pos++;
    const alts = new Array<Node>();
    let cur = new Array<Node>();
    while (true) {
      if (this.pos >= this.len) return this.fail("unclosed '{'", start);
      const c = this.unit(this.pos);
      if (c == 0x7d /* } */) {
        this.pos++;
        break;
      }
      if (c == 0x2c /* , */) {
        alts.push(Node.list(NodeKind.Concat, cur));
        cur = new Array<Node>();
        this.pos++;
        continue;
      }
      if (c == 0x7b) {
        return this.fail("nested '{' inside '{...}' is not allowed (escape it as '\\{')", this.pos);
      }
      if (c == 0x2a || c == 0x3f || c == 0x5b) {
        return this.fail("'" + String.fromCharCode(c) +
          "' is not allowed inside '{...}': alternatives are literal text (escape it with '\\')", this.pos);
      }
      const ch = this.char("{", start);
      if (ch < 0) return Node.empty();
      cur.push(Node.literal(ch, false));
    }
    alts.push(Node.list(NodeKind.Concat, cur));
    return Node.list(NodeKind.Alt, alts);
  }

  parse(): Array<Node> {
    const items = new Array<Node>();
    while (this.pos < this.len && this.err == null) {
      const c = this.unit(this.pos);
      if (c == 0x2a /* * */) {
        let n = 0;
        while (this.unit(this.pos) == 0x2a) {
          this.pos++;
          n++;
        }
        items.push(Node.repeat(Node.cls(n >= 2 ? anyChar() : notSlash()), 0, -1));
      } else if (c == 0x3f /* ? */) {
        this.pos++;
        items.push(Node.cls(notSlash()));
      } else if (c == 0x5b /* [ */) {
        items.push(this.parseClass());
      } else if (c == 0x7b /* { */) {
        items.push(this.parseBraces());
      } else if (c == 0x5c && this.pos + 1 >= this.len) {
        this.fail("trailing '\\' at end of pattern (write '\\\\' for a backslash)", this.pos);
      } else {
        const ch = this.char("", this.pos);
        if (ch >= 0) items.push(Node.literal(ch, false));
      }
    }
    return items;
  }
}

@inline function isAnyRun(n: Node): bool {
  // the node built for `**`
  if (n.kind != NodeKind.Repeat || n.min != 0 || n.max != -1) return false;
  const s = n.subs[0];
  return s.kind == NodeKind.Class && s.set!.count == 1 && s.set!.lo(0) == 0 && s.set!.hi(0) == MAX_CP;
}

/** Compiles a glob pattern; the result matches whole strings only. */
export function compileGlob(pattern: string): CompiledPattern {
  const p = new GlobParser(pattern);
  const items = p.parse();
  if (p.err != null) return CompiledPattern.fail(p.err!);
  const all = new Array<Node>();
  let from = 0, to = items.length;
  // ^(?s:.*)X  ==  X searched anywhere; X(?s:.*)$  ==  X not anchored at the end
  if (to > 0 && isAnyRun(items[0])) from = 1;
  else all.push(Node.assert(AssertKind.Bol));
  const dropEnd = to > from && isAnyRun(items[to - 1]);
  if (dropEnd) to--;
  for (let i = from; i < to; i++) all.push(items[i]);
  if (!dropEnd) all.push(Node.assert(AssertKind.Eol));
  return buildMatcher(Node.list(NodeKind.Concat, all), false, "glob");
}
