// Shared fixtures for the approvals tests: escalate decisions, inputs, temp databases (SQLite
// files and PostgreSQL schemas: every store test runs on both), a fake audit.

import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Approval } from "../../src/approvals/approval.js";
import type { CreateInput, TransitionAudit } from "../../src/approvals/approvals.js";
import { openApprovalStore } from "../../src/approvals/open-store.js";
import type { PostgresStoreOptions } from "../../src/approvals/open-store.js";
import type { ApprovalStore } from "../../src/approvals/store-api.js";
import type { Decision } from "../../src/decision.js";
import { postgresDatabase, postgresServer } from "../support/services/postgres.js";

export function tempDb(name = "approvals"): string {
  return join(mkdtempSync(join(tmpdir(), `tollgate-${name}-`)), "approvals.db");
}

export interface StoreKind {
  name: "sqlite" | "postgres";
  /** false: PostgreSQL is not installed here (the tests of this kind skip, and say so at the end). */
  available: boolean;
  /** A new, empty store: a new SQLite file, or a new schema (`?schema=`) in this test file's PostgreSQL database. */
  fresh(name?: string): Promise<string>;
}

let database: Promise<string> | null = null;
let schemas = 0;

/** The stores every approvals test runs on: SQLite, and PostgreSQL (a server started for the run). */
export function storeKinds(what: string): StoreKind[] {
  const pg = postgresServer(what);
  return [
    { name: "sqlite", available: true, fresh: async (name) => tempDb(name) },
    {
      name: "postgres",
      available: pg.available,
      fresh: async () => {
        database ??= postgresDatabase();
        return `${await database}?schema=s${schemas++}`;
      },
    },
  ];
}

/**
 * Where `tollgate serve` (`--approvals`) or `Gate.open` (`approvals:`) keeps its approvals on this
 * kind of store: a new PostgreSQL schema's URL; for SQLite, undefined — the default file,
 * AUDIT_DIR/approvals.db (what a test of the server or the gate checks it used: `usesStore`).
 */
export async function approvalsLocation(kind: StoreKind): Promise<string | undefined> {
  return kind.name === "postgres" ? kind.fresh() : undefined;
}

/** `tollgate serve`'s arguments for a new store of this kind (none for SQLite: the default file). */
export async function serveApprovalsArgs(kind: StoreKind): Promise<string[]> {
  const location = await approvalsLocation(kind);
  return location === undefined ? [] : ["--approvals", location];
}

/** Whether a server or gate with this audit directory keeps its approvals where `kind` says: the default SQLite file there, or not (PostgreSQL). */
export function usesStore(kind: StoreKind, auditDir: string): boolean {
  return existsSync(join(auditDir, "approvals.db")) === (kind.name === "sqlite");
}

/**
 * Another connection to the store at `location`, as another process has — the command line by
 * default (it writes no audit records: `writesAudit: false`).
 */
export function openStore(location: string, postgres: PostgresStoreOptions = { writesAudit: false }): Promise<ApprovalStore> {
  return openApprovalStore(location, postgres);
}

export function escalate(on_timeout: "allow" | "deny" = "deny", timeout_ms = 60_000): Decision {
  return Object.freeze({
    decision: "escalate",
    rule: "big-refund",
    reason: "Refunds over 500 need a human",
    undetermined: false,
    approver: "finance-oncall",
    timeout_ms,
    on_timeout,
    policy: "billing-agent",
  });
}

let seq = 0;
export function input(decision: Decision = escalate()): CreateInput {
  seq++;
  return {
    decision,
    action: { tool: "payments.refund", args: { amount: 900 + seq, order: `o-${seq}`, card_number: "[redacted]" } },
    policy_hash: "a".repeat(64),
    decision_seq: seq,
    decision_hash: seq.toString(16).padStart(64, "0"),
  };
}

/** A pending approval as the manager would build it from `i` (an escalate(on_timeout, timeout_ms) input), for store-level tests and as the expected result of create. */
export function pending(id: string, created = Date.UTC(2025, 0, 1), timeout_ms = 60_000, on_timeout: "allow" | "deny" = "deny", i: CreateInput = input(escalate(on_timeout, timeout_ms))): Approval {
  return {
    id,
    state: "pending",
    approver: "finance-oncall",
    rule: "big-refund",
    policy: "billing-agent",
    policy_hash: i.policy_hash,
    action: i.action,
    decision: i.decision,
    decision_seq: i.decision_seq,
    decision_hash: i.decision_hash,
    on_timeout,
    created: new Date(created).toISOString(),
    expires: new Date(created + timeout_ms).toISOString(),
    outcome: null,
    resolved_by: null,
    note: null,
    resolved_at: null,
    resolution_seq: null,
    resolution_hash: null,
    action_digest: i.action_digest ?? null,
    agent: i.agent ?? null,
    redeemed_at: null,
    redemption_seq: null,
    redemption_hash: null,
  };
}

/** An audit writer that records what it was asked to write; `delayMs` makes the write slow. */
export function fakeAudit(opts: { delayMs?: number; failTimes?: number } = {}): TransitionAudit & { calls: Approval[]; durable: Set<string> } {
  let n = 1000;
  let failures = opts.failTimes ?? 0;
  const calls: Approval[] = [];
  const durable = new Set<string>();
  const fn = (async (a: Approval) => {
    calls.push(a);
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    if (failures > 0) {
      failures--;
      throw new Error("disk full");
    }
    durable.add(a.id);
    n++;
    return { seq: n, hash: n.toString(16).padStart(64, "f") };
  }) as TransitionAudit & { calls: Approval[]; durable: Set<string> };
  fn.calls = calls;
  fn.durable = durable;
  return fn;
}
