// `tollgate approvals list|show|approve|deny|console`: people looking at and resolving approvals in
// the store directly — a SQLite file, or a postgres:// URL (docs/approvals.md); `console` serves
// the web console for a SQLite file on a local HTTP server. An approval is named by its id or a
// unique prefix of it. The audit record of a resolution made here: with --audit-dir, written here
// at once if no process holds the log's writer lock; else the process that owns the audit log
// (SQLite: by polling; PostgreSQL: one of the instances, told by NOTIFY) notices the resolution
// and writes it (at once if it runs, else when it next opens).

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { subcommand, type CommandSpec, type OptionSpec } from "../argv.js";
import type { Approval, ApprovalState } from "../approvals/approval.js";
import { APPROVAL_STATES, ApprovalError } from "../approvals/approval.js";
import { openApprovalStore } from "../approvals/open-store.js";
import type { ApprovalStore } from "../approvals/store-api.js";
import { isPostgresUrl } from "../approvals/store-api.js";
import { logBeside, recordTransition } from "../pipeline/offline-transition.js";
import { startLocalConsole } from "../server/console-local.js";
import type { Principal } from "../server/tokens.js";
import { EXIT_FAILED, EXIT_OK, write, type CommandIo } from "./io.js";
import { parseOrUsage, usageError } from "./usage.js";

/** Every option of the subcommands (which takes which: SUBCOMMANDS); parsing and --help come from here. */
const OPTIONS = {
  db: { type: "string", arg: "FILE|postgres://...", description: "the approvals store: a SQLite file or a postgres:// URL (console: a SQLite file); default: AUDIT_DIR/approvals.db with --audit-dir, else $TOLLGATE_APPROVALS" },
  "audit-dir": { type: "string", arg: "DIR", description: "the gate's audit directory: --db defaults to DIR/approvals.db; approve/deny write the resolution's audit record to its log at once when no gate or server holds it" },
  state: { type: "string", choices: ["pending", "approved", "denied", "expired", "all"], default: "pending", description: "which approvals to list" },
  approver: { type: "string", arg: "NAME", description: "list: only those waiting for this approver; console: the approvers it acts for (NAME[,NAME...]; default: all, as an admin)" },
  limit: { type: "string", arg: "N", description: "at most N, newest first" },
  json: { type: "boolean", description: "JSON instead of a table (list: one JSON array)" },
  by: { type: "string", arg: "NAME", description: "who resolves it (kept in the approval and its audit record)" },
  note: { type: "string", arg: "TEXT", description: "why (kept with the resolution)" },
  host: { type: "string", arg: "ADDR", default: "127.0.0.1", description: "console: the address to listen on" },
  port: { type: "string", arg: "N", default: "8790", description: "console: the port (0: any free one)" },
  token: { type: "string", arg: "TOKEN", description: "console: the token that signs in (default: $TOLLGATE_CONSOLE_TOKEN, else one made up and printed)" },
} as const satisfies Record<string, OptionSpec>;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

/** Which options each subcommand takes, which it requires, and whether it takes the approval id. */
const SUBCOMMANDS: Record<string, { options: (keyof typeof OPTIONS)[]; required: (keyof typeof OPTIONS)[]; id: boolean; summary: string }> = {
  list: { options: ["db", "audit-dir", "state", "approver", "limit", "json"], required: [], id: false, summary: "List approvals, newest first (pending ones by default), as a table." },
  show: { options: ["db", "audit-dir", "json"], required: [], id: true, summary: "Show one approval (ID: its id or a unique prefix of it): its state, rule, reason, policy, times, audit records and action." },
  approve: { options: ["db", "audit-dir", "by", "note"], required: ["by"], id: true, summary: "Approve a pending approval (the action is allowed). With --audit-dir and no gate holding the log, its record is written here; else the process owning the audit log writes it." },
  deny: { options: ["db", "audit-dir", "by", "note"], required: ["by"], id: true, summary: "Deny a pending approval (the action is refused). With --audit-dir and no gate holding the log, its record is written here; else the process owning the audit log writes it." },
  console: { options: ["db", "audit-dir", "host", "port", "token", "by", "approver"], required: [], id: false, summary: "Serve the approvals web console for a SQLite file on a local HTTP server, until Ctrl-C (docs/approvals.md, \"The console\")." },
};

/** The console serves a SQLite file (with PostgreSQL, `tollgate serve` serves it at /console/). */
const CONSOLE_DB = { arg: "FILE", description: "the SQLite file of the approvals; default: AUDIT_DIR/approvals.db with --audit-dir, else $TOLLGATE_APPROVALS" } as const;

/** The environment variable --db defaults to (after --audit-dir): a SQLite file or a postgres:// URL. */
export const APPROVALS_ENV = "TOLLGATE_APPROVALS";

