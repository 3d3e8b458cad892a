// ApprovalStore: round trip, filters, atomic resolution, audit bookkeeping, schema versioning.

import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "../../src/approvals/approval.js";
import { ApprovalStore, SCHEMA_VERSION } from "../../src/approvals/store.js";
import { pending, tempDb } from "./helpers.js";

const T0 = Date.UTC(2025, 0, 1);
const iso = (t: number) => new Date(t).toISOString();

describe("ApprovalStore", () => {
  it("round-trips an approval exactly", () => {
    const path = tempDb();
    const store = ApprovalStore.open(path);
    const a = pending("a-1");
    store.insert(a);
    expect(store.get("a-1")).toEqual(a);
    store.close();
    const again = ApprovalStore.open(path);
    expect(again.get("a-1")).toEqual(a);
    expect(again.get("nope")).toBeUndefined();
    again.close();
  });

  it("uses WAL, a busy timeout and a versioned schema", () => {
    const path = tempDb();
    ApprovalStore.open(path).close();
    const db = new Database(path);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    db.pragma("user_version = 99");
    db.close();
    expect(() => ApprovalStore.open(path)).toThrow(/schema version 99 is not supported/);
  });

  it("lists newest first, filtered by state and approver, with a limit; counts pending", () => {
    const store = ApprovalStore.open(tempDb());
    for (let i = 0; i < 5; i++) store.insert({ ...pending(`a-${i}`, T0 + i), approver: i % 2 ? "ops" : "finance-oncall" });
    store.resolve("a-1", "approved", { by: "alice", at: iso(T0 + 10), outcome: "allow" });
    expect(store.list().map((a) => a.id)).toEqual(["a-4", "a-3", "a-2", "a-1", "a-0"]);
    expect(store.list({ state: "pending" }).map((a) => a.id)).toEqual(["a-4", "a-3", "a-2", "a-0"]);
    expect(store.list({ state: "approved" }).map((a) => a.id)).toEqual(["a-1"]);
    expect(store.list({ approver: "ops" }).map((a) => a.id)).toEqual(["a-3", "a-1"]);
    expect(store.list({ state: "pending", approver: "ops", limit: 5 }).map((a) => a.id)).toEqual(["a-3"]);
    expect(store.list({ limit: 2 })).toHaveLength(2);
    expect(store.pendingCount()).toBe(4);
    expect(store.pendingCount("ops")).toBe(1);
    expect(() => store.list({ state: "bogus" as never })).toThrow(/unknown approval state/);
    store.close();
  });

  it("resolves once; a second resolution is refused with who and when", () => {
    const store = ApprovalStore.open(tempDb());
    store.insert(pending("a-1"));
    const r = store.resolve("a-1", "approved", { by: "alice", note: "ok, known customer", at: iso(T0 + 5), outcome: "allow" });
    expect(r).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice", note: "ok, known customer", resolved_at: iso(T0 + 5), resolution_seq: null });
    let err: unknown;
    try {
      store.resolve("a-1", "denied", { by: "bob", at: iso(T0 + 6), outcome: "deny" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApprovalAlreadyResolved);
    expect(err).toBeInstanceOf(ApprovalError);
    expect(err).toMatchObject({ code: "already-resolved", id: "a-1", state: "approved" });
    expect((err as Error).message).toBe(`approval a-1 was already approved by alice at ${iso(T0 + 5)} (note: ok, known customer)`);
    expect(() => store.resolve("a-1", "expired", { by: "timeout", at: iso(T0 + 7), outcome: "deny" })).toThrow(ApprovalAlreadyResolved);
    expect(store.get("a-1")).toMatchObject({ state: "approved", resolved_by: "alice" });
    expect(() => store.resolve("nope", "approved", { by: "alice", at: iso(T0), outcome: "allow" })).toThrow(ApprovalNotFound);
    try {
      store.resolve("nope", "approved", { by: "alice", at: iso(T0), outcome: "allow" });
    } catch (e) {
      expect(e).toMatchObject({ code: "not-found", id: "nope", message: "approval nope not found" });
    }
    store.close();
  });

  it("expires with the on_timeout outcome, whatever outcome is passed", () => {
    const store = ApprovalStore.open(tempDb());
    store.insert(pending("a-allow", T0, 1000, "allow"));
    store.insert(pending("a-deny", T0, 1000, "deny"));
    expect(store.resolve("a-allow", "expired", { by: "timeout", at: iso(T0 + 1000), outcome: "deny" })).toMatchObject({ state: "expired", outcome: "allow" });
    expect(store.resolve("a-deny", "expired", { by: "timeout", at: iso(T0 + 1000), outcome: "allow" })).toMatchObject({ state: "expired", outcome: "deny" });
    expect(() => store.resolve("a-deny", "approved", { by: "alice", at: iso(T0 + 2000), outcome: "allow" })).toThrow(
      `approval a-deny already expired at ${iso(T0 + 1000)} (on_timeout: deny)`,
    );
    store.close();
  });

  it("refuses to approve or deny past expires: the approval expires instead", () => {
    const store = ApprovalStore.open(tempDb());
    store.insert(pending("a-1", T0, 1000, "allow"));
    expect(() => store.resolve("a-1", "denied", { by: "bob", at: iso(T0 + 1000), outcome: "deny" })).toThrow(ApprovalAlreadyResolved);
    expect(store.get("a-1")).toMatchObject({ state: "expired", outcome: "allow", resolved_by: "timeout", resolved_at: iso(T0 + 1000) });
    store.close();
  });

  it("tracks which transitions still need their audit record; markAudited is idempotent", () => {
    const store = ApprovalStore.open(tempDb());
    for (const id of ["a-1", "a-2", "a-3"]) store.insert(pending(id));
    expect(store.unaudited()).toEqual([]);
    store.resolve("a-2", "denied", { by: "bob", at: iso(T0 + 2), outcome: "deny" });
    store.resolve("a-1", "approved", { by: "alice", at: iso(T0 + 3), outcome: "allow" });
    expect(store.unaudited().map((a) => a.id)).toEqual(["a-2", "a-1"]);
    store.markAudited("a-2", 7, "h7");
    store.markAudited("a-2", 8, "h8");
    store.markAudited("a-3", 9, "h9"); // pending: nothing to mark
    expect(store.get("a-2")).toMatchObject({ resolution_seq: 7, resolution_hash: "h7" });
    expect(store.get("a-3")).toMatchObject({ resolution_seq: null });
    expect(store.unaudited().map((a) => a.id)).toEqual(["a-1"]);
    store.close();
  });

  it("sees commits of other connections (data_version)", () => {
    const path = tempDb();
    const a = ApprovalStore.open(path);
    const b = ApprovalStore.open(path);
    a.insert(pending("a-1"));
    const v = a.dataVersion();
    a.resolve("a-1", "approved", { by: "alice", at: iso(T0 + 1), outcome: "allow" });
    expect(a.dataVersion()).toBe(v); // own commits do not count
    const w = a.dataVersion();
    expect(b.get("a-1")?.state).toBe("approved");
    expect(() => b.resolve("a-1", "denied", { by: "bob", at: iso(T0 + 2), outcome: "deny" })).toThrow(ApprovalAlreadyResolved);
    b.insert(pending("a-2"));
    expect(a.dataVersion()).not.toBe(w);
    a.close();
    b.close();
  });

  it("refuses a lone surrogate in by or note before changing anything (SQLite would store U+FFFD)", () => {
    const store = ApprovalStore.open(tempDb());
    store.insert(pending("a-1", T0, 60_000));
    for (const r of [{ by: "alice", note: "\ud800" }, { by: "al\udfffice" }]) {
      expect(() => store.resolve("a-1", "approved", { ...r, at: iso(T0 + 1), outcome: "allow" })).toThrow(ApprovalError);
    }
    expect(store.get("a-1")?.state).toBe("pending");
    store.close();
  });

  it("unresolve puts back exactly the resolution given, only while it has no audit record", () => {
    const store = ApprovalStore.open(tempDb());
    const a = pending("a-1", T0, 60_000);
    store.insert(a);
    const r = store.resolve("a-1", "approved", { by: "alice", note: "ok", at: iso(T0 + 1), outcome: "allow" });
    expect(store.unresolve({ ...r, resolved_by: "bob" })).toBeUndefined(); // not that resolution
    expect(store.unresolve(r)).toEqual(a);
    expect(store.unresolve(r)).toBeUndefined(); // pending now
    const again = store.resolve("a-1", "denied", { by: "bob", at: iso(T0 + 2), outcome: "deny" });
    store.markAudited("a-1", 7, "f".repeat(64));
    expect(store.unresolve(again)).toBeUndefined(); // recorded: it stands
    expect(store.get("a-1")).toMatchObject({ state: "denied", resolution_seq: 7 });
    store.close();
  });
});
