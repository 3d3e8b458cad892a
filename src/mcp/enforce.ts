// One tools/call, enforced: decide (and record), then allow → forward to the upstream; deny → a
// tool result with isError and the rule and reason, never forwarded; escalate → wait for the
// approval (progress notifications while waiting, when the agent sent a progressToken), then
// forward or refuse. Anything that goes wrong before the upstream answers refuses the call:
// nothing is forwarded without an allow (or an approval) that is on record.

import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { CallToolResult, Progress, ServerNotification } from "@modelcontextprotocol/sdk/types.js";
import { callAction } from "./action.js";
import type { ApprovalStatus, CallDecision, Decider } from "./decider.js";
import type { McpLog } from "./log.js";
import type { ToolNames } from "./tools.js";
import { UpstreamUnavailable } from "./upstream.js";
import type { Upstream } from "./upstream.js";

export interface CallContext {
  names: ToolNames;
  upstreams: ReadonlyMap<string, Upstream>;
  decider: Decider;
  agent: string;
  progressIntervalMs: number;
  log: McpLog;
}

/** What the SDK hands a request handler, as far as a call needs it. */
export interface CallExtra {
  signal: AbortSignal;
  _meta?: { progressToken?: string | number };
  sendNotification: (n: ServerNotification) => Promise<void>;
}

/** The `_meta` key under which results carry the gateway's decision. */
export const DECISION_META = "tollgate/decision";

/** Consecutive failures of an approval wait (control plane unreachable) before the call is refused. */
const WAIT_RETRIES = 3;

function summary(d: CallDecision, approval?: ApprovalStatus): Record<string, unknown> {
  return {
    decision: d.decision,
    rule: d.rule,
    reason: d.reason,
    policy: d.policy,
    ...(d.error !== undefined ? { error: d.error } : {}),
    ...(d.audit_id !== undefined ? { audit_id: d.audit_id } : {}),
    ...(d.approval_id !== undefined ? { approval_id: d.approval_id } : {}),
    ...(approval ? { approval: { state: approval.state, outcome: approval.outcome, by: approval.resolved_by, note: approval.note } } : {}),
  };
}

function refusal(text: string, meta?: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], isError: true, ...(meta ? { _meta: { [DECISION_META]: meta } } : {}) };
}

function deniedText(tool: string, d: CallDecision): string {
  const why = d.rule === null ? `no rule allows it (the policy's default is deny)` : `rule '${d.rule}'`;
  return `tollgate denied ${tool}: ${why}${d.reason ? `: ${d.reason}` : ""}${d.error ? ` (${d.error})` : ""}. The call was not run.`;
}

function approvalText(tool: string, d: CallDecision, a: ApprovalStatus): string {
  if (a.state === "expired") return `tollgate refused ${tool}: approval ${a.id} (${d.approver}) was not given before it expired at ${a.expires}. The call was not run.`;
  return `tollgate refused ${tool}: ${d.approver} denied approval ${a.id}${a.resolved_by ? ` (${a.resolved_by}${a.note ? `: ${a.note}` : ""})` : ""}. The call was not run.`;
}

