// Record building: redaction, the canonical line, the hash, the chain's first link.

import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../../src/canonical.js";
import { encodeRecord, GENESIS, NOT_JSON, parseRecord } from "../../src/audit/format.js";
import { auditRecord } from "../../src/audit/record.js";
import { redact, REDACTED } from "../../src/redact.js";
import { policy } from "./helpers.js";

describe("redact", () => {
  it("replaces present values only, copying just the objects on the path", () => {
    const action = { tool: "t", args: { card_number: "4111", "secret.key": null, other: { a: 1 } }, session: { id: "s" } };
    const out = redact(action, policy.redact) as typeof action;
    expect(out).toEqual({ tool: "t", args: { card_number: REDACTED, "secret.key": REDACTED, other: { a: 1 } }, session: { id: "s" } });
    expect(action.args.card_number).toBe("4111"); // input untouched
    expect(out.args.other).toBe(action.args.other);
    expect(out.session).toBe(action.session); // session.token absent: nothing copied
  });

  it("leaves absent paths, arrays and scalars alone", () => {
    const action = { args: [{ card_number: 1 }], session: "x" };
    expect(redact(action, policy.redact)).toBe(action);
    expect(redact("text", policy.redact)).toBe("text");
    expect(redact({ args: { card_number: { deep: [1, 2] } } }, [["args", "card_number"]])).toEqual({ args: { card_number: REDACTED } });
  });

  it("handles __proto__ as an ordinary key", () => {
    const action = JSON.parse('{"__proto__":{"x":1}}') as unknown;
    const out = redact(action, [["__proto__", "x"]]);
    expect(canonicalJson(out)).toBe('{"__proto__":{"x":"[redacted]"}}');
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});

describe("auditRecord and the line format", () => {
  const action = { tool: "payments.refund", args: { amount: 5, card_number: "4111" } };
  const decision = policy.evaluate(action);
  const fields = auditRecord(policy, action, decision, 1234n);

  it("builds the redacted fields", () => {
    expect(fields).toEqual({
      decision: { decision: "allow", rule: "pay", reason: null, undetermined: false, policy: "audit-test" },
      action: { tool: "payments.refund", args: { amount: 5, card_number: REDACTED } },
      policy: "audit-test",
      policy_hash: policy.hash,
      eval_ns: 1234,
    });
  });

  it("writes the canonical JSON of the record, hashing it without `hash`", () => {
    const { hash, line } = encodeRecord(fields, 1, "2025-01-01T00:00:00.000Z", GENESIS);
    const record = { ...fields, seq: 1, ts: "2025-01-01T00:00:00.000Z", prev: GENESIS };
    expect(hash).toBe(sha256Hex(canonicalJson(record)));
    expect(line).toBe(canonicalJson({ ...record, hash }) + "\n");
    expect(parseRecord(line.slice(0, -1))).toEqual({ record: { ...record, hash } });
  });

  it("records an action that is not JSON as a marker string", () => {
    for (const bad of [{ f: () => 1 }, { n: 1n }, { x: NaN }, { s: "\ud800" }, { d: new Date(0) }]) {
      const { line } = encodeRecord({ ...fields, action: bad }, 1, "2025-01-01T00:00:00.000Z", GENESIS);
      const parsed = parseRecord(line.slice(0, -1));
      expect("record" in parsed && parsed.record.action).toBe(NOT_JSON);
    }
  });

  it("rejects bad eval_ns", () => {
    expect(() => encodeRecord({ ...fields, eval_ns: 1.5 }, 1, "2025-01-01T00:00:00.000Z", GENESIS)).toThrow(TypeError);
  });
});
