// The pre-canonicalized path (`actionJson`/`decisionJson`, `auditRecordJson`) writes the very
// same bytes as the object path; and the batch buffer of AuditLog (one UTF-8 encoding per
// record, growth, split batches, rotation inside a batch) keeps the format.

import fc from "fast-check";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import canonicalize from "canonicalize";
import { canonicalJson } from "../../src/canonical.js";
import { canonicalAction, encodeRecord, GENESIS, NOT_JSON, parseRecord } from "../../src/audit/format.js";
import type { AuditEntry } from "../../src/audit/format.js";
import { AuditLog } from "../../src/audit/log.js";
import type { AuditLogOptions } from "../../src/audit/log.js";
import { auditRecord, auditRecordJson } from "../../src/audit/record.js";
import { verifyLog } from "../../src/audit/verify.js";
import { fakeClock, policy, tempDir } from "./helpers.js";

const TS = "2025-01-01T00:00:00.000Z";

/** Actions that exercise RFC 8785: number forms, key order by UTF-16 code units, escapes, unicode. */
const tricky: unknown[] = [
  { tool: "payments.refund", args: { amount: 5, card_number: "4111" } },
  { n: [0, -0, 1, -1, 0.1 + 0.2, 1e21, 1e-7, 1e-6, 123456789012345680000, 5e-324, -1.7976931348623157e308, 2 ** 53, 4.35, 100, 1e3, 0.000001] },
  // U+1F600 (surrogates D83D DE00) sorts before U+FFFF and U+E000 by UTF-16 code units, after them by code point.
  { "\uffff": 1, "\u{1f600}": 2, "\ue000": 3, é: 4, e: 5, E: 6, _: 7, "": 8, "10": 9, "2": 10, aa: 11, a: 12, "a\u0000": 13 },
  { s: "quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul \u0000 us \u001f del \u007f nbsp \u00a0 ls \u2028 ps \u2029" },
  { s: "é中文𝄞😀 Ω", deep: { a: [{ b: [null, true, false, "x"] }], z: {} } },
  { args: { card_number: { nested: [1, 2] }, "secret.key": null }, session: { token: "t", id: 7 } },
  [1, "two", { three: 3 }],
  "just a string",
  42,
  null,
  { f: () => 1 },
  { n: 1n },
  { x: NaN },
  { s: "\ud800" },
  { d: new Date(0) },
  { u: undefined, keep: 1 },
];

function line(e: AuditEntry, seq = 7, prev = GENESIS): string {
  return encodeRecord(e, seq, TS, prev).line;
}

describe("auditRecordJson", () => {
  const decision = policy.evaluate({ tool: "payments.refund", args: { amount: 5 } });

  it("gives the canonical JSON of the redacted action and of the decision", () => {
    const action = { tool: "payments.refund", args: { amount: 5, card_number: "4111" } };
    const e = auditRecordJson(policy, action, decision, 1234n);
    expect(e.actionJson).toBe('{"args":{"amount":5,"card_number":"[redacted]"},"tool":"payments.refund"}');
    expect(e.decisionJson).toBe(canonicalJson(decision));
    expect(e).toMatchObject({ policy: "audit-test", policy_hash: policy.hash, eval_ns: 1234 });
    expect("action" in e).toBe(false);
    expect(action.args.card_number).toBe("4111"); // input untouched
  });

  it("writes byte-identical records to the object path (numbers, key order, escapes, unicode, not-JSON)", () => {
    for (const action of tricky) {
      const viaObject = line(auditRecord(policy, action, decision, 99));
      const viaJson = line(auditRecordJson(policy, action, decision, 99));
      expect(viaJson).toBe(viaObject);
      const parsed = parseRecord(viaJson.slice(0, -1));
      expect("record" in parsed).toBe(true);
    }
  });

  it("matches the canonicalize package on its own cases (key order by UTF-16 code units, number forms)", () => {
    expect(canonicalAction(tricky[2])).toBe(canonicalize(tricky[2]));
    expect(canonicalAction(tricky[2])).toBe('{"":8,"10":9,"2":10,"E":6,"_":7,"a":12,"a\\u0000":13,"aa":11,"e":5,"\u00e9":4,"\u{1f600}":2,"\ue000":3,"\uffff":1}');
    expect(canonicalAction(tricky[1])).toBe(
      '{"n":[0,0,1,-1,0.30000000000000004,1e+21,1e-7,0.000001,123456789012345680000,5e-324,-1.7976931348623157e+308,9007199254740992,4.35,100,1000,0.000001]}',
    );
    for (const bad of tricky.slice(10, 15)) expect(canonicalAction(bad)).toBe(JSON.stringify(NOT_JSON));
  });

  it("agrees with the object path on random JSON values", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.nat({ max: 1e9 }), (action, ns) => {
        const a = line(auditRecord(policy, action, decision, ns));
        const b = line(auditRecordJson(policy, action, decision, ns));
        expect(b).toBe(a);
        expect("record" in parseRecord(a.slice(0, -1))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses actionJson or decisionJson that could break the line format", () => {
    const good = auditRecordJson(policy, { a: 1 }, decision, 1);
    expect(() => encodeRecord({ ...good, actionJson: '{"a":\n1}' }, 1, TS, GENESIS)).toThrow(TypeError);
    expect(() => encodeRecord({ ...good, actionJson: "" }, 1, TS, GENESIS)).toThrow(TypeError);
    expect(() => encodeRecord({ ...good, decisionJson: 5 as unknown as string }, 1, TS, GENESIS)).toThrow(TypeError);
  });
});

function readLog(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.startsWith("audit-"))
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .join("");
}

