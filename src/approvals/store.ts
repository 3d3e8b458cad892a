// Persistence of approvals in SQLite (better-sqlite3, synchronous; docs/approvals.md).
// Every process that opens the same file sees the same approvals: resolution is one
// conditional UPDATE, so exactly one of any number of racing resolutions wins.

import Database from "better-sqlite3";
import type { Approval, ApprovalState, ClaimResult, RedeemCheck, RedeemClaim } from "./approval.js";
import { APPROVAL_STATES, ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "./approval.js";
import { hasLoneSurrogate } from "../audit/recordable.js";

/** The schema version this code reads and writes (`PRAGMA user_version`). */
export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE approvals (
  id              TEXT PRIMARY KEY,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
  approver        TEXT NOT NULL,
  rule            TEXT,
  policy          TEXT NOT NULL,
  policy_hash     TEXT NOT NULL,
  action          TEXT NOT NULL,
  decision        TEXT NOT NULL,
  decision_seq    INTEGER NOT NULL,
  decision_hash   TEXT NOT NULL,
  on_timeout      TEXT NOT NULL CHECK (on_timeout IN ('allow', 'deny')),
  created         TEXT NOT NULL,
  expires         TEXT NOT NULL,
  outcome         TEXT CHECK (outcome IN ('allow', 'deny')),
  resolved_by     TEXT,
  note            TEXT,
  resolved_at     TEXT,
  resolution_seq  INTEGER,
  resolution_hash TEXT,
  action_digest   TEXT,
  agent           TEXT,
  redeemed_at     TEXT,
  redemption_seq  INTEGER,
  redemption_hash TEXT,
  CHECK ((state = 'pending') = (outcome IS NULL))
);
CREATE INDEX approvals_by_state ON approvals (state, created);
CREATE INDEX approvals_unaudited ON approvals (resolved_at) WHERE state <> 'pending' AND resolution_seq IS NULL;
`;

/** Version 1 → 2: approvals bound to their action and agent, and their one redemption. */
const MIGRATE_1_TO_2 = `
ALTER TABLE approvals ADD COLUMN action_digest TEXT;
ALTER TABLE approvals ADD COLUMN agent TEXT;
ALTER TABLE approvals ADD COLUMN redeemed_at TEXT;
ALTER TABLE approvals ADD COLUMN redemption_seq INTEGER;
ALTER TABLE approvals ADD COLUMN redemption_hash TEXT;
`;

export interface ApprovalFilter {
  state?: ApprovalState;
  approver?: string;
  limit?: number;
}

export interface Resolution {
  by: string;
  note?: string | null;
  at: string;
  outcome: "allow" | "deny";
}

/** An approval as stored: the action and the decision as JSON text. */
type Row = Omit<Approval, "action" | "decision"> & { action: string; decision: string };

function fromRow(r: Row): Approval {
  return { ...r, action: JSON.parse(r.action), decision: JSON.parse(r.decision) };
}

export class ApprovalStore {
  private readonly stmts;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO approvals (id, state, approver, rule, policy, policy_hash, action, decision, decision_seq, decision_hash,
           on_timeout, created, expires, outcome, resolved_by, note, resolved_at, resolution_seq, resolution_hash,
           action_digest, agent, redeemed_at, redemption_seq, redemption_hash)
         VALUES (@id, @state, @approver, @rule, @policy, @policy_hash, @action, @decision, @decision_seq, @decision_hash,
           @on_timeout, @created, @expires, @outcome, @resolved_by, @note, @resolved_at, @resolution_seq, @resolution_hash,
           @action_digest, @agent, @redeemed_at, @redemption_seq, @redemption_hash)`,
      ),
      get: db.prepare(`SELECT * FROM approvals WHERE id = ?`),
      // approve/deny only before `expires`: past it, the approval has expired even if no timer ran.
      decide: db.prepare(
        `UPDATE approvals SET state = @to, outcome = @outcome, resolved_by = @by, note = @note, resolved_at = @at
         WHERE id = @id AND state = 'pending' AND expires > @at`,
      ),
      expire: db.prepare(
        `UPDATE approvals SET state = 'expired', outcome = on_timeout, resolved_by = @by, note = @note, resolved_at = @at
         WHERE id = @id AND state = 'pending'`,
      ),
      // Undoes a resolution whose audit record could not be written (Approvals#decide): only
      // that very resolution, and only while it has no record.
      unresolve: db.prepare(
        `UPDATE approvals SET state = 'pending', outcome = NULL, resolved_by = NULL, note = NULL, resolved_at = NULL
         WHERE id = @id AND state = @state AND resolved_by IS @by AND note IS @note AND resolved_at IS @at AND resolution_seq IS NULL`,
      ),
      // The one redemption: only an approved, not yet redeemed approval (claim checks the rest first).
      redeem: db.prepare(`UPDATE approvals SET redeemed_at = @at WHERE id = @id AND state = 'approved' AND redeemed_at IS NULL`),
      // Undoes a redemption whose audit record could not be written: only that one, only while it has no record.
      unredeem: db.prepare(`UPDATE approvals SET redeemed_at = NULL WHERE id = @id AND redeemed_at IS @at AND redemption_seq IS NULL`),
      markRedeemed: db.prepare(`UPDATE approvals SET redemption_seq = ?, redemption_hash = ? WHERE id = ? AND redeemed_at IS NOT NULL AND redemption_seq IS NULL`),
      markAudited: db.prepare(
        `UPDATE approvals SET resolution_seq = ?, resolution_hash = ? WHERE id = ? AND state <> 'pending' AND resolution_seq IS NULL`,
      ),
      unaudited: db.prepare(`SELECT * FROM approvals WHERE state <> 'pending' AND resolution_seq IS NULL ORDER BY resolved_at, id`),
      pendingCount: db.prepare(`SELECT count(*) AS n FROM approvals WHERE state = 'pending'`),
      pendingCountFor: db.prepare(`SELECT count(*) AS n FROM approvals WHERE state = 'pending' AND approver = ?`),
      dataVersion: db.prepare(`PRAGMA data_version`),
    };
  }

  /** Opens (creating if needed) the database at `path`: versioned schema, WAL, busy_timeout 5000. */
  static open(path: string): ApprovalStore {
    const db = new Database(path);
    try {
      db.pragma("busy_timeout = 5000");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      migrate(db, path);
      return new ApprovalStore(db, path);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  insert(a: Approval): void {
    this.stmts.insert.run({
      ...a,
      action_digest: a.action_digest ?? null,
      agent: a.agent ?? null,
      redeemed_at: a.redeemed_at ?? null,
      redemption_seq: a.redemption_seq ?? null,
      redemption_hash: a.redemption_hash ?? null,
      action: JSON.stringify(a.action ?? null),
      decision: JSON.stringify(a.decision),
    });
  }

  /** Inserts all of `as` in one transaction (one commit): all or none. */
  insertMany(as: readonly Approval[]): void {
    if (as.length === 0) return;
    this.db.transaction(() => {
      for (const a of as) this.insert(a);
    })();
  }

  get(id: string): Approval | undefined {
    const row = this.stmts.get.get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /** Newest first; all states unless `state` is given. */
  list(filter: ApprovalFilter = {}): Approval[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.state !== undefined) {
      if (!APPROVAL_STATES.includes(filter.state)) throw new TypeError(`unknown approval state '${String(filter.state)}'`);
      where.push("state = ?");
      params.push(filter.state);
    }
    if (filter.approver !== undefined) {
      where.push("approver = ?");
      params.push(filter.approver);
    }
    let sql = `SELECT * FROM approvals${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY created DESC, id`;
    if (filter.limit !== undefined) {
      if (!Number.isSafeInteger(filter.limit) || filter.limit < 0) throw new TypeError(`limit must be a non-negative integer`);
      sql += ` LIMIT ${filter.limit}`;
    }
    return (this.db.prepare(sql).all(...params) as Row[]).map(fromRow);
  }

  /**
   * Moves a pending approval to `to`, atomically, across processes: exactly one of any number
   * of racing calls wins; the others throw ApprovalAlreadyResolved (or ApprovalNotFound).
   * Approving or denying at or after `expires` expires the approval instead (outcome
   * on_timeout, by "timeout") and throws ApprovalAlreadyResolved with state "expired".
   * For "expired", the outcome is always the approval's on_timeout.
   */
  resolve(id: string, to: "approved" | "denied" | "expired", r: Resolution): Approval {
    if (to !== "approved" && to !== "denied" && to !== "expired") throw new TypeError(`cannot resolve an approval to '${String(to)}'`);
    checkText(id, "by", r.by);
    checkText(id, "note", r.note);
    const params = { id, to, by: r.by, note: r.note ?? null, at: r.at, outcome: r.outcome };
    // The transaction commits what it did, then we throw: a throw inside would roll back.
    const run = this.db.transaction((): { won: boolean; a: Approval | undefined } => {
      const changed = to === "expired" ? this.stmts.expire.run(params).changes : this.stmts.decide.run(params).changes;
      const now = this.get(id);
      if (changed === 1 || !now || now.state !== "pending") return { won: changed === 1, a: now };
      // Overdue: it expired before this approve/deny; record that instead.
      this.stmts.expire.run({ id, by: "timeout", note: null, at: r.at });
      return { won: false, a: this.get(id) };
    });
    const { won, a } = run.immediate();
    if (!a) throw new ApprovalNotFound(id);
    if (!won) throw new ApprovalAlreadyResolved(a);
    return a;
  }

  /**
   * Puts a resolved approval back to pending, if it is still exactly as `a` says (the same
   * state, by, note, resolved_at) and has no audit record: for a resolution whose record could
   * not be written. Returns the pending approval, or undefined if nothing was changed.
   */
  unresolve(a: Approval): Approval | undefined {
    if (a.state === "pending") return undefined;
    const changed = this.stmts.unresolve.run({ id: a.id, state: a.state, by: a.resolved_by, note: a.note, at: a.resolved_at }).changes;
    return changed === 1 ? this.get(a.id) : undefined;
  }

  /**
   * Redeems an approval, atomically across processes (one immediate transaction: the checks and
   * a conditional UPDATE): exactly one of any number of racing claims on an approval wins. The
   * checks, in order: it exists, it was issued to `c.agent`, it is approved (not pending, denied
   * or expired), it is not redeemed yet, it is bound to an action, and `c.digest` is that
   * action's. The first that fails is answered and nothing changes.
   */
  claim(id: string, c: RedeemClaim): ClaimResult {
    const run = this.db.transaction((): ClaimResult => {
      const a = this.get(id);
      const refuse = (check: RedeemCheck): ClaimResult => ({ ok: false, check, approval: a });
      if (!a) return refuse("not-found");
      if (a.agent !== c.agent) return refuse("agent");
      if (a.state === "pending") return refuse(Date.parse(a.expires) <= Date.parse(c.at) ? "expired" : "pending");
      if (a.state === "denied") return refuse("denied");
      if (a.state === "expired") return refuse("expired");
      if (a.redeemed_at !== null) return refuse("redeemed");
      // Approved, but the approval's record is not written yet (approved by another process, the
      // owner has not recorded it): not yet — the redemption's record must follow it.
      if (c.requireRecord === true && a.resolution_seq === null) return refuse("pending");
      if (a.action_digest === null) return refuse("unbound");
      if (a.action_digest !== c.digest) return refuse("digest");
      if (this.stmts.redeem.run({ id, at: c.at }).changes !== 1) return refuse("redeemed");
      return { ok: true, approval: { ...a, redeemed_at: c.at } };
    });
    return run.immediate();
  }

  /** Undoes the redemption of `a` (as claim returned it) if it still has no audit record; true if undone. */
  unclaim(a: Approval): boolean {
    return this.stmts.unredeem.run({ id: a.id, at: a.redeemed_at }).changes === 1;
  }

  /** Records the audit record of the redemption. */
  markRedeemed(id: string, seq: number, hash: string): void {
    this.stmts.markRedeemed.run(seq, hash, id);
  }

  /** Records the audit record of the transition; a second call for the same approval changes nothing. */
  markAudited(id: string, seq: number, hash: string): void {
    this.stmts.markAudited.run(seq, hash, id);
  }

  /** Resolved approvals whose transition has no audit record yet, oldest resolution first. */
  unaudited(): Approval[] {
    return (this.stmts.unaudited.all() as Row[]).map(fromRow);
  }

  pendingCount(approver?: string): number {
    const row = (approver === undefined ? this.stmts.pendingCount.get() : this.stmts.pendingCountFor.get(approver)) as { n: number };
    return row.n;
  }

  /** SQLite's data_version: changes when another connection commits (cheap change detection for polling). */
  dataVersion(): number {
    return this.stmts.dataVersion.pluck().get() as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * `by` and `note` are stored as UTF-8 and written to the audit log as canonical JSON: a lone
 * surrogate (not Unicode text) would be stored as U+FFFD, so what was recorded would not be
 * what was said. Refused, before anything changes.
 */
function checkText(id: string, field: string, value: string | null | undefined): void {
  if (typeof value === "string" && hasLoneSurrogate(value)) {
    throw new ApprovalError("invalid", id, `'${field}' contains a lone surrogate (it is not Unicode text and cannot be stored or recorded as it is)`);
  }
}

function migrate(db: Database.Database, path: string): void {
  const version = () => db.pragma("user_version", { simple: true }) as number;
  if (version() === SCHEMA_VERSION) return;
  db.transaction(() => {
    const v = version(); // again, inside the write lock: another process may have just created (or migrated) it
    if (v === 0) {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } else if (v === 1) {
      // Approvals made before binding keep NULL digests: they resolve as before but cannot be redeemed.
      db.exec(MIGRATE_1_TO_2);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } else if (v !== SCHEMA_VERSION) {
      throw new Error(`${path}: approvals schema version ${v} is not supported (this version of tollgate reads version ${SCHEMA_VERSION})`);
    }
  }).immediate();
}
