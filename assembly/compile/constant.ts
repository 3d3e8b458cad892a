// Scalar constants of a policy (operands of eq, ne, in, contains) and how a value compares to them.

import { TAG_FALSE, TAG_NULL, TAG_NUMBER, TAG_STRING, TAG_TRUE } from "../abi";
import { JKind, JValue } from "../json/value";

export class Const {
  tag: u8 = TAG_NULL;
  num: f64 = 0;
  ptr: usize = 0;   // UTF-8 bytes of a string constant (kept alive by `buf`)
  len: i32 = 0;
  buf: ArrayBuffer | null = null;
  hash: u32 = 0;

  static fromJson(v: JValue): Const {
    const c = new Const();
    switch (v.kind) {
      case JKind.Null: c.tag = TAG_NULL; break;
      case JKind.False: c.tag = TAG_FALSE; break;
      case JKind.True: c.tag = TAG_TRUE; break;
      case JKind.Number: c.tag = TAG_NUMBER; c.num = v.num; break;
      default: {
        c.tag = TAG_STRING;
        const buf = String.UTF8.encode(v.str);
        c.buf = buf;
        c.ptr = changetype<usize>(buf);
        c.len = buf.byteLength;
      }
    }
    c.hash = hashValue(c.tag, c.num, c.ptr, c.len);
    return c;
  }
}

/** FNV-1a over bytes. */
// @ts-ignore: decorator
@inline export function hashBytes(ptr: usize, len: i32): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i = 0; i < len; i++) {
    h = (h ^ <u32>load<u8>(ptr + <usize>i)) * 0x01000193;
  }
  return h;
}

export function hashValue(tag: u8, num: f64, ptr: usize, len: i32): u32 {
  if (tag == TAG_STRING) return hashBytes(ptr, len);
  if (tag == TAG_NUMBER) {
    const n = num == 0 ? 0.0 : num; // -0 equals 0
    const bits = reinterpret<u64>(n);
    let h = <u32>(bits ^ (bits >> 32)) * 0x9e3779b1;
    return h ^ (h >> 15) ^ 0x5bd1e995;
  }
  return <u32>tag * 0x9e3779b1;
}

/** JSON equality of an encoded value (tag/num/ptr/len) with a constant: same type and value. */
// @ts-ignore: decorator
@inline export function equalsConst(c: Const, tag: u8, num: f64, ptr: usize, len: i32): bool {
  if (tag != c.tag) return false;
  if (tag == TAG_NUMBER) return num == c.num;
  if (tag == TAG_STRING) return len == c.len && memory.compare(ptr, c.ptr, <usize>len) == 0;
  return true;
}