describe("AuditLog with pre-canonicalized entries and its batch buffer", () => {
  const actions = Array.from({ length: 60 }, (_, i) => ({
    tool: "payments.refund",
    args: { amount: i * 1.25, order: `ö-${i}-😀`, card_number: "4111 1111 1111 1111" },
    note: "é".repeat(i % 7),
  }));

  async function write(options: AuditLogOptions, make: (i: number) => AuditEntry, rounds = 1): Promise<{ dir: string; text: string }> {
    const dir = tempDir("precanon");
    const log = await AuditLog.open(dir, { now: fakeClock(), ...options });
    for (let r = 0; r < rounds; r++) {
      const acks = await Promise.all(actions.map((_, i) => log.append(make(i))));
      expect(acks.map((a) => a.seq)).toEqual(actions.map((_, i) => r * actions.length + i + 1));
    }
    await log.close();
    return { dir, text: readLog(dir) };
  }

  it("writes the same log from objects, from auditRecordJson entries, and from a mix", async () => {
    const byObject = (i: number) => auditRecord(policy, actions[i], policy.evaluate(actions[i]), 1000 + i);
    const byJson = (i: number) => auditRecordJson(policy, actions[i], policy.evaluate(actions[i]), 1000 + i);
    const a = await write({}, byObject);
    const b = await write({}, byJson);
    const c = await write({}, (i) => (i % 2 === 0 ? byObject(i) : byJson(i)));
    expect(b.text).toBe(a.text);
    expect(c.text).toBe(a.text);
    // Each line is what encodeRecord makes.
    let prev = GENESIS;
    a.text
      .split("\n")
      .slice(0, -1)
      .forEach((l, i) => {
        const parsed = parseRecord(l);
        if (!("record" in parsed)) throw new Error(parsed.error);
        const { hash, line: expected } = encodeRecord(byObject(i), i + 1, parsed.record.ts, prev);
        expect(l + "\n").toBe(expected);
        prev = hash;
      });
    for (const { dir } of [a, b, c]) expect(await verifyLog(dir)).toMatchObject({ ok: true, records: actions.length });
  });

  it("splits batches larger than maxBatchRecords and rotates inside a batch, with multi-byte text", async () => {
    const byJson = (i: number) => auditRecordJson(policy, actions[i], policy.evaluate(actions[i]), 1000 + i);
    const reference = await write({}, byJson, 3);
    const small = await write({ maxBatchRecords: 4, segmentBytes: 2500 }, byJson, 3);
    expect(small.text).toBe(reference.text);
    const files = readdirSync(small.dir).filter((f) => f.startsWith("audit-"));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) expect(readFileSync(join(small.dir, f)).length).toBeLessThanOrEqual(2500);
    expect(await verifyLog(small.dir)).toMatchObject({ ok: true, records: 3 * actions.length });
  });

  it("grows its buffer for records larger than it, and a bad entry leaves the chain as it was", async () => {
    const dir = tempDir("precanon");
    const log = await AuditLog.open(dir, { now: fakeClock() });
    const big = { tool: "upload", args: { blob: "x😀".repeat(700_000) } }; // ~4 MiB of UTF-8
    const first = log.append(auditRecordJson(policy, big, policy.evaluate(big), 1));
    expect(() => log.append({ ...auditRecordJson(policy, { a: 1 }, policy.evaluate({ a: 1 }), 1), actionJson: "{\n}" })).toThrow(TypeError);
    const second = log.append(auditRecord(policy, { a: 2 }, policy.evaluate({ a: 2 }), 2));
    expect((await first).seq).toBe(1);
    expect((await second).seq).toBe(2);
    await log.close();
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 2 });
    const text = readLog(dir);
    expect(text.split("\n")[0]).toContain("x😀x😀");
  });
});
