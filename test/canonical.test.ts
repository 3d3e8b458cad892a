// The fast canonical JSON of parsed values must be byte-identical to the `canonicalize`
// package (RFC 8785) in every case, including the ones it hands to the exact path.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalAction, canonicalParsedAction, NOT_JSON } from "../src/audit/format.js";
import { canonicalJson, canonicalJsonParsed, fastCanonicalOrNull } from "../src/canonical.js";

/** The value as the server sees it: what JSON.parse makes of some JSON text. */
const parsed = (text: string): unknown => JSON.parse(text);

/** Strings over all of UTF-16, lone surrogates included (JSON text can carry them as \u escapes). */
const anyString = fc.string({ unit: "binary", maxLength: 12 });
const someKeys = fc.oneof(anyString, fc.constantFrom("10", "9", "a", "B", "é", "\uffff", "\ud83d\ude00", "[Array]", "__x", "length"));
const jsonTree = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, 2 ** 53, 0.1 + 0.2, -1.5e300),
    anyString,
    fc.constantFrom("\\ud800", "\\\\ud800", "[Object]", '"[Array]"', "\u2028", "\u0000\u001f", "\ud800", "a\udc00b"),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(someKeys, tie("value"), { maxKeys: 6 }),
  ),
})).value;

/** Parsed values: built from the JSON text of a random tree (so -0 becomes 0, as on the wire). */
const parsedJson = jsonTree.map((v) => parsed(JSON.stringify(v)));

function nested(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
  return v;
}

function exactOrError(f: () => string): string {
  try {
    return f();
  } catch (err) {
    return `error: ${(err as Error).constructor.name}`;
  }
}

describe("canonicalJsonParsed", () => {
  it("equals the canonicalize package on random parsed JSON (lone surrogates included)", () => {
    fc.assert(
      fc.property(parsedJson, (v) => {
        expect(exactOrError(() => canonicalJsonParsed(v))).toBe(exactOrError(() => canonicalJson(v)));
      }),
      { numRuns: 3000 },
    );
  });

  it("sorts keys by UTF-16 code units, not by V8's integer-first property order", () => {
    const v = parsed('{"9":1,"10":2,"b":3,"B":4,"\\uffff":5,"\\ud83d\\ude00":6,"":7}');
    expect(canonicalJsonParsed(v)).toBe('{"":7,"10":2,"9":1,"B":4,"b":3,"\ud83d\ude00":6,"\uffff":5}');
  });

  it("writes numbers as JSON.stringify does", () => {
    expect(canonicalJsonParsed(parsed("[1e21,1E-7,-0,0.1,100,1.0,5e-324,123456789012345678901234]"))).toBe(canonicalJson([1e21, 1e-7, 0, 0.1, 100, 1, 5e-324, 123456789012345678901234]));
  });

  it("hands lone surrogates, deep nesting and placeholder look-alikes to the exact path", () => {
    expect(fastCanonicalOrNull(parsed('{"a":"\\ud800"}'))).toBeNull();
    expect(fastCanonicalOrNull(parsed('{"\\udc00":1}'))).toBeNull();
    expect(() => canonicalJsonParsed(parsed('{"a":"\\ud800"}'))).toThrow(); // as canonicalize does
    expect(fastCanonicalOrNull(nested(200, 1))).toBeNull();
    expect(canonicalJsonParsed(nested(200, 1))).toBe(canonicalJson(nested(200, 1)));
    // A string that merely looks like a placeholder or an escape is a false alarm: same text, exact path.
    expect(fastCanonicalOrNull({ a: "[Array]" })).toBeNull();
    expect(canonicalJsonParsed({ a: "[Array]", b: "\\ud800" })).toBe('{"a":"[Array]","b":"\\\\ud800"}');
    // Valid surrogate pairs are not suspect.
    expect(fastCanonicalOrNull({ a: "\ud83d\ude00" })).toBe('{"a":"\ud83d\ude00"}');
  });
});

describe("canonicalParsedAction", () => {
  it("equals canonicalAction on random parsed actions", () => {
    fc.assert(
      fc.property(parsedJson, (v) => {
        expect(canonicalParsedAction(v)).toBe(canonicalAction(v));
      }),
      { numRuns: 3000 },
    );
  });

  it("records an action with a lone surrogate or nested past 512 levels as not JSON", () => {
    const notJson = JSON.stringify(NOT_JSON);
    expect(canonicalParsedAction(parsed('{"tool":"x","args":{"s":"\\ud800"}}'))).toBe(notJson);
    expect(canonicalParsedAction({ tool: "x", args: nested(600, 1) })).toBe(notJson);
    expect(canonicalParsedAction({ tool: "x", args: nested(100, 1) })).toBe(canonicalAction({ tool: "x", args: nested(100, 1) }));
  });
});
