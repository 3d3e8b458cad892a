// The replay's record reader (sources.ts canonicalRecord) cuts seq, ts, prev, hash and the policy
// from the tail of a canonical line and parses only the action and the decision: on any record
// the log can write it reads what JSON.parse of the whole line reads.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeRecord, GENESIS } from "../../src/audit/format.js";
import type { AuditEntry } from "../../src/audit/format.js";
import type { Decision } from "../../src/decision.js";
import { canonicalRecord } from "../../src/replay/sources.js";

const tricky = fc.constantFrom('"}', '\\', '\\"', ',"decision":{', ',"eval_ns":1', ',"policy":"x', '"policy_hash":"', "{[}]", 'a\\\\"', "\u2028", "é😀");
const str = fc.oneof(fc.string(), tricky, fc.string({ unit: "binary" }).map((s) => s.replace(/[\uD800-\uDFFF]/g, "")));
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, str, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(str, fc.constantFrom("decision", "policy", "hash", "seq", "ts")), tie("value"), { maxKeys: 4 }),
})).value;

describe("canonicalRecord", () => {
  it("reads what JSON.parse reads, on records of any action, decision and policy name", () => {
    fc.assert(
      fc.property(json, fc.dictionary(fc.oneof(str, fc.constant("decision")), json, { maxKeys: 4 }), fc.oneof(str.filter((s) => s.length > 0), fc.constant('we"ird\\name')), fc.integer({ min: 1, max: 2 ** 40 }), (action, extra, policy, seq) => {
        const decision = { ...extra, decision: "allow", rule: "r", reason: null, undetermined: false, policy } as unknown as Decision;
        const entry: AuditEntry = { decision, action, policy, policy_hash: "ab".repeat(32), eval_ns: 12 };
        const { line } = encodeRecord(entry, seq, "2025-01-01T00:00:00.000Z", GENESIS);
        const text = line.slice(0, -1);
        const fast = canonicalRecord(text);
        expect(fast).not.toBeNull();
        const whole = JSON.parse(text) as Record<string, unknown>;
        expect({ ...fast, eval_ns: whole.eval_ns }).toEqual(whole);
      }),
      { numRuns: 2000 },
    );
  });

  it("is null for what is not laid out as a canonical record", () => {
    expect(canonicalRecord('{"seq":1}')).toBeNull();
    const { line } = encodeRecord({ decision: { decision: "allow" } as unknown as Decision, action: {}, policy: "p", policy_hash: "", eval_ns: 0 }, 1, "2025-01-01T00:00:00.000Z", GENESIS);
    expect(canonicalRecord(line.slice(0, -1))).not.toBeNull();
    expect(canonicalRecord(line.slice(0, -1).replace('"decision":{', '"decision": {'))).toBeNull();
    expect(canonicalRecord(" " + line.slice(0, -1))).toBeNull();
  });
});
