// Correctly rounded decimal -> double for JSON numbers in a manifest (compile time only).
// The standard library's parseFloat can be one ulp off for long mantissas or large exponents,
// which would make `eq: 2.9366928860729787e40` miss the very same number in an action. So the
// first guess is checked, and corrected, with exact big-integer comparisons against the
// midpoints to its neighbours (round half to even), as in Clinger's AlgorithmR.

class BigNat {
  limbs: Array<u32> = [0];

  mulSmall(m: u32): BigNat {
    let carry: u64 = 0;
    for (let i = 0; i < this.limbs.length; i++) {
      const v = <u64>this.limbs[i] * <u64>m + carry;
      this.limbs[i] = <u32>v;
      carry = v >> 32;
    }
    if (carry != 0) this.limbs.push(<u32>carry);
    return this;
  }

  addSmall(a: u32): BigNat {
    let carry: u64 = <u64>a;
    for (let i = 0; i < this.limbs.length && carry != 0; i++) {
      const v = <u64>this.limbs[i] + carry;
      this.limbs[i] = <u32>v;
      carry = v >> 32;
    }
    if (carry != 0) this.limbs.push(<u32>carry);
    return this;
  }

  mulPow10(k: i32): BigNat {
    while (k >= 9) { this.mulSmall(1000000000); k -= 9; }
    let p: u32 = 1;
    while (k-- > 0) p *= 10;
    return this.mulSmall(p);
  }

  shl(bits: i32): BigNat {
    const words = bits >> 5;
    const rest = bits & 31;
    if (rest != 0) this.mulSmall(<u32>1 << rest);
    if (words > 0) {
      const out = new Array<u32>(words);
      for (let i = 0; i < words; i++) out[i] = 0;
      this.limbs = out.concat(this.limbs);
    }
    return this;
  }

  static fromU64(v: u64): BigNat {
    const b = new BigNat();
    b.limbs = [<u32>v];
    if ((v >> 32) != 0) b.limbs.push(<u32>(v >> 32));
    return b;
  }

  private top(): i32 {
    let n = this.limbs.length;
    while (n > 1 && this.limbs[n - 1] == 0) n--;
    return n;
  }

  cmp(o: BigNat): i32 {
    const a = this.top();
    const b = o.top();
    if (a != b) return a < b ? -1 : 1;
    for (let i = a - 1; i >= 0; i--) {
      if (this.limbs[i] != o.limbs[i]) return this.limbs[i] < o.limbs[i] ? -1 : 1;
    }
    return 0;
  }
}

/** Compares digits × 10^exp10 with mant × 2^exp2, exactly. */
function compareExact(digits: string, exp10: i32, mant: u64, exp2: i32): i32 {
  const a = new BigNat();
  for (let i = 0; i < digits.length; i++) a.mulSmall(10).addSmall(<u32>(digits.charCodeAt(i) - 0x30));
  const b = BigNat.fromU64(mant);
  if (exp10 >= 0) a.mulPow10(exp10); else b.mulPow10(-exp10);
  if (exp2 >= 0) b.shl(exp2); else a.shl(-exp2);
  return a.cmp(b);
}

/** m × 10^e in doubles, in steps that neither overflow nor underflow early. */
function scale(m: f64, e: i32): f64 {
  let x = m;
  while (e > 300) { x *= 1e300; e -= 300; }
  while (e < -300) { x /= 1e300; e += 300; }
  return e >= 0 ? x * Math.pow(10, <f64>e) : x / Math.pow(10, <f64>-e);
}

/** Parses a JSON number's text (already validated by the JSON grammar). */
export function parseJsonNumber(text: string): f64 {
  const negative = text.charCodeAt(0) == 0x2d;
  // Significant digits and the decimal exponent that goes with them.
  let digits = "";
  let exp10 = 0;
  let i = negative ? 1 : 0;
  let seenPoint = false;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x2e) { seenPoint = true; continue; }
    if (c == 0x65 || c == 0x45) break;
    if (digits.length == 0 && c == 0x30) { if (seenPoint) exp10--; continue; }
    digits += String.fromCharCode(c);
    if (seenPoint) exp10--;
  }
  if (i < text.length) exp10 += I32.parseInt(text.substring(i + 1));
  if (digits.length == 0) return negative ? -0.0 : 0.0;
  // Beyond these, the value is surely infinite or zero (JSON digits are finite in number).
  if (exp10 + digits.length > 330) return negative ? -Infinity : Infinity;
  if (exp10 + digits.length < -330) return negative ? -0.0 : 0.0;
  // First guess from at most 19 digits; the standard parseFloat is not accurate enough.
  const head = min(digits.length, 19);
  let mant: u64 = 0;
  for (let k = 0; k < head; k++) mant = mant * 10 + <u64>(digits.charCodeAt(k) - 0x30);
  let x = scale(<f64>mant, exp10 + (digits.length - head));
  // Exact when the mantissa and the power of ten are both exact doubles (Clinger's fast path).
  if (digits.length <= 15 && exp10 >= -22 && exp10 <= 22) return negative ? -x : x;
  if (!isFinite(x)) x = f64.MAX_VALUE;
  for (let guard = 0; guard < 64; guard++) {
    const bits = reinterpret<u64>(x);
    const biased = <i32>((bits >> 52) & 0x7ff);
    const frac = bits & 0xfffffffffffff;
    const m: u64 = biased == 0 ? frac : frac | (<u64>1 << 52);
    const q: i32 = biased == 0 ? -1074 : biased - 1075;
    // Against the midpoint to the next double up.
    const up = compareExact(digits, exp10, 2 * m + 1, q - 1);
    if (up > 0 || (up == 0 && (m & 1) == 1)) {
      const next = reinterpret<f64>(bits + 1);
      if (!isFinite(next)) { x = next; break; }
      x = next;
      continue;
    }
    if (m == 0) break;
    // Against the midpoint to the next double down (half as far below a power of two).
    const lowerIsCloser = frac == 0 && biased > 1;
    const down = lowerIsCloser ? compareExact(digits, exp10, 4 * m - 1, q - 2) : compareExact(digits, exp10, 2 * m - 1, q - 1);
    if (down < 0 || (down == 0 && (m & 1) == 1)) {
      x = reinterpret<f64>(bits - 1);
      continue;
    }
    break;
  }
  return negative ? -x : x;
}
