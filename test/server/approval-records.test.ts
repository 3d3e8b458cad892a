// GET /v1/approvals/{id}/records (the console's link from an approval to its audit records):
// the escalation's, resolution's and redemption's records as the log holds them, for approvers
// who may see the approval and admins; agents get 403; a record this instance's log does not
// hold (another instance wrote it) is reported missing, never another record of that seq. On
// both approvals stores.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalRecords } from "../../src/server/approval-records.js";
import { storeKinds } from "../approvals/helpers.js";
import { auditRecords, http, startOnStore } from "./helpers.js";
import type { Server } from "./helpers.js";

const POLICY = `tollgate: 1
name: records-test
default: allow
approvers:
  finance-oncall: { timeout: 15m, on_timeout: deny }
  security-oncall: { timeout: 15m, on_timeout: deny }
audit:
  redact: [args.card_number]
rules:
  - { id: big, effect: escalate, approver: finance-oncall, reason: big payment, when: { tool: pay, args.amount: { gt: 100 } } }
  - { id: secret, effect: escalate, approver: security-oncall, reason: secrets, when: { tool: secret } }
`;

let s: Server;
const PAY = { tool: "pay", args: { amount: 500, card_number: "4111 1111 1111 1111" } };

for (const kind of storeKinds("test/server/approval-records.test.ts")) describe.skipIf(!kind.available)(`GET /v1/approvals/{id}/records (${kind.name})`, () => {
  beforeAll(async () => {
    s = await startOnStore(kind, POLICY, { workers: 2 });
  });
  afterAll(async () => {
    expect(await s?.stop()).toBe(0);
  });

  it("answers the escalation's, resolution's and redemption's records as the log holds them", async () => {
    const d = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: PAY } });
    expect(d.body.decision).toBe("escalate");
    const id = d.body.approval_id as string;

    const pending = await http(s, "GET", `/v1/approvals/${id}/records`, { token: "approver" });
    expect(pending.status, pending.text).toBe(200);
    expect(pending.body.records.map((r: { kind: string }) => r.kind)).toEqual(["escalation"]);

    expect((await http(s, "POST", `/v1/approvals/${id}/approve`, { token: "approver", body: { note: "fine" } })).status).toBe(200);
    const redeemed = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: PAY, approval_id: id } });
    expect(redeemed.body.decision).toBe("allow");

    let r = await http(s, "GET", `/v1/approvals/${id}/records`, { token: "approver" });
    for (let i = 0; i < 100 && r.body.records.length < 3; i++) {
      await new Promise((ok) => setTimeout(ok, 20)); // the resolution's record follows the approval
      r = await http(s, "GET", `/v1/approvals/${id}/records`, { token: "approver" });
    }
    expect(r.status, r.text).toBe(200);
    const byKind = Object.fromEntries(r.body.records.map((x: { kind: string }) => [x.kind, x]));
    expect(Object.keys(byKind)).toEqual(["escalation", "resolution", "redemption"]);
    const log = auditRecords(s.auditDir);
    for (const x of r.body.records as { seq: number; hash: string; record: { seq: number; hash: string } }[]) {
      const inLog = log.find((l) => l.seq === x.seq)!;
      expect(x.record).toEqual(inLog); // the very record, as written
      expect(x.record.hash).toBe(x.hash);
    }
    expect(byKind.escalation.seq).toBe(d.body.audit_seq);
    expect(byKind.escalation.record.action.args.card_number).toBe("[redacted]");
    expect(byKind.redemption.seq).toBe(redeemed.body.audit_seq);
    // Admins see them too.
    expect((await http(s, "GET", `/v1/approvals/${id}/records`, { token: "admin" })).body.records).toHaveLength(3);
  });

  it("refuses agents, hides other approvers' approvals and unknown ids", async () => {
    const pay = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: PAY } });
    const agent = await http(s, "GET", `/v1/approvals/${pay.body.approval_id}/records`, { token: "agent" });
    expect(agent.status).toBe(403);
    expect(agent.body.error.message).toMatch(/may not GET \/v1\/approvals\/:id\/records/);
    // alice approves for finance only: a security escalation is not hers to see.
    const secret = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: { tool: "secret" } } });
    expect(secret.body.decision).toBe("escalate");
    const other = await http(s, "GET", `/v1/approvals/${secret.body.approval_id}/records`, { token: "approver" });
    const plainGet = await http(s, "GET", `/v1/approvals/${secret.body.approval_id}`, { token: "approver" });
    expect(other.status).toBe(plainGet.status); // the same answer as for the approval itself
    expect(other.status).toBeGreaterThanOrEqual(403);
    expect((await http(s, "GET", "/v1/approvals/no-such-id/records", { token: "approver" })).status).toBe(404);
    expect((await http(s, "GET", `/v1/approvals/${pay.body.approval_id}/records`, { token: null })).status).toBe(401);
  });

  it("reports a record this log does not hold as missing, not another record of the same seq", async () => {
    const d = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: PAY } });
    const a = (await http(s, "GET", `/v1/approvals/${d.body.approval_id}`, { token: "approver" })).body;
    // As another instance sharing the approvals would see it: the same seq, another hash.
    const elsewhere = await approvalRecords(s.auditDir, { ...a, decision_hash: "f".repeat(64) });
    expect(elsewhere[0]).toMatchObject({ kind: "escalation", seq: a.decision_seq, record: null });
    expect(elsewhere[0]!.missing).toMatch(/not in this audit log .*--seq/);
    const beyond = await approvalRecords(s.auditDir, { ...a, decision_seq: 10_000_000 });
    expect(beyond[0]).toMatchObject({ record: null });
    expect((await approvalRecords(null, a))[0]!.missing).toMatch(/no audit directory/);
  });
});
