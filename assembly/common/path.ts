// Field paths (spec section 1): `args.amount`, `args["file.name"]`, `["all"]`.

import { MAX_PATH_SEGMENTS } from "../abi";

export class ParsedPath {
  segments: Array<string> = [];
  error: string | null = null;
}

function isPlainChar(c: i32): bool {
  // Characters that force the bracket form (spec section 1): dot, brackets, a quote (double or
  // single), space.
  return c != 0x2e && c != 0x5b && c != 0x5d && c != 0x22 && c != 0x27 && c != 0x20;
}

export function parsePath(text: string): ParsedPath {
  const out = new ParsedPath();
  const n = text.length;
  let i = 0;
  if (n == 0) { out.error = "empty field path"; return out; }
  while (true) {
    if (i < n && text.charCodeAt(i) == 0x5b) {
      // ["..."] segment
      if (i + 1 >= n || text.charCodeAt(i + 1) != 0x22) { out.error = "expected '\"' after '[' in field path '" + text + "'"; return out; }
      i += 2;
      let seg = "";
      let closed = false;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c == 0x5c) {
          if (i + 1 >= n) break;
          const e = text.charCodeAt(i + 1);
          if (e != 0x22 && e != 0x5c) { out.error = "invalid escape '\\" + String.fromCharCode(e) + "' in field path '" + text + "' (only \\\" and \\\\)"; return out; }
          seg += String.fromCharCode(e);
          i += 2;
          continue;
        }
        if (c == 0x22) { closed = true; i++; break; }
        seg += String.fromCharCode(c);
        i++;
      }
      if (!closed || i >= n || text.charCodeAt(i) != 0x5d) { out.error = "unclosed '[\"' in field path '" + text + "'"; return out; }
      i++;
      out.segments.push(seg);
    } else {
      const start = i;
      while (i < n && isPlainChar(text.charCodeAt(i))) i++;
      if (i == start) { out.error = "empty segment in field path '" + text + "'"; return out; }
      const seg = text.substring(start, i);
      if (out.segments.length == 0 && (seg == "all" || seg == "any" || seg == "not")) {
        out.error = "a top-level key named '" + seg + "' must be written [\"" + seg + "\"] in field path '" + text + "'";
        return out;
      }
      out.segments.push(seg);
    }
    if (out.segments.length > MAX_PATH_SEGMENTS) { out.error = "field path '" + text + "' has more than 16 segments"; return out; }
    if (i == n) return out;
    const c = text.charCodeAt(i);
    if (c == 0x2e) {
      i++;
      if (i == n) { out.error = "field path '" + text + "' ends with '.'"; return out; }
      continue;
    }
    if (c == 0x5b) continue;
    // (A single quote is shown in double quotes: three single quotes would not read as one.)
    out.error = "unexpected " + (c == 0x27 ? "\"'\"" : "'" + String.fromCharCode(c) + "'") + " in field path '" + text + "'";
    return out;
  }
  return out;
}
