// Several instances on one PostgreSQL database (docs/approvals.md, "PostgreSQL"): two Approvals
// managers, each with an audit log of its own (a fake one here), as two `tollgate serve`
// instances behind a load balancer would run them — and two Gates, for redemption. A resolution on
// one wakes a waiter on the other; of racing resolutions, expiries and redemptions across them
// exactly one wins and exactly one audit record is written, by the instance that made the
// transition; a command-line resolution is recorded by exactly one instance; a transition whose
// maker died before writing its record is taken over once the claim lapses; a restarted manager
// picks up pending approvals.

import { afterEach, describe, expect, it, vi } from "vitest";
import type { Approval } from "../../src/approvals/approval.js";
import { ApprovalAlreadyResolved } from "../../src/approvals/approval.js";
import { Approvals } from "../../src/approvals/approvals.js";
import type { ApprovalsOptions } from "../../src/approvals/approvals.js";
import { Gate } from "../../src/gate/gate.js";
import { Policy } from "../../src/policy.js";
import { tempDir } from "../audit/helpers.js";
import { escalate, fakeAudit, input, openStore, storeKinds } from "./helpers.js";

const pgKind = storeKinds("test/approvals/instances.test.ts").find((k) => k.name === "postgres")!;

const managers: Approvals[] = [];
const gates: Gate[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  for (const g of gates.splice(0)) await g.close();
});

async function instance(store: string, opts: Omit<ApprovalsOptions, "store"> = {}): Promise<Approvals> {
  const m = await Approvals.open({ store, pollMs: 50, ...opts });
  managers.push(m);
  return m;
}

const until = (f: () => boolean | Promise<boolean>, timeout = 10_000) => vi.waitUntil(f, { timeout, interval: 10 });

describe.skipIf(!pgKind.available)("instances sharing one PostgreSQL database", () => {
  it("a resolution on B wakes a waiter on A; B writes the record, A writes none", async () => {
    const url = await pgKind.fresh();
    const auditA = fakeAudit();
    const auditB = fakeAudit();
    const a = await instance(url, { audit: auditA });
    const b = await instance(url, { audit: auditB });
    const created = await a.create(input());
    const waiting = a.wait(created.id);
    const approved = await b.approve(created.id, { by: "alice", note: "fine" });
    expect(approved).toMatchObject({ state: "approved", resolved_by: "alice", resolution_seq: 1001 });
    const woken = await waiting;
    expect(woken).toEqual(approved);
    expect(auditB.calls.map((c) => c.id)).toEqual([created.id]);
    await new Promise((r) => setTimeout(r, 200));
    expect(auditA.calls).toEqual([]);
    // A refuses a second resolution, naming B's.
    await expect(a.deny(created.id, { by: "bob" })).rejects.toThrow(`was already approved by alice`);
  });

  it("20 concurrent approve/deny calls spread over both: exactly one wins, one record in all", async () => {
    const url = await pgKind.fresh();
    const auditA = fakeAudit({ delayMs: 5 });
    const auditB = fakeAudit({ delayMs: 5 });
    const a = await instance(url, { audit: auditA });
    const b = await instance(url, { audit: auditB });
    const approvals = await Promise.all(Array.from({ length: 5 }, () => a.create(input())));
    const waitsA = approvals.map((x) => a.wait(x.id));
    const waitsB = approvals.map((x) => b.wait(x.id));
    for (const x of approvals) {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, k) => {
          const m = k % 2 ? a : b;
          return k % 4 < 2 ? m.approve(x.id, { by: `user-${k}` }) : m.deny(x.id, { by: `user-${k}` });
        }),
      );
      const won = results.filter((r): r is PromiseFulfilledResult<Approval> => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === "rejected") {
          expect(r.reason).toBeInstanceOf(ApprovalAlreadyResolved);
          expect((r.reason as Error).message).toContain(`by ${won[0]!.value.resolved_by} at`);
        }
      }
    }
    const [wa, wb] = await Promise.all([Promise.all(waitsA), Promise.all(waitsB)]);
    expect(wa.every((x) => x.resolution_seq !== null)).toBe(true);
    expect(wb.map((x) => x.resolved_by)).toEqual(wa.map((x) => x.resolved_by));
    await new Promise((r) => setTimeout(r, 300));
    const recorded = [...auditA.calls, ...auditB.calls].map((c) => c.id).sort();
    expect(recorded).toEqual(approvals.map((x) => x.id).sort());
  });

  it("expiry happens once: both timers fire, one conditional update wins, one record; waiters on both wake", async () => {
    const url = await pgKind.fresh();
    const auditA = fakeAudit();
    const auditB = fakeAudit();
    const a = await instance(url, { audit: auditA });
    const b = await instance(url, { audit: auditB });
    const xs = await Promise.all(Array.from({ length: 6 }, (_, i) => a.create(input(escalate(i % 2 ? "allow" : "deny", 700)))));
    // B learns of A's approvals by notification and arms their expiry too.
    await until(async () => (await b.pendingCount()) === 6);
    const woken = await Promise.all(xs.flatMap((x) => [a.wait(x.id), b.wait(x.id)]));
    for (const [i, x] of xs.entries()) {
      expect(woken[2 * i]).toMatchObject({ id: x.id, state: "expired", outcome: i % 2 ? "allow" : "deny", resolved_by: "timeout" });
      expect(woken[2 * i + 1]).toEqual(woken[2 * i]);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect([...auditA.calls, ...auditB.calls].map((c) => c.id).sort()).toEqual(xs.map((x) => x.id).sort());
  });

  it("a command-line resolution is recorded by exactly one instance, and wakes waiters on both", async () => {
    const url = await pgKind.fresh();
    const auditA = fakeAudit();
    const auditB = fakeAudit();
    const a = await instance(url, { audit: auditA });
    const b = await instance(url, { audit: auditB });
    const xs = await Promise.all(Array.from({ length: 8 }, () => b.create(input())));
    const waits = xs.flatMap((x) => [a.wait(x.id), b.wait(x.id)]);
    const cli = await openStore(url);
    try {
      for (const x of xs) await cli.resolve(x.id, "denied", { by: "carol", at: new Date().toISOString(), outcome: "deny" });
    } finally {
      await cli.close();
    }
    const woken = await Promise.all(waits);
    expect(woken.every((w) => w.state === "denied" && w.resolution_seq !== null)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect([...auditA.calls, ...auditB.calls].map((c) => c.id).sort()).toEqual(xs.map((x) => x.id).sort());
  });

  it("a transition whose instance cannot write its record is taken over by another once the claim lapses", async () => {
    const url = await pgKind.fresh();
    const errors: Error[] = [];
    const broken = fakeAudit({ failTimes: Number.POSITIVE_INFINITY });
    const healthy = fakeAudit();
    const postgres = { auditLeaseMs: 400 };
    const a = await instance(url, { audit: broken, postgres, onError: (e) => errors.push(e) });
    const b = await instance(url, { audit: healthy, postgres });
    const x = await a.create(input(escalate("deny", 100)));
    const waiting = b.wait(x.id);
    // A's timer (or B's) expires it; if A made it, its record fails and, after the lease, B writes it.
    const done = await waiting;
    expect(done).toMatchObject({ state: "expired", resolution_seq: 1001 });
    expect(healthy.calls.map((c) => c.id)).toEqual([x.id]);
    const failedOnA = broken.calls.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(broken.calls.length).toBe(failedOnA); // A no longer tries: it is recorded
  });

  it("a restarted instance picks up pending approvals and expires them on time; one created while it was down too", async () => {
    const url = await pgKind.fresh();
    const audit = fakeAudit();
    const first = await Approvals.open({ store: url, audit });
    const x = await first.create(input(escalate("allow", 1200)));
    await first.close();
    const other = await instance(url, { pollMs: 0 }); // no audit log: creates only
    const y = await other.create(input(escalate("deny", 1200)));
    await other.close();
    const again = await instance(url, { audit });
    const [ex, ey] = await Promise.all([again.wait(x.id), again.wait(y.id)]);
    expect(ex).toMatchObject({ state: "expired", outcome: "allow", resolution_seq: expect.any(Number) });
    expect(ey).toMatchObject({ state: "expired", outcome: "deny", resolution_seq: expect.any(Number) });
    expect(Date.parse(ex.resolved_at!)).toBeGreaterThanOrEqual(Date.parse(x.expires));
    expect(audit.calls.map((c) => c.id).sort()).toEqual([x.id, y.id].sort());
  });
});

