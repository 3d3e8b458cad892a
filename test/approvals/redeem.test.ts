// ApprovalStore redemption (claim: the checks and one conditional UPDATE in one transaction), on
// SQLite and PostgreSQL, and the migration of a version 1 SQLite database (before approvals were
// bound to their action).

import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { openApprovalStore } from "../../src/approvals/open-store.js";
import type { ApprovalStore } from "../../src/approvals/store-api.js";
import { SCHEMA_VERSION, SqliteApprovalStore } from "../../src/approvals/store.js";
import { pending, storeKinds, tempDb } from "./helpers.js";

const opened: ApprovalStore[] = [];
async function open(location: string): Promise<ApprovalStore> {
  const s = await openApprovalStore(location);
  opened.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

const T0 = Date.UTC(2025, 0, 1);
const iso = (t: number) => new Date(t).toISOString();
const D = "d".repeat(64);

/** The version 1 schema, as tollgate wrote it before binding. */
const SCHEMA_V1 = `
CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
  approver TEXT NOT NULL, rule TEXT, policy TEXT NOT NULL, policy_hash TEXT NOT NULL, action TEXT NOT NULL,
  decision TEXT NOT NULL, decision_seq INTEGER NOT NULL, decision_hash TEXT NOT NULL,
  on_timeout TEXT NOT NULL CHECK (on_timeout IN ('allow', 'deny')), created TEXT NOT NULL, expires TEXT NOT NULL,
  outcome TEXT CHECK (outcome IN ('allow', 'deny')), resolved_by TEXT, note TEXT, resolved_at TEXT,
  resolution_seq INTEGER, resolution_hash TEXT,
  CHECK ((state = 'pending') = (outcome IS NULL))
);
CREATE INDEX approvals_by_state ON approvals (state, created);
CREATE INDEX approvals_unaudited ON approvals (resolved_at) WHERE state <> 'pending' AND resolution_seq IS NULL;
`;

function bound(id: string, agent = "bot") {
  return { ...pending(id, T0), action_digest: D, agent };
}

for (const kind of storeKinds("test/approvals/redeem.test.ts")) describe.skipIf(!kind.available)(`ApprovalStore#claim (${kind.name})`, () => {
  it("redeems an approved, bound approval once; checks agent, state, redemption and digest in that order", async () => {
    const store = await open(await kind.fresh());
    await store.insert(bound("a"));
    const at = iso(T0 + 10);
    expect(await store.claim("nope", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "not-found" });
    expect(await store.claim("a", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "pending" });
    expect(await store.claim("a", { digest: D, agent: "bot", at: iso(T0 + 60_000) })).toMatchObject({ ok: false, check: "expired" });
    await store.resolve("a", "approved", { by: "alice", at, outcome: "allow" });
    expect(await store.claim("a", { digest: D, agent: "bot", at, requireRecord: true })).toMatchObject({ ok: false, check: "pending" });
    expect(await store.claim("a", { digest: D, agent: "other", at })).toMatchObject({ ok: false, check: "agent" });
    expect(await store.claim("a", { digest: "e".repeat(64), agent: "bot", at })).toMatchObject({ ok: false, check: "digest" });
    const won = await store.claim("a", { digest: D, agent: "bot", at });
    expect(won).toMatchObject({ ok: true, approval: { id: "a", redeemed_at: at } });
    expect(await store.claim("a", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "redeemed" });
    // Undone (its record could not be written): redeemable again; then recorded.
    expect(await store.unclaim(won.approval!)).toBe(true);
    expect((await store.get("a"))!.redeemed_at).toBeNull();
    expect((await store.claim("a", { digest: D, agent: "bot", at })).ok).toBe(true);
    await store.markRedeemed("a", 7, "h".repeat(64));
    expect(await store.get("a")).toMatchObject({ redemption_seq: 7, redemption_hash: "h".repeat(64) });
    await store.insert(bound("b"));
    await store.resolve("b", "denied", { by: "alice", at, outcome: "deny" });
    expect(await store.claim("b", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "denied" });
    await store.insert(bound("c"));
    await store.resolve("c", "expired", { by: "timeout", at, outcome: "allow" });
    expect(await store.claim("c", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "expired" });
    // Approved at T0+10: redeemable for the approver's timeout (60 s) from then, not forever.
    await store.insert(bound("d"));
    await store.resolve("d", "approved", { by: "alice", at, outcome: "allow" });
    expect(await store.claim("d", { digest: D, agent: "bot", at: iso(T0 + 10 + 60_000) })).toMatchObject({ ok: false, check: "expired" });
    expect(await store.claim("d", { digest: D, agent: "bot", at: iso(T0 + 10 + 59_999) })).toMatchObject({ ok: true });
    // Once redeemed, a later attempt is told it was redeemed.
    expect(await store.claim("d", { digest: D, agent: "bot", at: iso(T0 + 90_000) })).toMatchObject({ ok: false, check: "redeemed" });
    // Approved in the last millisecond before its expires: the agent still gets the whole timeout.
    await store.insert(bound("e"));
    await store.resolve("e", "approved", { by: "alice", at: iso(T0 + 59_999), outcome: "allow" });
    expect(await store.claim("e", { digest: D, agent: "bot", at: iso(T0 + 60_500) })).toMatchObject({ ok: true });
  });

  it("connections racing on one approval: exactly one claim wins", async () => {
    const path = await kind.fresh();
    const stores = await Promise.all(Array.from({ length: 4 }, () => open(path)));
    await stores[0]!.insert(bound("a"));
    await stores[0]!.resolve("a", "approved", { by: "alice", at: iso(T0 + 1), outcome: "allow" });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 4]!.claim("a", { digest: D, agent: "bot", at: iso(T0 + 2 + i) })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => (r as { check: string }).check)).toEqual(new Array(19).fill("redeemed"));
  });
});

describe("ApprovalStore migration", () => {
  it("migrates a version 1 database to version 2: old approvals are kept, resolve as before, and cannot be redeemed (unbound)", async () => {
    const path = tempDb();
    const db = new Database(path);
    db.exec(SCHEMA_V1);
    const old = pending("old", T0);
    db.prepare(`INSERT INTO approvals (id, state, approver, rule, policy, policy_hash, action, decision, decision_seq, decision_hash, on_timeout, created, expires, outcome)
      VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`)
      .run(old.id, old.approver, old.rule, old.policy, old.policy_hash, JSON.stringify(old.action), JSON.stringify(old.decision), old.decision_seq, old.decision_hash, old.on_timeout, old.created, old.expires);
    db.pragma("user_version = 1");
    db.close();

    const store = SqliteApprovalStore.open(path);
    expect(SCHEMA_VERSION).toBe(2);
    expect(await store.get("old")).toEqual(old); // every new column null
    await store.resolve("old", "approved", { by: "alice", at: iso(T0 + 5), outcome: "allow" });
    expect(await store.claim("old", { digest: D, agent: null, at: iso(T0 + 6) })).toMatchObject({ ok: false, check: "unbound" });
    await store.insert(bound("new"));
    expect(await store.get("new")).toMatchObject({ action_digest: D, agent: "bot" });
    await store.close();
    const check = new Database(path);
    expect(check.pragma("user_version", { simple: true })).toBe(2);
    check.close();
    // Opening again changes nothing.
    const again = SqliteApprovalStore.open(path);
    expect((await again.get("old"))!.state).toBe("approved");
    await again.close();
  });
});
