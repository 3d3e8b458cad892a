// Reading an action (spec section 1, docs/abi.md "Input region"): only the
// fields the policy reads are looked at. Each read value is checked and
// normalised the way a host encodes it:
//   - a lone UTF-16 surrogate in a string becomes U+FFFD;
//   - NaN, infinities and other non-JSON values are an error (code 7);
//   - arrays nested more than 64 deep are an error (code 4);
//   - more than 1 MiB of string bytes and element entries is an error (code 3);
//   - an object is opaque: conditions only see that it is an object, so
//     nothing inside it is inspected.

import { ABSENT, lookup } from "./path.js";

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

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Returns the normalised value and adds its encoded data size to `size`. */
function normalise(v: unknown, depth: number, size: { bytes: number }): unknown {
  switch (typeof v) {
    case "string": {
      const s = wellFormed(v);
      size.bytes += Buffer.byteLength(s, "utf8");
      return s;
    }
    case "number":
      if (!Number.isFinite(v)) throw new InputError(7);
      return v;
    case "boolean":
      return v;
    case "object":
      if (v === null) return null;
      if (Array.isArray(v)) {
        if (depth + 1 > MAX_ARRAY_DEPTH) throw new InputError(4);
        size.bytes += ENTRY_BYTES * v.length;
        // Array.from visits holes as undefined, which is not JSON.
        return Array.from(v, (e) => normalise(e, depth + 1, size));
      }
      if (!isPlainObject(v)) throw new InputError(7);
      return v;
    default: // undefined, function, symbol, bigint
      throw new InputError(7);
  }
}

/** The normalised value of every field (ABSENT where absent), or an error code. */
export function readFields(action: unknown, fields: readonly string[][]): { values: unknown[] } | { error: number } {
  if (typeof action !== "object" || action === null || Array.isArray(action)) return { error: 2 };
  const size = { bytes: 0 };
  try {
    const values = fields.map((keys) => {
      const v = lookup(action, keys);
      return v === ABSENT ? ABSENT : normalise(v, 0, size);
    });
    if (size.bytes > MAX_DATA_BYTES) return { error: 3 };
    return { values };
  } catch (e) {
    if (e instanceof InputError) return { error: e.code };
    throw e;
  }
}