const POLICY = `tollgate: 1
name: instances
default: allow
approvers:
  finance: { timeout: 10m, on_timeout: deny }
counters:
  spent:
    per: [session.id]
    window: 1d
    when: { tool: pay }
    sum: args.amount
rules:
  - { id: big, effect: escalate, approver: finance, reason: over budget, when: { tool: pay, $spent: { gt: 100 } } }
`;

describe.skipIf(!pgKind.available)("two Gates on one PostgreSQL approvals store", () => {
  async function gate(url: string): Promise<Gate> {
    const g = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: tempDir("gate-instance"), approvals: url });
    gates.push(g);
    return g;
  }

  it("escalated on A, approved on B, redeemed across both at once: exactly one redemption wins", async () => {
    const url = await pgKind.fresh();
    const [ga, gb] = [await gate(url), await gate(url)];
    const action = { tool: "pay", agent: { id: "bot" }, session: { id: "s1" }, args: { amount: 500 } };
    const d = await ga.check(action);
    expect(d.decision).toBe("escalate");
    const waiting = ga.approvals.wait(d.approval_id!);
    await gb.approve(d.approval_id!, { by: "alice" });
    expect(await waiting).toMatchObject({ state: "approved", resolved_by: "alice" });
    const tries = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? ga : gb).check(action, { approvalId: d.approval_id! })));
    expect(tries.filter((t) => t.decision === "allow")).toHaveLength(1);
    expect(tries.filter((t) => t.decision === "deny").map((t) => (t as { redemption?: { check: string } }).redemption?.check)).toEqual(new Array(9).fill("redeemed"));
    const stored = await ga.approvals.get(d.approval_id!);
    expect(stored).toMatchObject({ redemption_seq: expect.any(Number) });
  });

  it("a denial on B settles the pending counter contribution A counted for the escalation (spec section 8)", async () => {
    const url = await pgKind.fresh();
    const [ga, gb] = [await gate(url), await gate(url)];
    const action = { tool: "pay", agent: { id: "bot" }, session: { id: "s2" }, args: { amount: 150 } };
    const d = await ga.check(action);
    expect(d).toMatchObject({ decision: "escalate", counters: { spent: 150 } });
    await gb.deny(d.approval_id!, { by: "alice" });
    // A learns that B recorded the denial, and drops the contribution (an approval would keep it).
    await until(async () => (await ga.check({ ...action, args: { amount: 0 } })).counters?.spent === 0);
  });
});
