// `tollgate mcp` configuration: the command line and the YAML file (docs/mcp.md), validated into
// one McpConfig. Every problem in the file is reported as FILE:LINE:COL: error: MESSAGE.

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { isMap, isPair, isScalar, LineCounter } from "yaml";
import { parseYamlDocument } from "../yaml-document.js";
import type { Document, Node as YamlNode } from "yaml";
import { formatHelp, formatUsage, parseCommand, UsageError, type CommandSpec } from "../argv.js";
import { parseDuration } from "../duration.js";
import { formatProblem } from "../errors.js";
import type { PolicyProblem } from "../errors.js";
import { isPostgresUrl } from "../approvals/store-api.js";

export interface StdioUpstream {
  kind: "stdio";
  name: string;
  command: string;
  args: string[];
  /** Added to the gateway's own environment (which the upstream inherits). */
  env: Record<string, string>;
  cwd?: string;
  /** Longest a forwarded tools/call may take (ms). */
  timeoutMs: number;
}

export interface HttpUpstream {
  kind: "http";
  name: string;
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export type UpstreamConfig = StdioUpstream | HttpUpstream;

export type DecisionSource =
  | { mode: "embedded"; policy: string; auditDir: string; approvals: string }
  | { mode: "control-plane"; url: string; token: string };

export interface ListenConfig {
  host: string;
  port: number;
  /** Bearer token HTTP clients must present (null: none, allowed on loopback only). */
  token: string | null;
}

export type LogLevel = "error" | "warn" | "info" | "debug";

export interface McpConfig {
  /** The gateway's name (default audit directory, server info). */
  name: string;
  upstreams: UpstreamConfig[];
  decisions: DecisionSource;
  /** action.agent.id (with a control plane and an agent token, the server binds its own). */
  agent: string;
  /** action.session.id: a fixed id, or null for one per agent connection. */
  session: string | null;
  hideDenied: boolean;
  /** Serve Streamable HTTP instead of stdio. */
  listen: ListenConfig | null;
  /** Interval between progress notifications while a call waits for an approval (ms). */
  progressIntervalMs: number;
  /** Largest JSON-RPC message read from an agent or an upstream (bytes). */
  maxMessageBytes: number;
  logLevel: LogLevel;
}

/** A configuration that cannot be used; `problems` carry positions when they come from a file. */
export class McpConfigError extends Error {
  constructor(readonly problems: readonly (PolicyProblem | string)[]) {
    super(problems.map((p) => (typeof p === "string" ? p : formatProblem(p))).join("\n"));
    this.name = "McpConfigError";
  }
}

/** The command line: parsed with this table (src/argv.ts), and --help is written from it. */
export const MCP = {
  name: "mcp",
  summary: "Run an MCP gateway. It serves MCP to the agent (stdio, or Streamable HTTP with --listen) and forwards each tools/call to an upstream MCP server only if the policy allows it. Every decision is audited.",
  synopsis: [
    "mcp --policy POLICY.yaml [OPTIONS] -- COMMAND [ARGS...]",
    "mcp --control-plane URL [--token TOKEN] [OPTIONS] -- COMMAND [ARGS...]",
    "mcp --config FILE.yaml [OPTIONS]",
  ],
  passThrough: "the upstream command",
  options: {
    policy: { type: "string", arg: "FILE", description: "the policy (embedded mode: decisions, audit log and approvals in this process)" },
    audit: { type: "string", arg: "DIR", default: "$XDG_STATE_HOME/tollgate/mcp/NAME/audit", description: "the audit log" },
    approvals: { type: "string", arg: "FILE|URL", default: "DIR/approvals.db", description: "the SQLite file of approvals, or a postgres:// URL" },
    "control-plane": { type: "string", arg: "URL", description: "decide with `tollgate serve` at URL instead of --policy" },
    token: { type: "string", arg: "TOKEN", default: "$TOLLGATE_TOKEN", description: "the agent's bearer token for the control plane" },
    name: { type: "string", arg: "NAME", default: "upstream", description: "the upstream's name after --: tools are NAME.TOOL in the policy" },
    agent: { type: "string", arg: "ID", default: "NAME", description: "action.agent.id" },
    session: { type: "string", arg: "ID", default: "a new id per agent connection", description: "action.session.id" },
    "hide-denied": { type: "boolean", description: "leave out of tools/list the tools the policy denies whatever their arguments" },
    listen: { type: "string", arg: "HOST:PORT", description: "serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio (clients must send $TOLLGATE_MCP_TOKEN as a bearer token when it is set; required off loopback)" },
    "progress-interval": { type: "string", arg: "D", default: "5s", description: "progress notifications while waiting for an approval" },
    "max-message-bytes": { type: "string", arg: "N", default: "67108864", description: "largest JSON-RPC message" },
    "log-level": { type: "string", arg: "LEVEL", default: "info", description: "error, warn, info or debug; logs go to stderr only" },
    config: { type: "string", arg: "FILE", description: "a YAML file with these options and several upstreams (docs/mcp.md); the command line wins" },
  },
  examples: [
    "tollgate mcp --policy policy.yaml --name fs -- npx -y @modelcontextprotocol/server-filesystem /srv/data",
    "tollgate mcp --control-plane http://127.0.0.1:8181 --name github -- npx -y @modelcontextprotocol/server-github",
    "TOLLGATE_MCP_TOKEN=secret tollgate mcp --config gateway.yaml --listen 127.0.0.1:8765",
  ],
} as const satisfies CommandSpec;

export const MCP_USAGE = formatUsage(MCP).replace(/^usage: /, "").trimEnd();

export const MCP_HELP = formatHelp(MCP);

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_PROGRESS_MS = 5_000;
const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
/** An upstream name: letters and digits, single `-` or `_` between them, so `NAME__TOOL` splits one way. */
export const UPSTREAM_NAME = /^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$/;
const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug"];

function defaultAuditDir(name: string, env: NodeJS.ProcessEnv): string {
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME !== "" ? env.XDG_STATE_HOME : join(homedir(), ".local", "state");
  return join(state, "tollgate", "mcp", name, "audit");
}

/** `HOST:PORT` (IPv6 as `[::1]:8765`). */
function parseListen(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `${VAR}` in a value: the variable's text; an unset variable is an error (never an empty secret). */
function expand(text: string, env: NodeJS.ProcessEnv, fail: (m: string) => void): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, v: string) => {
    const value = env[v];
    if (value === undefined) {
      fail(`environment variable ${v} is not set`);
      return "";
    }
    return value;
  });
}

