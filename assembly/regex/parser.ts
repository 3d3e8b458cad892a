// Parser for Tollgate's regular-expression subset (spec section 3, "Regular
// expressions"): the linear-time RE2 syntax minus everything the spec leaves
// out. Errors follow RE2/Go's wording where one exists and always say where.

import { codePointAt, unitAt } from "./source";
import { Node, NodeKind, AssertKind } from "./ast";
import { RangeSet, digitSet, wordSet, spaceSet, anyButNewline } from "./charclass";

export const MAX_REPEAT: i32 = 1000;
/**
 * Group nesting limit. Go allows 1000, but parsing and compiling recurse once
 * per level and AssemblyScript's shadow stack (32 KiB with the incremental
 * runtime) overflows at roughly 200 levels; 100 leaves room for the caller.
 */
export const MAX_NESTING: i32 = 100;

const ESC_CP: i32 = 0;
const ESC_SET: i32 = 1;
const ESC_ASSERT: i32 = 2;
const ESC_ERR: i32 = -1;

export class ParseResult {
  node: Node | null = null;
  error: string | null = null;
}

@inline function isDigit(c: i32): bool {
  return u32(c - 0x30) < 10;
}

@inline function isHex(c: i32): bool {
  return isDigit(c) || u32((c | 0x20) - 0x61) < 6;
}

@inline function hexVal(c: i32): i32 {
  return isDigit(c) ? c - 0x30 : (c | 0x20) - 0x61 + 10;
}

