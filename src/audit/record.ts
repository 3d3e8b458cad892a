// Building the fields of one audit record from a decision (the log adds seq, ts, prev, hash).

import type { Decision } from "../decision.js";
import { canonicalAction, canonicalDecision } from "./format.js";
import type { AuditEntry } from "./format.js";
import { redact } from "../redact.js";

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
    eval_ns: evalNanos(evalNs),
  };
}

/**
 * The same record fields with the redacted action and the decision already in canonical JSON
 * (`actionJson`, `decisionJson`; no `action` object): for a server whose worker threads or
 * processes build entries in parallel and hand them (e.g. through `postMessage`) to the one
 * `AuditLog` writer, which then only hashes and writes. The bytes written are the same as for
 * `auditRecord(policy, action, decision, evalNs)`.
 */
export function auditRecordJson(policy: AuditedPolicy, action: unknown, decision: Decision, evalNs: number | bigint): AuditEntry {
  return {
    decision,
    actionJson: canonicalAction(redact(action, policy.redact)),
    decisionJson: canonicalDecision(decision),
    policy: policy.name,
    policy_hash: policy.hash,
    eval_ns: evalNanos(evalNs),
  };
}

function evalNanos(evalNs: number | bigint): number {
  return typeof evalNs === "bigint" ? Number(evalNs) : Math.max(0, Math.round(evalNs));
}
