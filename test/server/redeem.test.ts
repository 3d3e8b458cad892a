// Action-bound, single-use approvals in `tollgate serve` (docs/approvals.md, "Redeeming"):
// POST /v1/decide {action, approval_id} allows only the very action that was approved, only for
// the agent it was issued to, once — across workers, under a race — recorded and linked. On both
// approvals stores: the default SQLite file and PostgreSQL (--approvals postgres://...).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../../src/canonical.js";
import { verifyLog } from "../../src/audit/verify.js";
import { storeKinds } from "../approvals/helpers.js";
import { auditRecords, http, startOnStore } from "./helpers.js";
import type { Server } from "./helpers.js";

const POLICY = `tollgate: 1
name: redeem-test
default: allow
approvers:
  finance-oncall: { timeout: 15m, on_timeout: deny }
  quick: { timeout: 1s, on_timeout: allow }
audit:
  redact: [args.card_number]
counters:
  spent:
    per: [session.id]
    window: 1d
    when: { tool: pay }
    sum: args.amount
rules:
  - { id: budget, effect: escalate, approver: finance-oncall, reason: over budget, when: { tool: pay, $spent: { gt: 100 } } }
  - { id: quick, effect: escalate, approver: quick, reason: quick ones, when: { tool: quick } }
`;

let s: Server;
let session = 0;

type Token = "agent" | "agent2" | "admin";
const pay = (amount: number, sid = `s${++session}`) => ({ tool: "pay", session: { id: sid }, args: { amount, card_number: "4111 1111 1111 1111" } });
const decide = (action: unknown, token: Token = "agent", approval_id?: string) =>
  http(s, "POST", "/v1/decide", { token, body: approval_id === undefined ? { action } : { action, approval_id } });

async function escalate(action: Record<string, unknown>, token: Token = "agent"): Promise<string> {
  const r = await decide(action, token);
  expect(r.status, r.text).toBe(200);
  expect(r.body.decision).toBe("escalate");
  return r.body.approval_id;
}
async function approve(id: string): Promise<void> {
  const r = await http(s, "POST", `/v1/approvals/${id}/approve`, { token: "approver", body: { note: "ok" } });
  expect(r.status, r.text).toBe(200);
}
function expectRefused(r: { status: number; body: any; text: string }, check: string): void { // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(r.status, r.text).toBe(200);
  expect(r.body).toMatchObject({ decision: "deny", rule: null, redemption: { check } });
  expect(r.body.approved_by).toBeUndefined();
  expect(typeof r.body.reason).toBe("string");
  expect(r.body.audit_seq).toBeGreaterThan(0);
}

/** The log verifies (the server is running: its last checkpoint interval is not signed yet). */
async function expectVerifies(): Promise<void> {
  const v = await verifyLog(s.auditDir, { allowUnsignedTail: true });
  expect(v, JSON.stringify(v)).toMatchObject({ ok: true });
}

