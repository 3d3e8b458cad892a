// Messages between the primary and the workers (node:cluster IPC, "advanced" serialization).

import type { Principal } from "./tokens.js";

/**
 * One audit entry as a worker sends it: canonical JSON of the decision and of the redacted
 * action (canonicalized in the worker), the policy name and hash, eval_ns, and whether the
 * primary should open an approval for it (escalate).
 */
export type WireEntry = [decisionJson: string, actionJson: string, policy: string, policyHash: string, evalNs: number];

/** Worker → primary. */
export type ToPrimary =
  | { t: "hello" }
  | { t: "ready"; address: string; port: number }
  | { t: "audit"; id: number; e: WireEntry[] }
  | { t: "policy-loaded"; id: number; hash: string; error?: string }
  | { t: "rpc"; id: number; m: RpcMethod; p: unknown; who: Principal };

/** Primary → worker. */
export type ToWorker =
  | { t: "config-policy"; yaml: string; filename: string; hash: string }
  | { t: "policy"; id: number; yaml: string; filename: string; hash: string }
  /**
   * The message's records are durable. `s`: seq of the first; `h`: their hashes, 64 hex digits
   * each, concatenated; `x`: the (ascending) indices of the escalations, whose approval ids
   * follow in an `approvals` message with the same id.
   */
  | { t: "audit"; id: number; s: number; h: string; x: number[] }
  /** The approval opened for each escalation of message `id` (in `x` order), null if none could be. */
  | { t: "approvals"; id: number; ap: (string | null)[] }
  | { t: "audit"; id: number; err: string }
  | { t: "rpc"; id: number; r: unknown }
  | { t: "rpc"; id: number; err: { status: number; code: string; message: string; details?: unknown } }
  /** Readiness set by the primary: not ready (503 on /readyz with `code` and `reason`) once the audit log has failed. */
  | { t: "state"; ready: boolean; code?: string; reason?: string }
  | { t: "tokens" }
  | { t: "shutdown" };

export type RpcMethod =
  | "put-policy"
  | "approval-get"
  | "approval-wait"
  | "approval-list"
  | "approval-resolve"
  | "metrics";

/** An error the primary returns over RPC, answered by the worker with `status`. */
export class RpcError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "RpcError";
  }
}
