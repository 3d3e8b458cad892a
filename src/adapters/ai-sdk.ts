// Vercel AI SDK adapter (`tollgate/adapters/ai-sdk`): wraps the `execute` of AI SDK tools so
// that every call the SDK's tool loop makes is decided by a Gate first. Allow runs the tool;
// deny, or an escalation refused or not approved, throws ToolCallRefused without running it: the
// SDK turns a thrown error into a `tool-error` part whose text the model reads on its next step
// (docs/integrations.md). Imports only types from `ai`, so this module loads nothing of the SDK.

import type { Tool, ToolExecutionOptions, ToolSet } from "ai";
import { decideToolCall, toAction, ToolCallRefused } from "./core.js";
import type { EscalateMode, ToolCallGate } from "./core.js";

export { ToolCallRefused, WITHDRAWN_BY } from "./core.js";
export type { CheckedDecision, EscalateMode, ResolvedApproval, ToolCallGate } from "./core.js";

/** One tool call as the SDK hands it to `execute`. */
export interface AiSdkToolCall {
  /** The tool's key in the ToolSet (without the prefix). */
  toolName: string;
  toolCallId: string;
  input: unknown;
  options: ToolExecutionOptions;
}

export interface AiSdkGateOptions {
  /** `agent.id` of every action: a constant, or per call (e.g. from `options.experimental_context`). */
  agent: string | ((call: AiSdkToolCall) => string | undefined);
  /** `session.id`; left out when absent (a counter keyed on it is then UNKNOWN: its deny rules apply). */
  session?: string | ((call: AiSdkToolCall) => string | undefined);
  /** Prepended to tool names: `prefix: "billing."` makes `refund` the action's `billing.refund`. */
  prefix?: string;
  /** What an escalate decision does: wait for the approval (default) or refuse at once. */
  escalate?: EscalateMode;
  /** More `context` fields of the action; `framework` and `toolCallId` are always the adapter's. */
  context?: (call: AiSdkToolCall) => Record<string, unknown>;
  /** Errors turned into refusals (a Gate that throws, a throwing callback), for logging. */
  onError?: (error: unknown, call: AiSdkToolCall) => void;
}

type Execute = (input: unknown, options: ToolExecutionOptions) => unknown;

/**
 * The tool with its `execute` decided by `gate`; everything else (schema, description,
 * `needsApproval`, `toModelOutput`) unchanged. A tool without `execute` (run by the client or the
 * provider) is returned as it is: the SDK never runs it here, so there is nothing to gate.
 */
export function gateTool<T extends Tool<any, any>>(name: string, tool: T, gate: ToolCallGate, options: AiSdkGateOptions): T {
  const execute = tool.execute as Execute | undefined;
  if (typeof execute !== "function") return tool;
  const decide = (input: unknown, opts: ToolExecutionOptions) => {
    const call: AiSdkToolCall = { toolName: name, toolCallId: opts.toolCallId, input, options: opts };
    const toolLabel = `${options.prefix ?? ""}${name}`;
    return decideToolCall(gate, toolLabel, () => actionOf(toolLabel, call, options), {
      escalate: options.escalate,
      signal: opts.abortSignal,
      onError: options.onError && ((err) => options.onError!(err, call)),
    });
  };
  // A streaming tool (an async generator) stays one, so its preliminary results still stream.
  const wrapped: Execute = isAsyncGeneratorFunction(execute)
    ? async function* (this: unknown, input: unknown, opts: ToolExecutionOptions) {
        const verdict = await decide(input, opts);
        if (!verdict.run) throw verdict.refusal;
        yield* execute.call(this, input, opts) as AsyncIterable<unknown>;
      }
    : async function (this: unknown, input: unknown, opts: ToolExecutionOptions) {
        const verdict = await decide(input, opts);
        if (!verdict.run) throw verdict.refusal;
        const result = execute.call(this, input, opts);
        // The SDK streams an iterable only when execute returns it directly; from this async
        // wrapper it would arrive in a promise, so its last value is the result.
        return isAsyncIterable(result) ? lastOf(result) : result;
      };
  return { ...tool, execute: wrapped } as T;
}

/** Every tool of the set through `gateTool`, under the same keys. */
export function gateTools<T extends ToolSet>(tools: T, gate: ToolCallGate, options: AiSdkGateOptions): T {
  const out: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(tools)) out[name] = gateTool(name, t as Tool<any, any>, gate, options);
  return out as T;
}

function actionOf(tool: string, call: AiSdkToolCall, options: AiSdkGateOptions): Record<string, unknown> {
  const agent = typeof options.agent === "function" ? options.agent(call) : options.agent;
  const session = typeof options.session === "function" ? options.session(call) : options.session;
  const extra = options.context?.(call) ?? {};
  return toAction({ tool, args: call.input, agent, session, context: { ...extra, framework: "ai-sdk", toolCallId: call.toolCallId } });
}

function isAsyncGeneratorFunction(f: Function): boolean {
  return Object.prototype.toString.call(f) === "[object AsyncGeneratorFunction]";
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x !== null && typeof x === "object" && typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function";
}

async function lastOf(it: AsyncIterable<unknown>): Promise<unknown> {
  let last: unknown;
  for await (const v of it) last = v;
  return last;
}

