// Reading a pattern's source (a UTF-16 string) by code point, for the regex and glob parsers.

/** UTF-16 unit at i, or -1 at the end. */
// @ts-ignore: decorator
@inline export function unitAt(src: string, len: i32, i: i32): i32 {
  return i < len ? i32(src.charCodeAt(i)) : -1;
}

/** Code point at i; -2 for an unpaired surrogate, -1 at the end. */
export function codePointAt(src: string, len: i32, i: i32): i32 {
  if (i >= len) return -1;
  const c = i32(src.charCodeAt(i));
  if (c < 0xd800 || c > 0xdfff) return c;
  if (c <= 0xdbff && i + 1 < len) {
    const d = i32(src.charCodeAt(i + 1));
    if (d >= 0xdc00 && d <= 0xdfff) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
  }
  return -2;
}
