// What an approvals store does (docs/approvals.md): persistence only, asynchronous, with two
// implementations — SQLite (store.ts, the embedded default: one file, synchronous underneath) and
// PostgreSQL (postgres-store.ts: many `tollgate serve` instances on one database). Every
// transition is one conditional write that exactly one of any number of racing callers wins, in
// one process or many.

import type { Approval, ApprovalState, ClaimResult, RedeemCheck, RedeemClaim } from "./approval.js";
import { ApprovalError } from "./approval.js";
import { hasLoneSurrogate } from "../audit/recordable.js";

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

/**
 * A change made through another connection (another process or instance), as a store that
 * pushes them (PostgreSQL LISTEN/NOTIFY) tells it. `id` undefined: anything may have changed
 * (the notification connection was lost and is back) — look at everything again.
 */
export interface ApprovalChange {
  id?: string;
  /** "created", "resolved" (left pending, or was put back), "audited" (its transition's record written), "redeemed". */
  kind?: "created" | "resolved" | "audited" | "redeemed";
}

/**
 * Single-use stream tickets kept where every instance sharing the store finds them (PostgreSQL):
 * a console behind a load balancer may get its ticket from one instance and open the stream on
 * another. `hash` is the ticket's SHA-256 (the ticket itself is never stored); `take` removes it,
 * so of any number of racing takes at most one gets its data, and only before `expires` (ms).
 */
export interface SharedTickets {
  /** Stores a ticket unless `max` tickets are already outstanding (false then). */
  putTicket(hash: string, data: string, expires: number, now: number, max: number): Promise<boolean>;
  takeTicket(hash: string, now: number): Promise<string | null>;
}

export interface ApprovalStore {
  /** "sqlite" or "postgres". */
  readonly kind: "sqlite" | "postgres";
  /** Where it is: the file, or the PostgreSQL URL without its password. */
  readonly location: string;
  /**
   * Whether several processes each running an `Approvals` manager with an audit log may share
   * this store (PostgreSQL: yes, each writes the records of the transitions it makes; SQLite: no,
   * one owner per file).
   */
  readonly shared: boolean;
  /**
   * A shared store: how often (ms) a manager looks for transitions it may now record (whose
   * writer's claim has lapsed). Unset: never (SQLite: the one owner records everything).
   */
  readonly sweepMs?: number;

