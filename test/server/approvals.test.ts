// Approvals end to end: escalate → wait → approve → the agent proceeds; deny; expiry → on_timeout;
// who may see and resolve what. On both approvals stores: the default SQLite file and PostgreSQL
// (--approvals postgres://...).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeKinds } from "../approvals/helpers.js";
import { approvalsPolicy, auditRecords, http, startOnStore } from "./helpers.js";
import type { Server } from "./helpers.js";

const POLICY = approvalsPolicy("approvals-test", { timeout: "1s", onTimeout: "allow", reason: "Quick ones expire in a second" });

let s: Server;

async function escalate(tool = "payments.refund", token: "agent" | "agent2" = "agent"): Promise<{ approval_id: string; audit_seq: number; audit_id: string }> {
  const r = await http(s, "POST", "/v1/decide", { token, body: { action: { tool, args: { amount: 500 } } } });
  expect(r.status).toBe(200);
  expect(r.body.decision).toBe("escalate");
  expect(r.body.approval_id).toMatch(/^[0-9a-f-]{36}$/);
  return r.body;
}

for (const kind of storeKinds("test/server/approvals.test.ts")) describe.skipIf(!kind.available)(`approvals (${kind.name})`, () => {
  beforeAll(async () => {
    s = await startOnStore(kind, POLICY, { workers: 2 });
  });
  afterAll(async () => {
    expect(await s?.stop()).toBe(0);
  });

  it("escalate → the agent waits → the approver approves → the agent proceeds; the transition is audited", async () => {
    const d = await escalate();
    const waiting = http(s, "GET", `/v1/approvals/${d.approval_id}/wait?timeout=20s`, { token: "agent" });
    const list = await http(s, "GET", "/v1/approvals?state=pending", { token: "approver" });
    expect(list.status).toBe(200);
    const mine = list.body.approvals.find((a: { id: string }) => a.id === d.approval_id);
    expect(mine).toMatchObject({ state: "pending", approver: "finance-oncall", rule: "big-refund", decision_seq: d.audit_seq, decision_hash: d.audit_id });
    expect(mine.action.agent.id).toBe("billing-bot");
    const ok = await http(s, "POST", `/v1/approvals/${d.approval_id}/approve`, { token: "approver", body: { note: "customer verified" } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice", note: "customer verified" });
    const w = await waiting;
    expect(w.status).toBe(200);
    expect(w.body).toMatchObject({ id: d.approval_id, state: "approved", outcome: "allow" });
    const rec = auditRecords(s.auditDir).find((r) => r.seq === w.body.resolution_seq)!;
    expect(rec.hash).toBe(w.body.resolution_hash);
    expect(rec.decision).toMatchObject({ decision: "allow", rule: "big-refund", approval: { id: d.approval_id, state: "approved", by: "alice", decision_seq: d.audit_seq, decision_hash: d.audit_id } });
    // Resolving twice is a conflict.
    const again = await http(s, "POST", `/v1/approvals/${d.approval_id}/deny`, { token: "admin" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("already_resolved");
  });

  it("deny: the agent's wait answers outcome deny", async () => {
    const d = await escalate();
    const waiting = http(s, "GET", `/v1/approvals/${d.approval_id}/wait`, { token: "agent" });
    await new Promise((r) => setTimeout(r, 50));
    const no = await http(s, "POST", `/v1/approvals/${d.approval_id}/deny`, { token: "admin" });
    expect(no.body).toMatchObject({ state: "denied", outcome: "deny", resolved_by: "ops", note: null });
    expect((await waiting).body).toMatchObject({ state: "denied", outcome: "deny" });
  });

  it("expiry → on_timeout, audited", async () => {
    const d = await escalate("quick");
    const t0 = Date.now();
    const w = await http(s, "GET", `/v1/approvals/${d.approval_id}/wait?timeout=10s`, { token: "agent" });
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(w.body).toMatchObject({ state: "expired", outcome: "allow", on_timeout: "allow" });
    const rec = auditRecords(s.auditDir).find((r) => r.seq === w.body.resolution_seq)!;
    expect(rec.decision).toMatchObject({ decision: "allow", approval: { state: "expired", decision_seq: d.audit_seq } });
  });

  it("a wait that times out answers the still-pending approval; the timeout is validated", async () => {
    const d = await escalate();
    const t0 = Date.now();
    const w = await http(s, "GET", `/v1/approvals/${d.approval_id}/wait?timeout=200ms`, { token: "agent" });
    expect(w.body.state).toBe("pending");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect((await http(s, "GET", `/v1/approvals/${d.approval_id}/wait?timeout=soon`, { token: "agent" })).status).toBe(400);
    expect((await http(s, "GET", `/v1/approvals/${d.approval_id}/wait?when=1`, { token: "agent" })).status).toBe(400);
  });

  it("agents see only their own approvals; approvers only their approvers'; admins everything", async () => {
    const d = await escalate();
    expect((await http(s, "GET", `/v1/approvals/${d.approval_id}`, { token: "agent" })).body.id).toBe(d.approval_id);
    expect((await http(s, "GET", `/v1/approvals/${d.approval_id}`, { token: "agent2" })).status).toBe(404);
    expect((await http(s, "GET", `/v1/approvals/${d.approval_id}/wait?timeout=1ms`, { token: "agent2" })).status).toBe(404);
    expect((await http(s, "GET", `/v1/approvals/${d.approval_id}`, { token: "approver" })).status).toBe(200);
    const other = await escalate("other");
    expect((await http(s, "GET", `/v1/approvals/${other.approval_id}`, { token: "approver" })).status).toBe(403);
    expect((await http(s, "POST", `/v1/approvals/${other.approval_id}/approve`, { token: "approver" })).status).toBe(403);
    const list = await http(s, "GET", "/v1/approvals?state=pending", { token: "approver" });
    expect(list.body.approvals.some((a: { id: string }) => a.id === other.approval_id)).toBe(false);
    const all = await http(s, "GET", "/v1/approvals?state=pending&approver=other-team", { token: "admin" });
    expect(all.body.approvals.map((a: { id: string }) => a.id)).toContain(other.approval_id);
    expect((await http(s, "POST", `/v1/approvals/${other.approval_id}/approve`, { token: "admin" })).body.state).toBe("approved");
    expect((await http(s, "GET", "/v1/approvals/no-such-id", { token: "admin" })).status).toBe(404);
    expect((await http(s, "POST", "/v1/approvals/no-such-id/approve", { token: "admin" })).status).toBe(404);
    expect((await http(s, "GET", "/v1/approvals?state=bogus", { token: "admin" })).status).toBe(400);
    expect((await http(s, "GET", "/v1/approvals?limit=1", { token: "admin" })).body.approvals.length).toBe(1);
    expect((await http(s, "GET", "/v1/approvals?approver=other-team", { token: "approver" })).body.approvals).toEqual([]);
    expect((await http(s, "POST", `/v1/approvals/${d.approval_id}/approve`, { token: "approver", body: { note: 5 } })).status).toBe(400);
  });

  it("a policy without counters (one and batch decisions): the approval is bound to its action and redeemed once", async () => {
    const action = { tool: "payments.refund", args: { amount: 500 } };
    const d = await escalate();
    const batch = await http(s, "POST", "/v1/decide/batch", { token: "agent", body: { actions: [action] } });
    const fromBatch = batch.body.decisions[0].approval_id;
    for (const id of [d.approval_id, fromBatch]) {
      const a = (await http(s, "GET", `/v1/approvals/${id}`, { token: "admin" })).body;
      expect(a).toMatchObject({ agent: "billing-bot", action_digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect((await http(s, "POST", `/v1/approvals/${id}/approve`, { token: "approver", body: {} })).status).toBe(200);
      const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action, approval_id: id } });
      expect(r.body).toMatchObject({ decision: "allow", rule: "big-refund", approval_id: id, approved_by: "alice" });
      const again = await http(s, "POST", "/v1/decide", { token: "agent", body: { action, approval_id: id } });
      expect(again.body).toMatchObject({ decision: "deny", redemption: { check: "redeemed" } });
    }
  });
});
