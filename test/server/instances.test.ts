// Two `tollgate serve` instances (each with its own audit log and workers) on one PostgreSQL
// approvals database, as behind a load balancer (docs/approvals.md, "PostgreSQL"): an agent
// escalates and waits on A, the approver approves on B, A's long poll answers at once; the
// redemption works on either instance, once; an expiry happens once, recorded in one log.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresDatabase, postgresServer } from "../support/services/postgres.js";
import { auditRecords, http, startServer, tempDir } from "./helpers.js";
import { openSse } from "./sse.js";
import type { Server } from "./helpers.js";

const POLICY = `tollgate: 1
name: instances-test
default: deny
approvers:
  finance-oncall: { timeout: 15m, on_timeout: deny }
  quick: { timeout: 1s, on_timeout: allow }
rules:
  - { id: big-refund, effect: escalate, approver: finance-oncall, reason: Refunds over 200 need finance, when: { tool: payments.refund, args.amount: { gt: 200 } } }
  - { id: quick, effect: escalate, approver: quick, reason: Quick ones expire in a second, when: { tool: quick } }
`;

const pg = postgresServer("test/server/instances.test.ts");

describe.skipIf(!pg.available)("two instances on one PostgreSQL approvals store", () => {
  let a: Server;
  let b: Server;

  beforeAll(async () => {
    const url = `${await postgresDatabase()}?schema=tollgate`;
    const dir = tempDir();
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    [a, b] = await Promise.all([
      startServer({ policy: join(dir, "policy.yaml"), workers: 1, args: ["--approvals", url] }),
      startServer({ policy: join(dir, "policy.yaml"), workers: 1, args: ["--approvals", url] }),
    ]);
  });
  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()]);
    expect(codes).toEqual([0, 0]);
  });

  it("escalated and waited for on A, approved on B: A's waiter answers; redeemed once across both", async () => {
    const action = { tool: "payments.refund", args: { amount: 500 } };
    const d = await http(a, "POST", "/v1/decide", { token: "agent", body: { action } });
    expect(d.body).toMatchObject({ decision: "escalate", approval_id: expect.any(String) });
    const id = d.body.approval_id as string;
    // B lists it too: one queue.
    const listed = await http(b, "GET", "/v1/approvals?state=pending", { token: "approver" });
    expect(listed.body.approvals.map((x: { id: string }) => x.id)).toContain(id);
    const waiting = http(a, "GET", `/v1/approvals/${id}/wait?timeout=20s`, { token: "agent" });
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const approved = await http(b, "POST", `/v1/approvals/${id}/approve`, { token: "approver", body: { note: "ok" } });
    expect(approved.status).toBe(200);
    const w = await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(w.status).toBe(200);
    expect(w.body).toMatchObject({ id, state: "approved", resolved_by: "alice", resolution_seq: expect.any(Number) });
    // B made the transition: its log has the record, A's has the escalation only.
    const recordA = auditRecords(a.auditDir).filter((r) => (r.decision.approval as { id?: string } | undefined)?.id === id);
    const recordB = auditRecords(b.auditDir).filter((r) => (r.decision.approval as { id?: string } | undefined)?.id === id);
    expect(recordA).toHaveLength(0);
    expect(recordB).toHaveLength(1);
    expect(recordB[0]!.seq).toBe(w.body.resolution_seq);
    // Redeemed on A and B at once: one allow.
    const tries = await Promise.all([a, b, a, b].map((s) => http(s, "POST", "/v1/decide", { token: "agent", body: { action, approval_id: id } })));
    expect(tries.map((t) => t.body.decision).sort()).toEqual(["allow", "deny", "deny", "deny"]);
    expect(tries.filter((t) => t.body.decision === "deny").map((t) => t.body.redemption.check)).toEqual(["redeemed", "redeemed", "redeemed"]);
  });

  it("a one-second approval expires once (on_timeout allow), recorded in one instance's log; waiters on both answer", async () => {
    const d = await http(b, "POST", "/v1/decide", { token: "agent", body: { action: { tool: "quick" } } });
    const id = d.body.approval_id as string;
    const [wa, wb] = await Promise.all([a, b].map((s) => http(s, "GET", `/v1/approvals/${id}/wait?timeout=20s`, { token: "agent" })));
    expect(wa!.body).toMatchObject({ id, state: "expired", outcome: "allow", resolved_by: "timeout" });
    expect(wb!.body).toEqual(wa!.body);
    await new Promise((r) => setTimeout(r, 300));
    const records = [a, b].flatMap((s) => auditRecords(s.auditDir).filter((r) => (r.decision.approval as { id?: string } | undefined)?.id === id));
    expect(records).toHaveLength(1);
  });

  it("a console's stream ticket from A opens the stream on B (a load balancer may split them), once", async () => {
    const t = await http(a, "POST", "/v1/approvals/stream/ticket", { token: "approver" });
    expect(t.status, t.text).toBe(200);
    const stream = await openSse(`${b.url}/v1/approvals/stream?ticket=${t.body.ticket}`);
    try {
      expect(stream.status).toBe(200);
      expect((await stream.next((e) => e.event === "snapshot")).data.who.identity).toBe("alice");
    } finally {
      stream.close();
    }
    // Used up, on every instance.
    for (const s of [a, b]) {
      const again = await http(s, "GET", `/v1/approvals/stream?ticket=${t.body.ticket}`);
      expect(again.status).toBe(401);
    }
    // Racing on one ticket across both instances: exactly one stream opens.
    const u = await http(b, "POST", "/v1/approvals/stream/ticket", { token: "approver" });
    const raced = await Promise.all([a, b, a, b].map(async (s) => {
      const abort = new AbortController();
      const res = await fetch(`${s.url}/v1/approvals/stream?ticket=${u.body.ticket}`, { headers: { accept: "text/event-stream" }, signal: abort.signal });
      if (res.status === 200) abort.abort(); // the stream: closed at once
      else await res.text();
      return res.status;
    }));
    expect(raced.sort()).toEqual([200, 401, 401, 401]);
  });
});
