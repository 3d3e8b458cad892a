// ApprovalStore redemption (claim: the checks and one conditional UPDATE in one transaction) and
// the migration of a version 1 database (before approvals were bound to their action).

import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ApprovalStore, SCHEMA_VERSION } from "../../src/approvals/store.js";
import { pending, tempDb } from "./helpers.js";

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

describe("ApprovalStore#claim", () => {
  it("redeems an approved, bound approval once; checks agent, state, redemption and digest in that order", () => {
    const store = ApprovalStore.open(tempDb());
    store.insert(bound("a"));
    const at = iso(T0 + 10);
    expect(store.claim("nope", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "not-found" });
    expect(store.claim("a", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "pending" });
    expect(store.claim("a", { digest: D, agent: "bot", at: iso(T0 + 60_000) })).toMatchObject({ ok: false, check: "expired" });
    store.resolve("a", "approved", { by: "alice", at, outcome: "allow" });
    expect(store.claim("a", { digest: D, agent: "bot", at, requireRecord: true })).toMatchObject({ ok: false, check: "pending" });
    expect(store.claim("a", { digest: D, agent: "other", at })).toMatchObject({ ok: false, check: "agent" });
    expect(store.claim("a", { digest: "e".repeat(64), agent: "bot", at })).toMatchObject({ ok: false, check: "digest" });
    const won = store.claim("a", { digest: D, agent: "bot", at });
    expect(won).toMatchObject({ ok: true, approval: { id: "a", redeemed_at: at } });
    expect(store.claim("a", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "redeemed" });
    // Undone (its record could not be written): redeemable again; then recorded.
    expect(store.unclaim(won.approval!)).toBe(true);
    expect(store.get("a")!.redeemed_at).toBeNull();
    expect(store.claim("a", { digest: D, agent: "bot", at }).ok).toBe(true);
    store.markRedeemed("a", 7, "h".repeat(64));
    expect(store.get("a")).toMatchObject({ redemption_seq: 7, redemption_hash: "h".repeat(64) });
    store.insert(bound("b"));
    store.resolve("b", "denied", { by: "alice", at, outcome: "deny" });
    expect(store.claim("b", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "denied" });
    store.insert(bound("c"));
    store.resolve("c", "expired", { by: "timeout", at, outcome: "allow" });
    expect(store.claim("c", { digest: D, agent: "bot", at })).toMatchObject({ ok: false, check: "expired" });
    store.close();
  });

  it("two connections racing on one approval: exactly one claim wins", () => {
    const path = tempDb();
    const s1 = ApprovalStore.open(path);
    const s2 = ApprovalStore.open(path);
    s1.insert(bound("a"));
    s1.resolve("a", "approved", { by: "alice", at: iso(T0 + 1), outcome: "allow" });
    const results = Array.from({ length: 10 }, (_, i) => (i % 2 ? s1 : s2).claim("a", { digest: D, agent: "bot", at: iso(T0 + 2 + i) }));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    s1.close();
    s2.close();
  });
});

describe("ApprovalStore migration", () => {
  it("migrates a version 1 database to version 2: old approvals are kept, resolve as before, and cannot be redeemed (unbound)", () => {
    const path = tempDb();
    const db = new Database(path);
    db.exec(SCHEMA_V1);
    const old = pending("old", T0);
    db.prepare(`INSERT INTO approvals (id, state, approver, rule, policy, policy_hash, action, decision, decision_seq, decision_hash, on_timeout, created, expires, outcome)
      VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`)
      .run(old.id, old.approver, old.rule, old.policy, old.policy_hash, JSON.stringify(old.action), JSON.stringify(old.decision), old.decision_seq, old.decision_hash, old.on_timeout, old.created, old.expires);
    db.pragma("user_version = 1");
    db.close();

    const store = ApprovalStore.open(path);
    expect(SCHEMA_VERSION).toBe(2);
    expect(store.get("old")).toEqual(old); // every new column null
    store.resolve("old", "approved", { by: "alice", at: iso(T0 + 5), outcome: "allow" });
    expect(store.claim("old", { digest: D, agent: null, at: iso(T0 + 6) })).toMatchObject({ ok: false, check: "unbound" });
    store.insert(bound("new"));
    expect(store.get("new")).toMatchObject({ action_digest: D, agent: "bot" });
    store.close();
    const check = new Database(path);
    expect(check.pragma("user_version", { simple: true })).toBe(2);
    check.close();
    // Opening again changes nothing.
    const again = ApprovalStore.open(path);
    expect(again.get("old")!.state).toBe("approved");
    again.close();
  });
});
