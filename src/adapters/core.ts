// What the framework adapters share (src/adapters/ai-sdk.ts, openai-agents.ts): one tool call →
// one action → one Gate decision → "run it" or a refusal the model can read. Nothing here imports
// a framework, so each adapter's entry point loads only its own SDK.

import type { Approval } from "../approvals/approval.js";
import type { GateDecision } from "../gate/gate-decision.js";

/** The decision fields the adapters read: what `Gate.check` returns, or a subset of it. */
export type CheckedDecision = Pick<GateDecision, "decision" | "rule" | "reason"> &
  Partial<Pick<GateDecision, "approver" | "error" | "approval_id" | "expires" | "audit_id" | "audit_seq" | "policy">>;

/** The approval fields the adapters read once an approval is resolved. */
export type ResolvedApproval = Pick<Approval, "id" | "state" | "outcome" | "resolved_by" | "note">;

/**
 * What an adapter needs to decide a tool call. A `Gate` satisfies it: `check` evaluates, audits
 * and counts (and opens the approval of an escalation), `approvals.wait` waits for a human, and
 * `deny` withdraws an approval nobody will wait for (escalate: "refuse").
 */
export interface ToolCallGate {
  /** Decides (and records); with `approvalId`, redeems that approval for the action (once). */
  check(action: unknown, options?: { approvalId?: string }): Promise<CheckedDecision>;
  readonly approvals: {
    wait(id: string, options?: { signal?: AbortSignal }): Promise<ResolvedApproval>;
  };
  deny?(id: string, resolution: { by: string; note?: string }): Promise<unknown>;
}

/**
 * What an escalate decision does to the tool call: `wait` (default) blocks until the approval
 * resolves (Gate.enforce semantics: approved, or expired with on_timeout allow, runs it), `refuse`
 * refuses at once and withdraws the approval (it would hold counters and sit in the approvers'
 * queue for a call that will never run).
 */
export type EscalateMode = "wait" | "refuse";

/** Who withdraws approvals under escalate: "refuse" (the approval's `resolved_by`). */
export const WITHDRAWN_BY = "tollgate-adapter";

/**
 * Why a tool call did not run. AI SDK tools throw it (the SDK turns it into a tool-error part
 * the model reads); the OpenAI Agents guardrail returns its message as rejected content.
 */
export class ToolCallRefused extends Error {
  override readonly name = "ToolCallRefused";