/** ASCII punctuation that may be escaped to stand for itself. */
export function isEscapablePunct(c: i32): bool {
  return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
    (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/** Shows a code point in an error message. */
export function showChar(c: i32): string {
  if (c < 0x20 || c == 0x7f) {
    if (c == 10) return "\\n";
    if (c == 13) return "\\r";
    if (c == 9) return "\\t";
    return "\\x" + (c < 16 ? "0" : "") + c.toString(16);
  }
  return String.fromCodePoint(c);
}

class Parser {
  src: string;
  len: i32;
  pos: i32 = 0;
  fold: bool = false;
  depth: i32 = 0;
  err: string | null = null;
  escCp: i32 = 0;
  escSet: RangeSet | null = null;
  escAssert: i32 = 0;

  constructor(src: string) {
    this.src = src;
    this.len = src.length;
  }

  fail(msg: string, at: i32): Node {
    if (this.err == null) {
      this.err = "invalid regular expression: " + msg + " (at offset " + at.toString() + ")";
    }
    return Node.empty();
  }

  failNoOffset(msg: string): Node {
    if (this.err == null) this.err = "invalid regular expression: " + msg;
    return Node.empty();
  }

  @inline unit(i: i32): i32 { return unitAt(this.src, this.len, i); }

  /** Code point at i; -2 for an unpaired surrogate, -1 at the end. */
  @inline cp(i: i32): i32 { return codePointAt(this.src, this.len, i); }

  parse(): ParseResult {
    const res = new ParseResult();
    if (this.src.startsWith("(?i)")) {
      this.fold = true;
      this.pos = 4;
    }
    let node = this.parseAlt();
    if (this.err == null && this.pos < this.len) {
      // parseAlt only stops early at an unmatched ')'
      node = this.fail("unexpected ')' without a matching '('", this.pos);
    }
    if (this.err != null) {
      res.error = this.err;
    } else {
      res.node = node;
    }
    return res;
  }

  parseAlt(): Node {
    const items = new Array<Node>();
    while (true) {
      items.push(this.parseConcat());
      if (this.err != null) return Node.empty();
      if (this.unit(this.pos) == 0x7c /* | */) {
        this.pos++;
        continue;
      }
      break;
    }
    return Node.list(NodeKind.Alt, items);
  }

  /**
   * If a valid repetition `{n}`, `{n,}` or `{n,m}` starts at `i`, returns the
   * offset just after it and sets repMin/repMax; otherwise -1 (then `{` is a
   * literal, as in RE2 and Go).
   */
  repMin: i32 = 0;
  repMax: i32 = 0;
  tryRepeat(i: i32): i32 {
    if (this.unit(i) != 0x7b) return -1;
    i++;
    let j = this.parseInt(i);
    if (j < 0) return -1;
    const min = this.intVal;
    let max = min;
    i = j;
    if (this.unit(i) == 0x2c /* , */) {
      i++;
      if (this.unit(i) == 0x7d /* } */) {
        max = -1;
      } else {
        j = this.parseInt(i);
        if (j < 0) return -1;
        max = this.intVal;
        i = j;
      }
    }
    if (this.unit(i) != 0x7d) return -1;
    this.repMin = min;
    this.repMax = max;
    return i + 1;
  }

  intVal: i32 = 0;
  /** Decimal number at i (no leading zeros, as Go); returns the end or -1. */
  parseInt(i: i32): i32 {
    const start = i;
    if (!isDigit(this.unit(i))) return -1;
    if (this.unit(i) == 0x30 && isDigit(this.unit(i + 1))) return -1;
    let v = 0;
    while (isDigit(this.unit(i))) {
      if (v < 100000000) v = v * 10 + (this.unit(i) - 0x30);
      i++;
    }
    if (i - start > 8) v = 100000000;
    this.intVal = v;
    return i;
  }

  parseConcat(): Node {
    const items = new Array<Node>();
    while (this.pos < this.len) {
      const c = this.unit(this.pos);
      if (c == 0x7c || c == 0x29) break; // | )
      let atom = this.parseAtom();
      if (this.err != null) return Node.empty();
      let lastQ = -1;
      while (true) {
        const qStart = this.pos;
        const q = this.unit(qStart);
        let min = 0, max = -1, end = qStart + 1;
        if (q == 0x2a /* * */) {
          min = 0; max = -1;
        } else if (q == 0x2b /* + */) {
          min = 1; max = -1;
        } else if (q == 0x3f /* ? */) {
          min = 0; max = 1;
        } else if (q == 0x7b /* { */) {
          end = this.tryRepeat(qStart);
          if (end < 0) break;
          min = this.repMin;
          max = this.repMax;
        } else {
          break;
        }
        if (this.unit(end) == 0x3f) end++; // lazy form: same match/no-match
        if (lastQ >= 0) {
          return this.fail("invalid nested repetition operator '" +
            this.src.substring(lastQ, end) + "'", lastQ);
        }
        if (q == 0x7b) {
          if (min > MAX_REPEAT || max > MAX_REPEAT) {
            return this.fail("repetition count in '" + this.src.substring(qStart, end) +
              "' exceeds the maximum of " + MAX_REPEAT.toString(), qStart);
          }
          if (max >= 0 && min > max) {
            return this.fail("invalid repetition '" + this.src.substring(qStart, end) +
              "': minimum exceeds maximum", qStart);
          }
        }
        this.pos = end;
        atom = Node.repeat(atom, min, max);
        lastQ = qStart;
      }
      items.push(atom);
    }
    return Node.list(NodeKind.Concat, items);
  }

  parseAtom(): Node {
    const start = this.pos;
    const c = this.cp(start);
    switch (c) {
      case 0x28: // (
        return this.parseGroup();
      case 0x5b: // [
        return this.parseClass();
      case 0x2e: // .
        this.pos++;
        return Node.cls(anyButNewline());
      case 0x5e: // ^
        this.pos++;
        return Node.assert(AssertKind.Bol);
      case 0x24: // $
        this.pos++;
        return Node.assert(AssertKind.Eol);
      case 0x5c: { // backslash
        const k = this.parseEscape(false);
        if (k == ESC_ERR) return Node.empty();
        if (k == ESC_ASSERT) return Node.assert(this.escAssert);
        if (k == ESC_SET) {
          const s = this.escSet!;
          if (this.fold) s.foldAscii();
          return Node.cls(s);
        }
        return Node.literal(this.escCp, this.fold);
      }
      case 0x2a: case 0x2b: case 0x3f: // * + ?
        return this.fail("missing argument to repetition operator '" +
          String.fromCharCode(c) + "'", start);
      case 0x7b: { // {
        const end = this.tryRepeat(start);
        if (end >= 0) {
          return this.fail("missing argument to repetition operator '" +
            this.src.substring(start, end) + "'", start);
        }
        this.pos++;
        return Node.literal(c, false);
      }
      case -2:
        return this.fail("unpaired UTF-16 surrogate in pattern", start);
    }
    this.pos += c > 0xffff ? 2 : 1;
    return Node.literal(c, this.fold);
  }

  parseGroup(): Node {
    const start = this.pos;
    if (this.unit(start + 1) == 0x3f /* ? */) {
      const c2 = this.unit(start + 2);
      if (c2 == 0x3a /* : */) {
        this.pos = start + 3;
      } else if (c2 == 0x3d || c2 == 0x21) { // = !
        return this.fail("lookahead '(?" + String.fromCharCode(c2) +
          "' is not supported", start);
      } else if (c2 == 0x3c /* < */) {
        const c3 = this.unit(start + 3);
        if (c3 == 0x3d || c3 == 0x21) {
          return this.fail("lookbehind '(?<" + String.fromCharCode(c3) +
            "' is not supported", start);
        }
        return this.fail("named groups are not supported (use '(' or '(?:')", start);
      } else if (c2 == 0x50 /* P */) {
        const c3 = this.unit(start + 3);
        if (c3 == 0x3d /* = */) return this.fail("backreferences are not supported", start);
        if (c3 == 0x3c /* < */) {
          return this.fail("named groups are not supported (use '(' or '(?:')", start);
        }
        return this.fail("unsupported group syntax '(?P'", start);
      } else if (c2 == 0x23 /* # */) {
        return this.fail("comments '(?#...)' are not supported", start);
      } else {
        // a flag group such as (?i), (?s), (?m), (?i:...), (?-i)
        let i = start + 2;
        while (true) {
          const f = this.unit(i);
          if (f == 0x2d || u32((f | 0x20) - 0x61) < 26) i++;
          else break;
        }
        const term = this.unit(i);
        if (term == 0x29 || term == 0x3a) {
          const text = this.src.substring(start, i + 1);
          if (text == "(?i)") {
            return this.fail("the (?i) flag is only allowed at the very start of the expression", start);
          }
          return this.fail("flag group '" + text +
            "' is not supported (the only flag allowed is a leading (?i))", start);
        }
        const shown = this.src.substring(start, min(i + 1, this.len));
        return this.fail("invalid or unsupported group syntax '" + shown + "'", start);
      }
    } else {
      this.pos = start + 1;
    }
    this.depth++;
    if (this.depth > MAX_NESTING) {
      return this.fail("expression nests too deeply (more than " +
        MAX_NESTING.toString() + " groups)", start);
    }
    const node = this.parseAlt();
    if (this.err != null) return node;
    if (this.unit(this.pos) != 0x29) {
      return this.fail("missing closing ')' for the group opened", start);
    }
    this.pos++;
    this.depth--;
    return node;
  }

  /** Parses an escape at pos (the backslash). Returns ESC_* and sets escCp/escSet/escAssert. */
  parseEscape(inClass: bool): i32 {
    const start = this.pos;
    const c = this.cp(start + 1);
    if (c == -1) {
      this.fail("trailing backslash at end of expression", start);
      return ESC_ERR;
    }
    if (c == -2) {
      this.fail("unpaired UTF-16 surrogate in pattern", start + 1);
      return ESC_ERR;
    }
    this.pos = start + 1 + (c > 0xffff ? 2 : 1);
    switch (c) {
      case 0x64: case 0x44: // d D
        this.escSet = digitSet();
        if (c == 0x44) this.escSet!.negate();
        return ESC_SET;
      case 0x77: case 0x57: // w W
        this.escSet = wordSet();
        if (c == 0x57) this.escSet!.negate();
        return ESC_SET;
      case 0x73: case 0x53: // s S
        this.escSet = spaceSet();
        if (c == 0x53) this.escSet!.negate();
        return ESC_SET;
      case 0x62: case 0x42: // b B
        if (inClass) {
          this.fail("'\\" + String.fromCharCode(c) +
            "' is not allowed inside a character class", start);
          return ESC_ERR;
        }
        this.escAssert = c == 0x62 ? AssertKind.WordB : AssertKind.NotWordB;
        return ESC_ASSERT;
      case 0x6e: this.escCp = 10; return ESC_CP;
      case 0x72: this.escCp = 13; return ESC_CP;
      case 0x74: this.escCp = 9; return ESC_CP;
      case 0x78: { // x
        if (this.unit(this.pos) == 0x7b) {
          this.fail("'\\x{...}' escapes are not supported (use \\xHH with exactly two hex digits)", start);
          return ESC_ERR;
        }
        const h1 = this.unit(this.pos), h2 = this.unit(this.pos + 1);
        if (!isHex(h1) || !isHex(h2)) {
          this.fail("invalid escape '\\x': expected exactly two hex digits", start);
          return ESC_ERR;
        }
        this.escCp = (hexVal(h1) << 4) | hexVal(h2);
        this.pos += 2;
        return ESC_CP;
      }
      case 0x30: // 0
        this.fail("octal escapes are not supported (use \\xHH)", start);
        return ESC_ERR;
      case 0x31: case 0x32: case 0x33: case 0x34: case 0x35:
      case 0x36: case 0x37: case 0x38: case 0x39:
        if (isDigit(this.unit(this.pos))) {
          this.fail("octal escapes are not supported (use \\xHH)", start);
          return ESC_ERR;
        }
        this.fail("backreferences are not supported", start);
        return ESC_ERR;
      case 0x6b: case 0x67: // \k<name> \g1
        this.fail("backreferences are not supported", start);
        return ESC_ERR;
      case 0x70: case 0x50: // p P
        this.fail("Unicode character classes ('\\p', '\\P') are not supported", start);
        return ESC_ERR;
      case 0x43: // C
        this.fail("'\\C' (any single byte) is not supported", start);
        return ESC_ERR;
      case 0x41: // A
        this.fail("'\\A' is not supported (use '^': it matches only at the start of the text)", start);
        return ESC_ERR;
      case 0x7a: case 0x5a: // z Z
        this.fail("'\\" + String.fromCharCode(c) +
          "' is not supported (use '$': it matches only at the end of the text)", start);
        return ESC_ERR;
      case 0x51: case 0x45: // Q E
        this.fail("'\\Q...\\E' quoting is not supported (escape each character instead)", start);
        return ESC_ERR;
    }
    if (c < 0x80 && isEscapablePunct(c)) {
      this.escCp = c;
      return ESC_CP;
    }
    this.fail("unsupported escape '\\" + showChar(c) + "'", start);
    return ESC_ERR;
  }

  /** One class item at pos: returns its code point, or -1 with escSet set (or err). */
  classChar(): i32 {
    const c = this.cp(this.pos);
    if (c == 0x5c) {
      const k = this.parseEscape(true);
      if (k == ESC_ERR) return -1;
      if (k == ESC_SET) return -1;
      this.escSet = null;
      return this.escCp;
    }
    if (c == -2) {
      this.fail("unpaired UTF-16 surrogate in pattern", this.pos);
      return -1;
    }
    this.escSet = null;
    this.pos += c > 0xffff ? 2 : 1;
    return c;
  }

  parseClass(): Node {
    const start = this.pos;
    this.pos++;
    const set = new RangeSet();
    let negate = false;
    if (this.unit(this.pos) == 0x5e) {
      negate = true;
      this.pos++;
    }
    let first = true;
    while (true) {
      if (this.pos >= this.len) {
        return this.fail("missing closing ']' for the class opened", start);
      }
      const c = this.unit(this.pos);
      if (c == 0x5d && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (c == 0x5b && this.unit(this.pos + 1) == 0x3a) {
        const close = this.src.indexOf(":]", this.pos + 2);
        if (close >= 0) {
          return this.fail("POSIX character classes like '" +
            this.src.substring(this.pos, close + 2) + "' are not supported", this.pos);
        }
      }
      const itemStart = this.pos;
      const lo = this.classChar();
      if (this.err != null) return Node.empty();
      if (lo < 0) {
        set.addSet(this.escSet!); // as in Go, "[\\d-z]" is \d, '-' and 'z'
        continue;
      }
      if (this.unit(this.pos) == 0x2d && this.pos + 1 < this.len && this.unit(this.pos + 1) != 0x5d) {
        this.pos++;
        const hi = this.classChar();
        if (this.err != null) return Node.empty();
        if (hi < 0) {
          return this.fail("invalid character class range '" +
            this.src.substring(itemStart, this.pos) + "': a class escape cannot be a range bound", itemStart);
        }
        if (hi < lo) {
          return this.fail("invalid character class range '" +
            this.src.substring(itemStart, this.pos) + "': start is after end", itemStart);
        }
        set.add(lo, hi);
      } else {
        set.add(lo, lo);
      }
    }
    set.canonicalize();
    if (this.fold) set.foldAscii();
    if (negate) set.negate();
    return Node.cls(set);
  }
}

export function parseRegex(pattern: string): ParseResult {
  const p = new Parser(pattern);
  return p.parse();
}
