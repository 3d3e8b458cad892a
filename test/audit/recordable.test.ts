// Which actions can be recorded faithfully (issue 11, finding 1): exactly those that
// `canonicalAction` does not turn into "[not JSON]" (plus a few stricter cases), and the fast
// text of a parsed action is the exact canonical text.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalAction, NOT_JSON } from "../../src/audit/format.js";
import { MAX_RECORD_DEPTH, recordableParsedText, recordableText, unrecordableDecision, unrecordableReason, UNRECORDABLE_TEXT } from "../../src/audit/recordable.js";
import { canonicalJson } from "../../src/canonical.js";

const anyString = fc.string({ unit: "binary", maxLength: 12 });
const someKeys = fc.oneof(anyString, fc.constantFrom("10", "a", "\ud83d\ude00", "\ud800", "x\udfff", "[Array]"));
const jsonTree = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    anyString,
    fc.constantFrom("\\ud800", "\ud800", "a\udc00b", "\ud83d\ude00", "[Object]"),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(someKeys, tie("value"), { maxKeys: 6 }),
  ),
})).value;
const parsedJson = jsonTree.map((v) => JSON.parse(JSON.stringify(v)) as unknown);

function nested(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
  return v;
}

const NOT_JSON_TEXT = JSON.stringify(NOT_JSON);

describe("unrecordableReason", () => {
  it("is null exactly when canonicalAction records the value itself (random parsed JSON, lone surrogates included)", () => {
    fc.assert(
      fc.property(parsedJson, (v) => {
        const recorded = canonicalAction(v);
        const reason = unrecordableReason(v);
        expect(reason === null).toBe(recorded !== NOT_JSON_TEXT);
        expect(recordableText(v)).toBe(reason === null ? recorded : null);
        expect(recordableParsedText(v)).toBe(reason === null ? recorded : null);
      }),
      { numRuns: 3000 },
    );
  });

  it("finds a lone surrogate in a value or a key, wherever it is", () => {
    expect(unrecordableReason({ tool: "x", args: { memo: "\ud800" } })).toBe("a lone surrogate in the string at action.args.memo");
    expect(unrecordableReason({ tool: "x", args: { "\udc00": 1 } })).toBe('a lone surrogate in the key at action.args["\\udc00"]');
    expect(unrecordableReason({ tool: "x", args: { list: [1, "ok", "b\ud83d"] } })).toBe("a lone surrogate in the string at action.args.list[2]");
    expect(unrecordableReason({ tool: "x", note: "\ud83d\ude00 paired is fine" })).toBeNull();
  });

  it("allows nesting up to 512 below the action, not deeper", () => {
    // The action is depth 0; nested(n) puts containers at depths 1..n below it.
    expect(unrecordableReason({ a: nested(MAX_RECORD_DEPTH, 1) })).toBeNull();
    expect(unrecordableReason({ a: nested(MAX_RECORD_DEPTH + 1, 1) })).toMatch(/^nesting deeper than 512 at action\.a/);
    expect(canonicalAction({ a: nested(MAX_RECORD_DEPTH, 1) })).not.toBe(NOT_JSON_TEXT);
    expect(canonicalAction({ a: nested(MAX_RECORD_DEPTH + 1, 1) })).toBe(NOT_JSON_TEXT);
    const deep = JSON.parse(`{"a":${"[".repeat(600)}${"]".repeat(600)}}`);
    expect(unrecordableReason(deep)).toMatch(/^nesting deeper than 512/);
    expect(recordableParsedText(deep)).toBeNull();
  });

  it("refuses values that are not JSON", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [unknown, RegExp][] = [
      [{ n: NaN }, /NaN at action\.n is not a JSON number/],
      [{ n: Infinity }, /Infinity/],
      [{ n: 10n }, /bigint/],
      [{ f: () => 1 }, /function/],
      [{ s: Symbol("x") }, /symbol/],
      [{ d: new Date(0) }, /not a plain object \(Date\)/],
      [{ m: new Map() }, /not a plain object \(Map\)/],
      [{ t: { toJSON: () => "x" } }, /toJSON/],
      [{ a: [1, undefined] }, /undefined at action\.a\[1\]/],
      [{ a: [1, , 3] }, /a hole at action\.a\[1\]/], // eslint-disable-line no-sparse-arrays
      [cyclic, /a cycle at action\.self/],
      [undefined, /undefined at action is not JSON/],
    ];
    for (const [v, re] of cases) expect(unrecordableReason(v)).toMatch(re);
  });

  it("accepts what JSON.stringify also writes: undefined properties are absent, null-prototype objects are plain", () => {
    expect(unrecordableReason({ a: undefined, b: 1 })).toBeNull();
    const bare = Object.assign(Object.create(null), { x: [1, { y: "z" }] });
    expect(unrecordableReason(bare)).toBeNull();
    expect(recordableText(bare)).toBe(canonicalJson({ x: [1, { y: "z" }] }));
    expect(unrecordableReason("a string")).toBeNull(); // not an object: the engine denies it, the record says what it was
  });
});

describe("unrecordableDecision", () => {
  it("is the spec's error shape, frozen and shared", () => {
    const d = unrecordableDecision("billing");
    expect(JSON.stringify(d)).toBe(JSON.stringify({ decision: "deny", rule: null, reason: UNRECORDABLE_TEXT, undetermined: false, error: UNRECORDABLE_TEXT, policy: "billing" }));
    expect(Object.isFrozen(d)).toBe(true);
    expect(unrecordableDecision("billing")).toBe(d);
  });
});
