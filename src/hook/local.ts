// Deciding in the hook's own process: the policy, and with --audit the audit log (durable,
// hash-chained, signed) and the counters it keeps (src/hook/state.ts). Concurrent hooks take
// turns on DIR/hook.lock (src/hook/lock.ts) for the whole of read counters -> decide -> append ->
// checkpoint -> snapshot, so N concurrent tool calls against a limit of K allow exactly K.

import { mkdir } from "node:fs/promises";
import { AuditLog } from "../audit/log.js";
import { readCheckpoint } from "../audit/checkpoint.js";
import type { Decision } from "../decision.js";
import { decideOne } from "../pipeline/decide.js";
import { auditEntryOf } from "../pipeline/record.js";
import type { Policy } from "../policy.js";
import { acquireHookLock } from "./lock.js";
import { loadState, saveState } from "./state.js";

export type HookDecision = Decision & { audit_id?: string; audit_seq?: number };

/** Segments of the hook's log: opening a log reads its last segment whole, once per tool call. */
const HOOK_SEGMENT_BYTES = 1024 * 1024;

export class HookSetupError extends Error {
  override name = "HookSetupError";
}

/**
 * Decides `action` with `policy`. Without `auditDir` nothing is written, and a policy with
 * counters is refused (its limits would start from zero at every tool call). With it, the
 * decision is recorded durably before it is returned; the lock is waited for until `deadline`
 * (a Date.now() time). Throws on any failure: the caller answers deny.
 */
export async function decideLocally(policy: Policy, action: unknown, auditDir: string | undefined, deadline: number): Promise<HookDecision> {
  if (auditDir === undefined) {
    if (policy.stateful) {
      throw new HookSetupError(`policy ${policy.name} has counters, which must outlive each tool call: give --audit DIR (or --control-plane URL)`);
    }
    return decideOne(policy, action).decision;
  }
  await mkdir(auditDir, { recursive: true, mode: 0o700 });
  const release = acquireHookLock(auditDir, deadline - Date.now());
  try {
    const log = await AuditLog.open(auditDir, { segmentBytes: HOOK_SEGMENT_BYTES, batchWindowMs: 0 });
    let appended: { seq: number; hash: string };
    let decision: Decision;
    let state: Awaited<ReturnType<typeof loadState>>["store"] | null = null;
    const now = Date.now();
    try {
      if (policy.stateful) {
        // After open, the checkpoint signs the log's last record (open writes one if it did not).
        const cp = await readCheckpoint(auditDir);
        if ("error" in cp || cp.checkpoint === null || cp.checkpoint.seq !== log.lastSeq) throw new HookSetupError(`${auditDir}: the checkpoint does not sign the end of the log`);
        state = (await loadState(auditDir, policy.counters, cp.checkpoint, now)).store;
        policy.useState(state);
      }
      const decided = decideOne(policy, action, null, now);
      decision = decided.decision;
      appended = await log.append(auditEntryOf(decided.entry, decision));
    } finally {
      await log.close(); // flush and sign a checkpoint of the last record
    }
    if (state !== null) await saveState(auditDir, policy.counters, state, appended, now);
    return { ...decision, audit_id: appended.hash, audit_seq: appended.seq };
  } finally {
    release();
  }
}
