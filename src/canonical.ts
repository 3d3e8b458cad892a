// RFC 8785 canonical JSON (the `canonicalize` package) and the policy hash built on it.

import { createHash } from "node:crypto";
import canonicalizeImpl from "canonicalize";
import { configure } from "safe-stable-stringify";

export function canonicalJson(value: unknown): string {
  const text = canonicalizeImpl(value);
  if (text === undefined) throw new TypeError("value cannot be represented as JSON");
  return text;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * Key-sorted compact JSON. For a value made by `JSON.parse` it is the RFC 8785 text wherever
 * RFC 8785 has one: keys sorted by UTF-16 code units, strings and numbers as
 * `JSON.stringify` writes them. It differs in what it does not refuse: a lone surrogate is
 * escaped (`\ud800`), and deeper than MAX_FAST_DEPTH it writes `"[Array]"` / `"[Object]"`
 * placeholders; `canonicalJsonParsed` sends both cases to the exact path.
 */
const MAX_FAST_DEPTH = 64;
const sortedJson = configure({ deterministic: true, strict: true, bigint: false, circularValue: Error, maximumDepth: MAX_FAST_DEPTH });

/** Where the fast text may differ from RFC 8785 (a false alarm only costs the exact path). */
const SUSPECT = /\\ud[89a-f]|"\[(?:Array|Object)\]"/;

/**
 * The RFC 8785 text of a value straight from `JSON.parse` (plain objects, arrays, strings,
 * finite numbers, booleans, null) when the fast key-sorted text is certainly that, else null:
 * for lone surrogates, nesting deeper than MAX_FAST_DEPTH or a value that is not JSON, the
 * caller takes its exact path. Values that `JSON.parse` cannot make (typed arrays, Maps,
 * objects with `toJSON`) must not come here. test/canonical.test.ts holds it equal to
 * `canonicalJson` on random JSON.
 */
export function fastCanonicalOrNull(value: unknown): string | null {
  let text: string | undefined;
  try {
    text = sortedJson(value);
  } catch {
    return null;
  }
  return text === undefined || SUSPECT.test(text) ? null : text;
}

/** `canonicalJson` for a value straight from `JSON.parse`: the same text or error, 2-3x faster. */
export function canonicalJsonParsed(value: unknown): string {
  return fastCanonicalOrNull(value) ?? canonicalJson(value);
}
