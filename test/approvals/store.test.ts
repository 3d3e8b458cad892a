// ApprovalStore, on SQLite and PostgreSQL: round trip, filters, atomic resolution, audit
// bookkeeping, schema versioning; and what each store has of its own (SQLite: WAL, data_version;
// PostgreSQL: the schema option, claims on writing a transition's record, notifications).

import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "../../src/approvals/approval.js";
import { openApprovalStore } from "../../src/approvals/open-store.js";
import type { PostgresStoreOptions } from "../../src/approvals/open-store.js";
import type { ApprovalChange, ApprovalStore } from "../../src/approvals/store-api.js";
import { SCHEMA_VERSION, SqliteApprovalStore } from "../../src/approvals/store.js";
import { PG_SCHEMA_VERSION } from "../../src/approvals/postgres-store.js";
import { pending, storeKinds, tempDb } from "./helpers.js";

const T0 = Date.UTC(2025, 0, 1);
const iso = (t: number) => new Date(t).toISOString();

const opened: ApprovalStore[] = [];
async function open(location: string, opts?: PostgresStoreOptions): Promise<ApprovalStore> {
  const s = await openApprovalStore(location, opts);
  opened.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

const kinds = storeKinds("test/approvals/store.test.ts");

for (const kind of kinds) describe.skipIf(!kind.available)(`ApprovalStore (${kind.name})`, () => {
  it("round-trips an approval exactly", async () => {
    const path = await kind.fresh();
    const store = await open(path);
    const a = pending("a-1");
    await store.insert(a);
    expect(await store.get("a-1")).toEqual(a);
    await store.close();
    const again = await open(path);
    expect(await again.get("a-1")).toEqual(a);
    expect(await again.get("nope")).toBeUndefined();
  });

  it("lists newest first, filtered by state and approver, with a limit; counts pending", async () => {
    const store = await open(await kind.fresh());
    for (let i = 0; i < 5; i++) await store.insert({ ...pending(`a-${i}`, T0 + i), approver: i % 2 ? "ops" : "finance-oncall" });
    await store.resolve("a-1", "approved", { by: "alice", at: iso(T0 + 10), outcome: "allow" });
    const ids = async (f?: Parameters<ApprovalStore["list"]>[0]) => (await store.list(f)).map((a) => a.id);
    expect(await ids()).toEqual(["a-4", "a-3", "a-2", "a-1", "a-0"]);
    expect(await ids({ state: "pending" })).toEqual(["a-4", "a-3", "a-2", "a-0"]);
    expect(await ids({ state: "approved" })).toEqual(["a-1"]);
    expect(await ids({ approver: "ops" })).toEqual(["a-3", "a-1"]);
    expect(await ids({ state: "pending", approver: "ops", limit: 5 })).toEqual(["a-3"]);
    expect(await store.list({ limit: 2 })).toHaveLength(2);
    expect(await store.pendingCount()).toBe(4);
    expect(await store.pendingCount("ops")).toBe(1);
    await expect(store.list({ state: "bogus" as never })).rejects.toThrow(/unknown approval state/);
  });

  it("inserts many in one transaction: all or none", async () => {
    const store = await open(await kind.fresh());
    await store.insertMany([pending("m-1"), pending("m-2")]);
    expect(await store.pendingCount()).toBe(2);
    await expect(store.insertMany([pending("m-3"), pending("m-1")])).rejects.toThrow(/UNIQUE|unique/);
    expect(await store.get("m-3")).toBeUndefined();
    expect(await store.pendingCount()).toBe(2);
  });

  it("resolves once; a second resolution is refused with who and when", async () => {
    const store = await open(await kind.fresh());
    await store.insert(pending("a-1"));
    const r = await store.resolve("a-1", "approved", { by: "alice", note: "ok, known customer", at: iso(T0 + 5), outcome: "allow" });
    expect(r).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice", note: "ok, known customer", resolved_at: iso(T0 + 5), resolution_seq: null });
    const err = await store.resolve("a-1", "denied", { by: "bob", at: iso(T0 + 6), outcome: "deny" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApprovalAlreadyResolved);
    expect(err).toBeInstanceOf(ApprovalError);
    expect(err).toMatchObject({ code: "already-resolved", id: "a-1", state: "approved" });
    expect((err as Error).message).toBe(`approval a-1 was already approved by alice at ${iso(T0 + 5)} (note: ok, known customer)`);
    await expect(store.resolve("a-1", "expired", { by: "timeout", at: iso(T0 + 7), outcome: "deny" })).rejects.toThrow(ApprovalAlreadyResolved);
    expect(await store.get("a-1")).toMatchObject({ state: "approved", resolved_by: "alice" });
    await expect(store.resolve("nope", "approved", { by: "alice", at: iso(T0), outcome: "allow" })).rejects.toThrow(ApprovalNotFound);
    await expect(store.resolve("nope", "approved", { by: "alice", at: iso(T0), outcome: "allow" })).rejects.toMatchObject({ code: "not-found", id: "nope", message: "approval nope not found" });
  });

  it("many connections resolving one approval at once: exactly one wins", async () => {
    const path = await kind.fresh();
    const stores = await Promise.all(Array.from({ length: 4 }, () => open(path)));
    await stores[0]!.insert(pending("a-1"));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => stores[i % 4]!.resolve("a-1", i % 2 ? "approved" : "denied", { by: `u-${i}`, at: iso(T0 + 1), outcome: i % 2 ? "allow" : "deny" })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<{ resolved_by: string }>).value.resolved_by;
    for (const r of results) if (r.status === "rejected") expect((r.reason as Error).message).toContain(`by ${winner} at`);
  });

  it("expires with the on_timeout outcome, whatever outcome is passed", async () => {
    const store = await open(await kind.fresh());
    await store.insert(pending("a-allow", T0, 1000, "allow"));
    await store.insert(pending("a-deny", T0, 1000, "deny"));
    expect(await store.resolve("a-allow", "expired", { by: "timeout", at: iso(T0 + 1000), outcome: "deny" })).toMatchObject({ state: "expired", outcome: "allow" });
    expect(await store.resolve("a-deny", "expired", { by: "timeout", at: iso(T0 + 1000), outcome: "allow" })).toMatchObject({ state: "expired", outcome: "deny" });
    await expect(store.resolve("a-deny", "approved", { by: "alice", at: iso(T0 + 2000), outcome: "allow" })).rejects.toThrow(
      `approval a-deny already expired at ${iso(T0 + 1000)} (on_timeout: deny)`,
    );
  });

  it("refuses to approve or deny past expires: the approval expires instead", async () => {
    const store = await open(await kind.fresh());
    await store.insert(pending("a-1", T0, 1000, "allow"));
    await expect(store.resolve("a-1", "denied", { by: "bob", at: iso(T0 + 1000), outcome: "deny" })).rejects.toThrow(ApprovalAlreadyResolved);
    expect(await store.get("a-1")).toMatchObject({ state: "expired", outcome: "allow", resolved_by: "timeout", resolved_at: iso(T0 + 1000) });
  });

  it("tracks which transitions still need their audit record; markAudited fills an empty one only", async () => {
    const store = await open(await kind.fresh());
    for (const id of ["a-1", "a-2", "a-3"]) await store.insert(pending(id));
    expect(await store.unaudited()).toEqual([]);
    await store.resolve("a-2", "denied", { by: "bob", at: iso(T0 + 2), outcome: "deny" });
    await store.resolve("a-1", "approved", { by: "alice", at: iso(T0 + 3), outcome: "allow" });
    expect((await store.unaudited()).map((a) => a.id)).toEqual(["a-2", "a-1"]);
    expect(await store.markAudited("a-2", 7, "h7")).toBe(true);
    expect(await store.markAudited("a-2", 8, "h8")).toBe(false);
    expect(await store.markAudited("a-3", 9, "h9")).toBe(false); // pending: nothing to mark
    expect(await store.get("a-2")).toMatchObject({ resolution_seq: 7, resolution_hash: "h7" });
    expect(await store.get("a-3")).toMatchObject({ resolution_seq: null });
    expect((await store.unaudited()).map((a) => a.id)).toEqual(["a-1"]);
  });

  it("refuses a lone surrogate in by or note before changing anything (it would be stored as U+FFFD)", async () => {
    const store = await open(await kind.fresh());
    await store.insert(pending("a-1", T0, 60_000));
    for (const r of [{ by: "alice", note: "\ud800" }, { by: "al\udfffice" }]) {
      await expect(store.resolve("a-1", "approved", { ...r, at: iso(T0 + 1), outcome: "allow" })).rejects.toThrow(ApprovalError);
    }
    expect((await store.get("a-1"))?.state).toBe("pending");
  });

  it("unresolve puts back exactly the resolution given, only while it has no audit record", async () => {
    const store = await open(await kind.fresh());
    const a = pending("a-1", T0, 60_000);
    await store.insert(a);
    const r = await store.resolve("a-1", "approved", { by: "alice", note: "ok", at: iso(T0 + 1), outcome: "allow" });
    expect(await store.unresolve({ ...r, resolved_by: "bob" })).toBeUndefined(); // not that resolution
    expect(await store.unresolve(r)).toEqual(a);
    expect(await store.unresolve(r)).toBeUndefined(); // pending now
    const again = await store.resolve("a-1", "denied", { by: "bob", at: iso(T0 + 2), outcome: "deny" });
    await store.markAudited("a-1", 7, "f".repeat(64));
    expect(await store.unresolve(again)).toBeUndefined(); // recorded: it stands
    expect(await store.get("a-1")).toMatchObject({ state: "denied", resolution_seq: 7 });
  });
});

describe("ApprovalStore (sqlite) of its own", () => {
  it("uses WAL, a busy timeout and a versioned schema", async () => {
    const path = tempDb();
    await SqliteApprovalStore.open(path).close();
    const db = new Database(path);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    db.pragma("user_version = 99");
    db.close();
    expect(() => SqliteApprovalStore.open(path)).toThrow(/schema version 99 is not supported/);
  });

  it("sees commits of other connections (data_version)", async () => {
    const path = tempDb();
    const a = SqliteApprovalStore.open(path);
    const b = SqliteApprovalStore.open(path);
    await a.insert(pending("a-1"));
    const v = a.dataVersion();
    await a.resolve("a-1", "approved", { by: "alice", at: iso(T0 + 1), outcome: "allow" });
    expect(a.dataVersion()).toBe(v); // own commits do not count
    const w = a.dataVersion();
    expect((await b.get("a-1"))?.state).toBe("approved");
    await expect(b.resolve("a-1", "denied", { by: "bob", at: iso(T0 + 2), outcome: "deny" })).rejects.toThrow(ApprovalAlreadyResolved);
    await b.insert(pending("a-2"));
    expect(a.dataVersion()).not.toBe(w);
    expect(await a.changed()).toBe(true);
    expect(await a.changed()).toBe(false);
    await a.close();
    await b.close();
  });

  it("does all its work before it returns (a settled promise): an operation is one SQLite transaction", () => {
    const store = SqliteApprovalStore.open(tempDb());
    void store.insert(pending("s-1"));
    void store.resolve("s-1", "approved", { by: "alice", at: iso(T0 + 1), outcome: "allow" });
    const db = new Database(store.location);
    expect(db.prepare("SELECT state FROM approvals WHERE id = 's-1'").pluck().get()).toBe("approved");
    db.close();
    void store.close();
  });
});

const pgKind = kinds.find((k) => k.name === "postgres")!;

describe.skipIf(!pgKind.available)("ApprovalStore (postgres) of its own", () => {
  async function admin(url: string): Promise<pg.Client> {
    const u = new URL(url);
    u.search = "";
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    return c;
  }

  it("creates its schema and versioned table; refuses a newer version; a schema per ?schema=", async () => {
    const url = await pgKind.fresh();
    const schema = new URL(url).searchParams.get("schema")!;
    await (await open(url)).close();
    const c = await admin(url);
    try {
      const tables = await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [schema]);
      expect(tables.rows.map((r) => r.table_name)).toEqual(["tollgate_approvals", "tollgate_approvals_schema", "tollgate_approvals_tickets"]);
      const v = await c.query(`SELECT value FROM "${schema}".tollgate_approvals_schema WHERE key = 'version'`);
      expect(v.rows[0].value).toBe(String(PG_SCHEMA_VERSION));
      await c.query(`UPDATE "${schema}".tollgate_approvals_schema SET value = '99' WHERE key = 'version'`);
    } finally {
      await c.end();
    }
    await expect(openApprovalStore(url)).rejects.toThrow(/schema version 99 is not supported/);
    // Another table in the same schema is another store.
    const other = await open(url, { table: "approvals_b" });
    await other.insert(pending("b-1"));
    expect(await other.get("b-1")).toBeDefined();
  });

  it("8 instances opening a fresh schema at once agree on one table", async () => {
    const url = await pgKind.fresh();
    const stores = await Promise.all(Array.from({ length: 8 }, () => open(url)));
    await Promise.all(stores.map((s, i) => s.insert(pending(`x-${i}`))));
    expect(await stores[0]!.pendingCount()).toBe(8);
  });

  it("stores NUL-free text only: a NUL in by or note is refused before anything changes", async () => {
    const store = await open(await pgKind.fresh());
    await store.insert(pending("a-1"));
    await expect(store.resolve("a-1", "approved", { by: "al\u0000ice", at: iso(T0 + 1), outcome: "allow" })).rejects.toMatchObject({ code: "invalid" });
    expect((await store.get("a-1"))?.state).toBe("pending");
  });

  it("the instance that makes a transition writes its record; the command line's is claimed by one instance; a lapsed claim is taken over", async () => {
    const url = await pgKind.fresh();
    const a = await open(url, { instance: "A", auditLeaseMs: 300 });
    const b = await open(url, { instance: "B", auditLeaseMs: 300 });
    const cli = await open(url, { writesAudit: false });
    for (const id of ["x", "y", "z"]) await a.insert(pending(id));
    const x = await a.resolve("x", "approved", { by: "alice", at: iso(T0 + 1), outcome: "allow" });
    // A made it: A writes it; B may not (yet).
    expect((await a.unaudited()).map((r) => r.id)).toEqual(["x"]);
    expect(await b.unaudited()).toEqual([]);
    expect(await b.claimAudit(x)).toBe(false);
    expect(await a.claimAudit(x)).toBe(true);
    // The command line's: nobody's, so either may claim it, and then only that one.
    const y = await cli.resolve("y", "denied", { by: "bob", at: iso(T0 + 2), outcome: "deny" });
    expect((await b.unaudited()).map((r) => r.id)).toEqual(["y"]);
    const claims = await Promise.all([a.claimAudit(y), b.claimAudit(y)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    // A crashed before writing x's record: once its claim lapses, B takes it over.
    await new Promise((r) => setTimeout(r, 400));
    expect((await b.unaudited()).map((r) => r.id)).toContain("x");
    expect(await b.claimAudit(x)).toBe(true);
    expect(await a.claimAudit(x)).toBe(false);
    expect(await b.markAudited("x", 5, "h5")).toBe(true);
    expect(await a.markAudited("x", 6, "h6")).toBe(false);
    expect(await a.get("x")).toMatchObject({ resolution_seq: 5, resolution_hash: "h5" });
    // A claim on a transition that is no longer the one in the table is refused.
    const z = await a.resolve("z", "approved", { by: "alice", at: iso(T0 + 3), outcome: "allow" });
    expect(await a.unresolve(z)).toBeDefined();
    expect(await a.claimAudit(z)).toBe(false);
  });

  it("notifies other connections of creations, transitions, records and redemptions, not of their own", async () => {
    const url = await pgKind.fresh();
    const a = await open(url);
    const b = await open(url);
    const seenA: ApprovalChange[] = [];
    const seenB: ApprovalChange[] = [];
    const stopA = await a.watch!((c) => seenA.push(c));
    const stopB = await b.watch!((c) => seenB.push(c));
    await a.insert({ ...pending("n-1"), action_digest: "d".repeat(64), agent: "bot" });
    await a.resolve("n-1", "approved", { by: "alice", at: iso(T0 + 1), outcome: "allow" });
    await a.markAudited("n-1", 1, "h1");
    expect((await a.claim("n-1", { digest: "d".repeat(64), agent: "bot", at: iso(T0 + 2) })).ok).toBe(true);
    await a.markRedeemed("n-1", 2, "h2");
    const deadline = Date.now() + 5000;
    while (seenB.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seenB).toEqual([
      { id: "n-1", kind: "created" },
      { id: "n-1", kind: "resolved" },
      { id: "n-1", kind: "audited" },
      { id: "n-1", kind: "redeemed" },
      { id: "n-1", kind: "redeemed" },
    ]);
    expect(seenA).toEqual([]);
    await stopA();
    await stopB();
  });

  it("says so when the LISTEN connection drops, listens again, and tells that anything may have changed", async () => {
    const url = await pgKind.fresh();
    const a = await open(url);
    const b = await open(url);
    const seen: ApprovalChange[] = [];
    const errors: Error[] = [];
    const stop = await a.watch!((c) => seen.push(c), (e) => errors.push(e));
    const c = await admin(url);
    try {
      await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database() AND pid <> pg_backend_pid()`);
    } finally {
      await c.end();
    }
    const deadline = Date.now() + 10_000;
    while (!seen.some((s) => s.id === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toContainEqual({});
    expect(errors[0]?.message).toMatch(/LISTEN connection .* closed; listening again/);
    await b.insert(pending("after"));
    while (!seen.some((s) => s.id === "after") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toContainEqual({ id: "after", kind: "created" });
    await stop();
  });
});