/** The YAML file, with the position of each value for messages. */
class ConfigFile {
  readonly problems: PolicyProblem[] = [];
  private readonly lines = new LineCounter();
  readonly doc: Document.Parsed;
  readonly value: unknown;

  constructor(readonly file: string, text: string) {
    this.doc = parseYamlDocument(text, { lineCounter: this.lines, version: "1.2", schema: "core", uniqueKeys: true, prettyErrors: false });
    for (const e of this.doc.errors) this.problems.push({ file, ...this.pos(e.pos[0]), message: e.message.split("\n")[0]! });
    this.value = this.doc.errors.length === 0 ? this.doc.toJS({ maxAliasCount: 100 }) : null;
  }

  private pos(offset: number): { line: number; column: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /** Position of the value at `path` (of its key with `key`), else of the nearest enclosing node. */
  at(path: readonly (string | number)[], key = false): { line: number; column: number } {
    for (let n = path.length; n >= 0; n--) {
      const parent = n === 0 ? null : this.doc.getIn(path.slice(0, n - 1), true);
      if (key && n === path.length && isMap(parent)) {
        const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === path[n - 1]);
        const k = pair?.key as YamlNode | undefined;
        if (k?.range) return this.pos(k.range[0]);
      }
      const node = (n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true)) as YamlNode | null | undefined;
      if (node && node.range) return this.pos(node.range[0]);
    }
    return { line: 1, column: 1 };
  }

  error(path: readonly (string | number)[], message: string, key = false): void {
    this.problems.push({ file: this.file, ...this.at(path, key), message });
  }
}

const TOP_KEYS = ["name", "policy", "audit", "approvals", "control_plane", "agent", "session", "hide_denied", "listen", "listen_token", "progress_interval", "max_message_bytes", "log_level", "upstreams"] as const;
const STDIO_KEYS = ["command", "args", "env", "cwd", "timeout"];
const HTTP_KEYS = ["url", "headers", "timeout"];

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);

interface Partial {
  name?: string;
  policy?: string;
  audit?: string;
  approvals?: string;
  controlPlane?: string;
  token?: string;
  agent?: string;
  session?: string | null;
  hideDenied?: boolean;
  listen?: { host: string; port: number };
  listenToken?: string;
  progressIntervalMs?: number;
  maxMessageBytes?: number;
  logLevel?: LogLevel;
  upstreams?: UpstreamConfig[];
}

