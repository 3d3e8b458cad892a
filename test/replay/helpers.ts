// Audit logs for the replay tests, written through the real AuditLog as a gate writes them: each
// action decided at its own time by the recorded policy (counters included, with what it counted
// in `counted`), escalations resolved by transition records that link them by hash.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog } from "../../src/audit/log.js";
import { auditRecord } from "../../src/audit/record.js";
import { countedDecision } from "../../src/pipeline/counted.js";
import type { Decision } from "../../src/decision.js";
import { Policy } from "../../src/policy.js";

export const T0 = Date.UTC(2025, 0, 1, 12);

export function tempDir(name = "replay"): string {
  return mkdtempSync(join(tmpdir(), `tollgate-${name}-`));
}

export type LogStep =
  /** Decided at `at`; its record appended at `appendedAt` (its `ts`), `at` when not given. */
  | { action: unknown; at: number; appendedAt?: number }
  /** Resolves the escalation recorded by step `of` (its index in the steps). */
  | { resolve: number; state: "approved" | "denied" | "expired"; at: number };

/** Writes `steps` to a new audit log in `dir` decided by `policy`; returns each step's decision. */
export async function writeLog(dir: string, policy: Policy, steps: readonly LogStep[]): Promise<(Decision | null)[]> {
  let clock = T0;
  const log = await AuditLog.open(dir, { now: () => new Date(clock), batchWindowMs: 0 });
  const state = policy.stateful ? policy.newState() : undefined;
  const out: (Decision | null)[] = [];
  const recorded: { seq: number; hash: string; decision: Decision; pending: string | null; action: unknown }[] = [];
  try {
    for (const s of steps) {
      clock = "action" in s ? (s.appendedAt ?? s.at) : s.at;
      if ("action" in s) {
        const step = policy.step(s.action, { now: s.at, state });
        const d = countedDecision(step.decision, policy, step.entries, s.at, step.pending, log.countedSeal);
        const r = await log.append(auditRecord(policy, s.action, d, 1000));
        recorded.push({ seq: r.seq, hash: r.hash, decision: step.decision, pending: step.pending, action: s.action });
        out.push(step.decision);
      } else {
        const e = recorded[s.resolve]!;
        const { approver: _a, timeout_ms: _t, on_timeout: _o, ...rest } = e.decision as Decision & Record<string, unknown>;
        const outcome = s.state === "approved" ? "allow" : s.state === "denied" ? "deny" : e.decision.on_timeout!;
        const decision = { ...rest, decision: outcome, approval: { id: `a-${e.seq}`, state: s.state, by: s.state === "expired" ? null : "alice", note: null, decision_seq: e.seq, decision_hash: e.hash } } as unknown as Decision;
        await log.append({ decision, action: auditRecord(policy, e.action, e.decision, 0).action, policy: policy.name, policy_hash: policy.hash, eval_ns: 0 });
        if (e.pending !== null && state !== undefined && s.state !== "expired") state.resolve(e.pending, s.state, s.at);
        recorded.push(e);
        out.push(null);
      }
    }
  } finally {
    await log.close();
  }
  return out;
}

/** Writes a policy file; returns its path. */
export function policyFile(dir: string, name: string, yaml: string): string {
  const p = join(dir, name);
  writeFileSync(p, yaml);
  return p;
}
