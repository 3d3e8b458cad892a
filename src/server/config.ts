// `tollgate serve` options: the command line (node:util parseArgs, through src/argv.ts) over an
// optional YAML file. OPTIONS is the one list of them: the command line, the file's keys and
// `tollgate serve --help` all come from it (and test/cli-help.test.ts holds the README's table to it).

import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseYaml } from "../yaml-document.js";
import { formatHelp, formatUsage, parseCommand, UsageError, type CommandSpec, type OptionSpec } from "../argv.js";
import { isWitnessUrl } from "../audit/witness.js";
import { isPostgresUrl } from "../approvals/store-api.js";
import { parseDuration } from "../duration.js";
import { defaultShadowLog } from "../pipeline/shadow.js";

export interface ServerConfig {
  /** The policy file (YAML); reloaded on SIGHUP and when it changes. */
  policy: string;
  /** The audit log directory (one writer: the primary process). */
  auditDir: string;
  /** tokens.yaml: SHA-256 hashes of bearer tokens → identity and role. */
  tokens: string;
  /** The SQLite file of the approvals (default `<auditDir>/approvals.db`), or a postgres:// URL (shared by several instances). */
  approvals: string;
  /** Where every audit checkpoint also goes: a file outside the audit directory or an http(s) URL. */
  auditWitness?: string;
  /** Where counters live (spec section 8): "memory" (the primary, rebuilt from the audit log;
   *  the default) or a redis:// URL shared by several servers and library processes. */
  state: string;
  host: string;
  /** 0 = an ephemeral port (reported in the "listening" log line). */
  port: number;
  workers: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Reload the policy when its file changes (fs.watch, debounced). */
  watch: boolean;
  /** PUT /v1/policy writes the accepted policy to the policy file (atomically) before serving it. */
  persistPolicy: boolean;
  /** OpenTelemetry spans of decide requests (also on when OTEL_EXPORTER_OTLP_ENDPOINT is set; tracing.ts). */
  otel: boolean;
  /** Largest request body (bytes); larger → 413. PUT /v1/policy allows up to 16 MiB. */
  bodyLimit: number;
  /** A request must be fully received within this (ms), else 408 and the connection is closed. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this (ms). */
  keepAliveTimeoutMs: number;
  /** The longest long poll of GET /v1/approvals/{id}/wait (ms); longer requests are capped. */
  maxWaitMs: number;
  /** SIGTERM: how long in-flight requests may take before the workers are killed (ms). */
  shutdownTimeoutMs: number;
  /** Largest `actions` array of POST /v1/decide/batch. */
  maxBatch: number;
  /** A candidate policy (YAML file) taking every decision too, read at start (docs/server.md, "Shadow"). */
  shadow?: string;
  /** The shadow's disagreement log (JSON lines; default `<auditDir>-shadow.jsonl`, beside the audit directory). */
  shadowLog: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Every option: command-line name, YAML key (the same name; snake_case also accepted), kind, and
 *  for --help the value's name, the default (as shown) and what it does. */
const OPTIONS = {
  policy: { kind: "path", arg: "FILE", required: true, description: "the policy (YAML); reloaded on SIGHUP, when the file changes, or by PUT /v1/policy (a PUT policy is served only until the next reload from the file, unless --persist-policy)" },
  "audit-dir": { kind: "path", arg: "DIR", required: true, description: "the audit log directory (created; one writer)" },
  "audit-witness": { kind: "path-or-url", arg: "FILE|URL", default: "none", description: "a copy of every signed audit checkpoint, kept outside the audit directory (a file, replaced atomically, or a webhook that gets a POST); checked at start and by tollgate audit verify --witness" },
  state: { kind: "string", arg: "memory|redis://HOST:PORT", default: "memory", description: "where counters live: in the primary (rebuilt from the audit log at start), or in a Redis shared by several servers and library processes; an unreachable Redis answers 503" },
  tokens: { kind: "path", arg: "FILE", required: true, description: "tokens.yaml (SHA-256 of each token -> identity, role, approvers); re-read on SIGHUP" },
  approvals: { kind: "path-or-postgres", arg: "FILE|postgres://...", default: "<audit-dir>/approvals.db", description: "the SQLite file of the approvals, or a postgres:// URL: several instances share one queue (docs/approvals.md, \"PostgreSQL\")" },
  host: { kind: "string", arg: "ADDR", default: "127.0.0.1", description: "address to listen on (0.0.0.0 for all interfaces)" },
  port: { kind: "int", arg: "N", default: "8181", description: "port; 0 picks a free one (see the listening log line)" },
  workers: { kind: "int", arg: "N", default: "one per core (os.availableParallelism())", description: "HTTP worker processes, each with its own Wasm instance" },
  "log-level": { kind: "string", arg: "L", default: "info", description: "fatal, error, warn, info, debug (also logs every request), trace, silent; JSON lines on stdout" },
  watch: { kind: "bool", default: "on", description: "reload the policy when its file changes (--no-watch, or watch: false in the file, turns it off)" },
  "persist-policy": { kind: "bool", default: "off", description: "PUT /v1/policy writes the accepted policy to the --policy file (atomically: temporary file, fsync, rename) before serving it, so a reload cannot bring the old one back; a PUT that cannot be written answers 503 and changes nothing" },
  otel: { kind: "bool", default: "off", description: "OpenTelemetry (also on when OTEL_EXPORTER_OTLP_ENDPOINT is set): a span per decide request (tollgate.decide, tollgate.decide_batch) with the decision, rule, policy hash and audit id, a child of the caller's traceparent; exporter, protocol and sampler from the standard OTEL_* variables (docs/server.md, \"Traces\")" },
  "body-limit": { kind: "int", arg: "BYTES", default: "1048576", description: "largest request body (413 above); PUT /v1/policy allows 16 MiB" },
  "request-timeout": { kind: "duration", arg: "D", default: "10s", description: "a request (headers and body) must arrive within this, else 408 and the connection is closed" },
  "keep-alive-timeout": { kind: "duration", arg: "D", default: "72s", description: "idle keep-alive connections are closed after this" },
  "max-wait": { kind: "duration", arg: "D", default: "60s", description: "cap on GET /v1/approvals/{id}/wait?timeout=" },
  "shutdown-timeout": { kind: "duration", arg: "D", default: "30s", description: "on SIGTERM, in-flight requests get this long before workers are killed (exit 1)" },
  "max-batch": { kind: "int", arg: "N", default: "10000", description: "most actions in one POST /v1/decide/batch" },
  shadow: { kind: "path", arg: "CANDIDATE.yaml", default: "none", description: "a candidate policy taking every decision too (never answered, never recorded); disagreements go to --shadow-log (docs/server.md, \"Shadow\")" },
  "shadow-log": { kind: "path", arg: "FILE", default: "<audit-dir>-shadow.jsonl", description: "the shadow's disagreement log (JSON lines)" },
} as const;
type OptionName = keyof typeof OPTIONS;

/** Options of the command line only (not keys of the --config file). */
const COMMAND_LINE_ONLY = {
  config: { type: "string", arg: "FILE.yaml", description: "a YAML file of these options (the same names; snake_case accepted; paths relative to the file); the command line wins" },
  "hash-token": { type: "string", arg: "TOKEN", description: "print the SHA-256 to put in tokens.yaml, and exit" },
} as const satisfies Record<string, OptionSpec>;

/** `tollgate serve`'s declaration (src/argv.ts): parsing and --help. */
export const SERVE: CommandSpec = {
  name: "serve",
  summary: "Run the control plane. Every agent asks it before it acts (POST /v1/decide); it decides with the policy, keeps the audit log, the counters and the approvals, and serves the approval queue (docs/server.md).",
  synopsis: ["serve --policy FILE --audit-dir DIR --tokens FILE [OPTIONS]", "serve --config FILE.yaml [OPTIONS]", "serve --hash-token TOKEN"],
  options: {
    ...Object.fromEntries(
      Object.entries(OPTIONS).map(([name, o]): [string, OptionSpec] => [
        name,
        {
          type: o.kind === "bool" ? "boolean" : "string",
          ...("arg" in o && { arg: o.arg }),
          ...("default" in o && { default: o.default }),
          ...("required" in o && { required: o.required }),
          ...(o.kind === "bool" && "default" in o && o.default === "on" && { negatable: true }),
          description: o.description,
        },
      ]),
    ),
    ...COMMAND_LINE_ONLY,
  },
  details: "Every option but --config and --hash-token is also a key of the --config file (the required\nones may come from there).\n",
  examples: [
    "tollgate serve --policy examples/billing-agent.yaml --audit-dir ./audit --tokens tokens.yaml --port 8181",
    "tollgate serve --config serve.yaml --log-level debug",
    'tollgate serve --hash-token "$TOKEN"',
  ],
};

export const SERVE_USAGE = formatUsage(SERVE).replace(/^usage: /, "").trimEnd();
export const SERVE_HELP = formatHelp(SERVE);

function coerce(name: string, kind: string, value: unknown, base: string): string | number | boolean {
  switch (kind) {
    case "path":
    case "path-or-url":
    case "path-or-postgres":
    case "string":
      if (typeof value !== "string" || value === "") throw new ConfigError(`${name}: expected a non-empty string`);
      if (kind === "path-or-url" && isWitnessUrl(value)) return value;
      if (kind === "path-or-postgres" && isPostgresUrl(value)) return value;
      return kind === "string" ? value : resolve(base, value);
    case "int": {
      const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${name}: expected a non-negative integer, got ${JSON.stringify(value)}`);
      return n;
    }
    case "bool":
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "false") return value === "true";
      throw new ConfigError(`${name}: expected true or false`);
    case "duration": {
      const ms = parseDuration(value);
      if (ms === null) throw new ConfigError(`${name}: expected a duration like 500ms, 30s, 2m (or milliseconds), got ${JSON.stringify(value)}`);
      return ms;
    }
  }
  throw new ConfigError(`${name}: unknown option`);
}

/** A command line that does not parse (an unknown option, a missing value, an argument): exit 64. */
export class ServeUsageError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = "ServeUsageError";
  }
}

export type ServeArgs = { hashToken: string } | { config: ServerConfig };

/** Parses `tollgate serve` arguments (and the --config file). Throws ConfigError. */
export function parseServeArgs(args: string[], cwd = process.cwd()): ServeArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseCommand(SERVE, args, { checkRequired: false }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    throw new ServeUsageError(err.message);
  }
  if (typeof values["hash-token"] === "string") return { hashToken: values["hash-token"] };

  const merged = new Map<OptionName, string | number | boolean>();
  if (typeof values.config === "string") {
    const file = resolve(cwd, values.config);
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`${file}: ${(err as Error).message}`);
    }
    if (doc === null || doc === undefined) doc = {};
    if (typeof doc !== "object" || Array.isArray(doc)) throw new ConfigError(`${file}: expected a mapping of options`);
    for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
      const name = key.replace(/_/g, "-") as OptionName;
      const o = OPTIONS[name];
      if (!o) throw new ConfigError(`${file}: unknown option '${key}' (options: ${Object.keys(OPTIONS).join(", ")})`);
      merged.set(name, coerce(`${file}: ${key}`, o.kind, value, dirname(file)));
    }
  }
  for (const [name, o] of Object.entries(OPTIONS) as [OptionName, (typeof OPTIONS)[OptionName]][]) {
    const v = values[name];
    if (v !== undefined) merged.set(name, coerce(`--${name}`, o.kind, v, cwd));
  }

  const need = (name: OptionName): string => {
    const v = merged.get(name);
    if (typeof v !== "string") throw new ConfigError(`--${name} is required (or '${name}:' in the --config file)`);
    return v;
  };
  const policy = need("policy");
  const auditDir = need("audit-dir");
  const tokens = need("tokens");
  const logLevel = (merged.get("log-level") as string | undefined) ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`--log-level: expected one of ${LOG_LEVELS.join(", ")}`);
  const port = (merged.get("port") as number | undefined) ?? 8181;
  if (port > 65535) throw new ConfigError("--port: expected 0..65535");
  const workers = (merged.get("workers") as number | undefined) ?? availableParallelism();
  if (workers < 1 || workers > 256) throw new ConfigError("--workers: expected 1..256");
  const bodyLimit = (merged.get("body-limit") as number | undefined) ?? 1024 * 1024;
  if (bodyLimit < 1024) throw new ConfigError("--body-limit: expected at least 1024 bytes");
  const state = (merged.get("state") as string | undefined) ?? "memory";
  if (state !== "memory" && !/^rediss?:\/\/./.test(state)) throw new ConfigError(`--state: expected 'memory' or a redis:// URL, got ${JSON.stringify(state)}`);
  const maxBatch = (merged.get("max-batch") as number | undefined) ?? 10_000;
  if (maxBatch < 1) throw new ConfigError("--max-batch: expected at least 1");
  return {
    config: {
      policy,
      auditDir,
      tokens,
      approvals: (merged.get("approvals") as string | undefined) ?? join(auditDir, "approvals.db"),
      ...(merged.has("audit-witness") && { auditWitness: merged.get("audit-witness") as string }),
      state,
      host: (merged.get("host") as string | undefined) ?? "127.0.0.1",
      port,
      workers,
      logLevel: logLevel as ServerConfig["logLevel"],
      watch: (merged.get("watch") as boolean | undefined) ?? true,
      persistPolicy: (merged.get("persist-policy") as boolean | undefined) ?? false,
      otel: (merged.get("otel") as boolean | undefined) ?? false,
      bodyLimit,
      requestTimeoutMs: (merged.get("request-timeout") as number | undefined) ?? 10_000,
      keepAliveTimeoutMs: (merged.get("keep-alive-timeout") as number | undefined) ?? 72_000,
      maxWaitMs: (merged.get("max-wait") as number | undefined) ?? 60_000,
      shutdownTimeoutMs: (merged.get("shutdown-timeout") as number | undefined) ?? 30_000,
      maxBatch,
      ...(merged.has("shadow") && { shadow: merged.get("shadow") as string }),
      shadowLog: (merged.get("shadow-log") as string | undefined) ?? defaultShadowLog(auditDir),
    },
  };
}