/** Reads and checks the YAML file; throws McpConfigError with every problem found. */
function readFile(path: string, env: NodeJS.ProcessEnv): Partial {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new McpConfigError([{ file: path, line: 1, column: 1, message: `cannot read the configuration: ${(err as Error).message}` }]);
  }
  const f = new ConfigFile(path, text);
  const base = dirname(path);
  const out: Partial = {};
  if (f.problems.length > 0) throw new McpConfigError(f.problems);
  const doc = f.value ?? {};
  if (!isObject(doc)) throw new McpConfigError([{ file: path, line: 1, column: 1, message: "expected a mapping of options" }]);
  const str = (p: (string | number)[], v: unknown, what = "a non-empty string"): string | undefined => {
    if (typeof v === "string" && v !== "") return expand(v, env, (m) => f.error(p, m));
    f.error(p, `expected ${what}`);
    return undefined;
  };
  const strings = (p: (string | number)[], v: unknown): Record<string, string> => {
    const r: Record<string, string> = {};
    if (!isObject(v)) {
      f.error(p, "expected a mapping of names to strings");
      return r;
    }
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") r[k] = expand(String(x), env, (m) => f.error([...p, k], m));
      else f.error([...p, k], "expected a string");
    }
    return r;
  };
  const duration = (p: (string | number)[], v: unknown): number | undefined => {
    const ms = parseDuration(v);
    if (ms === null || ms <= 0) f.error(p, `expected a duration like 500ms, 30s, 10m (or milliseconds), got ${JSON.stringify(v)}`);
    return ms ?? undefined;
  };
  for (const [key, v] of Object.entries(doc)) {
    const p = [key];
    switch (key as (typeof TOP_KEYS)[number]) {
      case "name": out.name = str(p, v); break;
      case "policy": { const s = str(p, v); if (s) out.policy = resolve(base, s); break; }
      case "audit": { const s = str(p, v); if (s) out.audit = resolve(base, s); break; }
      case "approvals": { const s = str(p, v); if (s) out.approvals = isPostgresUrl(s) ? s : resolve(base, s); break; }
      case "agent": out.agent = str(p, v); break;
      case "session":
        if (v === "connection") out.session = null;
        else if (isObject(v) && Object.keys(v).length === 1 && "id" in v) out.session = str([...p, "id"], v.id) ?? null;
        else f.error(p, "expected 'connection' (a new session id per agent connection) or { id: TEXT }");
        break;
      case "hide_denied":
        if (typeof v === "boolean") out.hideDenied = v;
        else f.error(p, "expected true or false");
        break;
      case "listen": {
        const l = typeof v === "string" ? parseListen(v) : null;
        if (l) out.listen = l;
        else f.error(p, "expected HOST:PORT, e.g. 127.0.0.1:8765");
        break;
      }
      case "listen_token": out.listenToken = str(p, v); break;
      case "progress_interval": out.progressIntervalMs = duration(p, v); break;
      case "max_message_bytes":
        if (typeof v === "number" && Number.isSafeInteger(v) && v >= 1024) out.maxMessageBytes = v;
        else f.error(p, "expected a number of bytes (at least 1024)");
        break;
      case "log_level":
        if (LOG_LEVELS.includes(v as LogLevel)) out.logLevel = v as LogLevel;
        else f.error(p, `expected one of ${LOG_LEVELS.join(", ")}`);
        break;
      case "control_plane":
        if (!isObject(v)) {
          f.error(p, "expected { url: URL, token: TOKEN }");
          break;
        }
        for (const [k, x] of Object.entries(v)) {
          if (k === "url") out.controlPlane = str([...p, k], x);
          else if (k === "token") out.token = str([...p, k], x);
          else f.error([...p, k], `unknown key '${k}' in control_plane (keys: url, token)`, true);
        }
        if (v.url === undefined) f.error(p, "control_plane needs url");
        break;
      case "upstreams":
        out.upstreams = readUpstreams(f, v, base, env, str, strings, duration);
        break;
      default:
        f.error(p, `unknown key '${key}' (keys: ${TOP_KEYS.join(", ")})`, true);
    }
  }
  if (f.problems.length > 0) throw new McpConfigError(f.problems);
  return out;
}

