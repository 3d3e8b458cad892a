// Counters in `tollgate serve` (spec section 8): the primary owns the state, workers decide with
// sums read from it and commit what they counted (compare-and-record). Exact across workers,
// single and batch requests mixed; durable through SIGKILL (rebuilt from the audit log).

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { http, startServer, tempDir } from "./helpers.js";
import type { Server } from "./helpers.js";

const POLICY = (limit: number) => `tollgate: 1
name: server-limits
default: allow
approvers:
  finance: { timeout: 10m }
counters:
  n:
    per: [session.id]
    window: 1h
    when: { tool: t }
  spent:
    per: [session.id]
    window: 1d
    when: { tool: pay }
    sum: args.amount
rules:
  - { id: cap, effect: deny, reason: over the limit, when: { tool: t, $n: { gt: ${limit} } } }
  - { id: budget, effect: escalate, approver: finance, reason: over budget, when: { tool: pay, $spent: { gt: 100 } } }
`;

function policyFile(limit: number): string {
  const f = join(tempDir(), "policy.yaml");
  writeFileSync(f, POLICY(limit));
  return f;
}

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) s.proc.kill("SIGKILL");
});

const action = (session: string) => ({ tool: "t", session: { id: session } });

function auditRecords(dir: string): Record<string, any>[] {
  return readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)));
}