/** A prefix names an approval only if it is at least this long (a full id may be anything). */
export const MIN_PREFIX = 4;

export const APPROVALS: CommandSpec = {
  name: "approvals",
  summary: "Look at and resolve approvals. The approvals escalations wait for, in their store directly: a SQLite file or a postgres:// URL (docs/approvals.md).",
  options: {},
  subcommands: Object.entries(SUBCOMMANDS).map(([name, s]) => ({
    name: `approvals ${name}`,
    summary: s.summary,
    ...(s.id && { args: "ID" }),
    options: Object.fromEntries(s.options.map((o) => [o, { ...OPTIONS[o], ...(s.required.includes(o) && { required: true }), ...(name === "console" && o === "db" && CONSOLE_DB) }])),
  })),
};

export async function approvalsCommand(args: string[], io: CommandIo): Promise<number> {
  const { spec, args: rest } = subcommand(APPROVALS, args);
  const sub = spec.name.split(" ")[1];
  if (sub === undefined) return usageError(APPROVALS, args[0] === undefined ? undefined : `unknown subcommand '${args[0]}'`, io);
  const usage = (why: string): Promise<number> => usageError(spec, why, io, APPROVALS);
  const parsed = await parseOrUsage(spec, rest, io, APPROVALS);
  if (typeof parsed === "number") return parsed;
  const values: Values = parsed.values;
  const positionals = parsed.positionals;
  let state: ApprovalState | undefined;
  if (sub === "list") {
    const s = values.state ?? "pending";
    if (s !== "all" && !APPROVAL_STATES.includes(s as ApprovalState)) return usage(`unknown state '${s}'`);
    state = s === "all" ? undefined : (s as ApprovalState);
  }
  let limit: number | undefined;
  if (values.limit !== undefined) {
    if (!/^\d+$/.test(values.limit) || !Number.isSafeInteger(Number(values.limit))) return usage(`--limit must be a non-negative integer`);
    limit = Number(values.limit);
  }

  let port = 8790;
  if (values.port !== undefined) {
    if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) return usage(`--port must be a port number (0: any free one)`);
    port = Number(values.port);
  }

  const auditDir = values["audit-dir"];
  const fromEnv = process.env[APPROVALS_ENV];
  const location = values.db ?? (auditDir !== undefined ? join(auditDir, "approvals.db") : fromEnv !== undefined && fromEnv !== "" ? fromEnv : undefined);
  if (location === undefined) return usage(`which approvals store? give --db FILE|postgres://..., or --audit-dir DIR (DIR/approvals.db), or set $${APPROVALS_ENV}`);
  const pg = isPostgresUrl(location);
  const path = pg ? shown(location) : location;
  if (sub === "console" && pg) return usage("'console' serves a SQLite file (--db FILE); with PostgreSQL, use tollgate serve's /console/");
  if (!pg && !existsSync(path)) {
    await write(io.stderr, `tollgate: no approvals database at ${path}\n`);
    return EXIT_FAILED;
  }
  if (sub === "console") return consoleCommand(path, values, port, io);
  let store: ApprovalStore;
  try {
    store = await openApprovalStore(location, { max: 1, writesAudit: false });
  } catch (err) {
    await write(io.stderr, `tollgate: cannot open ${path}: ${(err as Error).message}\n`);
    return EXIT_FAILED;
  }
  try {
    if (sub === "list") {
      const rows = await store.list({ state, approver: values.approver, limit });
      await write(io.stdout, values.json ? `${JSON.stringify(rows, null, 2)}\n` : table(rows));
      return EXIT_OK;
    }
    const found = await lookUp(store, positionals[0]!);
    if (typeof found !== "string") {
      await write(io.stderr, `tollgate: ${found.error ?? `approval ${positionals[0]} not found in ${path}`}\n`);
      return EXIT_FAILED;
    }
    const id = found;
    if (sub === "show") {
      const a = await store.get(id);
      if (!a) {
        await write(io.stderr, `tollgate: approval ${id} not found in ${path}\n`);
        return EXIT_FAILED;
      }
      await write(io.stdout, values.json ? `${JSON.stringify(a, null, 2)}\n` : details(a));
      return EXIT_OK;
    }
    const to = sub === "approve" ? "approved" : "denied";
    const a = await store.resolve(id, to, { by: values.by!, note: values.note ?? null, at: new Date().toISOString(), outcome: to === "approved" ? "allow" : "deny" });
    await write(io.stdout, `${a.state} ${a.id} (outcome ${a.outcome}) by ${a.resolved_by} at ${a.resolved_at}\n`);
    await write(io.stdout, `${await recordTransition(store, a, auditDir ?? (pg ? undefined : await logBeside(path, a)))}\n`);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof ApprovalError) {
      await write(io.stderr, `tollgate: ${err.message}\n`);
      return EXIT_FAILED;
    }
    throw err;
  } finally {
    await store.close();
  }
}

