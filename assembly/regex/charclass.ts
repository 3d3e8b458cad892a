// Sets of Unicode code points as sorted ranges, and their UTF-8 byte sequences.
// Used only at compile time (allocation is fine here).

export const MAX_CP: i32 = 0x10ffff;

function cmpPair(a: i64, b: i64): i32 {
  return i32(a > b) - i32(a < b);
}

/** A set of code points: pairs [lo0, hi0, lo1, hi1, ...], inclusive. */
export class RangeSet {
  r: Array<i32> = new Array<i32>();

  add(lo: i32, hi: i32): void {
    this.r.push(lo);
    this.r.push(hi);
  }

  addSet(o: RangeSet): void {
    for (let i = 0; i < o.r.length; i++) this.r.push(o.r[i]);
  }

  get count(): i32 {
    return this.r.length >> 1;
  }

  lo(i: i32): i32 { return this.r[i << 1]; }
  hi(i: i32): i32 { return this.r[(i << 1) + 1]; }

  isEmpty(): bool {
    return this.r.length == 0;
  }

  /** Sorts the ranges and merges overlapping or adjacent ones. */
  canonicalize(): void {
    const n = this.r.length >> 1;
    if (n == 0) return;
    // already canonical (the common case): no allocation
    let ok = true;
    for (let i = 1; i < n && ok; i++) {
      if (this.r[i << 1] <= this.r[(i << 1) - 1] + 1) ok = false;
    }
    if (ok) return;
    const keys = new Array<i64>(n);
    for (let i = 0; i < n; i++) {
      keys[i] = (i64(this.r[i << 1]) << 32) | i64(u32(this.r[(i << 1) + 1]));
    }
    keys.sort(cmpPair);
    const out = new Array<i32>();
    let curLo = i32(keys[0] >> 32);
    let curHi = i32(keys[0] & 0xffffffff);
    for (let i = 1; i < n; i++) {
      const lo = i32(keys[i] >> 32);
      const hi = i32(keys[i] & 0xffffffff);
      if (lo <= curHi + 1) {
        if (hi > curHi) curHi = hi;
      } else {
        out.push(curLo);
        out.push(curHi);
        curLo = lo;
        curHi = hi;
      }
    }
    out.push(curLo);
    out.push(curHi);
    this.r = out;
  }

  /** Complement over [0, MAX_CP]. */
  negate(): void {
    this.canonicalize();
    const out = new Array<i32>();
    let next = 0;
    const n = this.r.length >> 1;
    for (let i = 0; i < n; i++) {
      const lo = this.r[i << 1];
      const hi = this.r[(i << 1) + 1];
      if (lo > next) {
        out.push(next);
        out.push(lo - 1);
      }
      next = hi + 1;
    }
    if (next <= MAX_CP) {
      out.push(next);
      out.push(MAX_CP);
    }
    this.r = out;
  }

  /** Adds the ASCII case counterpart of every ASCII letter in the set. */
  foldAscii(): void {
    const n = this.r.length >> 1;
    for (let i = 0; i < n; i++) {
      const lo = this.r[i << 1];
      const hi = this.r[(i << 1) + 1];
      // lower case a-z -> A-Z
      let a = max(lo, 0x61), b = min(hi, 0x7a);
      if (a <= b) this.add(a - 32, b - 32);
      a = max(lo, 0x41);
      b = min(hi, 0x5a);
      if (a <= b) this.add(a + 32, b + 32);
    }
    this.canonicalize();
  }

  /** Removes one code point from the set. */
  remove(cp: i32): void {
    this.negate();
    this.add(cp, cp);
    this.negate();
  }

  /** The only code point of the set, or -1 when it has zero or several. */
  single(): i32 {
    if (this.r.length == 2 && this.r[0] == this.r[1]) return this.r[0];
    return -1;
  }
}

export function digitSet(): RangeSet {
  const s = new RangeSet();
  s.add(0x30, 0x39);
  return s;
}

export function wordSet(): RangeSet {
  const s = new RangeSet();
  s.add(0x30, 0x39);
  s.add(0x41, 0x5a);
  s.add(0x5f, 0x5f);
  s.add(0x61, 0x7a);
  return s;
}