describe("server counters", () => {
  it("2 workers, 1,000 concurrent actions of one key in single and batch requests: exactly 50 allows", async () => {
    const s = await startServer({ policy: policyFile(50), workers: 2 });
    servers.push(s);
    const singles = Array.from({ length: 500 }, () => http(s, "POST", "/v1/decide", { token: "admin", body: { action: action("k1") } }).then((r) => {
      expect(r.status, r.text).toBe(200);
      return [r.body];
    }));
    const batches = Array.from({ length: 50 }, () => http(s, "POST", "/v1/decide/batch", { token: "admin", body: { actions: Array.from({ length: 10 }, () => action("k1")) } }).then((r) => {
      expect(r.status, r.text).toBe(200);
      return r.body.decisions as any[];
    }));
    const all = (await Promise.all([...singles, ...batches])).flat();
    expect(all).toHaveLength(1000);
    expect(all.filter((d) => d.decision === "allow")).toHaveLength(50);
    expect(all.filter((d) => d.decision === "deny" && d.rule === "cap")).toHaveLength(950);
    // Each allow saw a distinct value 1..50: some one-at-a-time order.
    expect(all.filter((d) => d.decision === "allow").map((d) => d.counters.n).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // Another key is unaffected; every decision has its own audit record.
    const other = await http(s, "POST", "/v1/decide", { token: "admin", body: { action: action("k2") } });
    expect(other.body).toMatchObject({ decision: "allow", counters: { n: 1, spent: 0 } });
    expect(new Set(all.map((d) => d.audit_id)).size).toBe(1000);
    // Both workers' per-counter counts, summed; no per-key series.
    const metrics = (await http(s, "GET", "/metrics", { token: "admin" })).text;
    expect(metrics).toContain('tollgate_counter_decisions_total{policy="server-limits",counter="n",decision="allow"} 51');
    expect(metrics).toContain('tollgate_counter_decisions_total{policy="server-limits",counter="n",decision="deny"} 950');
    expect(metrics).not.toContain("k1");
    expect(await s.stop()).toBe(0);
    const records = auditRecords(s.auditDir).filter((r) => r.decision.counters !== undefined);
    expect(records).toHaveLength(1001);
    expect(records.filter((r) => r.decision.counted !== undefined)).toHaveLength(51);
  }, 60_000);

  it("an escalation counts while pending and is released when denied", async () => {
    const s = await startServer({ policy: policyFile(50), workers: 2 });
    servers.push(s);
    const pay = (amount: number) => http(s, "POST", "/v1/decide", { token: "admin", body: { action: { tool: "pay", session: { id: "p" }, args: { amount } } } });
    expect((await pay(90)).body).toMatchObject({ decision: "allow", counters: { spent: 90 } });
    const e = (await pay(20)).body;
    expect(e).toMatchObject({ decision: "escalate", counters: { spent: 110 } });
    expect((await pay(1)).body.counters.spent).toBe(111);
    const denied = await http(s, "POST", `/v1/approvals/${e.approval_id}/deny`, { token: "admin", body: {} });
    expect(denied.status, denied.text).toBe(200);
    expect((await pay(0)).body.counters.spent).toBe(91);
    expect(await s.stop()).toBe(0);
  }, 60_000);

  it("SIGKILL under load, restart: counters continue from every acknowledged decision", async () => {
    const policy = policyFile(400);
    const auditDir = join(tempDir(), "audit");
    const s = await startServer({ policy, auditDir, workers: 2 });
    servers.push(s);
    let acked = 0;
    let running = true;
    const loop = async () => {
      while (running) {
        try {
          const r = await http(s, "POST", "/v1/decide", { token: "admin", body: { action: action("kill") } });
          if (r.status === 200 && r.body.decision === "allow") acked++;
        } catch {
          return; // the server is gone
        }
      }
    };
    const loops = Array.from({ length: 16 }, loop);
    while (acked < 150) await new Promise((r) => setTimeout(r, 5));
    s.proc.kill("SIGKILL");
    running = false;
    await Promise.all(loops);
    await s.exited;
    // Workers die with the primary (they exit when the IPC channel closes).
    await new Promise((r) => setTimeout(r, 500));

    const again = await startServer({ policy, auditDir, workers: 2 });
    servers.push(again);
    const durable = auditRecords(auditDir).filter((r) => r.decision.counted !== undefined).length;
    expect(durable).toBeGreaterThanOrEqual(acked);
    let allowed = 0;
    for (;;) {
      const r = await http(again, "POST", "/v1/decide", { token: "admin", body: { action: action("kill") } });
      expect(r.status, r.text).toBe(200);
      if (r.body.decision !== "allow") {
        expect(r.body.counters.n).toBe(401);
        break;
      }
      allowed++;
    }
    expect(durable + allowed).toBe(400);
    expect(await again.stop()).toBe(0);
  }, 120_000);

  it("counters on redacted fields: sealed in the records, rebuilt after a restart", async () => {
    const policy = join(tempDir(), "policy.yaml");
    writeFileSync(policy, POLICY(3).replace("approvers:", "audit:\n  redact: [session.id, args.amount]\napprovers:"));
    const auditDir = join(tempDir(), "audit");
    const SESSION = "sess-SECRET-91c2";
    const AMOUNT = 71.4375;
    const t = { tool: "t", session: { id: SESSION } };
    const pay = (amount: number) => ({ tool: "pay", session: { id: SESSION }, args: { amount } });
    let s = await startServer({ policy, auditDir, workers: 2 });
    servers.push(s);
    const decide = (srv: Server, a: unknown) => http(srv, "POST", "/v1/decide", { token: "admin", body: { action: a } }).then((r) => {
      expect(r.status, r.text).toBe(200);
      return r.body;
    });
    for (let i = 0; i < 2; i++) expect((await decide(s, t)).decision).toBe("allow");
    expect(await decide(s, pay(AMOUNT))).toMatchObject({ decision: "allow", counters: { spent: AMOUNT } });
    expect(await s.stop()).toBe(0);
    s = await startServer({ policy, auditDir, workers: 2 });
    servers.push(s);
    expect(await decide(s, t)).toMatchObject({ decision: "allow", counters: { n: 3 } });
    expect(await decide(s, t)).toMatchObject({ decision: "deny", rule: "cap", counters: { n: 4 } });
    const e = await decide(s, pay(30));
    expect(e).toMatchObject({ decision: "escalate", counters: { spent: AMOUNT + 30 } });
    const denied = await http(s, "POST", `/v1/approvals/${e.approval_id}/deny`, { token: "admin", body: {} });
    expect(denied.status, denied.text).toBe(200);
    expect(await s.stop()).toBe(0);
    const bytes = readdirSync(auditDir).map((f) => readFileSync(join(auditDir, f)).toString("latin1")).join("\n");
    for (const secret of [SESSION, String(AMOUNT), String(AMOUNT + 30)]) expect(bytes).not.toContain(secret);
    const counted = auditRecords(auditDir).filter((r) => r.decision.counted !== undefined && r.decision.approval === undefined);
    expect(counted.length).toBe(5);
    for (const r of counted) for (const [, , key] of r.decision.counted.add) expect(key).toEqual({ sealed: expect.any(String) });
    expect(counted.filter((r) => r.action.tool === "pay").map((r) => r.decision.counters.spent)).toEqual(["[redacted]", "[redacted]"]);
  }, 90_000);
});
