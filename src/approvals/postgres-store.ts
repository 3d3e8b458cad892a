// Persistence of approvals in PostgreSQL (`pg`; docs/approvals.md, "PostgreSQL"): the store for
// several `tollgate serve` instances behind a load balancer sharing one queue. Each transition is
// one conditional UPDATE ... WHERE state = 'pending' RETURNING (a redemption: SELECT ... FOR
// UPDATE and a conditional UPDATE in one transaction), so exactly one of any number of racing
// callers wins, whichever instance they are on. A trigger NOTIFYs every creation, transition,
// audit record and redemption; `watch` LISTENs, so that an instance learns of what the others did
// as they commit. Each instance writes the audit records of the transitions it makes, in its own
// log; `audit_owner` says which instance that is (see claimAudit).

import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import pg from "pg";
import type { Approval, ClaimResult, RedeemClaim } from "./approval.js";
import { APPROVAL_STATES, ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "./approval.js";
import type { ApprovalChange, ApprovalFilter, ApprovalStore, Resolution } from "./store-api.js";
import { checkText, prefixPattern, redeemCheck, refused } from "./store-api.js";

/** The schema version this code reads and writes (the `version` row of `<table>_schema`). */
export const PG_SCHEMA_VERSION = 1;

export interface PostgresStoreOptions {
  /** The schema the table lives in (created if missing). Default: the URL's `?schema=`, else "public". */
  schema?: string;
  /** The table's name; default "tollgate_approvals". */
  table?: string;
  /**
   * This process's name in the table (`audit_owner`: who writes a transition's record). Default:
   * `<hostname>:<pid>:<random>`, new at every start.
   */
  instance?: string;
  /**
   * How long an instance's claim to write a transition's audit record holds: past it (the
   * instance crashed between the transition and its record, or cannot write its log), another
   * instance takes it over. Default 60000 ms.
   */
  auditLeaseMs?: number;
  /** Connections in the pool; default 10. */
  max?: number;
  /**
   * Whether this process writes the audit records of the transitions it makes (default true: a
   * gate or a server). false (the command line): its transitions are left for an instance to
   * claim (`audit_owner` NULL).
   */
  writesAudit?: boolean;
}

const COLUMNS = [
  "id", "state", "approver", "rule", "policy", "policy_hash", "action", "decision", "decision_seq", "decision_hash",
  "on_timeout", "created", "expires", "outcome", "resolved_by", "note", "resolved_at", "resolution_seq", "resolution_hash",
  "action_digest", "agent", "redeemed_at", "redemption_seq", "redemption_hash",
] as const;
const SELECT_COLUMNS = COLUMNS.join(", ");

/** A quoted SQL identifier. */
function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

type Row = Omit<Approval, "action" | "decision"> & { action: string; decision: string };

function fromRow(r: Row): Approval {
  return { ...r, action: JSON.parse(r.action), decision: JSON.parse(r.decision) };
}

function values(a: Approval, instance: string): unknown[] {
  return [
    a.id, a.state, a.approver, a.rule, a.policy, a.policy_hash, JSON.stringify(a.action ?? null), JSON.stringify(a.decision), a.decision_seq, a.decision_hash,
    a.on_timeout, a.created, a.expires, a.outcome, a.resolved_by, a.note, a.resolved_at, a.resolution_seq, a.resolution_hash,
    a.action_digest ?? null, a.agent ?? null, a.redeemed_at ?? null, a.redemption_seq ?? null, a.redemption_hash ?? null, instance,
  ];
}

/** BIGINT (int8) as a JavaScript number: seqs stay far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as "text"))) as typeof pg.types.getTypeParser,
};

/** PostgreSQL text cannot hold U+0000: refused as a lone surrogate is, before anything changes. */
function checkNul(id: string, field: string, value: string | null | undefined): void {
  if (typeof value === "string" && value.includes("\u0000")) {
    throw new ApprovalError("invalid", id, `'${field}' contains a NUL character (U+0000), which PostgreSQL text cannot store`);
  }
}

/** The URL without its password, for messages; and the `schema` parameter taken out of it. */
function splitUrl(url: string): { connectionString: string; shown: string; schema: string | undefined } {
  const u = new URL(url);
  const schema = u.searchParams.get("schema") ?? undefined;
  u.searchParams.delete("schema");
  const connectionString = u.toString();
  if (u.password) u.password = "***";
  return { connectionString, shown: u.toString(), schema };
}

export class PostgresApprovalStore implements ApprovalStore {
  readonly kind = "postgres" as const;
  readonly shared = true;
  readonly instance: string;
  /** The NOTIFY channel of this table. */
  readonly channel: string;
  private readonly t: string;
  private readonly tickets: string;
  private readonly appName: string;
  private readonly leaseSecs: number;
  /** audit_owner of the transitions this process makes: itself, or nobody (the command line). */
  private readonly owner: string | null;
  /** Whether the LISTEN connection is up, and whether changed() has answered since it went down. */
  private listening = false;
  private seenDown = false;
  private readonly unwatchers = new Set<() => Promise<void>>();
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
    readonly location: string,
    readonly schema: string,
    readonly table: string,
    instance: string,
    appName: string,
    opts: PostgresStoreOptions,
  ) {
    this.instance = instance;
    this.appName = appName;
    this.t = `${ident(schema)}.${ident(table)}`;
    this.tickets = `${ident(schema)}.${ident(`${table}_tickets`)}`;
    this.channel = `tollgate_approvals_${createHash("sha256").update(`${schema}.${table}`).digest("hex").slice(0, 16)}`;
    this.leaseSecs = (opts.auditLeaseMs ?? 60_000) / 1000;
    this.owner = opts.writesAudit === false ? null : instance;
  }

  /** Connects, and creates the schema and table if missing (or refuses a newer schema version). */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresApprovalStore> {
    const { connectionString, shown, schema: fromUrl } = splitUrl(url);
    const schema = opts.schema ?? fromUrl ?? "public";
    const table = opts.table ?? "tollgate_approvals";
    const instance = opts.instance ?? `${hostname().slice(0, 32)}:${process.pid}:${randomBytes(4).toString("hex")}`;
    // The connections' application_name names the instance: notifications say who made the change
    // (63 bytes: what the server keeps of it).
    const appName = `tollgate ${instance}`.replace(/[^\x20-\x7e]/g, "?").slice(0, 63);
    const pool = new pg.Pool({ connectionString, max: opts.max ?? 10, types, application_name: appName });
    const store = new PostgresApprovalStore(pool, connectionString, shown, schema, table, instance, appName, opts);
    pool.on("error", () => undefined); // an idle connection dropped: the next query opens another
    try {
      await store.migrate();
      return store;
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  private async migrate(): Promise<void> {
    const c = await this.pool.connect();
    const meta = `${ident(this.schema)}.${ident(`${this.table}_schema`)}`;
    try {
      await c.query("BEGIN");
      // One instance at a time creates (or checks) the schema: several may start at once.
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`tollgate approvals ${this.schema}.${this.table}`]);
      const ns = await c.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [this.schema]);
      if (ns.rowCount === 0) await c.query(`CREATE SCHEMA ${ident(this.schema)}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      const v = await c.query<{ value: string }>(`SELECT value FROM ${meta} WHERE key = 'version'`);
      const version = v.rowCount === 0 ? 0 : Number(v.rows[0]!.value);
      if (version === 0) {
        await c.query(this.schemaSql());
        await c.query(`INSERT INTO ${meta} (key, value) VALUES ('version', $1)`, [String(PG_SCHEMA_VERSION)]);
      } else if (version !== PG_SCHEMA_VERSION) {
        throw new Error(`${this.location} (${this.schema}.${this.table}): approvals schema version ${version} is not supported (this version of tollgate reads version ${PG_SCHEMA_VERSION})`);
      }
      // The consoles' stream tickets (SharedTickets): a table of its own, added to any version.
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.tickets} (hash TEXT PRIMARY KEY, data TEXT NOT NULL, expires BIGINT NOT NULL)`);
      await c.query("COMMIT");
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  private schemaSql(): string {
    const t = this.t;
    const fn = `${ident(this.schema)}.${ident(`${this.table}_notify`)}`;
    return `
CREATE TABLE ${t} (
  id              TEXT PRIMARY KEY,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
  approver        TEXT NOT NULL,
  rule            TEXT,
  policy          TEXT NOT NULL,
  policy_hash     TEXT NOT NULL,
  action          TEXT NOT NULL,
  decision        TEXT NOT NULL,
  decision_seq    BIGINT NOT NULL,
  decision_hash   TEXT NOT NULL,
  on_timeout      TEXT NOT NULL CHECK (on_timeout IN ('allow', 'deny')),
  created         TEXT NOT NULL,
  expires         TEXT NOT NULL,
  outcome         TEXT CHECK (outcome IN ('allow', 'deny')),
  resolved_by     TEXT,
  note            TEXT,
  resolved_at     TEXT,
  resolution_seq  BIGINT,
  resolution_hash TEXT,
  action_digest   TEXT,
  agent           TEXT,
  redeemed_at     TEXT,
  redemption_seq  BIGINT,
  redemption_hash TEXT,
  -- The instance whose audit log holds the escalate decision's record (decision_seq, decision_hash).
  decision_instance   TEXT,
  -- The instance that writes (or wrote: resolution_seq is then set) the transition's record, and
  -- when it took that on; NULL when no manager made the transition (the command line).
  audit_owner         TEXT,
  audit_claimed_at    TIMESTAMPTZ,
  -- The instance whose audit log holds the redemption's record.
  redemption_instance TEXT,
  CHECK ((state = 'pending') = (outcome IS NULL))
);
CREATE INDEX ON ${t} (state, created COLLATE "C");
CREATE INDEX ON ${t} (resolved_at COLLATE "C") WHERE state <> 'pending' AND resolution_seq IS NULL;
CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE kind TEXT;
BEGIN
  IF TG_OP = 'INSERT' THEN kind := 'created';
  ELSIF OLD.state IS DISTINCT FROM NEW.state THEN kind := 'resolved';
  ELSIF OLD.resolution_seq IS NULL AND NEW.resolution_seq IS NOT NULL THEN kind := 'audited';
  ELSIF OLD.redeemed_at IS DISTINCT FROM NEW.redeemed_at OR OLD.redemption_seq IS DISTINCT FROM NEW.redemption_seq THEN kind := 'redeemed';
  ELSE RETURN NULL;
  END IF;
  PERFORM pg_notify('${this.channel}', json_build_object('id', NEW.id, 'kind', kind, 'from', current_setting('application_name'))::text);
  RETURN NULL;
END
$f$;
CREATE TRIGGER ${ident(`${this.table}_notify`)} AFTER INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${fn}();
`;
  }

  async insert(a: Approval): Promise<void> {
    await this.insertMany([a]);
  }

  /** One multi-row INSERT per 1000 approvals, all in one transaction: all or none. */
  async insertMany(as: readonly Approval[]): Promise<void> {
    if (as.length === 0) return;
    const cols = `${COLUMNS.join(", ")}, decision_instance`;
    const width = COLUMNS.length + 1;
    const statements: { text: string; values: unknown[] }[] = [];
    for (let i = 0; i < as.length; i += 1000) {
      const chunk = as.slice(i, i + 1000);
      const params: unknown[] = [];
      const rows = chunk.map((a, k) => {
        params.push(...values(a, this.instance));
        return `(${Array.from({ length: width }, (_, j) => `$${k * width + j + 1}`).join(", ")})`;
      });
      statements.push({ text: `INSERT INTO ${this.t} (${cols}) VALUES ${rows.join(", ")}`, values: params });
    }
    if (statements.length === 1) {
      await this.pool.query(statements[0]!);
      return;
    }
    await this.transaction(async (c) => {
      for (const s of statements) await c.query(s);
    });
  }

  async get(id: string): Promise<Approval | undefined> {
    const r = await this.pool.query<Row>(`SELECT ${SELECT_COLUMNS} FROM ${this.t} WHERE id = $1`, [id]);
    return r.rowCount === 0 ? undefined : fromRow(r.rows[0]!);
  }

  async idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    if (prefix.includes("\u0000")) return []; // PostgreSQL text cannot hold it: no id does
    const r = await this.pool.query<{ id: string }>(
      `SELECT id FROM ${this.t} WHERE id LIKE $1 ESCAPE '\\' ORDER BY id COLLATE "C" LIMIT $2`,
      [prefixPattern(prefix), limit],
    );
    return r.rows.map((row) => row.id);
  }

  async list(filter: ApprovalFilter = {}): Promise<Approval[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.state !== undefined) {
      if (!APPROVAL_STATES.includes(filter.state)) throw new TypeError(`unknown approval state '${String(filter.state)}'`);
      params.push(filter.state);
      where.push(`state = $${params.length}`);
    }
    if (filter.approver !== undefined) {
      params.push(filter.approver);
      where.push(`approver = $${params.length}`);
    }
    // COLLATE "C": byte order, as SQLite compares (RFC 3339 times sort as text).
    let sql = `SELECT ${SELECT_COLUMNS} FROM ${this.t}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY created COLLATE "C" DESC, id COLLATE "C"`;
    if (filter.limit !== undefined) {
      if (!Number.isSafeInteger(filter.limit) || filter.limit < 0) throw new TypeError(`limit must be a non-negative integer`);
      sql += ` LIMIT ${filter.limit}`;
    }
    return (await this.pool.query<Row>(sql, params)).rows.map(fromRow);
  }

  /**
   * ApprovalStore#resolve: one conditional UPDATE ... WHERE state = 'pending' RETURNING (only
   * before `expires` for approve and deny); the instance that wins it is the transition's
   * `audit_owner`. If it changed nothing: an overdue approval is expired instead (again
   * conditional), else the approval as it is says who won.
   */
  async resolve(id: string, to: "approved" | "denied" | "expired", r: Resolution): Promise<Approval> {
    if (to !== "approved" && to !== "denied" && to !== "expired") throw new TypeError(`cannot resolve an approval to '${String(to)}'`);
    checkText(id, "by", r.by);
    checkText(id, "note", r.note);
    checkNul(id, "by", r.by);
    checkNul(id, "note", r.note);
    const expire = `UPDATE ${this.t} SET state = 'expired', outcome = on_timeout, resolved_by = $2, note = $3, resolved_at = $4, audit_owner = $5, audit_claimed_at = now()
      WHERE id = $1 AND state = 'pending' RETURNING ${SELECT_COLUMNS}`;
    if (to === "expired") {
      const won = await this.pool.query<Row>(expire, [id, r.by, r.note ?? null, r.at, this.owner]);
      if (won.rowCount === 1) return fromRow(won.rows[0]!);
    } else {
      const won = await this.pool.query<Row>(
        `UPDATE ${this.t} SET state = $2, outcome = $3, resolved_by = $4, note = $5, resolved_at = $6, audit_owner = $7, audit_claimed_at = now()
         WHERE id = $1 AND state = 'pending' AND expires COLLATE "C" > $6 RETURNING ${SELECT_COLUMNS}`,
        [id, to, r.outcome, r.by, r.note ?? null, r.at, this.owner],
      );
      if (won.rowCount === 1) return fromRow(won.rows[0]!);
      // Overdue (or resolved already): if still pending, it expired before this approve/deny.
      const expired = await this.pool.query<Row>(expire, [id, "timeout", null, r.at, this.owner]);
      if (expired.rowCount === 1) throw new ApprovalAlreadyResolved(fromRow(expired.rows[0]!));
    }
    const a = await this.get(id);
    if (!a) throw new ApprovalNotFound(id);
    throw new ApprovalAlreadyResolved(a);
  }

  async unresolve(a: Approval): Promise<Approval | undefined> {
    if (a.state === "pending") return undefined;
    const r = await this.pool.query<Row>(
      `UPDATE ${this.t} SET state = 'pending', outcome = NULL, resolved_by = NULL, note = NULL, resolved_at = NULL, audit_owner = NULL, audit_claimed_at = NULL
       WHERE id = $1 AND state = $2 AND resolved_by IS NOT DISTINCT FROM $3 AND note IS NOT DISTINCT FROM $4 AND resolved_at IS NOT DISTINCT FROM $5
         AND resolution_seq IS NULL RETURNING ${SELECT_COLUMNS}`,
      [a.id, a.state, a.resolved_by, a.note, a.resolved_at],
    );
    return r.rowCount === 1 ? fromRow(r.rows[0]!) : undefined;
  }

  /** SharedTickets#putTicket; tickets past their expiry are dropped on the way. The cap is
   *  checked in the INSERT itself; instances inserting at the same moment may pass it by a few
   *  (it bounds the table, it is not a quota). */
  async putTicket(hash: string, data: string, expires: number, now: number, max: number): Promise<boolean> {
    await this.pool.query(`DELETE FROM ${this.tickets} WHERE expires <= $1`, [now]);
    const r = await this.pool.query(
      `INSERT INTO ${this.tickets} (hash, data, expires) SELECT $1, $2, $3 WHERE (SELECT count(*) FROM ${this.tickets}) < $4`,
      [hash, data, expires, max],
    );
    return r.rowCount === 1;
  }

  /** SharedTickets#takeTicket: one DELETE ... RETURNING, so a ticket is taken once. */
  async takeTicket(hash: string, now: number): Promise<string | null> {
    const r = await this.pool.query<{ data: string; expires: string }>(`DELETE FROM ${this.tickets} WHERE hash = $1 RETURNING data, expires`, [hash]);
    if (r.rowCount !== 1) return null;
    return Number(r.rows[0]!.expires) > now ? r.rows[0]!.data : null;
  }

  /** ApprovalStore#claim: SELECT ... FOR UPDATE, the checks, and a conditional UPDATE, in one transaction. */
  claim(id: string, c: RedeemClaim): Promise<ClaimResult> {
    return this.transaction(async (client): Promise<ClaimResult> => {
      const r = await client.query<Row>(`SELECT ${SELECT_COLUMNS} FROM ${this.t} WHERE id = $1 FOR UPDATE`, [id]);
      const a = r.rowCount === 0 ? undefined : fromRow(r.rows[0]!);
      const check = redeemCheck(a, c);
      if (check !== null) return refused(check, a);
      const u = await client.query(`UPDATE ${this.t} SET redeemed_at = $2 WHERE id = $1 AND state = 'approved' AND redeemed_at IS NULL`, [id, c.at]);
      if (u.rowCount !== 1) return refused("redeemed", a);
      return { ok: true, approval: { ...a!, redeemed_at: c.at } };
    });
  }

  async unclaim(a: Approval): Promise<boolean> {
    const r = await this.pool.query(`UPDATE ${this.t} SET redeemed_at = NULL WHERE id = $1 AND redeemed_at IS NOT DISTINCT FROM $2 AND redemption_seq IS NULL`, [a.id, a.redeemed_at]);
    return r.rowCount === 1;
  }

  async markRedeemed(id: string, seq: number, hash: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.t} SET redemption_seq = $2, redemption_hash = $3, redemption_instance = $4 WHERE id = $1 AND redeemed_at IS NOT NULL AND redemption_seq IS NULL`,
      [id, seq, hash, this.instance],
    );
  }

  /**
   * Takes on writing the record of `a`'s transition (still that very transition, still without a
   * record): when nobody has (the command line resolved it), when this instance already has, or
   * when the owner's claim is older than the lease (it crashed, or its log has failed). Claiming
   * again what this instance holds does not renew the claim: an instance that keeps failing to
   * write a record loses it to another one once the lease is over.
   */
  async claimAudit(a: Approval): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE ${this.t} SET audit_owner = $2, audit_claimed_at = CASE WHEN audit_owner = $2 THEN audit_claimed_at ELSE now() END
       WHERE id = $1 AND state = $3 AND state <> 'pending' AND resolved_by IS NOT DISTINCT FROM $4 AND resolved_at IS NOT DISTINCT FROM $5 AND resolution_seq IS NULL
         AND (audit_owner IS NULL OR audit_owner = $2 OR audit_claimed_at < now() - make_interval(secs => $6))`,
      [a.id, this.instance, a.state, a.resolved_by, a.resolved_at, this.leaseSecs],
    );
    return r.rowCount === 1;
  }

  /** Fills an empty record only; `audit_owner` then names the instance whose log holds it. */
  async markAudited(id: string, seq: number, hash: string): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE ${this.t} SET resolution_seq = $2, resolution_hash = $3, audit_owner = $4 WHERE id = $1 AND state <> 'pending' AND resolution_seq IS NULL`,
      [id, seq, hash, this.instance],
    );
    return r.rowCount === 1;
  }

  async unaudited(): Promise<Approval[]> {
    const r = await this.pool.query<Row>(
      `SELECT ${SELECT_COLUMNS} FROM ${this.t} WHERE state <> 'pending' AND resolution_seq IS NULL
         AND (audit_owner IS NULL OR audit_owner = $1 OR audit_claimed_at < now() - make_interval(secs => $2))
       ORDER BY resolved_at COLLATE "C", id COLLATE "C"`,
      [this.instance, this.leaseSecs],
    );
    return r.rows.map(fromRow);
  }

  async pendingCount(approver?: string): Promise<number> {
    const r = approver === undefined
      ? await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.t} WHERE state = 'pending'`)
      : await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.t} WHERE state = 'pending' AND approver = $1`, [approver]);
    return r.rows[0]!.n;
  }

  /** Every few seconds (half the lease, at most 5 s): claims that may have lapsed. */
  get sweepMs(): number {
    return Math.min(5_000, (this.leaseSecs * 1000) / 2);
  }

  /**
   * Changes come by notification (watch): a poller looks at everything only while the LISTEN
   * connection is down (and once more when it is back: `watch` then says `{}` too).
   */
  changed(): Promise<boolean> {
    if (!this.listening) {
      this.seenDown = true;
      return Promise.resolve(true);
    }
    const was = this.seenDown;
    this.seenDown = false;
    return Promise.resolve(was);
  }

  /**
   * LISTENs on the table's channel on a connection of its own: `listener` gets each change made
   * by another instance (its own are left out) as it commits. If the connection drops, it is
   * opened again (with back-off), and `listener({})` says that anything may have changed.
   */
  async watch(listener: (change: ApprovalChange) => void, onError: (e: Error) => void = () => undefined): Promise<() => Promise<void>> {
    let stopped = false;
    let client: pg.Client | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let delay = 100;
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: this.connectionString, types, application_name: this.appName, keepAlive: true });
      c.on("error", () => undefined); // "end" follows
      c.on("notification", (n) => {
        if (n.channel !== this.channel || !n.payload) return;
        let change: ApprovalChange & { from?: string };
        try {
          change = JSON.parse(n.payload) as ApprovalChange & { from?: string };
        } catch {
          return;
        }
        if (change.from === this.appName) return; // this instance's own change
        listener({ id: change.id, kind: change.kind });
      });
      await c.connect();
      await c.query(`LISTEN ${ident(this.channel)}`);
      c.on("end", () => {
        if (client === c) {
          client = null;
          this.listening = false;
        }
        if (!stopped) reconnect(new Error("the LISTEN connection to PostgreSQL was closed"));
      });
      if (stopped) {
        await c.end().catch(() => undefined);
        return;
      }
      client = c;
      this.listening = true;
      delay = 100;
    };
    const reconnect = (why: Error): void => {
      if (stopped || retry !== undefined) return;
      onError(new Error(`approvals: ${why.message}; listening again in ${delay} ms`, { cause: why }));
      retry = setTimeout(() => {
        retry = undefined;
        connect().then(
          () => listener({}), // missed notifications: look at everything
          (err: Error) => {
            delay = Math.min(delay * 2, 5_000);
            reconnect(err);
          },
        );
      }, delay);
      retry.unref?.();
    };
    await connect();
    const stop = async (): Promise<void> => {
      stopped = true;
      this.unwatchers.delete(stop);
      if (retry !== undefined) clearTimeout(retry);
      const c = client;
      client = null;
      this.listening = false;
      if (c !== null) await c.end().catch(() => undefined);
    };
    this.unwatchers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.unwatchers]) await stop();
    await this.pool.end();
  }

  /** Runs `f` in one transaction on one connection of the pool. */
  private async transaction<T>(f: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      const out = await f(c);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }
}
