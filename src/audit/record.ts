// Building the fields of one audit record from a decision (the log adds seq, ts, prev, hash).

import type { Decision } from "../decision.js";
import type { AuditEntry } from "./format.js";
import { redact } from "./redact.js";

/** What of a policy a record needs (a `Policy` has all of it). */
export interface AuditedPolicy {
  readonly name: string;
  readonly hash: string;
  readonly redact: readonly (readonly string[])[];
}

/** The record fields for one decision, with the policy's `audit.redact` paths redacted. */
export function auditRecord(policy: AuditedPolicy, action: unknown, decision: Decision, evalNs: number | bigint): AuditEntry {
  return {
    decision,
    action: redact(action, policy.redact),
    policy: policy.name,
    policy_hash: policy.hash,
    eval_ns: typeof evalNs === "bigint" ? Number(evalNs) : Math.max(0, Math.round(evalNs)),
  };
}