  constructor(
    message: string,
    /** The action's tool name (prefix included). */
    readonly tool: string,
    /** The decision that refused it; null when no decision could be made (an error). */
    readonly decision: CheckedDecision | null,
    /** For an escalation that was waited for: the resolved approval. */
    readonly approval?: ResolvedApproval,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type Verdict = { run: true; decision: CheckedDecision; approval?: ResolvedApproval } | { run: false; refusal: ToolCallRefused };

export interface DecideOptions {
  escalate?: EscalateMode;
  /** Stops waiting for an approval (the call is refused; the approval stays pending). */
  signal?: AbortSignal;
  /** Errors turned into refusals (a failing Gate, a throwing option callback): for logging. */
  onError?: (error: unknown) => void;
}

/** The parts of an action; `agent`/`session` are left out when absent (counters keyed on them are then UNKNOWN: fail closed). */
export interface ActionParts {
  tool: string;
  args: unknown;
  agent?: string | undefined;
  session?: string | undefined;
  context: Record<string, unknown>;
}

export function toAction(p: ActionParts): Record<string, unknown> {
  const action: Record<string, unknown> = { tool: p.tool, args: p.args };
  if (p.agent !== undefined) action.agent = { id: p.agent };
  if (p.session !== undefined) action.session = { id: p.session };
  action.context = p.context;
  return action;
}

/**
 * Decides one tool call. Never rejects: anything that goes wrong (the action cannot be built,
 * the Gate throws, the wait fails) is a refusal, never a run (fail closed).
 */
export async function decideToolCall(gate: ToolCallGate, tool: string, build: () => Record<string, unknown>, options: DecideOptions = {}): Promise<Verdict> {
  let decision: CheckedDecision;
  let action: Record<string, unknown>;
  try {
    action = build();
    decision = await gate.check(action);
  } catch (err) {
    return failed(tool, null, err, options);
  }
  try {
    if (decision.decision === "allow") return { run: true, decision };
    if (decision.decision === "deny") return refuse(deniedText(tool, decision), tool, decision);
    if (decision.decision !== "escalate" || typeof decision.approval_id !== "string") {
      // An escalation without an approval to wait for, or no decision at all: nothing may run.
      return failed(tool, decision, new Error(`unexpected decision ${JSON.stringify(decision.decision)} without an approval`), options);
    }
    if ((options.escalate ?? "wait") === "refuse") {
      await withdraw(gate, decision.approval_id, options);
      return refuse(needsApprovalText(tool, decision), tool, decision);
    }
    let approval: ResolvedApproval;
    try {
      approval = await gate.approvals.wait(decision.approval_id, { signal: options.signal });
    } catch (err) {
      if (options.signal?.aborted) return refuse(abortedText(tool, decision), tool, decision, undefined, err);
      throw err;
    }
    if (approval.state === "approved") {
      // Approvals are bound to their action and used once (docs/approvals.md): redeem it, so the
      // call runs only as approved, and the log shows the run.
      const redeemed = await gate.check(action, { approvalId: approval.id });
      if (redeemed.decision === "allow") return { run: true, decision: redeemed, approval };
      return refuse(deniedText(tool, redeemed), tool, redeemed, approval);
    }
    if (approval.outcome === "allow") return { run: true, decision, approval }; // expired into allow
    return refuse(resolvedText(tool, decision, approval), tool, decision, approval);
  } catch (err) {
    return failed(tool, decision, err, options);
  }
}

async function withdraw(gate: ToolCallGate, id: string, options: DecideOptions): Promise<void> {
  if (gate.deny === undefined) return;
  try {
    await gate.deny(id, { by: WITHDRAWN_BY, note: "withdrawn: the agent does not wait for approvals (escalate: refuse)" });
  } catch (err) {
    // Refused either way; the approval then expires by its own timeout.
    options.onError?.(err);
  }
}

function refuse(message: string, tool: string, decision: CheckedDecision, approval?: ResolvedApproval, cause?: unknown): Verdict {
  return { run: false, refusal: new ToolCallRefused(message, tool, decision, approval, cause === undefined ? undefined : { cause }) };
}

function failed(tool: string, decision: CheckedDecision | null, err: unknown, options: DecideOptions): Verdict {
  try {
    options.onError?.(err);
  } catch {
    // A failing logger changes nothing: the call is refused.
  }
  // The model is not told internals (paths, store errors); the refusal's cause has them.
  const message = `Tollgate could not decide on the call to ${tool} (an internal error), so the tool was not run.`;
  return { run: false, refusal: new ToolCallRefused(message, tool, decision, undefined, { cause: err }) };
}

function why(d: CheckedDecision): string {
  const rule = d.rule === null ? "none (the policy's default)" : d.rule;
  return `rule: ${rule}; reason: ${d.reason ?? d.error ?? "none given"}`;
}

function deniedText(tool: string, d: CheckedDecision): string {
  return `Tollgate denied the call to ${tool} (${why(d)}). The tool was not run.`;
}

function needsApprovalText(tool: string, d: CheckedDecision): string {
  const by = d.approver === undefined ? "" : ` by ${d.approver}`;
  return `Tollgate: the call to ${tool} needs approval${by} (${why(d)}). This agent does not wait for approvals, so the tool was not run.`;
}

function abortedText(tool: string, d: CheckedDecision): string {
  return `Tollgate: the wait for approval of the call to ${tool} was cancelled (${why(d)}). The tool was not run.`;
}

function resolvedText(tool: string, d: CheckedDecision, a: ResolvedApproval): string {
  if (a.state === "pending") return `Tollgate: the approval for the call to ${tool} is still pending (${why(d)}). The tool was not run.`;
  if (a.state === "expired") return `Tollgate: the approval for the call to ${tool} expired without an answer (${why(d)}). The tool was not run.`;
  const note = a.note ? `: ${a.note}` : "";
  return `Tollgate: the approval for the call to ${tool} was denied by ${a.resolved_by ?? "an approver"}${note} (${why(d)}). The tool was not run.`;
}
