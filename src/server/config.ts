// `tollgate serve` options: the command line (node:util parseArgs) over an optional YAML file.

import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
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

export const SERVE_USAGE =
  "tollgate serve --policy FILE --audit-dir DIR --tokens FILE [--audit-witness FILE|URL] [--state memory|redis://HOST:PORT] [--port 8181] [--host 127.0.0.1] [--workers N] [--approvals FILE|postgres://...] [--shadow CANDIDATE.yaml] [--shadow-log FILE] [--config FILE.yaml] [--log-level info] [--no-watch] [--persist-policy] [--otel] | serve --hash-token TOKEN";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Every option: command-line name, YAML key (the same name; snake_case also accepted), kind. */
const OPTIONS = {
  policy: { kind: "path" },
  "audit-dir": { kind: "path" },
  "audit-witness": { kind: "path-or-url" },
  state: { kind: "string" },
  tokens: { kind: "path" },
  approvals: { kind: "path-or-postgres" },
  host: { kind: "string" },
  port: { kind: "int" },
  workers: { kind: "int" },
  "log-level": { kind: "string" },
  watch: { kind: "bool" },
  "persist-policy": { kind: "bool" },
  otel: { kind: "bool" },
  "body-limit": { kind: "int" },
  "request-timeout": { kind: "duration" },
  "keep-alive-timeout": { kind: "duration" },
  "max-wait": { kind: "duration" },
  "shutdown-timeout": { kind: "duration" },
  "max-batch": { kind: "int" },
  shadow: { kind: "path" },
  "shadow-log": { kind: "path" },
} as const;
type OptionName = keyof typeof OPTIONS;

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

export type ServeArgs = { hashToken: string } | { config: ServerConfig };

/** Parses `tollgate serve` arguments (and the --config file). Throws ConfigError. */
export function parseServeArgs(args: string[], cwd = process.cwd()): ServeArgs {
  const spec: Record<string, { type: "string" | "boolean" }> = { config: { type: "string" }, "hash-token": { type: "string" }, "no-watch": { type: "boolean" } };
  for (const [name, o] of Object.entries(OPTIONS)) spec[name] = { type: o.kind === "bool" ? "boolean" : "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options: spec, allowPositionals: false, strict: true }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    throw new ConfigError((err as Error).message);
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
  if (values["no-watch"] === true) merged.set("watch", false);

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
