// OpenAI Agents SDK adapter (`tollgate/adapters/openai-agents`): a tool input guardrail that
// decides every function tool call with a Gate before the SDK runs the tool. Allow lets it run;
// deny, or an escalation refused or not approved, rejects the call with a message the model reads
// as the tool's output (rule and reason), and the run goes on. Imports only types from
// `@openai/agents`: the guardrail and its outputs are the plain objects the SDK's
// `defineToolInputGuardrail` and `ToolGuardrailFunctionOutputFactory` make, so this module loads
// nothing of the SDK.

import type { FunctionTool, Tool, ToolGuardrailFunctionOutput, ToolInputGuardrailData, ToolInputGuardrailDefinition } from "@openai/agents";
import { decideToolCall, toAction, ToolCallRefused } from "./core.js";
import type { CheckedDecision, EscalateMode, ToolCallGate } from "./core.js";

export { ToolCallRefused, WITHDRAWN_BY } from "./core.js";
export type { CheckedDecision, EscalateMode, ResolvedApproval, ToolCallGate } from "./core.js";

export interface OpenAIAgentsGateOptions<TContext = unknown> {
  /** `agent.id`: a constant or per call; default the SDK agent's `name`. */
  agent?: string | ((data: ToolInputGuardrailData<TContext>) => string | undefined);
  /** `session.id` (e.g. from the run context); left out when absent (a counter keyed on it is then UNKNOWN: its deny rules apply). */
  session?: string | ((data: ToolInputGuardrailData<TContext>) => string | undefined);
  /** Prepended to tool names (after the SDK namespace, if any: `ns.tool`). */
  prefix?: string;
  /** What an escalate decision does: wait for the approval (default) or refuse at once. */
  escalate?: EscalateMode;
  /** More `context` fields of the action; `framework` and `toolCallId` are always the adapter's. */
  context?: (data: ToolInputGuardrailData<TContext>) => Record<string, unknown>;
  /** Errors turned into refusals (a Gate that throws, a throwing callback), for logging. */
  onError?: (error: unknown, data: ToolInputGuardrailData<TContext>) => void;
  /** The guardrail's name in the SDK's results and traces; default "tollgate". */
  name?: string;
}

/** What the guardrail puts in `outputInfo` (the run's `toolInputGuardrailResults`). */
export interface TollgateGuardrailInfo {
  verdict: "run" | "refused";
  decision: CheckedDecision | null;
  approval?: ToolCallRefused["approval"];
  refusal?: ToolCallRefused;
}

/**
 * A tool input guardrail deciding each call with `gate`. Add it to a function tool's
 * `inputGuardrails` (or use `gateFunctionTools`).
 */
export function tollgateGuardrail<TContext = unknown>(gate: ToolCallGate, options: OpenAIAgentsGateOptions<TContext> = {}): ToolInputGuardrailDefinition<TContext> {
  return {
    type: "tool_input",
    name: options.name ?? "tollgate",
    run: async (data) => {
      const call = data.toolCall;
      const tool = `${options.prefix ?? ""}${call.namespace ? `${call.namespace}.` : ""}${call.name}`;
      let args: unknown;
      try {
        // What the SDK parses before running the tool; a redacted invalid input arrives as "".
        args = JSON.parse(call.arguments);
      } catch {
        const refusal = new ToolCallRefused(`Tollgate refused the call to ${tool}: its arguments are not valid JSON. The tool was not run.`, tool, null);
        return rejected(refusal);
      }
      const verdict = await decideToolCall(gate, tool, () => actionOf(tool, args, data, options), {
        escalate: options.escalate,
        onError: options.onError && ((err) => options.onError!(err, data)),
      });
      if (!verdict.run) return rejected(verdict.refusal);
      const info: TollgateGuardrailInfo = { verdict: "run", decision: verdict.decision, ...(verdict.approval ? { approval: verdict.approval } : {}) };
      return { behavior: { type: "allow" }, outputInfo: info };
    },
  };
}

/**
 * The tools with the guardrail first in each function tool's `inputGuardrails` (cloned with
 * their property descriptors, as the SDK's `toolNamespace` clones them; the originals are not
 * changed). Any other tool (hosted, computer, shell, apply-patch) throws: the guardrail cannot
 * see its calls, and a tool list that looks gated but is not would fail open.
 */
export function gateFunctionTools<TContext = unknown, T extends Tool<TContext> = Tool<TContext>>(tools: readonly T[], gate: ToolCallGate, options: OpenAIAgentsGateOptions<TContext> = {}): T[] {
  const guardrail = tollgateGuardrail<TContext>(gate, options);
  return tools.map((t) => {
    if (t.type !== "function") throw new TypeError(`gateFunctionTools: tool ${JSON.stringify((t as { name?: unknown }).name ?? t.type)} is a ${t.type} tool; only function tools take input guardrails`);
    const clone = Object.create(Object.getPrototypeOf(t), Object.getOwnPropertyDescriptors(t)) as FunctionTool<TContext, any, any>;
    clone.inputGuardrails = [guardrail, ...((t as FunctionTool<TContext, any, any>).inputGuardrails ?? [])];
    return clone as T;
  });
}

function rejected(refusal: ToolCallRefused): ToolGuardrailFunctionOutput {
  const info: TollgateGuardrailInfo = { verdict: "refused", decision: refusal.decision, ...(refusal.approval ? { approval: refusal.approval } : {}), refusal };
  return { behavior: { type: "rejectContent", message: refusal.message }, outputInfo: info };
}

function actionOf<TContext>(tool: string, args: unknown, data: ToolInputGuardrailData<TContext>, options: OpenAIAgentsGateOptions<TContext>): Record<string, unknown> {
  const agent = options.agent === undefined ? data.agent.name : typeof options.agent === "function" ? options.agent(data) : options.agent;
  const session = typeof options.session === "function" ? options.session(data) : options.session;
  const extra = options.context?.(data) ?? {};
  return toAction({ tool, args, agent, session, context: { ...extra, framework: "openai-agents", toolCallId: data.toolCall.callId } });
}