/**
 * The approval `given` names: the id itself, else the one id it is a prefix of (at least
 * MIN_PREFIX characters); otherwise `error` says why not (ambiguous, with the candidates), or
 * nothing does (not found).
 */
async function lookUp(store: ApprovalStore, given: string): Promise<string | { error?: string }> {
  if (await store.get(given)) return given;
  if (given.length < MIN_PREFIX) return {};
  const ids = await store.idsWithPrefix(given, 11);
  if (ids.length === 1) return ids[0]!;
  if (ids.length === 0) return {};
  const candidates = ids.slice(0, 10).map((i) => `  ${i}\n`).join("") + (ids.length > 10 ? "  ...\n" : "");
  return { error: `approval id prefix '${given}' is ambiguous; it matches:\n${candidates}give more of the id` };
}

/** A postgres:// URL without its password. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * `tollgate approvals console`: serves the web console for the file until SIGINT or SIGTERM. One
 * token signs in: --token, else $TOLLGATE_CONSOLE_TOKEN, else a random one, printed. It acts as
 * --by (default: the user's name), for the approvers named by --approver, or for all of them.
 */
async function consoleCommand(path: string, values: Values, port: number, io: CommandIo): Promise<number> {
  const approvers = (values.approver ?? "").split(",").map((a) => a.trim()).filter((a) => a !== "");
  let identity = values.by;
  if (identity === undefined) {
    try {
      identity = userInfo().username;
    } catch {
      identity = "console";
    }
  }
  const who: Principal = approvers.length > 0 ? { identity, role: "approver", approvers } : { identity, role: "admin", approvers: [] };
  const given = values.token ?? process.env.TOLLGATE_CONSOLE_TOKEN;
  const token = given !== undefined && given !== "" ? given : randomBytes(24).toString("base64url");
  const host = values.host ?? "127.0.0.1";
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) {
    await write(io.stderr, `tollgate approvals console: warning: listening on ${host} over plain HTTP: the token crosses the network unencrypted (put a TLS proxy in front, or keep the default 127.0.0.1 and use an SSH tunnel)\n`);
  }
  let server;
  try {
    server = await startLocalConsole({ db: path, host, port, token, who, auditDir: values["audit-dir"] ?? null });
  } catch (err) {
    await write(io.stderr, `tollgate approvals console: ${(err as Error).message}\n`);
    return EXIT_FAILED;
  }
  const scope = approvers.length > 0 ? `for ${approvers.join(", ")}` : "for every approver";
  await write(
    io.stdout,
    `tollgate approvals console: ${path} at ${server.url}\n` +
      `  signs in as ${identity} (${scope}); resolutions are written to the file, and the process that owns the audit log records them\n` +
      (given === undefined || given === ""
        ? `  token (made up now, valid while this runs): ${token}\n  or open (the part after # stays in the browser): ${server.url}#token=${token}\n`
        : "  token: the one you gave\n") +
      "  Ctrl-C stops it\n",
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await server.close();
  return EXIT_OK;
}

function table(rows: Approval[]): string {
  if (rows.length === 0) return "no approvals\n";
  const head = ["ID", "STATE", "APPROVER", "RULE", "POLICY", "CREATED", "EXPIRES", "OUTCOME", "BY"];
  const body = rows.map((a) => [a.id, a.state, a.approver, a.rule ?? "-", a.policy, a.created, a.expires, a.outcome ?? "-", a.resolved_by ?? "-"]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ") + "\n";
  return line(head) + body.map(line).join("");
}

function details(a: Approval): string {
  const lines: [string, string][] = [
    ["id", a.id],
    ["state", a.state],
    ["approver", a.approver],
    ["rule", a.rule ?? "-"],
    ["reason", a.decision?.reason ?? "-"],
    ["policy", `${a.policy} (${a.policy_hash})`],
    ["created", a.created],
    ["expires", `${a.expires} (on timeout: ${a.on_timeout})`],
    ["decision", `audit seq ${a.decision_seq}, hash ${a.decision_hash}`],
  ];
  if (a.state !== "pending") {
    lines.push(["outcome", a.outcome ?? "-"], ["resolved by", a.resolved_by ?? "-"], ["resolved at", a.resolved_at ?? "-"]);
    if (a.note !== null) lines.push(["note", a.note]);
    lines.push(["resolution", a.resolution_seq === null ? "audit record not written yet" : `audit seq ${a.resolution_seq}, hash ${a.resolution_hash}`]);
  }
  const width = "resolved by:".length; // the same layout for every state
  const action = JSON.stringify(a.action, null, 2).split("\n").map((l) => `  ${l}`).join("\n");
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}\n`).join("") + `action:\n${action}\n`;
}
