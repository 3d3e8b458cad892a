// Every message between the primary and the workers (node:cluster IPC, "advanced" serialization,
// i.e. structured clone), and the RPC methods workers call on the primary.

import type { Approval } from "../approvals/approval.js";
import type { ApprovalEvent } from "../approvals/approvals.js";
import type { Decided } from "../pipeline/message.js";
import type { Principal } from "./tokens.js";

/** Worker → primary. */
export type ToPrimary =
  | { t: "hello" }
  | { t: "ready"; address: string; port: number }
  /** The Decided of one event-loop turn, to be recorded; answered by an `audit` message with the same id. */
  | { t: "audit"; id: number; e: Decided[] }
  | { t: "policy-loaded"; id: number; hash: string; error?: string }
  /** Answers a `shadow` message: the candidate is installed (or removed), or why not. */
  | { t: "shadow-loaded"; id: number; error?: string }
  /** Counter window sums at `now` for a decision (spec section 8): answered by `sums` with the same id. */
  | { t: "sums"; id: number; now: number; r: [counter: string, digest: string, key: (string | number)[]][] }
  | { t: "rpc"; id: number; m: RpcMethod; p: unknown; who: Principal }
  /** The worker's metrics registry (`getMetricsAsJSON()`), answering `metrics-req` `id`. */
  | { t: "metrics-res"; id: number; metrics: unknown[] }
  /** Whether the worker has approval streams open (GET /v1/approvals/stream): send it `approval-event`s, or stop. */
  | { t: "approval-events"; on: boolean };

/** Primary → worker. */
export type ToWorker =
  /** The policy to start with (answers `hello`), and the shadow policy if one is installed. */
  | { t: "config-policy"; yaml: string; filename: string; hash: string; shadow?: ShadowSource | null }
  /** A shadow policy to install (null: stop shadowing); answered by `shadow-loaded` with the same id. */
  | { t: "shadow"; id: number; shadow: ShadowSource | null }
  /** A new policy to swap in; answered by `policy-loaded` with the same id. */
  | { t: "policy"; id: number; yaml: string; filename: string; hash: string }
  /**
   * The message's records are durable. `s`: seq of the first; `h`: their hashes, 64 hex digits
   * each, concatenated; `x`: the (ascending) indices of the escalations, whose approval ids
   * follow in an `approvals` message with the same id. `c`: the (ascending) indices of Decided
   * whose commit found other sums (counters changed since they were read): those were not
   * recorded, the others were, in order (`s` and `h` are theirs); the worker decides them again.
   */
  | { t: "audit"; id: number; s: number; h: string; x: number[]; c?: number[] }
  /** The sums asked for by `sums` `id`, in order. */
  | { t: "sums"; id: number; s: number[] }
  /** The sums could not be read (Redis unreachable): the decisions that needed them fail (503). */
  | { t: "sums"; id: number; err: string }
  /** The approval opened for each escalation of message `id` (in `x` order), null if none could be. */
  | { t: "approvals"; id: number; ap: (string | null)[] }
  /** The message's records could not be written: none of them is durable. */
  | { t: "audit"; id: number; err: string }
  | { t: "rpc"; id: number; r: unknown }
  | { t: "rpc"; id: number; err: { status: number; code: string; message: string; details?: unknown } }
  /** Readiness set by the primary: not ready (503 on /readyz with `code` and `reason`) once the audit log has failed. */
  | { t: "state"; ready: boolean; code?: string; reason?: string }
  /** Re-read the tokens file (the primary checked it). */
  | { t: "tokens" }
  /** An approval created or resolved (to workers with streams open, in the order they happened). */
  | { t: "approval-event"; e: ApprovalEvent }
  /** Send the metrics registry as JSON (`metrics-res`). */
  | { t: "metrics-req"; id: number }
  | { t: "shutdown" }
  /** Several of the above sent in one event-loop turn (workers.ts, `sendTo`), in order. */
  | { t: "many"; m: ToWorker[] };

/** A shadow (candidate) policy as the primary sends it (docs/server.md, "Shadow"). */
export interface ShadowSource {
  yaml: string;
  filename: string;
  hash: string;
}

/** The parameters of each RPC method. */
export interface RpcParams {
  "put-policy": { yaml: string };
  "get-shadow": null;
  "put-shadow": { yaml: string };
  "delete-shadow": null;
  "approval-get": { id: string };
  "approval-wait": { id: string; timeoutMs: number };
  /** GET /v1/approvals/{id}/records: the approval's audit records (approval-records.ts). */
  "approval-records": { id: string };
  "approval-list": { state?: string; approver?: string; limit: number };
  "approval-resolve": { id: string; verb: "approve" | "deny"; note: string | null };
  /** POST /v1/decide with approval_id (pipeline/redeem.ts: RedeemRequest). */
  "approval-redeem": { id: string; digest: string; agent: string | null; action: unknown; policy: string; policy_hash: string };
  /** A single-use ticket for GET /v1/approvals/stream; `token_hash`: the SHA-256 of the caller's token (to end the stream if it is revoked). */
  "approval-ticket": { token_hash: string | null };
  /** Redeems a ticket: its principal (called as ANONYMOUS: the ticket is the credential). */
  "approval-ticket-redeem": { ticket: string };
  /** What a new stream starts with: the pending approvals the caller may resolve, and recent resolved ones. */
  "approval-snapshot": { history: number };
  metrics: null;
}

/** The answer of `approval-ticket`. */
export interface StreamTicket {
  ticket: string;
  expires_in_ms: number;
  /** The server's clock (RFC 3339): with the request's round trip, a client's estimate of its clock's offset. */
  now: string;
}

/** The answer of `approval-ticket-redeem`. */
export interface RedeemedTicket {
  who: Principal;
  token_hash: string | null;
}

/** The answer of `approval-snapshot`: the first event of a stream. */
export interface ApprovalSnapshot {
  /** The server's clock (RFC 3339), for countdowns that do not depend on the browser's. */
  now: string;
  /** Pending approvals the caller may resolve, oldest first. */
  pending: Approval[];
  /** Recent resolved approvals of the approvers the caller may resolve for, the most recently resolved first. */
  history: Approval[];
}

export type RpcMethod = keyof RpcParams;

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
