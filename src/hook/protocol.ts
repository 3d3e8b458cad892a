// Claude Code's PreToolUse hook protocol (docs/hooks.md): the JSON it writes on the hook's stdin,
// the action Tollgate decides for it, and the answer read from stdout. Pure: no I/O here.
//
// Claude Code reads the answer only when the hook exits 0; exit 2 blocks the tool call with
// stderr as the reason; any other exit (a crash, a missing binary) is a non-blocking error and
// the tool call goes ahead. So every failure is answered `deny` on stdout with exit 0, and exit 2
// is kept for when even that answer cannot be written (src/hook/run.ts).

import type { Decision } from "../decision.js";
import { projectFacts } from "./paths.js";

/** The largest hook input read (a Write of a large file arrives whole in `tool_input`). */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/** What Claude Code sends a PreToolUse hook (the fields Tollgate reads). */
export interface HookInput {
  session_id?: string;
  transcript_path?: string;
  cwd?: string;
  permission_mode?: string;
  hook_event_name: "PreToolUse";
  tool_name: string;
  tool_input: Record<string, unknown>;
  tool_use_id?: string;
}

export type Permission = "allow" | "deny" | "ask";

/** A decision as the hook gets it: with its audit record's seq and hash when it was recorded. */
export type HookDecision = Decision & { audit_id?: string; audit_seq?: number };

/** The hook's answer on stdout. */
export interface HookAnswer {
  hookSpecificOutput: {
    hookEventName: "PreToolUse";
    permissionDecision: Permission;
    permissionDecisionReason: string;
  };
}

/** A hook input that cannot be decided: answered deny with this message. */
export class HookInputError extends Error {
  override name = "HookInputError";
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const OPTIONAL_STRINGS = ["session_id", "transcript_path", "cwd", "permission_mode", "tool_use_id"] as const;

/**
 * Reads the hook input from the bytes of stdin: UTF-8 (strictly), one JSON object, event
 * `PreToolUse`, a non-empty string `tool_name`, an object `tool_input`; the optional string
 * fields, when present, must be strings. Throws HookInputError otherwise.
 */
export function parseHookInput(bytes: Uint8Array): HookInput {
  if (bytes.length === 0) throw new HookInputError("empty hook input (expected Claude Code's PreToolUse JSON on stdin)");
  if (bytes.length > MAX_INPUT_BYTES) throw new HookInputError(`hook input over ${MAX_INPUT_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HookInputError("hook input is not UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HookInputError(`hook input is not JSON (${(err as Error).message})`);
  }
  if (!isObject(value)) throw new HookInputError("hook input is not a JSON object");
  if (value.hook_event_name !== "PreToolUse") {
    throw new HookInputError(`hook_event_name is ${JSON.stringify(value.hook_event_name) ?? "absent"}, expected "PreToolUse" (install the hook under "PreToolUse")`);
  }
  if (typeof value.tool_name !== "string" || value.tool_name === "") throw new HookInputError("tool_name is not a non-empty string");
  if (!isObject(value.tool_input)) throw new HookInputError("tool_input is not a JSON object");
  for (const k of OPTIONAL_STRINGS) {
    if (value[k] !== undefined && typeof value[k] !== "string") throw new HookInputError(`${k} is not a string`);
  }
  return value as unknown as HookInput;
}

export interface ActionOptions {
  /** `agent.id` (`--agent`, default "claude-code"). */
  agent: string;
  /** The project root files are checked against: $CLAUDE_PROJECT_DIR, else the input's cwd. */
  projectDir?: string;
}

/**
 * The action decided for a tool call: `{tool, args, agent: {id}, session: {id}, context: {cwd,
 * hook: "claude-code", tool_use_id, permission_mode, project_dir, file}}`. `context.file` is there
 * when the tool input names a file (`file_path`, `notebook_path` or `path`): its absolute path,
 * symbolic links resolved, and whether it lies inside the project (`in_project`). Absent fields
 * are left out (a policy test on them is UNKNOWN: deny and escalate rules still apply).
 */
export function actionOf(input: HookInput, options: ActionOptions): Record<string, unknown> {
  const context: Record<string, unknown> = { hook: "claude-code" };
  if (input.cwd !== undefined) context.cwd = input.cwd;
  if (input.tool_use_id !== undefined) context.tool_use_id = input.tool_use_id;
  if (input.permission_mode !== undefined) context.permission_mode = input.permission_mode;
  Object.assign(context, projectFacts(input.tool_input, input.cwd, options.projectDir));
  const action: Record<string, unknown> = { tool: input.tool_name, args: input.tool_input, agent: { id: options.agent } };
  if (input.session_id !== undefined) action.session = { id: input.session_id };
  action.context = context;
  return action;
}

/** The answer for a permission and its reason. */
export function answer(permission: Permission, reason: string): HookAnswer {
  return { hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: permission, permissionDecisionReason: reason } };
}

/** A decision as Claude Code's permission: allow -> allow, escalate -> ask, deny -> deny. */
export function permissionOf(decision: Pick<Decision, "decision">): Permission {
  return decision.decision === "allow" ? "allow" : decision.decision === "escalate" ? "ask" : "deny";
}

/**
 * The reason shown with the answer (deny: to the model; ask: to the user in the prompt): who
 * decided (the rule, or the policy's default), why, and the audit record when there is one.
 */
export function reasonOf(decision: HookDecision): string {
  const by = decision.rule === null ? `the default of policy ${decision.policy}` : `rule ${decision.rule} of policy ${decision.policy}`;
  const parts: string[] = [];
  if (decision.decision === "allow") parts.push(`Tollgate: allowed by ${by}`);
  else if (decision.decision === "escalate") parts.push(`Tollgate: ${by} asks for approval${decision.approver ? ` (approver: ${decision.approver})` : ""}`);
  else parts.push(`Tollgate: denied by ${by}`);
  if (decision.reason) parts.push(decision.reason);
  if (decision.error) parts.push(`error: ${decision.error}`);
  let text = parts.join(": ");
  if (decision.undetermined && decision.decision !== "allow") text += " (a field the rule reads is missing or of another type)";
  if (decision.audit_seq !== undefined) text += ` [audit seq ${decision.audit_seq}]`;
  return text;
}

/** The answer for a failure: deny, fail closed, with what went wrong. */
export function failureAnswer(message: string): HookAnswer {
  return answer("deny", `Tollgate: denied because the policy check failed (fail closed): ${message}`);
}
