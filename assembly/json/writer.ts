// Builds the compile report (UTF-8 JSON). Compile time only.

export class JsonWriter {
  private parts: Array<string> = [];

  raw(s: string): JsonWriter { this.parts.push(s); return this; }

  str(s: string): JsonWriter {
    // Plain text goes in as it is, between two quote parts: `"\"" + s + "\""` would copy it
    // twice more, and a policy table quotes every rule's id and reason.
    if (plain(s)) {
      this.parts.push("\"");
      this.parts.push(s);
      this.parts.push("\"");
    } else this.parts.push(quote(s));
    return this;
  }

  strOrNull(s: string | null): JsonWriter { return s == null ? this.raw("null") : this.str(s); }

  num(n: f64): JsonWriter {
    // Only integers reach the report (durations), so an exact integer rendering suffices.
    this.parts.push(n == Math.floor(n) && Math.abs(n) < 9.007199254740992e15 ? (<i64>n).toString() : n.toString());
    return this;
  }

  toString(): string { return this.parts.join(""); }
}

const HEX = "0123456789abcdef";

/** No character of `s` needs an escape in JSON. */
function plain(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x22 || c == 0x5c) return false;
  }
  return true;
}

export function quote(s: string): string {
  if (plain(s)) return "\"" + s + "\"";
  const out = new Array<string>();
  out.push("\"");
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) out.push("\\\"");
    else if (c == 0x5c) out.push("\\\\");
    else if (c == 0x0a) out.push("\\n");
    else if (c == 0x0d) out.push("\\r");
    else if (c == 0x09) out.push("\\t");
    else if (c < 0x20) out.push("\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15));
    else out.push(String.fromCharCode(c));
  }
  out.push("\"");
  return out.join("");
}
