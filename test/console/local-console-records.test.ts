// `tollgate approvals console` (src/server/console-local.ts) with no gate running: a resolution
// made in the console has its audit record written at once, in the log beside the database that
// recorded the escalation (as `tollgate approvals approve` does), and GET
// /v1/approvals/{id}/records shows the escalation's and the resolution's records.

import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tailLines } from "../../src/audit/read.js";
import { verifyLog } from "../../src/audit/verify.js";
import { Gate } from "../../src/gate/gate.js";
import { Policy } from "../../src/policy.js";
import { startLocalConsole } from "../../src/server/console-local.js";
import type { LocalConsole } from "../../src/server/console-local.js";
import { tempDir } from "../audit/helpers.js";

const POLICY = `tollgate: 1
name: local-console-records
default: allow
approvers:
  finance-oncall: { timeout: 10m, on_timeout: deny }
rules:
  - { id: big, effect: escalate, approver: finance-oncall, reason: big payment, when: { tool: pay, args.amount: { gt: 100 } } }
`;

const consoles: LocalConsole[] = [];
afterEach(async () => {
  for (const c of consoles.splice(0)) await c.close();
});

async function escalated(dir: string): Promise<{ id: string; seq: number }> {
  const g = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir });
  try {
    const d = await g.check({ tool: "pay", agent: { id: "bot" }, args: { amount: 500 } });
    return { id: d.approval_id!, seq: d.audit_seq };
  } finally {
    await g.close();
  }
}

async function call(c: LocalConsole, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(new URL(path, c.url), {
    method,
    headers: { authorization: "Bearer t0ken-for-the-test", ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe("tollgate approvals console, no gate running", () => {
  it("records a resolution at once in the log beside the database, and shows the approval's records", async () => {
    const dir = tempDir("local-console-records");
    const { id, seq } = await escalated(dir);
    const c = await startLocalConsole({ db: join(dir, "approvals.db"), host: "127.0.0.1", port: 0, token: "t0ken-for-the-test", who: { identity: "alice", role: "approver", approvers: ["finance-oncall"] } });
    consoles.push(c);

    const before = await call(c, "GET", `/v1/approvals/${id}/records`);
    expect(before.status).toBe(200);
    expect(before.body.records).toMatchObject([{ kind: "escalation", seq, record: { seq, decision: { decision: "escalate" } } }]);

    const approved = await call(c, "POST", `/v1/approvals/${id}/approve`, { note: "fine" });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ state: "approved", resolved_by: "alice", resolution_seq: seq + 1 });
    const lines = (await tailLines(dir, 100)).map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ seq: seq + 1, decision: { decision: "allow", approval: { id, state: "approved", by: "alice", note: "fine" } } });

    const after = await call(c, "GET", `/v1/approvals/${id}/records`);
    expect(after.body.records.map((r: { kind: string; seq: number }) => [r.kind, r.seq])).toEqual([["escalation", seq], ["resolution", seq + 1]]);
    expect(after.body.records[1].record).toEqual(lines.at(-1));
    await c.close();
    consoles.length = 0;
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it("a gate holding the log writes the record itself", async () => {
    const dir = tempDir("local-console-held");
    const gate = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir });
    try {
      const d = await gate.check({ tool: "pay", agent: { id: "bot" }, args: { amount: 500 } });
      const c = await startLocalConsole({ db: join(dir, "approvals.db"), host: "127.0.0.1", port: 0, token: "t0ken-for-the-test", who: { identity: "bob", role: "admin", approvers: [] } });
      consoles.push(c);
      const waiting = gate.approvals.wait(d.approval_id!, { timeoutMs: 20_000 });
      expect((await call(c, "POST", `/v1/approvals/${d.approval_id}/deny`)).status).toBe(200);
      expect(await waiting).toMatchObject({ state: "denied", resolution_seq: d.audit_seq + 1 });
    } finally {
      await gate.close();
    }
    const lines = (await tailLines(dir, 100)).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.decision?.approval !== undefined)).toHaveLength(1);
  });
});