function readUpstreams(
  f: ConfigFile,
  v: unknown,
  base: string,
  env: NodeJS.ProcessEnv,
  str: (p: (string | number)[], v: unknown, what?: string) => string | undefined,
  strings: (p: (string | number)[], v: unknown) => Record<string, string>,
  duration: (p: (string | number)[], v: unknown) => number | undefined,
): UpstreamConfig[] {
  const out: UpstreamConfig[] = [];
  if (!isObject(v) || Object.keys(v).length === 0) {
    f.error(["upstreams"], "expected a mapping of upstream names to { command, args } or { url }");
    return out;
  }
  for (const [name, u] of Object.entries(v)) {
    const p = ["upstreams", name];
    if (!UPSTREAM_NAME.test(name)) f.error(p, `upstream name '${name}': use letters and digits, with single '-' or '_' between them`, true);
    if (!isObject(u)) {
      f.error(p, "expected { command: COMMAND, args: [...] } or { url: URL }");
      continue;
    }
    const isHttp = "url" in u;
    if (isHttp && "command" in u) {
      f.error(p, "an upstream has either command (stdio) or url (Streamable HTTP), not both");
      continue;
    }
    if (!isHttp && !("command" in u)) {
      f.error(p, "an upstream needs command (stdio) or url (Streamable HTTP)");
      continue;
    }
    const keys = isHttp ? HTTP_KEYS : STDIO_KEYS;
    for (const k of Object.keys(u)) if (!keys.includes(k)) f.error([...p, k], `unknown key '${k}' in ${isHttp ? "an HTTP" : "a stdio"} upstream (keys: ${keys.join(", ")})`, true);
    const timeoutMs = u.timeout === undefined ? DEFAULT_TIMEOUT_MS : duration([...p, "timeout"], u.timeout) ?? DEFAULT_TIMEOUT_MS;
    if (isHttp) {
      const url = str([...p, "url"], u.url);
      if (url !== undefined) {
        let parsed: URL | null = null;
        try {
          parsed = new URL(url);
        } catch {
          parsed = null;
        }
        if (parsed === null || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) f.error([...p, "url"], `expected an http(s) URL, got ${JSON.stringify(url)}`);
      }
      out.push({ kind: "http", name, url: url ?? "", headers: u.headers === undefined ? {} : strings([...p, "headers"], u.headers), timeoutMs });
    } else {
      const command = str([...p, "command"], u.command);
      const args: string[] = [];
      if (u.args !== undefined) {
        if (!Array.isArray(u.args)) f.error([...p, "args"], "expected a list of strings");
        else u.args.forEach((a, i) => {
          if (typeof a === "string" || typeof a === "number") args.push(expand(String(a), env, (m) => f.error([...p, "args", i], m)));
          else f.error([...p, "args", i], "expected a string");
        });
      }
      const cwd = u.cwd === undefined ? undefined : str([...p, "cwd"], u.cwd);
      out.push({ kind: "stdio", name, command: command ?? "", args, env: u.env === undefined ? {} : strings([...p, "env"], u.env), cwd: cwd === undefined ? undefined : resolve(base, cwd), timeoutMs });
    }
  }
  return out;
}

/**
 * `tollgate mcp` arguments → McpConfig. Options before `--`, the upstream command after it.
 * Throws McpConfigError (command-line problems as text, file problems with positions).
 */
