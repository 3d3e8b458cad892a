// A strict JSON (RFC 8259) reader for the manifest. Compile time only.

import { parseJsonNumber } from "./number";
import { JKind, JValue } from "./value";

const MAX_DEPTH: i32 = 1000;

export class JsonParser {
  private pos: usize;
  private end: usize;
  error: string | null = null;

  constructor(private start: usize, len: i32) {
    this.pos = start;
    this.end = start + <usize>len;
  }

  /** Parses the whole buffer; null (and `error` set) when it is not one JSON value. */
  parse(): JValue | null {
    const v = this.value(0);
    if (v == null) return null;
    this.skipWs();
    if (this.pos != this.end) return this.fail("unexpected data after the JSON value");
    return v;
  }

  private fail(msg: string): JValue | null {
    if (this.error == null) this.error = "manifest is not valid JSON: " + msg + " at byte " + (this.pos - this.start).toString();
    return null;
  }

  private skipWs(): void {
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) this.pos++;
      else break;
    }
  }

  private value(depth: i32): JValue | null {
    if (depth > MAX_DEPTH) return this.fail("nesting too deep");
    this.skipWs();
    if (this.pos >= this.end) return this.fail("unexpected end");
    const c = load<u8>(this.pos);
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.string();
      if (s == null) return null;
      const v = new JValue(JKind.String);
      v.str = s;
      return v;
    }
    if (c == 0x74) return this.word("true", JKind.True);
    if (c == 0x66) return this.word("false", JKind.False);
    if (c == 0x6e) return this.word("null", JKind.Null);
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    return this.fail("unexpected character");
  }

  private word(w: string, kind: JKind): JValue | null {
    const n = w.length;
    if (this.pos + <usize>n > this.end) return this.fail("unexpected end");
    for (let i = 0; i < n; i++) {
      if (<i32>load<u8>(this.pos + <usize>i) != w.charCodeAt(i)) return this.fail("invalid literal");
    }
    this.pos += <usize>n;
    return new JValue(kind);
  }

  private number(): JValue | null {
    const s = this.pos;
    if (load<u8>(this.pos) == 0x2d) this.pos++;
    if (!this.digits()) return this.fail("invalid number");
    if (load<u8>(s + (load<u8>(s) == 0x2d ? 1 : 0)) == 0x30 && this.pos - s > (load<u8>(s) == 0x2d ? 2 : 1)) {
      return this.fail("leading zero in number");
    }
    if (this.pos < this.end && load<u8>(this.pos) == 0x2e) {
      this.pos++;
      if (!this.digits()) return this.fail("invalid number");
    }
    if (this.pos < this.end && (load<u8>(this.pos) | 0x20) == 0x65) {
      this.pos++;
      if (this.pos < this.end && (load<u8>(this.pos) == 0x2b || load<u8>(this.pos) == 0x2d)) this.pos++;
      if (!this.digits()) return this.fail("invalid number");
    }
    const text = String.UTF8.decodeUnsafe(s, this.pos - s);
    const v = new JValue(JKind.Number);
    v.num = parseJsonNumber(text);
    return v;
  }

  private digits(): bool {
    const s = this.pos;
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
    }
    return this.pos > s;
  }

  private string(): string | null {
    this.pos++; // opening quote
    let out = "";
    let runStart = this.pos;
    while (true) {
      if (this.pos >= this.end) { this.fail("unterminated string"); return null; }
      const c = load<u8>(this.pos);
      if (c == 0x22) break;
      if (c < 0x20) { this.fail("control character in string"); return null; }
      if (c != 0x5c) { this.pos++; continue; }
      out += String.UTF8.decodeUnsafe(runStart, this.pos - runStart);
      this.pos++;
      if (this.pos >= this.end) { this.fail("unterminated string"); return null; }
      const e = load<u8>(this.pos);
      this.pos++;
      if (e == 0x22) out += "\"";
      else if (e == 0x5c) out += "\\";
      else if (e == 0x2f) out += "/";
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x6e) out += "\n";
      else if (e == 0x72) out += "\r";
      else if (e == 0x74) out += "\t";
      else if (e == 0x75) {
        const u = this.hex4();
        if (u < 0) { this.fail("invalid \\u escape"); return null; }
        out += String.fromCharCode(u);
      } else { this.fail("invalid escape"); return null; }
      runStart = this.pos;
    }
    const run = String.UTF8.decodeUnsafe(runStart, this.pos - runStart);
    this.pos++; // closing quote
    // Without an escape the run is the string (every escape adds a character to `out`).
    return out.length == 0 ? run : out + run;
  }

  private hex4(): i32 {
    if (this.pos + 4 > this.end) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = <i32>load<u8>(this.pos++);
      let d: i32;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x61 + 10;
      else return -1;
      v = (v << 4) | d;
    }
    return v;
  }

  private array(depth: i32): JValue | null {
    this.pos++;
    const v = new JValue(JKind.Array);
    this.skipWs();
    if (this.pos < this.end && load<u8>(this.pos) == 0x5d) { this.pos++; return v; }
    while (true) {
      const item = this.value(depth + 1);
      if (item == null) return null;
      v.items.push(item);
      this.skipWs();
      if (this.pos >= this.end) return this.fail("unterminated list");
      const c = load<u8>(this.pos++);
      if (c == 0x5d) return v;
      if (c != 0x2c) return this.fail("expected ',' or ']'");
    }
  }

  private object(depth: i32): JValue | null {
    this.pos++;
    const v = new JValue(JKind.Object);
    this.skipWs();
    if (this.pos < this.end && load<u8>(this.pos) == 0x7d) { this.pos++; return v; }
    while (true) {
      this.skipWs();
      if (this.pos >= this.end || load<u8>(this.pos) != 0x22) return this.fail("expected a key");
      const key = this.string();
      if (key == null) return null;
      if (v.indexOf(key) >= 0) return this.fail("duplicate key '" + key + "'");
      this.skipWs();
      if (this.pos >= this.end || load<u8>(this.pos) != 0x3a) return this.fail("expected ':'");
      this.pos++;
      const item = this.value(depth + 1);
      if (item == null) return null;
      v.keys.push(key);
      v.values.push(item);
      this.skipWs();
      if (this.pos >= this.end) return this.fail("unterminated object");
      const c = load<u8>(this.pos++);
      if (c == 0x7d) return v;
      if (c != 0x2c) return this.fail("expected ',' or '}'");
    }
  }
}
