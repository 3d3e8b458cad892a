// Approvals: create and notify, approve/deny, expiry with fake timers, restart, in-process
// races, waiting, noticing resolutions made by other connections (SQLite: polling; PostgreSQL:
// LISTEN/NOTIFY), audit failures — on each store (SQLite and PostgreSQL).

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Approval } from "../../src/approvals/approval.js";
import { ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "../../src/approvals/approval.js";
import { Approvals } from "../../src/approvals/approvals.js";
import type { ApprovalsOptions } from "../../src/approvals/approvals.js";
import type { ApprovalStore } from "../../src/approvals/store-api.js";
import { escalate, fakeAudit, input, openStore, pending, storeKinds } from "./helpers.js";

const T0 = Date.UTC(2025, 0, 1);
const open: Approvals[] = [];
const stores: ApprovalStore[] = [];
async function track(a: Promise<Approvals>): Promise<Approvals> {
  const m = await a;
  open.push(m);
  return m;
}
async function other(location: string): Promise<ApprovalStore> {
  const s = await openStore(location);
  stores.push(s);
  return s;
}

/** Until the managers' own store operations (expiry, polling, notifications, records) are done. */
async function idle(): Promise<void> {
  for (let i = 0; i < 2; i++) await Promise.all(open.map((m) => m.idle()));
}
/** Advances the fake clock, then lets the store operations it started finish (PostgreSQL is real I/O). */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await idle();
}

