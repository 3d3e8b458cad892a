// Collected policy errors: a JSON pointer, whether it names a key or a value, and a message.
// Neutral: the manifest reader and the condition compiler both report here (docs/architecture.md).

import { JsonWriter } from "../json/writer";

export class PolicyErrorEntry {
  constructor(public pointer: string, public atKey: bool, public message: string) {}
}

export class ErrorList {
  entries: Array<PolicyErrorEntry> = [];

  value(pointer: string, message: string): void {
    this.entries.push(new PolicyErrorEntry(pointer, false, message));
  }

  key(pointer: string, message: string): void {
    this.entries.push(new PolicyErrorEntry(pointer, true, message));
  }

  get count(): i32 { return this.entries.length; }

  toJson(): string {
    const w = new JsonWriter();
    w.raw("{\"errors\":[");
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (i > 0) w.raw(",");
      w.raw("{\"pointer\":").str(e.pointer)
        .raw(",\"at\":").str(e.atKey ? "key" : "value")
        .raw(",\"message\":").str(e.message).raw("}");
    }
    w.raw("]}");
    return w.toString();
  }
}

/** Appends one RFC 6901 reference token to a pointer. */
export function child(pointer: string, token: string): string {
  if (token.indexOf("~") < 0 && token.indexOf("/") < 0) return pointer + "/" + token;
  return pointer + "/" + token.replaceAll("~", "~0").replaceAll("/", "~1");
}

export function childIndex(pointer: string, index: i32): string {
  return pointer + "/" + index.toString();
}
