// Who may do what (docs/server.md, Security): the roles of every route and the rules for a
// single approval, in one place. The workers' routes take their roles from ROLES (checked in
// `onRequest`, before the body is read); the primary checks the same roles again for each RPC
// (`requireRole`) and applies the per-approval rules (`visibleApproval`, `resolvableApproval`,
// `listableApprovers`) to what it reads from the store.

import type { Approval } from "../approvals/approval.js";
import { RpcError } from "./ipc.js";
import type { RpcMethod } from "./ipc.js";
import type { Principal, Role } from "./tokens.js";

/** A route's roles; "any": every authenticated principal. Routes without roles need no token. */
export type RouteRoles = readonly Role[] | "any";

/** The roles of each route family (`/healthz`, `/readyz` and `/openapi.json` need no token). */
export const ROLES = {
  /** POST /v1/decide, /v1/decide/batch */
  decide: ["agent", "admin"],
  /** GET /v1/approvals */
  "approval-list": ["approver", "admin"],
  /** GET /v1/approvals/{id}: agents see only their own, approvers their approvers' (visibleApproval) */
  "approval-get": "any",
  /** GET /v1/approvals/{id}/wait: as approval-get */
  "approval-wait": "any",
  /** GET /v1/approvals/{id}/records: the approvals an approver may see (visibleApproval); not agents */
  "approval-records": ["approver", "admin"],
  /** POST /v1/approvals/{id}/approve, /deny: approvers only their approvers' (resolvableApproval) */
  "approval-resolve": ["approver", "admin"],
  /**
   * POST /v1/approvals/stream/ticket and GET /v1/approvals/stream (the console's live queue):
   * the approvals the caller may resolve (mayResolve), so approvers and admins only.
   */
  "approval-stream": ["approver", "admin"],
  /** The RPC behind POST /v1/approvals/stream/ticket */
  "approval-ticket": ["approver", "admin"],
  /** The RPC that starts a stream: what the caller may resolve now, and recent history */
  "approval-snapshot": ["approver", "admin"],
  /**
   * The RPC that redeems a stream ticket (GET /v1/approvals/stream?ticket=): the ticket is the
   * credential, so the worker calls it as ANONYMOUS (tokens.ts) and gets the ticket's principal.
   */
  "approval-ticket-redeem": "any",
  /** POST /v1/decide with approval_id: as decide (the approval must have been issued to the agent) */
  "approval-redeem": ["agent", "admin"],
  /** GET /v1/policy */
  "policy-get": "any",
  /** PUT /v1/policy */
  "put-policy": ["admin"],
  /** GET /v1/policy/shadow (what is shadowed: it is not the policy in force) */
  "get-shadow": ["admin"],
  /** PUT /v1/policy/shadow */
  "put-shadow": ["admin"],
  /** DELETE /v1/policy/shadow */
  "delete-shadow": ["admin"],
  /** POST /v1/decide?explain=1: the explanation shows the policy's rules, operands and the values they saw */
  explain: ["admin"],
  /** GET /metrics */
  metrics: "any",
} as const satisfies Record<string, RouteRoles>;

/** What the primary answers an RPC whose caller's role the route should have refused. */
const REFUSED: Partial<Record<RpcMethod, string>> = {
  "put-policy": "only admins may change the policy",
  "get-shadow": "only admins may see the shadow policy",
  "put-shadow": "only admins may change the shadow policy",
  "delete-shadow": "only admins may change the shadow policy",
  "approval-list": "agents may not list approvals",
  "approval-records": "agents may not read audit records",
  "approval-resolve": "agents may not resolve approvals",
  "approval-ticket": "agents may not watch the approvals queue",
  "approval-snapshot": "agents may not watch the approvals queue",
  "approval-redeem": "only agents and admins may redeem approvals",
};

export function allowed(roles: RouteRoles, who: Principal): boolean {
  return roles === "any" || roles.includes(who.role);
}

/** The primary's check of an RPC's roles (the route checked them already): 403 otherwise. */
export function requireRole(method: RpcMethod, who: Principal): void {
  if (!allowed(ROLES[method], who)) throw new RpcError(403, "forbidden", REFUSED[method] ?? `role '${who.role}' may not call ${method}`);
}

/** The approval, if `who` may see it: admins all, approvers those of their approvers, agents their own (404 otherwise). */
export function visibleApproval(a: Approval | undefined, id: string, who: Principal): Approval {
  if (a === undefined) throw new RpcError(404, "not_found", `approval ${id} not found`);
  if (who.role === "admin") return a;
  if (who.role === "approver" && who.approvers.includes(a.approver)) return a;
  if (who.role === "agent") {
    // The approval's own `agent` (the token's identity it was issued to), not the stored action's
    // `agent.id`, which a policy may redact (to "[redacted]": then no agent, or the wrong one).
    if (a.agent !== null && a.agent === who.identity) return a;
    throw new RpcError(404, "not_found", `approval ${id} not found`);
  }
  throw new RpcError(403, "forbidden", `approval ${id} is for approver '${a.approver}', not one of yours`);
}

/** Whether `who` may approve or deny `a` (and so sees it on the approvals stream): admins all, approvers those of their approvers. */
export function mayResolve(a: Approval, who: Principal): boolean {
  return who.role === "admin" || (who.role === "approver" && who.approvers.includes(a.approver));
}

/** The approval, if `who` may approve or deny it: admins all, approvers those of their approvers. */
export function resolvableApproval(a: Approval | undefined, id: string, who: Principal): Approval {
  if (a === undefined) throw new RpcError(404, "not_found", `approval ${id} not found`);
  if (who.role !== "admin" && !who.approvers.includes(a.approver)) {
    throw new RpcError(403, "forbidden", `approval ${id} is for approver '${a.approver}', not one of yours`);
  }
  return a;
}

/**
 * Whose approvals `who` may list, asked for those of `approver` (or all): "all" for admins;
 * for approvers the approvers they name, or just `approver` if it is one of them (else none).
 */
export function listableApprovers(who: Principal, approver: string | undefined): "all" | readonly string[] {
  if (who.role === "admin") return "all";
  if (approver !== undefined) return who.approvers.includes(approver) ? [approver] : [];
  return who.approvers;
}
