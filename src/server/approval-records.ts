// The audit records of one approval (GET /v1/approvals/{id}/records, the console's history):
// its escalation's, its resolution's and its redemption's, read from this instance's audit log
// by seq and checked against the hash the approval holds. With PostgreSQL several instances
// share the approvals but each has its own log: a record another instance wrote is reported
// missing here, with where to look, rather than another record of the same seq.

import type { Approval } from "../approvals/approval.js";
import { recordIndexOf } from "../audit/record-index.js";

export interface ApprovalRecord {
  kind: "escalation" | "resolution" | "redemption";
  seq: number;
  hash: string;
  /** The record as written (its action redacted as the policy says); null when not found here. */
  record: unknown;
  /** Why `record` is null. */
  missing?: string;
}

/** The records `a` names (the resolution's and redemption's once written), in that order. */
export async function approvalRecords(auditDir: string | null, a: Approval): Promise<ApprovalRecord[]> {
  const named: [ApprovalRecord["kind"], number | null, string | null][] = [
    ["escalation", a.decision_seq, a.decision_hash],
    ["resolution", a.resolution_seq, a.resolution_hash],
    ["redemption", a.redemption_seq, a.redemption_hash],
  ];
  const out: ApprovalRecord[] = [];
  for (const [kind, seq, hash] of named) {
    if (seq === null || hash === null) continue;
    out.push(await oneRecord(auditDir, kind, seq, hash));
  }
  return out;
}

async function oneRecord(auditDir: string | null, kind: ApprovalRecord["kind"], seq: number, hash: string): Promise<ApprovalRecord> {
  if (auditDir === null) return { kind, seq, hash, record: null, missing: "no audit directory was given" };
  let record;
  try {
    record = await recordIndexOf(auditDir).withHash(seq, hash);
  } catch (err) {
    return { kind, seq, hash, record: null, missing: `the audit log could not be read: ${(err as Error).message}` };
  }
  if (record === null) {
    return { kind, seq, hash, record: null, missing: `not in this audit log (another instance sharing the approvals may have written it; tollgate audit show AUDIT_DIR --seq ${seq} there)` };
  }
  return { kind, seq, hash, record };
}
