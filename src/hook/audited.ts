// Deciding with --audit DIR: the decision recorded durably in the audit log before it is
// answered, the counters kept across tool calls (src/hook/state.ts). Concurrent hooks take turns
// on DIR/hook.lock (src/hook/lock.ts) for the whole of read counters -> decide -> append ->
// checkpoint -> snapshot, so N concurrent tool calls against a limit of K allow exactly K.

import { mkdir } from "node:fs/promises";
import { readCheckpoint } from "../audit/checkpoint.js";
import { AuditLog } from "../audit/log.js";
import type { Decision } from "../decision.js";
import { decideOne } from "../pipeline/decide.js";
import { auditEntryOf } from "../pipeline/record.js";
import type { Policy } from "../policy.js";
import { HookSetupError } from "./errors.js";
import type { HookDecision } from "./protocol.js";
import { acquireHookLock } from "./lock.js";
import { loadState, saveState } from "./state.js";
import type { RecordingStore } from "./state.js";

/** Segments of the hook's log: opening a log reads its last segment whole, once per tool call. */
const HOOK_SEGMENT_BYTES = 1024 * 1024;

/**
 * Asked right before the decision's record is appended: false when the hook has answered (its
 * timeout: a deny) or is about to, so that no record says allow for a call that was refused.
 */
export interface CommitGate {
  begin(): boolean;
}

/** Decides `action` and records it in the log in `auditDir`; waits for the lock until `deadline`. */
export async function decideAudited(policy: Policy, action: unknown, auditDir: string, deadline: number, commit?: CommitGate): Promise<HookDecision> {
  await mkdir(auditDir, { recursive: true, mode: 0o700 });
  const release = acquireHookLock(auditDir, deadline - Date.now());
  try {
    const log = await AuditLog.open(auditDir, { segmentBytes: HOOK_SEGMENT_BYTES, batchWindowMs: 0 });
    let appended: { seq: number; hash: string };
    let decision: Decision;
    let state: RecordingStore | null = null;
    const now = Date.now();
    try {
      if (policy.stateful) {
        // After open, the checkpoint signs the log's last record (open writes one if it did not).
        const cp = await readCheckpoint(auditDir);
        if ("error" in cp || cp.checkpoint === null || cp.checkpoint.seq !== log.lastSeq) throw new HookSetupError(`${auditDir}: the checkpoint does not sign the end of the log`);
        state = (await loadState(auditDir, policy.counters, cp.checkpoint, now, log.countedSeal)).store;
        policy.useState(state);
      }
      const decided = decideOne(policy, action, log.countedSeal, null, now);
      decision = decided.decision;
      if (commit !== undefined && !commit.begin()) throw new HookSetupError("no time left before the hook's timeout to record the decision: nothing was recorded");
      appended = await log.append(auditEntryOf(decided.entry, decided.recorded));
    } finally {
      await log.close(); // flush and sign a checkpoint of the last record
    }
    if (state !== null) await saveState(auditDir, policy.counters, state, appended, now, log.countedSeal);
    return { ...decision, audit_id: appended.hash, audit_seq: appended.seq };
  } finally {
    release();
  }
}
