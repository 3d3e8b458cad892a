// The primary's side of the workers' RPCs (ipc.ts: `rpc` messages): each method's handler, and
// the errors they throw turned into the HTTP status and body the worker answers with.

import type { Worker } from "node:cluster";
import { ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "../approvals/approval.js";
import { PolicyError } from "../errors.js";
import { RpcError } from "./ipc.js";
import type { RpcMethod, RpcParams, ToPrimary } from "./ipc.js";
import type { Log } from "./log.js";
import type { Principal } from "./tokens.js";
import { sendTo } from "./workers.js";

/** A handler per method; each checks its caller (access.ts). */
export type RpcHandlers = { [M in RpcMethod]: (params: RpcParams[M], who: Principal) => unknown };

export function rpcErrorOf(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof ApprovalNotFound) return new RpcError(404, "not_found", err.message);
  if (err instanceof ApprovalAlreadyResolved) return new RpcError(409, "already_resolved", err.message, { approval: err.approval });
  if (err instanceof ApprovalError) {
    if (err.code === "unavailable") return new RpcError(503, "audit_unavailable", err.message);
    return new RpcError(err.code === "closed" ? 503 : 400, err.code === "closed" ? "unavailable" : "bad_request", err.message);
  }
  if (err instanceof PolicyError) {
    return new RpcError(422, "invalid_policy", err.format(), { problems: err.errors });
  }
  return new RpcError(500, "internal", (err as Error)?.message ?? String(err));
}

/** Runs one RPC and answers the worker with its result or its error. */
export function serveRpc(handlers: RpcHandlers, w: Worker, msg: Extract<ToPrimary, { t: "rpc" }>, log: Log): void {
  const call = async (): Promise<unknown> => {
    const handler = Object.hasOwn(handlers, msg.m) ? (handlers[msg.m] as (p: unknown, who: Principal) => unknown) : undefined;
    if (handler === undefined) throw new RpcError(400, "bad_request", `unknown method ${String(msg.m)}`);
    return handler(msg.p, msg.who);
  };
  call().then(
    (r) => sendTo(w, { t: "rpc", id: msg.id, r }),
    (err) => {
      const e = rpcErrorOf(err);
      if (e.status >= 500) log.error("rpc failed", { method: msg.m, detail: e.message });
      sendTo(w, { t: "rpc", id: msg.id, err: { status: e.status, code: e.code, message: e.message, details: e.details } });
    },
  );
}