export async function handleCall(ctx: CallContext, params: { name: string; arguments?: Record<string, unknown> }, session: string, extra: CallExtra): Promise<CallToolResult> {
  const target = ctx.names.resolve(params.name);
  const upstream = target === null ? undefined : ctx.upstreams.get(target.upstream);
  if (target === null || upstream === undefined) throw new McpError(ErrorCode.InvalidParams, `unknown tool '${params.name}'`);
  let listed: boolean;
  try {
    listed = await upstream.lists(target.tool);
  } catch (err) {
    return refusal(`tollgate could not list the tools of ${target.upstream} to check ${params.name} (${(err as Error).message}). The call was not run.`);
  }
  if (!listed) throw new McpError(ErrorCode.InvalidParams, `unknown tool '${params.name}': ${target.upstream} does not list it (names are matched exactly)`);
  const action = callAction(target.upstream, target.tool, params.arguments, ctx.agent, session);

  let d: CallDecision;
  try {
    d = await ctx.decider.decide(action);
  } catch (err) {
    ctx.log.error("cannot decide", { tool: action.tool, error: (err as Error).message });
    return refusal(`tollgate could not decide ${action.tool} (${(err as Error).message}). The call was not run.`);
  }
  ctx.log.debug("decision", { tool: action.tool, session, decision: d.decision, rule: d.rule, audit_seq: d.audit_seq });
  if (d.decision === "deny") return refusal(deniedText(action.tool, d), summary(d));

  const token = extra._meta?.progressToken;
  let sent = 0;
  const progress = (p: Omit<Progress, "progress"> & { progress?: number }): void => {
    if (token === undefined) return;
    sent = Math.max(sent + 1, sent + (p.progress ?? 1));
    extra.sendNotification({ method: "notifications/progress", params: { ...p, progressToken: token, progress: sent } }).catch(() => undefined);
  };

  let approval: ApprovalStatus | undefined;
  if (d.decision === "escalate") {
    const id = d.approval_id!;
    const waiting = `waiting for approval ${id} by ${d.approver} (rule '${d.rule}'${d.reason ? `: ${d.reason}` : ""}; expires ${d.expires ?? "per the policy"})`;
    ctx.log.info("waiting for approval", { tool: action.tool, approval_id: id, approver: d.approver });
    progress({ message: waiting });
    let failures = 0;
    for (;;) {
      try {
        approval = await ctx.decider.wait(id, { signal: extra.signal, timeoutMs: ctx.progressIntervalMs });
        failures = 0;
      } catch (err) {
        if (extra.signal.aborted) throw err; // the agent cancelled: no answer is sent (the approval stays pending)
        if (++failures < WAIT_RETRIES && ctx.decider.mode === "control-plane") {
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        ctx.log.error("cannot wait for approval", { approval_id: id, error: (err as Error).message });
        return refusal(`tollgate could not learn whether approval ${id} was given (${(err as Error).message}). The call was not run.`, summary(d));
      }
      if (approval.state !== "pending") break;
      progress({ message: waiting });
    }
    if (approval.outcome !== "allow") return refusal(approvalText(action.tool, d, approval), summary(d, approval));
    if (approval.state === "approved") {
      // Bound to its action and used once (docs/approvals.md): redeemed, so the call is forwarded
      // only as approved, and the log shows it.
      let redeemed: CallDecision;
      try {
        redeemed = await ctx.decider.decide(action, approval.id);
      } catch (err) {
        ctx.log.error("cannot redeem approval", { approval_id: approval.id, error: (err as Error).message });
        return refusal(`tollgate could not redeem approval ${approval.id} for ${action.tool} (${(err as Error).message}). The call was not run.`, summary(d, approval));
      }
      if (redeemed.decision !== "allow") return refusal(deniedText(action.tool, redeemed), summary(redeemed, approval));
      d = redeemed;
    }
    progress({ message: `approval ${id} given${approval.resolved_by ? ` by ${approval.resolved_by}` : ""}; calling ${action.tool}` });
  }

  try {
    return await upstream.callTool(target.tool, params.arguments, {
      signal: extra.signal,
      onprogress: token === undefined ? undefined : (p) => progress({ message: p.message, total: undefined, progress: 1 }),
    });
  } catch (err) {
    if (extra.signal.aborted) throw err;
    const message = err instanceof UpstreamUnavailable ? err.message : `upstream '${upstream.name}' failed: ${(err as Error).message}`;
    ctx.log.warn("upstream call failed", { tool: action.tool, error: message });
    return refusal(`${message}. The policy allowed ${action.tool}${approval ? " (approved)" : ""}, but it did not complete.`, summary(d, approval));
  }
}
