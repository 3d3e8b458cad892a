// `tollgate hook claude-code` options: declared once (src/argv.ts: node:util parseArgs, and the
// help written from the same table), and the help text.

import { formatHelp, formatUsage, parseCommand, UsageError, type CommandSpec } from "../argv.js";

export { UsageError };

export const HOOK = {
  name: "hook claude-code",
  summary: "Decide a coding agent's tool calls. A Claude Code PreToolUse hook: reads the tool call (JSON) on stdin, decides it as an action, and answers on stdout: allow -> \"allow\", escalate -> \"ask\" (Claude Code asks the user), deny -> \"deny\" with the rule and the reason. Any failure (a bad policy, bad input, an audit log that cannot be written, a timeout) is answered \"deny\": the hook fails closed.",
  synopsis: ["hook claude-code --policy FILE [--audit DIR] [OPTIONS]", "hook claude-code --control-plane URL [--token-file FILE] [OPTIONS]"],
  options: {
    policy: { type: "string", arg: "FILE", description: "the policy (YAML); its validated form is cached by content hash (TOLLGATE_CACHE_DIR, default ~/.cache/tollgate; --no-cache to skip). Required unless --control-plane" },
    audit: { type: "string", arg: "DIR", description: "the audit log (hash-chained, signed); it also keeps the counters across tool calls. Required when the policy has counters. Concurrent hooks take turns (DIR/hook.lock)" },
    agent: { type: "string", arg: "ID", default: "claude-code", description: "agent.id of every action" },
    "control-plane": { type: "string", arg: "URL", description: "decide with a tollgate serve (POST URL/v1/decide) instead: audit, counters and approvals live there" },
    "token-file": { type: "string", arg: "FILE", description: "with --control-plane: the file holding the agent's bearer token (default: $TOLLGATE_TOKEN)" },
    token: { type: "string", arg: "TOKEN", description: "with --control-plane: the token itself (it shows in ps: prefer --token-file)" },
    timeout: { type: "string", arg: "SECONDS", default: "20", description: "answer deny if no decision within this (keep it below the hook's \"timeout\" in settings, 60 by default)" },
    "defer-allow": { type: "boolean", description: "on allow, answer nothing: Claude Code's own permission rules and prompts still apply (default: \"allow\", which skips its prompt)" },
    "no-cache": { type: "boolean", description: "always parse the YAML policy" },
  },
  details: `The action: {tool: tool_name, args: tool_input, agent: {id: --agent}, session: {id: session_id},
  context: {cwd, hook: "claude-code", tool_use_id, permission_mode, project_dir, file: {path, in_project}}}.
MCP tools arrive as mcp__<server>__<tool> (match them with tool: { prefix: "mcp__github__" }).

.claude/settings.json (call the binary by its path: npx adds about a second per tool call,
and a command that fails to start lets the tool call run):
  {
    "hooks": {
      "PreToolUse": [
        { "matcher": "*",
          "hooks": [{ "type": "command", "timeout": 30,
                      "command": "\\"$CLAUDE_PROJECT_DIR\\"/node_modules/.bin/tollgate hook claude-code --policy \\"$CLAUDE_PROJECT_DIR\\"/.claude/tollgate.yaml --audit \\"$HOME\\"/.tollgate/claude-code" }] }
      ]
    }
  }
`,
  examples: [
    `echo '{"hook_event_name":"PreToolUse","session_id":"s1","cwd":"/tmp","tool_name":"Bash","tool_input":{"command":"rm -rf /"}}' \\`,
    "  | tollgate hook claude-code --policy examples/coding-agent.yaml --audit /tmp/tollgate-try",
    "tollgate hook claude-code --policy policy.yaml --audit ~/.tollgate/claude-code --agent alice-laptop",
    "tollgate hook claude-code --control-plane https://tollgate.internal:8181 --token-file ~/.tollgate/token",
  ],
} as const satisfies CommandSpec;

export const HOOK_USAGE = formatUsage(HOOK).replace(/^usage: /, "").trimEnd();

/** The --help text (written when asked: the hook's start-up does not pay for it). */
export function hookHelp(): string {
  return formatHelp(HOOK);
}

export interface HookOptions {
  /** The policy file; absent with --control-plane. */
  policy?: string;
  audit?: string;
  agent: string;
  controlPlane?: string;
  token?: string;
  tokenFile?: string;
  timeoutMs: number;
  deferAllow: boolean;
  cache: boolean;
}

/** The options of `hook claude-code` (the arguments after `claude-code`). Throws UsageError. */
export function parseHookOptions(args: string[]): HookOptions {
  const parsed = parseCommand(HOOK, args, { checkRequired: false });
  const v = parsed.values;
  if (v["control-plane"] === undefined && (v.policy === undefined || v.policy === "")) throw new UsageError("--policy FILE is required (or --control-plane URL)");
  if (v["control-plane"] !== undefined && v.policy !== undefined) throw new UsageError("--policy and --control-plane exclude each other (the control plane decides with its own policy)");
  const agent = v.agent ?? "claude-code";
  if (agent === "") throw new UsageError("--agent must not be empty");
  const timeout = v.timeout === undefined ? 20 : Number(v.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600) throw new UsageError("--timeout must be a number of seconds in (0, 3600]");
  if (v["control-plane"] !== undefined) {
    if (v.audit !== undefined) throw new UsageError("--audit and --control-plane exclude each other (the control plane keeps the audit log)");
    let url: URL;
    try {
      url = new URL(v["control-plane"]);
    } catch {
      throw new UsageError(`--control-plane is not a URL: ${v["control-plane"]}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError("--control-plane must be an http(s) URL");
    if (v.token !== undefined && v["token-file"] !== undefined) throw new UsageError("give --token or --token-file, not both");
  } else if (v.token !== undefined || v["token-file"] !== undefined) {
    throw new UsageError("--token and --token-file go with --control-plane");
  }
  return {
    policy: v.policy,
    audit: v.audit,
    agent,
    controlPlane: v["control-plane"],
    token: v.token,
    tokenFile: v["token-file"],
    timeoutMs: Math.round(timeout * 1000),
    deferAllow: v["defer-allow"] === true,
    cache: v["no-cache"] !== true,
  };
}