for (const kind of storeKinds("test/server/redeem.test.ts")) describe.skipIf(!kind.available)(`redeeming approvals over HTTP (${kind.name})`, () => {
  beforeAll(async () => {
    s = await startOnStore(kind, POLICY, { workers: 2 });
  });
  afterAll(async () => {
    expect(await s?.stop()).toBe(0);
  });

  it("the approval stores the SHA-256 of the canonical action as sent (agent bound to the token, not redacted), the agent and the policy hash", async () => {
    const action = pay(150);
    const id = await escalate({ ...action, agent: { id: "someone-else" } });
    const a = (await http(s, "GET", `/v1/approvals/${id}`, { token: "admin" })).body;
    expect(a.action_digest).toBe(sha256Hex(canonicalJson({ ...action, agent: { id: "billing-bot" } })));
    expect(a.agent).toBe("billing-bot");
    expect(a.action.args.card_number).toBe("[redacted]");
    expect(a.policy_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.redeemed_at).toBeNull();
  });

  it("approved → allow with approval_id, approved_by and the rule; recorded once, linked; counters not counted twice; the log verifies", async () => {
    const action = pay(150);
    const sid = action.session.id;
    const id = await escalate(action);
    await approve(id);
    const r = await decide(action, "agent", id);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ decision: "allow", rule: "budget", approval_id: id, approved_by: "alice", redemption: { check: null } });
    expect(r.body.counters).toBeUndefined();
    const a = (await http(s, "GET", `/v1/approvals/${id}`, { token: "admin" })).body;
    expect(a.redeemed_at).not.toBeNull();
    expect(a.redemption_seq).toBe(r.body.audit_seq);
    expect(a.redemption_hash).toBe(r.body.audit_id);
    const recs = auditRecords(s.auditDir);
    const rec = recs.find((x) => x.seq === r.body.audit_seq)! as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(rec.hash).toBe(r.body.audit_id);
    expect(rec.decision.redemption).toEqual({ approval_id: id, check: null, decision_seq: a.decision_seq, decision_hash: a.decision_hash, resolution_seq: a.resolution_seq, resolution_hash: a.resolution_hash });
    expect(rec.decision.counted).toBeUndefined();
    expect(rec.action.args.card_number).toBe("[redacted]");
    expect(rec.policy_hash).toBe(a.policy_hash);
    expect(recs.find((x) => x.seq === a.decision_seq)!.hash).toBe(a.decision_hash);
    expect(recs.find((x) => x.seq === a.resolution_seq)!.hash).toBe(a.resolution_hash);
    // The approved escalation's contribution (150) stays; the redemption added nothing.
    const next = await decide(pay(0, sid), "admin");
    expect(next.body.counters.spent).toBe(150);
    await expectVerifies();
  });

  it("a second redemption → deny (redeemed)", async () => {
    const action = pay(150);
    const id = await escalate(action);
    await approve(id);
    expect((await decide(action, "agent", id)).body.decision).toBe("allow");
    const again = await decide(action, "agent", id);
    expectRefused(again, "redeemed");
    expect(again.body.reason).toContain("already redeemed");
  });

  it("a different action with an approved id → deny (digest); the approved action still redeems", async () => {
    const action = pay(150);
    const id = await escalate(action);
    await approve(id);
    expectRefused(await decide({ ...action, args: { ...action.args, amount: 15000 } }, "agent", id), "digest");
    // Redacted fields count too: the digest is of the action as sent.
    expectRefused(await decide({ ...action, args: { ...action.args, card_number: "5500 0000 0000 0004" } }, "agent", id), "digest");
    expect((await decide(action, "agent", id)).body).toMatchObject({ decision: "allow", approval_id: id });
  });

  it("another agent's id → deny (agent), telling nothing about the approval; the owner still redeems", async () => {
    const action = pay(150);
    const id = await escalate(action);
    await approve(id);
    const r = await decide(action, "agent2", id);
    expectRefused(r, "agent");
    expect(r.body.redemption).toMatchObject({ decision_seq: null, decision_hash: null, resolution_seq: null });
    // Claiming to be billing-bot in the body changes nothing: agent.id is the token's.
    expectRefused(await decide({ ...action, agent: { id: "billing-bot" } }, "agent2", id), "agent");
    expect((await decide(action, "agent", id)).body.decision).toBe("allow");
  });

  it("pending → deny (pending); denied → deny (denied); unknown id → deny (not-found)", async () => {
    const action = pay(150);
    const id = await escalate(action);
    expectRefused(await decide(action, "agent", id), "pending");
    const d = await http(s, "POST", `/v1/approvals/${id}/deny`, { token: "approver", body: {} });
    expect(d.status).toBe(200);
    expectRefused(await decide(action, "agent", id), "denied");
    expectRefused(await decide(action, "agent", "00000000-0000-4000-8000-000000000000"), "not-found");
  });

  it("an expired approval → deny (expired), even with on_timeout allow", async () => {
    const action = { tool: "quick", args: { n: 1 } };
    const id = await escalate(action);
    const w = await http(s, "GET", `/v1/approvals/${id}/wait?timeout=10s`, { token: "agent" });
    expect(w.body.state).toBe("expired");
    expectRefused(await decide(action, "agent", id), "expired");
  });

  it("20 parallel redemptions of one approval (two workers) → exactly one allow", async () => {
    const action = pay(150);
    const id = await escalate(action);
    await approve(id);
    const rs = await Promise.all(Array.from({ length: 20 }, () => decide(action, "agent", id)));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    expect(rs.filter((r) => r.body.decision === "allow")).toHaveLength(1);
    expect(rs.filter((r) => r.body.redemption?.check === "redeemed")).toHaveLength(19);
    const recs = auditRecords(s.auditDir).filter((x) => (x.decision as any).redemption?.approval_id === id); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(recs).toHaveLength(20);
    expect(recs.filter((x) => x.decision.decision === "allow")).toHaveLength(1);
    await expectVerifies();
  });

  it("an approval_id that is not a string is a 400", async () => {
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: pay(1), approval_id: 5 } });
    expect(r.status).toBe(400);
  });

  it("an approval_id that is not Unicode text (a lone surrogate) or longer than an id is a 400, not a 503; the server goes on", async () => {
    const lone = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: pay(1), approval_id: "\ud800" } });
    expect(lone.status, lone.text).toBe(400);
    expect(lone.body.error.code).toBe("invalid_request");
    expect(lone.body.error.message).toContain("lone surrogate");
    const long = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: pay(1), approval_id: "x".repeat(201) } });
    expect(long.status, long.text).toBe(400);
    expect((await http(s, "GET", "/readyz")).status).toBe(200);
    expect((await decide(pay(1))).body.decision).toBe("allow");
  });
});
