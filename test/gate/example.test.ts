import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { tempDir } from "../audit/helpers.js";

describe("examples/node/refund-gate.mjs (the README's gate example)", () => {
  it("runs: small refund allowed, large one approved by a human, charge denied, log verifies", () => {
    const out = execFileSync(process.execPath, ["examples/node/refund-gate.mjs", tempDir("gate-example")], { encoding: "utf8" });
    expect(out).toContain("payments.refund 40: refunded 40 EUR");
    expect(out).toMatch(/-> approval [0-9a-f-]{36} for finance-oncall/);
    expect(out).toContain("payments.refund 750: refunded 750 EUR");
    expect(out).toContain("payments.charge 10: denied (action denied by rule 'no-charges'");
    // The approved refund is redeemed by enforce: its own allow and its own record.
    expect(out).toContain('decisions {"allow":2,"deny":1,"escalate":1}');
    expect(out).toMatch(/ok, 5 records/);
  });
});
