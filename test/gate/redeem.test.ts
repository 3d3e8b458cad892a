// Action-bound, single-use approvals in the Gate (docs/gate.md, "Redeeming an approval"):
// gate.check(action, { approvalId }) and Gate.enforce, which redeems after an approval. On both
// approvals stores: the default SQLite file and PostgreSQL (Gate.open({ approvals: URL })).

import { afterEach, describe, expect, it } from "vitest";
import { Gate } from "../../src/gate/gate.js";
import { ActionDenied } from "../../src/gate/denied.js";
import { canonicalJson, sha256Hex } from "../../src/canonical.js";
import { verifyLog } from "../../src/audit/verify.js";
import { Policy } from "../../src/policy.js";
import { tempDir } from "../audit/helpers.js";
import { approvalsLocation, storeKinds, usesStore } from "../approvals/helpers.js";
import type { StoreKind } from "../approvals/helpers.js";

const POLICY = `tollgate: 1
name: gate-redeem
default: allow
approvers:
  finance: { timeout: 10m, on_timeout: deny }
audit:
  redact: [args.card_number]
counters:
  spent:
    per: [session.id]
    window: 1d
    when: { tool: pay }
    sum: args.amount
rules:
  - { id: budget, effect: escalate, approver: finance, reason: over budget, when: { tool: pay, $spent: { gt: 100 } } }
`;

const gates: Gate[] = [];
let clock = Date.now();
/** A gate on a new store of `kind` (SQLite: the default file in its audit directory). */
async function openGate(kind: StoreKind): Promise<{ gate: Gate; dir: string }> {
  const dir = tempDir("gate-redeem");
  const approvals = await approvalsLocation(kind);
  const gate = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir, audit: { batchWindowMs: 0 }, now: () => clock, ...(approvals !== undefined && { approvals }) });
  gates.push(gate);
  expect(usesStore(kind, dir)).toBe(true);
  return { gate, dir };
}
afterEach(async () => {
  for (const g of gates.splice(0)) await g.close();
  clock = Date.now();
});

let n = 0;
const pay = (amount: number, agent = "bot") => ({ tool: "pay", agent: { id: agent }, session: { id: `s${++n}` }, args: { amount, card_number: "4111" } });

async function approved(gate: Gate, action: unknown): Promise<string> {
  const d = await gate.check(action);
  expect(d.decision).toBe("escalate");
  await gate.approve(d.approval_id!, { by: "alice" });
  return d.approval_id!;
}

for (const kind of storeKinds("test/gate/redeem.test.ts")) describe.skipIf(!kind.available)(`Gate: redeeming approvals (${kind.name})`, () => {
  it("stores the digest of the action as given (not redacted) and its agent; check with approvalId allows once, recorded and linked", async () => {
    const { gate, dir } = await openGate(kind);
    const action = pay(150);
    const id = await approved(gate, action);
    const a = (await gate.approvals.get(id))!;
    expect(a.action_digest).toBe(sha256Hex(canonicalJson(action)));
    expect(a.agent).toBe("bot");
    const r = await gate.check(action, { approvalId: id });
    expect(r).toMatchObject({ decision: "allow", rule: "budget", approval_id: id, approved_by: "alice", redemption: { check: null, decision_hash: a.decision_hash, resolution_hash: a.resolution_hash } });
    expect(await gate.approvals.get(id)).toMatchObject({ redemption_seq: r.audit_seq, redemption_hash: r.audit_id });
    const again = await gate.check(action, { approvalId: id });
    expect(again).toMatchObject({ decision: "deny", redemption: { check: "redeemed" } });
    expect(await verifyLog(dir, { allowUnsignedTail: true })).toMatchObject({ ok: true, records: 4 });
  });

  it("refuses, saying which check failed: digest, agent, pending, denied, expired, not-found", async () => {
    const { gate } = await openGate(kind);
    const action = pay(150);
    const id = await approved(gate, action);
    expect(await gate.check({ ...action, args: { ...action.args, amount: 9999 } }, { approvalId: id })).toMatchObject({ decision: "deny", redemption: { check: "digest" } });
    expect(await gate.check({ ...action, agent: { id: "other" } }, { approvalId: id })).toMatchObject({ decision: "deny", redemption: { check: "agent" } });
    expect(await gate.check(action, { approvalId: "nope" })).toMatchObject({ decision: "deny", redemption: { check: "not-found" } });
    // Refusals consume nothing.
    expect((await gate.check(action, { approvalId: id })).decision).toBe("allow");

    const p = pay(150);
    const pending = (await gate.check(p)).approval_id!;
    expect(await gate.check(p, { approvalId: pending })).toMatchObject({ decision: "deny", redemption: { check: "pending" } });
    clock += 11 * 60_000; // past its expiry (no timer has run yet): expired
    expect(await gate.check(p, { approvalId: pending })).toMatchObject({ decision: "deny", redemption: { check: "expired" } });

    const dn = pay(150);
    const denied = (await gate.check(dn)).approval_id!;
    await gate.deny(denied, { by: "alice" });
    const r = await gate.check(dn, { approvalId: denied });
    expect(r).toMatchObject({ decision: "deny", rule: null, redemption: { check: "denied" } });
    expect(r.reason).toContain("denied by alice");
  });

  it("20 concurrent redemptions → exactly one allow", async () => {
    const { gate } = await openGate(kind);
    const action = pay(150);
    const id = await approved(gate, action);
    const rs = await Promise.all(Array.from({ length: 20 }, () => gate.check(action, { approvalId: id })));
    expect(rs.filter((r) => r.decision === "allow")).toHaveLength(1);
    expect(rs.filter((r) => r.redemption?.check === "redeemed")).toHaveLength(19);
  });

  it("enforce redeems after an approval: the action runs once; the approval cannot be redeemed again; counters count it once", async () => {
    const { gate, dir } = await openGate(kind);
    const action = pay(150);
    let runs = 0;
    const ran = gate.enforce(action, () => ++runs);
    let id: string | undefined;
    while (id === undefined) {
      await new Promise((r) => setTimeout(r, 5));
      id = (await gate.approvals.list({ state: "pending" }))[0]?.id;
    }
    await gate.approve(id, { by: "alice" });
    expect(await ran).toBe(1);
    expect(runs).toBe(1);
    expect((await gate.approvals.get(id))!.redeemed_at).not.toBeNull();
    expect(await gate.check(action, { approvalId: id })).toMatchObject({ decision: "deny", redemption: { check: "redeemed" } });
    // The approved contribution (150) stays, once: the redemption counted nothing.
    expect((await gate.check({ ...action, args: { amount: 0 } })).counters).toEqual({ spent: 150 });
    expect(await verifyLog(dir, { allowUnsignedTail: true })).toMatchObject({ ok: true });
  });

  it("enforce with a denied approval throws ActionDenied and runs nothing", async () => {
    const { gate } = await openGate(kind);
    let runs = 0;
    const ran = gate.enforce(pay(150), () => ++runs);
    let id: string | undefined;
    while (id === undefined) {
      await new Promise((r) => setTimeout(r, 5));
      id = (await gate.approvals.list({ state: "pending" }))[0]?.id;
    }
    await gate.deny(id, { by: "alice" });
    await expect(ran).rejects.toBeInstanceOf(ActionDenied);
    expect(runs).toBe(0);
  });
});