export function parseMcpArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): McpConfig | "help" {
  const sep = argv.indexOf("--");
  let values: Record<string, string | boolean | undefined>;
  let command: string[];
  try {
    const parsed = parseCommand(MCP, argv, { checkRequired: false });
    if (parsed.help) return "help";
    ({ values, rest: command } = parsed);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    throw new McpConfigError([err.message]);
  }
  const problems: string[] = [];
  const file: Partial = typeof values.config === "string" ? readFile(resolve(cwd, values.config), env) : {};
  const s = (k: string): string | undefined => {
    const v = values[k];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") {
      problems.push(`--${k}: expected a value`);
      return undefined;
    }
    return v;
  };
  const name = s("name");
  if (name !== undefined && !UPSTREAM_NAME.test(name)) problems.push(`--name '${name}': use letters and digits, with single '-' or '_' between them`);
  let upstreams = file.upstreams ?? [];
  if (command.length > 0) {
    if (file.upstreams !== undefined) problems.push("give the upstreams in the configuration file or after --, not both");
    upstreams = [{ kind: "stdio", name: name ?? "upstream", command: command[0]!, args: command.slice(1), env: {}, timeoutMs: DEFAULT_TIMEOUT_MS }];
  } else if (sep >= 0) {
    problems.push("-- must be followed by the upstream command");
  } else if (name !== undefined && file.upstreams !== undefined) {
    problems.push("--name names the upstream given after --");
  }
  if (upstreams.length === 0 && sep < 0) problems.push("no upstream: give one after -- (tollgate mcp --policy P -- COMMAND ARGS...) or in --config");

  const policy = s("policy") !== undefined ? resolve(cwd, s("policy")!) : file.policy;
  const controlPlane = s("control-plane") ?? file.controlPlane;
  const gatewayName = file.name ?? (upstreams.length === 1 ? upstreams[0]!.name : "gateway");
  let decisions: DecisionSource | undefined;
  if (policy !== undefined && controlPlane !== undefined) problems.push("give either a policy (embedded) or a control plane, not both");
  else if (controlPlane !== undefined) {
    let url: URL | null = null;
    try {
      url = new URL(controlPlane);
    } catch {
      url = null;
    }
    const token = s("token") ?? file.token ?? env.TOLLGATE_TOKEN;
    if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) problems.push(`--control-plane: expected an http(s) URL, got ${JSON.stringify(controlPlane)}`);
    else if (token === undefined || token === "") problems.push("the control plane needs a token: --token TOKEN, control_plane.token or $TOLLGATE_TOKEN");
    else decisions = { mode: "control-plane", url: url.href.replace(/\/+$/, ""), token };
    if (s("audit") !== undefined || s("approvals") !== undefined || file.audit !== undefined || file.approvals !== undefined) problems.push("--audit and --approvals are for embedded mode: with a control plane, the server keeps the audit log and approvals");
  } else if (policy !== undefined) {
    const auditDir = s("audit") !== undefined ? resolve(cwd, s("audit")!) : file.audit ?? defaultAuditDir(gatewayName, env);
    const approvals = s("approvals") !== undefined ? (isPostgresUrl(s("approvals")!) ? s("approvals")! : resolve(cwd, s("approvals")!)) : file.approvals ?? join(auditDir, "approvals.db");
    decisions = { mode: "embedded", policy, auditDir, approvals };
  } else {
    problems.push("no policy: give --policy FILE (embedded) or --control-plane URL");
  }
  const hideDenied = values["hide-denied"] === true || (file.hideDenied ?? false);
  if (hideDenied && decisions?.mode === "control-plane") problems.push("hide_denied needs the policy in this process (--policy): a control plane decides only actions it records");

  let listen: ListenConfig | null = null;
  const listenText = s("listen");
  const l = listenText !== undefined ? parseListen(listenText) : file.listen;
  if (listenText !== undefined && l === null) problems.push(`--listen: expected HOST:PORT, e.g. 127.0.0.1:8765, got ${JSON.stringify(listenText)}`);
  if (l) {
    const token = file.listenToken ?? (env.TOLLGATE_MCP_TOKEN && env.TOLLGATE_MCP_TOKEN !== "" ? env.TOLLGATE_MCP_TOKEN : null);
    if (token === null && !isLoopback(l.host)) problems.push(`--listen ${l.host}: serving beyond loopback needs a token (listen_token or $TOLLGATE_MCP_TOKEN)`);
    listen = { ...l, token };
  }
  let progressIntervalMs = file.progressIntervalMs ?? DEFAULT_PROGRESS_MS;
  if (s("progress-interval") !== undefined) {
    const ms = parseDuration(s("progress-interval"));
    if (ms === null || ms <= 0) problems.push(`--progress-interval: expected a duration like 500ms, 5s, got ${JSON.stringify(s("progress-interval"))}`);
    else progressIntervalMs = ms;
  }
  let maxMessageBytes = file.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  if (s("max-message-bytes") !== undefined) {
    const n = Number(s("max-message-bytes"));
    if (!/^\d+$/.test(s("max-message-bytes")!) || n < 1024 || !Number.isSafeInteger(n)) problems.push("--max-message-bytes: expected a number of bytes (at least 1024)");
    else maxMessageBytes = n;
  }
  let logLevel = file.logLevel ?? "info";
  const ll = s("log-level");
  if (ll !== undefined) {
    if (LOG_LEVELS.includes(ll as LogLevel)) logLevel = ll as LogLevel;
    else problems.push(`--log-level: expected one of ${LOG_LEVELS.join(", ")}`);
  }
  const agent = s("agent") ?? file.agent ?? gatewayName;
  const session = s("session") ?? (file.session === undefined ? null : file.session);
  if (problems.length > 0 || decisions === undefined) throw new McpConfigError(problems);
  return { name: gatewayName, upstreams, decisions, agent, session, hideDenied, listen, progressIntervalMs, maxMessageBytes, logLevel };
}