beforeEach(() => {
  // setImmediate stays real: waiting for PostgreSQL's answers (Approvals#idle) uses it.
  vi.useFakeTimers({ now: T0, toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((a) => a.close()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

for (const kind of storeKinds("test/approvals/approvals.test.ts")) describe.skipIf(!kind.available)(kind.name, () => {
const fresh = kind.fresh;
const openM = (opts: Omit<ApprovalsOptions, "store"> & { store?: string }) => track((async () => Approvals.open({ ...opts, store: opts.store ?? (await fresh()) }))());

describe("create", () => {
  it("stores a pending approval with its expiry and calls the notifier", async () => {
    const notified: Approval[] = [];
    const m = await openM({ notifier: (a) => void notified.push(a) });
    const i = input(escalate("deny", 30_000));
    const a = await m.create(i);
    expect(a).toEqual(pending(a.id, T0, 30_000, "deny", i));
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(notified).toEqual([a]);
    expect(await m.get(a.id)).toEqual(a);
    expect(await m.pendingCount()).toBe(1);
    expect(await m.list({ state: "pending" })).toEqual([a]);
  });

  it("reports notifier failures to onError and never throws them", async () => {
    const errors: Error[] = [];
    const sync = await openM({ notifier: () => { throw new Error("boom"); }, onError: (e) => errors.push(e) });
    await expect(sync.create(input())).resolves.toMatchObject({ state: "pending" });
    const async = await openM({ notifier: async () => { throw new Error("bang"); }, onError: (e) => errors.push(e) });
    await expect(async.create(input())).resolves.toMatchObject({ state: "pending" });
    await vi.advanceTimersByTimeAsync(0);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/notifier failed.*boom/), expect.stringMatching(/notifier failed.*bang/)]);
  });

  it("refuses a decision that is not an escalate", async () => {
    const m = await openM({});
    const allow = { decision: "allow" as const, rule: "r", reason: null, undetermined: false, policy: "p" };
    await expect(m.create({ ...input(), decision: allow })).rejects.toMatchObject({ code: "invalid" });
  });

  it("createMany: one transaction for all, an invalid input answered with its error, expiry and notifier for each", async () => {
    const notified: string[] = [];
    const m = await openM({ notifier: (a) => void notified.push(a.id) });
    const allow = { decision: "allow" as const, rule: "r", reason: null, undetermined: false, policy: "p" };
    const inputs = [input(escalate("deny", 1_000)), { ...input(), decision: allow }, input(escalate("allow", 2_000))];
    const insertMany = vi.spyOn(m.store, "insertMany");
    const insert = vi.spyOn(m.store, "insert");
    const out = await m.createMany(inputs);
    expect(insertMany).toHaveBeenCalledTimes(1);
    expect(insertMany.mock.calls[0]![0]).toHaveLength(2); // the two valid ones, in the one transaction
    expect(insert).not.toHaveBeenCalled();
    expect(out[1]).toBeInstanceOf(ApprovalError);
    const [a, , b] = out as Approval[];
    expect(a).toEqual(pending(a!.id, T0, 1_000, "deny", inputs[0]!));
    expect(b).toEqual(pending(b!.id, T0, 2_000, "allow", inputs[2]!));
    expect(notified).toEqual([a!.id, b!.id]);
    expect((await m.list({ state: "pending" })).map((x) => x.id).sort()).toEqual([a!.id, b!.id].sort());
    await advance(2_500);
    expect(await m.get(a!.id)).toMatchObject({ state: "expired", outcome: "deny" });
    expect(await m.get(b!.id)).toMatchObject({ state: "expired", outcome: "allow" });
  });

  it("createMany creates none when the transaction fails", async () => {
    const m = await openM({});
    const [first] = await m.createMany([input()]);
    // The second approval of the batch collides with the first's id: the transaction fails whole.
    vi.spyOn(m.store, "insertMany").mockImplementationOnce(function (this: ApprovalStore, as) {
      return ApprovalsStoreProto.insertMany.call(m.store, [{ ...as[0]!, id: "fresh" }, { ...as[1]!, id: (first as Approval).id }]);
    });
    await expect(m.createMany([input(), input()])).rejects.toThrow(/UNIQUE|unique/);
    expect(await m.pendingCount()).toBe(1);
    expect(await m.get("fresh")).toBeUndefined();
  });
});

describe("approve and deny", () => {
  it("approve writes one audit record, marks it, then wakes waiters", async () => {
    const audit = fakeAudit({ delayMs: 50 });
    const m = await openM({ audit });
    const a = await m.create(input());
    const woken: Array<{ a: Approval; durable: boolean }> = [];
    const w1 = m.wait(a.id).then((x) => woken.push({ a: x, durable: audit.durable.has(x.id) }));
    const w2 = m.wait(a.id).then((x) => woken.push({ a: x, durable: audit.durable.has(x.id) }));
    const approving = m.approve(a.id, { by: "alice", note: "fine" });
    await idle();
    expect((await m.get(a.id))?.state).toBe("approved"); // in the store at once
    await advance(49);
    expect(woken).toEqual([]); // the audit record is not durable yet
    await advance(1);
    const done = await approving;
    await Promise.all([w1, w2]);
    expect(done).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice", note: "fine", resolved_at: new Date(T0).toISOString(), resolution_seq: 1001 });
    expect(woken.map((w) => w.durable)).toEqual([true, true]);
    expect(woken[0]!.a).toEqual(done);
    expect(audit.calls).toHaveLength(1);
    expect(audit.calls[0]).toMatchObject({ id: a.id, state: "approved", resolution_seq: null });
    expect(await m.get(a.id)).toEqual(done);
    expect(await m.wait(a.id)).toEqual(done); // already resolved: at once
  });

  it("deny resolves with outcome deny; a second resolution is refused clearly", async () => {
    const audit = fakeAudit();
    const m = await openM({ audit });
    const a = await m.create(input());
    vi.advanceTimersByTime(1234);
    const d = await m.deny(a.id, { by: "bob" });
    expect(d).toMatchObject({ state: "denied", outcome: "deny", resolved_by: "bob", note: null });
    const err = await m.approve(a.id, { by: "alice" }).catch((e) => e);
    expect(err).toBeInstanceOf(ApprovalAlreadyResolved);
    expect(err.message).toBe(`approval ${a.id} was already denied by bob at ${new Date(T0 + 1234).toISOString()}`);
    await expect(m.deny(a.id, { by: "bob" })).rejects.toThrow(ApprovalAlreadyResolved);
    await expect(m.approve("missing", { by: "alice" })).rejects.toThrow(ApprovalNotFound);
    await expect(m.approve(a.id, { by: "" })).rejects.toMatchObject({ code: "invalid" });
    expect(audit.calls).toHaveLength(1);
  });

  it("many concurrent approve/deny calls: exactly one wins per approval, one audit record each", async () => {
    const audit = fakeAudit({ delayMs: 5 });
    const m = await openM({ audit });
    const approvals = await Promise.all(Array.from({ length: 40 }, () => m.create(input())));
    const waits = approvals.map((a) => m.wait(a.id));
    const calls = approvals.flatMap((a) =>
      Array.from({ length: 16 }, (_, k) => (k % 2 ? m.approve(a.id, { by: `user-${k}` }) : m.deny(a.id, { by: `user-${k}` })).then(
        (r) => ({ id: a.id, won: r }),
        (e) => ({ id: a.id, lost: e }),
      )),
    );
    await idle();
    await advance(10);
    await idle();
    await advance(10);
    const results = await Promise.all(calls);
    for (const a of approvals) {
      const mine = results.filter((r) => r.id === a.id);
      const winners = mine.filter((r) => "won" in r);
      expect(winners).toHaveLength(1);
      const winner = (winners[0] as { won: Approval }).won;
      for (const r of mine) if ("lost" in r) {
        expect(r.lost).toBeInstanceOf(ApprovalAlreadyResolved);
        expect(r.lost.message).toContain(`by ${winner.resolved_by} at`);
      }
      expect(await m.get(a.id)).toEqual(winner);
    }
    expect(audit.calls.map((c) => c.id).sort()).toEqual(approvals.map((a) => a.id).sort());
    expect((await Promise.all(waits)).every((w) => w.resolution_seq !== null)).toBe(true);
  });
});

describe("expiry (fake timers)", () => {
  for (const on_timeout of ["allow", "deny"] as const) {
    it(`resolves by on_timeout ${on_timeout} at expires`, async () => {
      const audit = fakeAudit();
      const m = await openM({ audit });
      const a = await m.create(input(escalate(on_timeout, 1000)));
      const waiting = m.wait(a.id);
      await advance(999);
      expect((await m.get(a.id))?.state).toBe("pending");
      expect(audit.calls).toHaveLength(0);
      await advance(1);
      const done = await waiting;
      expect(done).toMatchObject({ state: "expired", outcome: on_timeout, resolved_by: "timeout", resolved_at: a.expires, resolution_seq: 1001 });
      expect(audit.calls).toHaveLength(1);
      expect(await m.pendingCount()).toBe(0);
      await expect(m.approve(a.id, { by: "alice" })).rejects.toThrow(`approval ${a.id} already expired at ${a.expires} (on_timeout: ${on_timeout})`);
    });
  }

  it("approving or denying does not race the timer: the first to resolve wins", async () => {
    const m = await openM({ audit: fakeAudit() });
    const a = await m.create(input(escalate("allow", 1000)));
    await m.deny(a.id, { by: "bob" });
    await advance(5000);
    expect(await m.get(a.id)).toMatchObject({ state: "denied", outcome: "deny" });
  });

  it("arms expiries longer than setTimeout's limit in steps", async () => {
    const m = await openM({ pollMs: 0 }); // no polling: 30 days of 250 ms ticks
    const month = 30 * 24 * 3600 * 1000; // > 2^31 - 1 ms
    const a = await m.create(input(escalate("allow", month)));
    await advance(month - 1);
    expect((await m.get(a.id))?.state).toBe("pending");
    await advance(1);
    expect(await m.get(a.id)).toMatchObject({ state: "expired", outcome: "allow" });
  });
});

describe("restart", () => {
  it("keeps pending approvals, reschedules their expiry, expires overdue ones on open", async () => {
    const path = await fresh();
    const audit = fakeAudit();
    const first = await Approvals.open({ store: path, audit });
    const soon = await first.create(input(escalate("deny", 1000)));
    const later = await first.create(input(escalate("allow", 5000)));
    const much = await first.create(input(escalate("deny", 60_000)));
    const abandoned = first.wait(soon.id).catch((e: unknown) => e);
    await first.close();
    expect(await abandoned).toMatchObject({ code: "closed" });
    await advance(10_000); // nobody is running: nothing expires
    const store = await other(path);
    expect((await store.list({ state: "pending" })).map((a) => a.id).sort()).toEqual([soon.id, later.id, much.id].sort());

    vi.setSystemTime(T0 + 2000); // restart at +2 s: `soon` is overdue
    const second = await track(Approvals.open({ store: path, audit }));
    expect(await second.get(soon.id)).toMatchObject({ state: "expired", outcome: "deny", resolved_by: "timeout" });
    expect((await second.get(later.id))?.state).toBe("pending");
    expect(await second.pendingCount()).toBe(2);
    await advance(0);
    expect(audit.calls.map((c) => c.id)).toEqual([soon.id]);
    expect((await second.get(soon.id))?.resolution_seq).not.toBeNull();

    const waiting = second.wait(later.id);
    await advance(2999);
    expect((await second.get(later.id))?.state).toBe("pending");
    await advance(1);
    expect(await waiting).toMatchObject({ id: later.id, state: "expired", outcome: "allow", resolved_at: later.expires });
    expect((await second.get(much.id))?.state).toBe("pending");
    expect(audit.calls.map((c) => c.id)).toEqual([soon.id, later.id]);
  });

  it("writes the audit records of transitions made while no owner ran", async () => {
    const path = await fresh();
    const first = await Approvals.open({ store: path });
    const a = await first.create(input());
    await first.close();
    const cli = await other(path);
    await cli.resolve(a.id, "approved", { by: "carol", at: new Date(T0 + 10).toISOString(), outcome: "allow" });
    const audit = fakeAudit();
    const m = await track(Approvals.open({ store: path, audit }));
    await advance(0);
    expect(audit.calls).toHaveLength(1);
    expect(audit.calls[0]).toMatchObject({ id: a.id, state: "approved", resolved_by: "carol" });
    expect((await m.get(a.id))?.resolution_seq).toBe(1001);
    await advance(2000); // polling does not write it again
    expect(audit.calls).toHaveLength(1);
  });
});

describe("resolution by another process", () => {
  it(`is noticed (${kind.name === "sqlite" ? "polling" : "LISTEN/NOTIFY"}): one audit record, then the waiter wakes`, async () => {
    const path = await fresh();
    const audit = fakeAudit();
    const m = await track(Approvals.open({ store: path, audit, pollMs: 250 }));
    const a = await m.create(input());
    const b = await m.create(input());
    let woken: Approval | undefined;
    void m.wait(a.id).then((x) => (woken = x));
    const cli = await other(path); // another connection: as the CLI would
    await cli.resolve(a.id, "denied", { by: "dave", note: "no", at: new Date(T0 + 1).toISOString(), outcome: "deny" });
    await cli.resolve(b.id, "approved", { by: "erin", at: new Date(T0 + 1).toISOString(), outcome: "allow" }); // nobody waits for b
    if (kind.name === "sqlite") expect(woken).toBeUndefined(); // until the next poll
    await advance(250);
    await vi.waitUntil(() => woken !== undefined && audit.calls.length === 2, { timeout: 5000, interval: 10 });
    expect(woken).toMatchObject({ id: a.id, state: "denied", resolved_by: "dave", note: "no", resolution_seq: expect.any(Number) });
    expect(audit.calls.map((c) => c.id).sort()).toEqual([a.id, b.id].sort());
    await idle();
    expect((await cli.get(b.id))?.resolution_seq).not.toBeNull();
    await advance(5000);
    expect(audit.calls).toHaveLength(2);
    expect(await cli.unaudited()).toEqual([]);
    // the owner's expiry timers for them do not fire a second transition
    await advance(120_000);
    expect(audit.calls).toHaveLength(2);
    expect((await m.get(a.id))?.state).toBe("denied");
  });
});

describe("wait", () => {
  it("returns the still-pending approval when timeoutMs elapses, rejects on abort, unknown ids and close", async () => {
    const m = await Approvals.open({ store: await fresh() });
    const a = await m.create(input());
    const timed = m.wait(a.id, { timeoutMs: 100 });
    await idle();
    await vi.advanceTimersByTimeAsync(100);
    expect(await timed).toMatchObject({ id: a.id, state: "pending" });

    const ac = new AbortController();
    const aborted = m.wait(a.id, { signal: ac.signal });
    ac.abort(new Error("client went away"));
    await expect(aborted).rejects.toThrow("client went away");
    await expect(m.wait(a.id, { signal: AbortSignal.abort() })).rejects.toThrow();
    await expect(m.wait("missing")).rejects.toThrow(ApprovalNotFound);

    const pendingWait = m.wait(a.id).catch((e: unknown) => e);
    await m.close();
    const err = (await pendingWait) as ApprovalError;
    expect(err).toBeInstanceOf(ApprovalError);
    expect(err.code).toBe("closed");
    await expect(m.create(input())).rejects.toMatchObject({ code: "closed" });
  });
});

describe("audit failures", () => {
  it("approve whose record cannot be written is undone: the approval stays pending and can be resolved later", async () => {
    const errors: Error[] = [];
    const audit = fakeAudit({ failTimes: 1 });
    const m = await openM({ audit, pollMs: 50, onError: (e) => errors.push(e) });
    const a = await m.create(input());
    let woken: Approval | undefined;
    void m.wait(a.id).then((x) => (woken = x));
    const err = await m.approve(a.id, { by: "alice", note: "ok" }).catch((e) => e);
    expect(err).toBeInstanceOf(ApprovalError);
    expect(err).toMatchObject({ code: "unavailable" });
    expect(err.message).toBe(`approval ${a.id} stays pending: the audit record to approve it could not be written (disk full)`);
    expect(await m.get(a.id)).toEqual(a); // exactly as before
    expect(await m.pendingCount()).toBe(1);
    await advance(1000);
    expect(woken).toBeUndefined();
    expect(audit.calls).toHaveLength(1); // nothing is retried: there is nothing to record
    expect(errors).toEqual([]);
    // Once the log writes again, a resolution goes through (here a deny by someone else).
    const d = await m.deny(a.id, { by: "bob" });
    expect(d).toMatchObject({ state: "denied", resolved_by: "bob", resolution_seq: 1001 });
    await advance(0);
    expect(woken).toEqual(d);
    expect(audit.durable.size).toBe(1);
  });

  it("an undone approval keeps its expiry", async () => {
    const audit = fakeAudit({ failTimes: 1 });
    const m = await openM({ audit });
    const a = await m.create(input(escalate("allow", 1000)));
    await expect(m.approve(a.id, { by: "alice" })).rejects.toMatchObject({ code: "unavailable" });
    await advance(1000);
    expect(await m.get(a.id)).toMatchObject({ state: "expired", outcome: "allow", resolved_by: "timeout", resolution_seq: 1001 });
  });

  it("while auditReady() is false, approve and deny refuse at once and change nothing", async () => {
    let ready = false;
    const audit = fakeAudit();
    const m = await openM({ audit, auditReady: () => ready });
    const a = await m.create(input());
    for (const resolve of [() => m.approve(a.id, { by: "alice" }), () => m.deny(a.id, { by: "bob" })]) {
      const err = await resolve().catch((e) => e);
      expect(err).toMatchObject({ code: "unavailable", message: expect.stringMatching(/stays pending: the audit log cannot be written/) });
    }
    expect(await m.get(a.id)).toEqual(a);
    expect(audit.calls).toHaveLength(0);
    ready = true;
    await expect(m.approve(a.id, { by: "alice" })).resolves.toMatchObject({ state: "approved" });
  });

  it("a resolution made elsewhere whose record cannot be written stands; polling retries and then wakes the waiter", async () => {
    const errors: Error[] = [];
    const path = await fresh();
    const audit = fakeAudit({ failTimes: 2 });
    const m = await track(Approvals.open({ store: path, audit, pollMs: 50, onError: (e) => errors.push(e) }));
    const a = await m.create(input());
    let woken: Approval | undefined;
    void m.wait(a.id).then((x) => (woken = x));
    const cli = await other(path);
    await cli.resolve(a.id, "approved", { by: "alice", at: new Date(T0).toISOString(), outcome: "allow" });
    await advance(50);
    await vi.waitUntil(() => audit.calls.length >= 1, { timeout: 5000, interval: 10 });
    await idle();
    expect(await m.get(a.id)).toMatchObject({ state: "approved", resolution_seq: null });
    await expect(m.deny(a.id, { by: "bob" })).rejects.toThrow(ApprovalAlreadyResolved);
    for (let i = 0; i < 10; i++) await advance(100);
    expect(woken).toMatchObject({ state: "approved", resolved_by: "alice", resolution_seq: 1001 });
    expect(audit.calls).toHaveLength(3);
    expect(audit.durable.size).toBe(1);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]!.message).toMatch(/audit record of approval .* failed; will retry: disk full/);
  });
});

describe("text that cannot be stored as it is", () => {
  it("a lone surrogate in note or by is refused; the approval stays pending and nothing is recorded", async () => {
    const audit = fakeAudit();
    const m = await openM({ audit });
    const a = await m.create(input());
    for (const r of [{ by: "alice", note: "ok \ud800" }, { by: "\udc00" }]) {
      const err = await m.approve(a.id, r).catch((e) => e);
      expect(err).toBeInstanceOf(ApprovalError);
      expect(err).toMatchObject({ code: "invalid", message: expect.stringMatching(/'(note|by)' contains a lone surrogate/) });
    }
    expect(await m.get(a.id)).toEqual(a);
    expect(audit.calls).toHaveLength(0);
    // A paired surrogate is text: stored and returned as it is (not as U+FFFD).
    await expect(m.deny(a.id, { by: "bob", note: "\ud83d\ude00" })).resolves.toMatchObject({ state: "denied", note: "\ud83d\ude00" });
    expect((await m.get(a.id))!.note).toBe("\ud83d\ude00");
  });
});
});

/** The store's own insertMany, past the spy (for a batch rewritten on its way in). */
const ApprovalsStoreProto = {
  insertMany(this: ApprovalStore, as: Parameters<ApprovalStore["insertMany"]>[0]): Promise<void> {
    return Object.getPrototypeOf(this).insertMany.call(this, as);
  },
};
