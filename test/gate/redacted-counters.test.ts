// Counters on redacted fields (spec section 2: an audit record must never contain a value at an
// `audit.redact` path): a record that counted carries such keys and amounts sealed with the log's
// key (src/audit/counted-seal.ts), a sum of redacted amounts is "[redacted]" in the record's
// `counters`, and the gate still rebuilds exact counts from its log after a restart.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CountedSeal } from "../../src/audit/counted-seal.js";
import { verifyLog } from "../../src/audit/verify.js";
import { tempDir } from "../audit/helpers.js";
import { gateOpener, records } from "./helpers.js";

const POLICY = readFileSync(new URL("../fixtures/redacted-counters.yaml", import.meta.url), "utf8");

const CARD = "4111-2222-3333-4444";
const OTHER = "5500-0000-0000-0004";
// Amounts whose digits appear nowhere else in a record.
const AMOUNTS = [61.375, 27.8125, 19.0625];

const pay = (card: string, amount: number) => ({ tool: "pay", agent: { id: "a" }, args: { card, amount } });

const { gates, open } = gateOpener(POLICY);

/** Every byte the gate left in its directory (log segments, checkpoint, approvals database...). */
function everything(dir: string): string {
  return readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString("latin1")).join("\n");
}

describe("counters on redacted fields", () => {
  it("records hold no redacted value, yet a restarted gate continues the counts", async () => {
    const dir = tempDir("redacted-counters");
    let gate = await open(dir);
    const first = await gate.check(pay(CARD, AMOUNTS[0]!));
    const second = await gate.check(pay(CARD, AMOUNTS[1]!));
    // The caller sees the real values (the decision is not a record).
    expect(first).toMatchObject({ decision: "allow", counters: { per_card: 1, spent: AMOUNTS[0] } });
    expect(second).toMatchObject({ decision: "allow", counters: { per_card: 2, spent: AMOUNTS[0]! + AMOUNTS[1]! } });
    expect((await gate.check(pay(OTHER, 1))).decision).toBe("allow");
    await gate.close();
    gates.splice(0);

    // After a restart, the third use of the card is the third: the counts were rebuilt from sealed values.
    gate = await open(dir);
    const third = await gate.check(pay(CARD, AMOUNTS[2]!));
    expect(third).toMatchObject({ decision: "deny", rule: "card-cap", counters: { per_card: 3 } });
    // The budget rebuilt too: 61.375 + 27.8125 + 1 + 20 > 100 escalates.
    const over = await gate.check(pay(OTHER, 20));
    expect(over).toMatchObject({ decision: "escalate", rule: "budget", counters: { spent: AMOUNTS[0]! + AMOUNTS[1]! + 1 + 20 } });
    await gate.deny(over.approval_id!, { by: "alice" });
    await gate.close();
    gates.splice(0);

    const all = everything(dir);
    for (const secret of [CARD, OTHER, ...AMOUNTS.map(String), String(AMOUNTS[0]! + AMOUNTS[1]!)]) expect(all).not.toContain(secret);
    const rs = records(dir);
    const counted = rs.filter((r) => r.decision.counted !== undefined && r.decision.approval === undefined);
    expect(counted.length).toBe(4);
    for (const r of counted) {
      expect(r.action.args).toEqual({ card: "[redacted]", amount: "[redacted]" });
      for (const [counter, , key, amount] of r.decision.counted.add) {
        expect(key).toEqual(counter === "per_card" ? { sealed: expect.any(String) } : ["a"]);
        expect(amount).toEqual(counter === "spent" ? { sealed: expect.any(String) } : 1);
      }
      // A count is not a redacted value; a sum of redacted amounts is.
      expect(r.decision.counters.spent).toBe("[redacted]");
      expect(typeof r.decision.counters.per_card).toBe("number");
    }
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it("a sealed value opens only with the key that sealed it, and not once altered", () => {
    const one = CountedSeal.of(generateKeyPairSync("ed25519").privateKey);
    const other = CountedSeal.of(generateKeyPairSync("ed25519").privateKey);
    const s = one.seal(["a", 7]);
    expect(one.open(s)).toEqual(["a", 7]);
    expect(one.seal(["a", 7]).sealed).not.toBe(s.sealed); // a fresh nonce each time: equal keys do not show
    expect(() => other.open(s)).toThrow(/does not open with this log's key/);
    const raw = Buffer.from(s.sealed, "base64");
    raw[raw.length - 20]! ^= 1;
    expect(() => one.open({ sealed: raw.toString("base64") })).toThrow(/does not open/);
    expect(one.open(one.seal(Infinity))).toBe(Infinity); // an overflowed sum stays infinite
  });

  it("a policy without redacted counter fields records keys and amounts as they are", async () => {
    const dir = tempDir("redacted-counters");
    const gate = await open(dir, POLICY.replace("redact: [args.card, args.amount]", "redact: [args.note]"));
    await gate.check(pay(CARD, 5));
    await gate.close();
    const [r] = records(dir).filter((x) => x.decision.counted !== undefined);
    expect(r!.decision.counted.add.map((e: unknown[]) => e.slice(2))).toEqual([[[CARD], 1], [["a"], 5]]);
  });
});
