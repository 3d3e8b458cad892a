// The audit record of an approval transition made outside the process that owns the audit log
// (tollgate approvals approve/deny, tollgate approvals console): written at once through the
// log's own writer lock when no gate or server holds it, as that owner would write it; else
// left to the owner, which writes the transitions it finds unaudited when it opens.

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Approval } from "../approvals/approval.js";
import type { ApprovalStore } from "../approvals/store-api.js";
import { PRIVATE_KEY_FILE } from "../audit/keys.js";
import { AuditLockHeld } from "../audit/lock.js";
import { AuditLog } from "../audit/log.js";
import { recordIndexOf } from "../audit/record-index.js";
import { transitionEntry } from "./transition.js";

/**
 * The audit directory of a SQLite file given by --db or $TOLLGATE_APPROVALS: its own directory,
 * where a gate keeps approvals.db by default, if that holds the log that recorded `a`'s
 * escalation (the record at its seq has its hash); else undefined (the record then waits for
 * the process that owns the log).
 */
export async function logBeside(db: string, a: Approval): Promise<string | undefined> {
  const dir = dirname(resolve(db));
  if (!existsSync(join(dir, PRIVATE_KEY_FILE))) return undefined;
  try {
    return (await recordIndexOf(dir).withHash(a.decision_seq, a.decision_hash)) !== null ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes the audit record of the transition `a` a command (or the local console) made, as the gate owning the log
 * would (transitionEntry, then markAudited), if the log's writer lock is free; says what happened.
 * The resolution stands whatever happens here: a record not written is written by the gate that
 * next opens the log (it looks for unaudited transitions).
 */
export async function recordTransition(store: ApprovalStore, a: Approval, auditDir: string | undefined): Promise<string> {
  if (auditDir === undefined) return "audit record: written by the process that owns the audit log (at once if it runs, else when it next opens)";
  // Opening would create a log (and its key) where there is none: only the gate starts a log.
  if (!existsSync(join(auditDir, PRIVATE_KEY_FILE))) return `audit record: no audit log in ${auditDir}; the process that owns the audit log writes it when it next opens`;
  let log: AuditLog;
  try {
    log = await AuditLog.open(auditDir, { batchWindowMs: 0 });
  } catch (err) {
    if (err instanceof AuditLockHeld) return `audit record: the audit log in ${auditDir} is open (process ${err.pid}): its owner writes the record`;
    return `audit record: not written (${(err as Error).message}); the process that owns the audit log writes it when it next opens`;
  }
  let said: string;
  try {
    // On PostgreSQL exactly one writer: the claim fails if an instance has taken the record on.
    if (!(await store.claimAudit(a))) {
      said = "audit record: an instance that shares the store writes it";
    } else {
      const at = await log.append(transitionEntry(a));
      await store.markAudited(a.id, at.seq, at.hash);
      said = `audit record: seq ${at.seq}, hash ${at.hash} in ${auditDir}`;
    }
  } catch (err) {
    said = `audit record: not written (${(err as Error).message}); the process that owns the audit log writes it when it next opens`;
  }
  // Closing syncs and signs a final checkpoint, and frees the lock.
  await log.close().catch((err: unknown) => (said += ` (closing the log: ${(err as Error).message})`));
  return said;
}
