// Field paths (spec section 1): object keys separated by dots; a key may be
// written in brackets with double quotes, inside which \" and \\ escape.
// `["all"]` is how a top-level key named all/any/not is written.

/** Parses a field path into its list of object keys. Throws on a malformed path. */
export function parsePath(text: string): string[] {
  const keys: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`invalid field path ${JSON.stringify(text)}: ${why}`);
  };
  while (true) {
    if (text[i] === "[") {
      if (text[i + 1] !== '"') fail("expected '\"' after '['");
      i += 2;
      let key = "";
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\") {
          const next = text[i + 1];
          if (next !== '"' && next !== "\\") fail("only \\\" and \\\\ escape inside brackets");
          key += next;
          i += 2;
        } else {
          key += text[i];
          i += 1;
        }
      }
      if (text[i] !== '"' || text[i + 1] !== "]") fail("unterminated bracketed key");
      i += 2;
      keys.push(key);
    } else {
      let key = "";
      while (i < text.length && !".[]\"' ".includes(text[i])) key += text[i++];
      if (key === "") fail("empty key");
      keys.push(key);
    }
    if (i === text.length) break;
    if (text[i] === ".") {
      i += 1;
      if (i === text.length) fail("trailing dot");
    } else if (text[i] !== "[") {
      fail(`unexpected ${JSON.stringify(text[i])}`);
    }
  }
  if (keys.length > 16) fail("more than 16 segments");
  return keys;
}

export const ABSENT: unique symbol = Symbol("absent");
export type Lookup = unknown | typeof ABSENT;

/** The value at `keys` inside `action`, or ABSENT when a key is missing or an
 *  intermediate value is not an object. Only own keys count; a key holding
 *  `undefined` is missing (as in JSON.stringify). */
export function lookup(action: unknown, keys: readonly string[]): Lookup {
  let value: unknown = action;
  for (const key of keys) {
    if (!isPlainObject(value) || !Object.prototype.hasOwnProperty.call(value, key)) return ABSENT;
    value = value[key];
    if (value === undefined) return ABSENT;
  }
  return value;
}

/** A JSON object as a JS value: a plain object (not an array, not a class instance). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Whether a condition key is a counter reference (spec section 8): a field
 *  path whose first segment is written plainly (not in brackets) and starts
 *  with `$`. `["$ref"].id` is an ordinary action key. */
export function isCounterReference(text: string): boolean {
  return text.startsWith("$");
}

/** The counter a reference names when it is exactly `$NAME` (no further
 *  segments), else null. NAME is what follows `$` up to the end. */
export function counterReferenceName(text: string): string | null {
  if (!isCounterReference(text)) return null;
  return /^\$[^.[\]" ]*$/.test(text) ? text.slice(1) : null;
}
