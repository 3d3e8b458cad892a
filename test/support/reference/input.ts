// Reading an action (spec section 1, docs/abi.md "Input region"): only the
// fields the policy reads are looked at. Each read value is checked and
// normalised the way a host encodes it:
//   - a lone UTF-16 surrogate in a string becomes U+FFFD;
//   - NaN, infinities, functions, bytes and other non-JSON values are an
//     error (code 7); `undefined` reads as JSON.stringify has it: a property
//     holding it is absent, an array element holding it is null;
//   - arrays nested more than 64 deep are an error (code 4);
//   - a data area over 1 MiB is an error (code 3): string bytes, plus 16
//     bytes per array element, each element run starting 8-byte aligned;
//   - an object is opaque: conditions only see that it is an object, so
//     nothing inside it is inspected.
// Errors are reported as met, field by field in the order fields are first
// read in the manifest, depth-first inside arrays.

import { ABSENT, isPlainObject, lookup } from "./path.js";

export const ERROR_TEXT: Record<number, string> = {
  1: "input is not valid JSON",
  2: "action is not a JSON object",
  3: "values read by the policy exceed 1 MiB when encoded",
  4: "values read by the policy are nested too deeply",
  5: "malformed input record",
  6: "evaluation failed inside the engine",
  7: "action contains a value that is not JSON",
};

const MAX_DATA_BYTES = 1_048_576;
const MAX_ARRAY_DEPTH = 64;
const ENTRY_BYTES = 16;

class InputError extends Error {
  constructor(readonly code: number) {
    super(ERROR_TEXT[code]);
  }
}

/** Replaces every lone surrogate with U+FFFD (what TextEncoder does). */
export function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

class DataArea {
  bytes = 0;
  add(n: number, align = 1) {
    this.bytes = Math.ceil(this.bytes / align) * align + n;
    if (this.bytes > MAX_DATA_BYTES) throw new InputError(3);
  }
}

/** The normalised value; its encoded size is added to `area`. */
function normalise(v: unknown, depth: number, area: DataArea): unknown {
  switch (typeof v) {
    case "string": {
      const s = wellFormed(v);
      area.add(Buffer.byteLength(s, "utf8"));
      return s;
    }
    case "number":
      if (!Number.isFinite(v)) throw new InputError(7);
      return v;
    case "boolean":
      return v;
    case "undefined": // only inside arrays: a property holding undefined is absent
      return null;
    case "object":
      if (v === null) return null;
      if (Array.isArray(v)) {
        if (depth + 1 > MAX_ARRAY_DEPTH) throw new InputError(4);
        area.add(ENTRY_BYTES * v.length, 8);
        // Array.from visits holes as undefined, read as null like JSON.stringify does.
        return Array.from(v, (e) => normalise(e, depth + 1, area));
      }
      if (!isPlainObject(v)) throw new InputError(7);
      return v;
    default: // function, symbol, bigint
      throw new InputError(7);
  }
}

/** The normalised value of every field (ABSENT where absent), or an error code. */
export function readFields(action: unknown, fields: readonly string[][]): { values: unknown[] } | { error: number } {
  if (!isPlainObject(action)) return { error: 2 };
  const area = new DataArea();
  try {
    return {
      values: fields.map((keys) => {
        const v = lookup(action, keys);
        return v === ABSENT ? ABSENT : normalise(v, 0, area);
      }),
    };
  } catch (e) {
    if (e instanceof InputError) return { error: e.code };
    throw e;
  }
}
