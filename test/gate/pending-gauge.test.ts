// The gate's pending-approvals gauge (docs/gate.md, "Metrics") on both approvals stores: as soon
// as check returns an escalation, metricsSnapshot() counts it — a PostgreSQL store counts in a
// round trip, which the gate used not to wait for (the gauge lagged one escalation behind);
// metrics() counts at scrape time, so it includes the approvals another gate sharing the store
// opened.

import { afterEach, describe, expect, it } from "vitest";
import { Gate } from "../../src/gate/gate.js";
import { Policy } from "../../src/policy.js";
import { tempDir } from "../audit/helpers.js";
import { storeKinds } from "../approvals/helpers.js";

const POLICY = `tollgate: 1
name: gate-pending
default: allow
approvers:
  finance: { timeout: 10m, on_timeout: deny }
rules:
  - { id: big, effect: escalate, approver: finance, reason: over budget, when: { tool: pay, args.amount: { gt: 100 } } }
`;

const gates: Gate[] = [];
afterEach(async () => {
  for (const g of gates.splice(0)) await g.close();
});

async function openGate(approvals: string): Promise<Gate> {
  const gate = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: tempDir("gate-pending"), approvals, audit: { batchWindowMs: 0 } });
  gates.push(gate);
  return gate;
}

const GAUGE = 'tollgate_pending_approvals{policy="gate-pending"}';
const pay = { tool: "pay", args: { amount: 500 } };

for (const kind of storeKinds("test/gate/pending-gauge.test.ts")) describe.skipIf(!kind.available)(`the gate's pending gauge (${kind.name})`, () => {
  it("counts an escalation as soon as check returns; an approval or a denial soon after, and at scrape time", async () => {
    const gate = await openGate(await kind.fresh("gate-pending"));
    expect(gate.metricsSnapshot()!.pending_approvals).toBe(0);
    const a = await gate.check(pay);
    expect(gate.metricsSnapshot()!.pending_approvals).toBe(1);
    const b = await gate.check(pay);
    expect(gate.metricsSnapshot()!.pending_approvals).toBe(2);
    expect(await gate.metrics()).toContain(`${GAUGE} 2`);
    // A transition is counted in the background (approve and deny do not wait for it), and at scrape time.
    await gate.approve(a.approval_id!, { by: "alice" });
    await expect.poll(() => gate.metricsSnapshot()!.pending_approvals).toBe(1);
    await gate.deny(b.approval_id!, { by: "alice" });
    expect(await gate.metrics()).toContain(`${GAUGE} 0`);
    expect(gate.metricsSnapshot()!.pending_approvals).toBe(0);
  });

  it("metrics() counts at scrape time: approvals another gate on the same store opened are included", async () => {
    const store = await kind.fresh("gate-pending-shared");
    const [one, two] = [await openGate(store), await openGate(store)];
    await two.check(pay);
    await two.check(pay);
    expect(one.metricsSnapshot()!.pending_approvals).toBe(0); // a snapshot does not read the store
    expect(await one.metrics()).toContain(`${GAUGE} 2`);
    expect(one.metricsSnapshot()!.pending_approvals).toBe(2);
  });
});