export function spaceSet(): RangeSet {
  // RE2 / Perl \s: [\t\n\f\r ]
  const s = new RangeSet();
  s.add(0x09, 0x0a);
  s.add(0x0c, 0x0d);
  s.add(0x20, 0x20);
  return s;
}

/** Any code point except '\n'. */
export function anyButNewline(): RangeSet {
  const s = new RangeSet();
  s.add(0, 0x09);
  s.add(0x0b, MAX_CP);
  return s;
}

@inline export function isWordByte(b: i32): bool {
  return (u32(b - 0x30) < 10) || (u32((b | 0x20) - 0x61) < 26) || b == 0x5f;
}

// ---------------------------------------------------------------------------
// UTF-8 sequences (after the algorithm of Rust's regex-syntax `Utf8Sequences`)

function maxScalar(nbytes: i32): i32 {
  if (nbytes == 1) return 0x7f;
  if (nbytes == 2) return 0x7ff;
  if (nbytes == 3) return 0xffff;
  return MAX_CP;
}

function encodeUtf8(cp: i32, out: StaticArray<i32>): i32 {
  if (cp < 0x80) {
    out[0] = cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = 0xc0 | (cp >> 6);
    out[1] = 0x80 | (cp & 0x3f);
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = 0xe0 | (cp >> 12);
    out[1] = 0x80 | ((cp >> 6) & 0x3f);
    out[2] = 0x80 | (cp & 0x3f);
    return 3;
  }
  out[0] = 0xf0 | (cp >> 18);
  out[1] = 0x80 | ((cp >> 12) & 0x3f);
  out[2] = 0x80 | ((cp >> 6) & 0x3f);
  out[3] = 0x80 | (cp & 0x3f);
  return 4;
}

/**
 * Appends to `out` the UTF-8 byte-range sequences that together match exactly
 * the code points [lo, hi] (surrogates excluded), in ascending order. Each
 * sequence is written as n, lo1, hi1, ..., loN, hiN.
 */
// Scratch space reused by every call (compile time only, single-threaded).
const seqStack = new Array<i32>();
const seqA = new StaticArray<i32>(4);
const seqB = new StaticArray<i32>(4);

export function utf8Sequences(lo: i32, hi: i32, out: Array<i32>): void {
  const stack = seqStack;
  const a = seqA;
  const b = seqB;
  stack.length = 0;
  stack.push(lo);
  stack.push(hi);
  while (stack.length > 0) {
    let e = stack.pop();
    let s = stack.pop();
    let emitted = false;
    while (!emitted) {
      // split around the surrogate block
      if (s < 0xe000 && e > 0xd7ff) {
        stack.push(0xe000);
        stack.push(e);
        e = 0xd7ff;
        continue;
      }
      if (s > e) break;
      let again = false;
      for (let i = 1; i < 4; i++) {
        const m = maxScalar(i);
        if (s <= m && m < e) {
          stack.push(m + 1);
          stack.push(e);
          e = m;
          again = true;
          break;
        }
      }
      if (again) continue;
      if (e < 0x80) {
        out.push(1);
        out.push(s);
        out.push(e);
        emitted = true;
        break;
      }
      for (let i = 1; i < 4; i++) {
        const m = (1 << (6 * i)) - 1;
        if ((s & ~m) != (e & ~m)) {
          if ((s & m) != 0) {
            stack.push((s | m) + 1);
            stack.push(e);
            e = s | m;
            again = true;
            break;
          }
          if ((e & m) != m) {
            stack.push(e & ~m);
            stack.push(e);
            e = (e & ~m) - 1;
            again = true;
            break;
          }
        }
      }
      if (again) continue;
      const n = encodeUtf8(s, a);
      encodeUtf8(e, b);
      out.push(n);
      for (let i = 0; i < n; i++) {
        out.push(a[i]);
        out.push(b[i]);
      }
      emitted = true;
    }
  }
}

/** UTF-8 bytes of one code point appended to `out`. */
export function appendUtf8(cp: i32, out: Array<u8>): void {
  const a = seqA;
  const n = encodeUtf8(cp, a);
  for (let i = 0; i < n; i++) out.push(u8(a[i]));
}