  insert(a: Approval): Promise<void>;
  /** Inserts all of `as` in one transaction (one commit): all or none. */
  insertMany(as: readonly Approval[]): Promise<void>;
  get(id: string): Promise<Approval | undefined>;
  /**
   * The ids that start with `prefix` (compared exactly, case and all; `%` and `_` are literal),
   * in byte order, at most `limit` of them: for looking an approval up by a prefix of its id.
   */
  idsWithPrefix(prefix: string, limit: number): Promise<string[]>;
  /** Newest first; all states unless `state` is given. */
  list(filter?: ApprovalFilter): Promise<Approval[]>;
  /**
   * Moves a pending approval to `to`, atomically, across processes: exactly one of any number of
   * racing calls wins; the others reject with ApprovalAlreadyResolved (or ApprovalNotFound).
   * Approving or denying at or after `expires` expires the approval instead (outcome on_timeout,
   * by "timeout") and rejects with ApprovalAlreadyResolved with state "expired". For "expired",
   * the outcome is always the approval's on_timeout. A lone surrogate in `by` or `note` is
   * refused (ApprovalError "invalid") before anything changes.
   */
  resolve(id: string, to: "approved" | "denied" | "expired", r: Resolution): Promise<Approval>;
  /**
   * Puts a resolved approval back to pending, if it is still exactly as `a` says (the same state,
   * by, note, resolved_at) and has no audit record: for a resolution whose record could not be
   * written. The pending approval, or undefined if nothing was changed.
   */
  unresolve(a: Approval): Promise<Approval | undefined>;
  /**
   * Redeems an approval, atomically across processes: exactly one of any number of racing claims
   * wins. The checks, in order: it exists, it was issued to `c.agent`, it is approved, not
   * redeemed yet, bound to an action, and `c.digest` is that action's.
   */
  claim(id: string, c: RedeemClaim): Promise<ClaimResult>;
  /** Undoes the redemption of `a` (as claim returned it) if it still has no audit record; true if undone. */
  unclaim(a: Approval): Promise<boolean>;
  /** Records the audit record of the redemption. */
  markRedeemed(id: string, seq: number, hash: string): Promise<void>;
  /**
   * Takes on writing the audit record of `a`'s transition, which this process did not make (an
   * expiry or resolution by another process or instance, or one left unrecorded by a crash): true
   * if this process is to write it now, false if another one is (it made the transition, or
   * claimed it, and its claim has not lapsed). SQLite (one owner per file): always true.
   */
  claimAudit(a: Approval): Promise<boolean>;
  /** Records the audit record of the transition: fills an empty one only (true), else changes nothing (false). */
  markAudited(id: string, seq: number, hash: string): Promise<boolean>;
  /**
   * Resolved approvals whose transition has no audit record yet that this process may write,
   * oldest resolution first (PostgreSQL: those it made, those made by no manager, and those whose
   * writer's claim has lapsed).
   */
  unaudited(): Promise<Approval[]>;
  pendingCount(approver?: string): Promise<number>;
  /**
   * Whether another connection may have changed the table since the last call (the first call
   * answers true): for managers that poll (SQLite's `data_version`).
   */
  changed(): Promise<boolean>;
  /**
   * Pushes the changes made by other connections as they commit, where the store can
   * (PostgreSQL LISTEN/NOTIFY; SQLite has none: poll `changed`). Returns a function that stops.
   */
  watch?(listener: (change: ApprovalChange) => void, onError?: (e: Error) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * `by` and `note` are stored as UTF-8 and written to the audit log as canonical JSON: a lone
 * surrogate (not Unicode text) would be stored as U+FFFD, so what was recorded would not be
 * what was said. Refused, before anything changes.
 */
export function checkText(id: string, field: string, value: string | null | undefined): void {
  if (typeof value === "string" && hasLoneSurrogate(value)) {
    throw new ApprovalError("invalid", id, `'${field}' contains a lone surrogate (it is not Unicode text and cannot be stored or recorded as it is)`);
  }
}

/**
 * The checks of a redemption, in order, on the approval as it is (undefined: none): the first
 * that fails, or null when it may be redeemed (then the store's conditional update decides).
 */
export function redeemCheck(a: Approval | undefined, c: RedeemClaim): RedeemCheck | null {
  if (!a) return "not-found";
  if (a.agent !== c.agent) return "agent";
  if (a.state === "pending") return Date.parse(a.expires) <= Date.parse(c.at) ? "expired" : "pending";
  if (a.state === "denied") return "denied";
  if (a.state === "expired") return "expired";
  // Approved but not redeemed in time: an approval lets the action run for as long as the
  // approver had to answer (its timeout), counted from the approval — not forever (a stale
  // approval must be asked for again), and not cut short when it came just before `expires`.
  if (a.redeemed_at === null && redeemDeadline(a) <= Date.parse(c.at)) return "expired";
  if (a.redeemed_at !== null) return "redeemed";
  // Approved, but the approval's record is not written yet (approved by another process, the
  // owner has not recorded it): not yet — the redemption's record must follow it.
  if (c.requireRecord === true && a.resolution_seq === null) return "pending";
  if (a.action_digest === null) return "unbound";
  if (a.action_digest !== c.digest) return "digest";
  return null;
}

/**
 * Until when (ms) an approved approval may be redeemed: its approval time plus the approver's
 * timeout (`expires - created`). An approval without its time (never for an approved one) has
 * only its `expires`.
 */
export function redeemDeadline(a: Approval): number {
  const resolved = a.resolved_at === null ? NaN : Date.parse(a.resolved_at);
  const timeout = Date.parse(a.expires) - Date.parse(a.created);
  return Number.isFinite(resolved) && Number.isFinite(timeout) ? resolved + timeout : Date.parse(a.expires);
}

/** A refused claim. */
export function refused(check: RedeemCheck, a: Approval | undefined): ClaimResult {
  return { ok: false, check, approval: a };
}

/** `prefix` as a LIKE pattern that matches the strings starting with it (escape character `\`). */
export function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Whether `location` names a PostgreSQL database (postgres:// or postgresql://) rather than a SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}
