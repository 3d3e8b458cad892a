// Persistence of approvals in SQLite (better-sqlite3; docs/approvals.md): the embedded default
// ApprovalStore. Synchronous underneath — every method does its work before it returns, and
// returns a settled promise — so an operation is one SQLite transaction that nothing else in the
// process can interleave with. Every process that opens the same file sees the same approvals:
// resolution is one conditional UPDATE, so exactly one of any number of racing resolutions wins.

import Database from "better-sqlite3";
import type { Approval, ClaimResult, RedeemClaim } from "./approval.js";
import { APPROVAL_STATES, ApprovalAlreadyResolved, ApprovalNotFound } from "./approval.js";
import type { ApprovalFilter, ApprovalStore, Resolution } from "./store-api.js";
import { checkText, prefixPattern, redeemCheck, refused } from "./store-api.js";

export type { ApprovalFilter, ApprovalStore, Resolution } from "./store-api.js";

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

/** An approval as stored: the action and the decision as JSON text. */
type Row = Omit<Approval, "action" | "decision"> & { action: string; decision: string };

function fromRow(r: Row): Approval {
  return { ...r, action: JSON.parse(r.action), decision: JSON.parse(r.decision) };
}

/**
 * Runs `f` now and hands its result (or what it threw) over as a settled promise: the SQLite
 * store does all its work synchronously, before the caller's next line.
 */
function now<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (err) {
    return Promise.reject(err);
  }
}

export class SqliteApprovalStore implements ApprovalStore {
  readonly kind = "sqlite" as const;
  readonly shared = false;
  private readonly stmts;
  private lastVersion = -1;

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
      // SQLite's LIKE ignores ASCII case: the substr comparison keeps the match exact.
      byPrefix: db.prepare(`SELECT id FROM approvals WHERE id LIKE @pattern ESCAPE '\\' AND substr(id, 1, length(@prefix)) = @prefix ORDER BY id LIMIT @limit`),
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
  static open(path: string): SqliteApprovalStore {
    const db = new Database(path);
    try {
      db.pragma("busy_timeout = 5000");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      migrate(db, path);
      return new SqliteApprovalStore(db, path);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  get location(): string {
    return this.path;
  }

  insert(a: Approval): Promise<void> {
    return now(() => this.insertRow(a));
  }

  private insertRow(a: Approval): void {
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
  insertMany(as: readonly Approval[]): Promise<void> {
    return now(() => {
      if (as.length === 0) return;
      this.db.transaction(() => {
        for (const a of as) this.insertRow(a);
      })();
    });
  }

  get(id: string): Promise<Approval | undefined> {
    return now(() => this.getRow(id));
  }

  idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    return now(() => this.stmts.byPrefix.pluck().all({ pattern: prefixPattern(prefix), prefix, limit }) as string[]);
  }

  private getRow(id: string): Approval | undefined {
    const row = this.stmts.get.get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /** Newest first; all states unless `state` is given. */
  list(filter: ApprovalFilter = {}): Promise<Approval[]> {
    return now(() => {
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
    });
  }

  /** ApprovalStore#resolve: one immediate transaction (SQLite serializes writers). */
  resolve(id: string, to: "approved" | "denied" | "expired", r: Resolution): Promise<Approval> {
    return now(() => {
      if (to !== "approved" && to !== "denied" && to !== "expired") throw new TypeError(`cannot resolve an approval to '${String(to)}'`);
      checkText(id, "by", r.by);
      checkText(id, "note", r.note);
      const params = { id, to, by: r.by, note: r.note ?? null, at: r.at, outcome: r.outcome };
      // The transaction commits what it did, then we throw: a throw inside would roll back.
      const run = this.db.transaction((): { won: boolean; a: Approval | undefined } => {
        const changed = to === "expired" ? this.stmts.expire.run(params).changes : this.stmts.decide.run(params).changes;
        const a = this.getRow(id);
        if (changed === 1 || !a || a.state !== "pending") return { won: changed === 1, a };
        // Overdue: it expired before this approve/deny; record that instead.
        this.stmts.expire.run({ id, by: "timeout", note: null, at: r.at });
        return { won: false, a: this.getRow(id) };
      });
      const { won, a } = run.immediate();
      if (!a) throw new ApprovalNotFound(id);
      if (!won) throw new ApprovalAlreadyResolved(a);
      return a;
    });
  }

  unresolve(a: Approval): Promise<Approval | undefined> {
    return now(() => {
      if (a.state === "pending") return undefined;
      const changed = this.stmts.unresolve.run({ id: a.id, state: a.state, by: a.resolved_by, note: a.note, at: a.resolved_at }).changes;
      return changed === 1 ? this.getRow(a.id) : undefined;
    });
  }

  /** ApprovalStore#claim: the checks and a conditional UPDATE in one immediate transaction. */
  claim(id: string, c: RedeemClaim): Promise<ClaimResult> {
    return now(() => {
      const run = this.db.transaction((): ClaimResult => {
        const a = this.getRow(id);
        const check = redeemCheck(a, c);
        if (check !== null) return refused(check, a);
        if (this.stmts.redeem.run({ id, at: c.at }).changes !== 1) return refused("redeemed", a);
        return { ok: true, approval: { ...a!, redeemed_at: c.at } };
      });
      return run.immediate();
    });
  }

  unclaim(a: Approval): Promise<boolean> {
    return now(() => this.stmts.unredeem.run({ id: a.id, at: a.redeemed_at }).changes === 1);
  }

  markRedeemed(id: string, seq: number, hash: string): Promise<void> {
    return now(() => void this.stmts.markRedeemed.run(seq, hash, id));
  }

  /** One owner per file: the manager that owns the file writes every record. */
  claimAudit(_a: Approval): Promise<boolean> {
    return Promise.resolve(true);
  }

  markAudited(id: string, seq: number, hash: string): Promise<boolean> {
    return now(() => this.stmts.markAudited.run(seq, hash, id).changes === 1);
  }

  unaudited(): Promise<Approval[]> {
    return now(() => (this.stmts.unaudited.all() as Row[]).map(fromRow));
  }

  pendingCount(approver?: string): Promise<number> {
    return now(() => ((approver === undefined ? this.stmts.pendingCount.get() : this.stmts.pendingCountFor.get(approver)) as { n: number }).n);
  }

  /** SQLite's data_version: changes when another connection commits (one cheap query). */
  dataVersion(): number {
    return this.stmts.dataVersion.pluck().get() as number;
  }

  changed(): Promise<boolean> {
    return now(() => {
      const v = this.dataVersion();
      const changed = v !== this.lastVersion;
      this.lastVersion = v;
      return changed;
    });
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
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
