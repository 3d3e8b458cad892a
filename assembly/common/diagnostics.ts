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
  if (token.indexOf("~") < 0 && token.indexOf("/") < 0) return joined(pointer, token);
  return joined(pointer, token.replaceAll("~", "~0").replaceAll("/", "~1"));
}

export function childIndex(pointer: string, index: i32): string {
  return joined(pointer, index.toString());
}

/** `pointer + "/" + token` as one new string: a compile makes one per manifest node, and the
 *  intermediate `pointer + "/"` was as much garbage again (nothing is ever freed). */
function joined(pointer: string, token: string): string {
  const a = <usize>pointer.length << 1;
  const b = <usize>token.length << 1;
  const out = changetype<string>(__new(a + 2 + b, idof<string>()));
  const p = changetype<usize>(out);
  memory.copy(p, changetype<usize>(pointer), a);
  store<u16>(p + a, 0x2f);
  memory.copy(p + a + 2, changetype<usize>(token), b);
  return out;
}
