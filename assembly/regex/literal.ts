// Byte-string search used by the literal fast paths and the DFA prefilter.
// SIMD: compares 16 candidate positions at once on the needle's first and
// last bytes, then verifies the candidates.

/** Offset of the first occurrence of byte `c` in [from, len), or -1. */
export function findByte(hp: usize, len: i32, from: i32, c: u8): i32 {
  let i = from;
  const vc = i8x16.splat(<i8>c);
  while (i + 16 <= len) {
    const m = i8x16.bitmask(i8x16.eq(v128.load(hp + <usize>i), vc));
    if (m != 0) return i + ctz(m);
    i += 16;
  }
  while (i < len) {
    if (load<u8>(hp + <usize>i) == c) return i;
    i++;
  }
  return -1;
}

/** Offset of the first occurrence of needle [np, np+nlen) in haystack [hp+from, hp+len), or -1. */
export function findBytes(hp: usize, len: i32, from: i32, np: usize, nlen: i32): i32 {
  if (nlen == 0) return from <= len ? from : -1;
  if (nlen == 1) return findByte(hp, len, from, load<u8>(np));
  const last = len - nlen; // last possible start
  if (from > last) return -1;
  const first = load<u8>(np);
  const lastB = load<u8>(np + <usize>(nlen - 1));
  const vf = i8x16.splat(<i8>first);
  const vl = i8x16.splat(<i8>lastB);
  const mid = <usize>(nlen - 2);
  let i = from;
  while (i + 15 <= last) {
    const a = v128.load(hp + <usize>i);
    const b = v128.load(hp + <usize>(i + nlen - 1));
    let m = i8x16.bitmask(v128.and(i8x16.eq(a, vf), i8x16.eq(b, vl)));
    while (m != 0) {
      const k = ctz(m);
      if (mid == 0 || memory.compare(hp + <usize>(i + k + 1), np + 1, mid) == 0) return i + k;
      m &= m - 1;
    }
    i += 16;
  }
  for (; i <= last; i++) {
    if (load<u8>(hp + <usize>i) == first && load<u8>(hp + <usize>(i + nlen - 1)) == lastB &&
        (mid == 0 || memory.compare(hp + <usize>(i + 1), np + 1, mid) == 0)) return i;
  }
  return -1;
}

/** Do the bytes at [a, a+n) equal those at [b, b+n)? */
@inline export function bytesEqual(a: usize, b: usize, n: i32): bool {
  return n == 0 || memory.compare(a, b, <usize>n) == 0;
}
