// `tollgate approvals list|show|approve|deny`: people looking at and resolving approvals in the
// store directly — a SQLite file, or a postgres:// URL (docs/approvals.md). The process that owns
// the audit log (SQLite: by polling; PostgreSQL: one of the instances, told by NOTIFY) notices
// resolutions made here and writes their audit records.

import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Approval, ApprovalState } from "../approvals/approval.js";
import { APPROVAL_STATES, ApprovalError } from "../approvals/approval.js";
import type { ApprovalStore } from "../approvals/store-api.js";
import { isPostgresUrl } from "../approvals/store-api.js";
import { openApprovalStore } from "../approvals/open-store.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, write, type CommandIo } from "./io.js";

export const APPROVALS_USAGE =
  "tollgate approvals list --db FILE|postgres://... [--state pending|approved|denied|expired|all] [--approver NAME] [--limit N] [--json]\n" +
  "  tollgate approvals show ID --db FILE [--json]\n" +
  "  tollgate approvals approve ID --db FILE --by NAME [--note TEXT]\n" +
  "  tollgate approvals deny ID --db FILE --by NAME [--note TEXT]";

const OPTIONS = {
  db: { type: "string" },
  state: { type: "string" },
  approver: { type: "string" },
  limit: { type: "string" },
  json: { type: "boolean" },
  by: { type: "string" },
  note: { type: "string" },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

/** Which options each subcommand takes, and how many positionals (the approval id). */
const SUBCOMMANDS: Record<string, { options: (keyof typeof OPTIONS)[]; required: (keyof typeof OPTIONS)[]; id: boolean }> = {
  list: { options: ["db", "state", "approver", "limit", "json"], required: ["db"], id: false },
  show: { options: ["db", "json"], required: ["db"], id: true },
  approve: { options: ["db", "by", "note"], required: ["db", "by"], id: true },
  deny: { options: ["db", "by", "note"], required: ["db", "by"], id: true },
};

export async function approvalsCommand(args: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  const usage = async (why?: string) => {
    await write(io.stderr, `${why ? `tollgate approvals: ${why}\n` : ""}usage: ${APPROVALS_USAGE}\n`);
    return EXIT_USAGE;
  };
  if (sub === "help" || sub === "--help" || sub === "-h") {
    await write(io.stdout, `usage: ${APPROVALS_USAGE}\n`);
    return 0;
  }
  const spec = sub === undefined ? undefined : SUBCOMMANDS[sub];
  if (!spec) return usage(sub === undefined ? undefined : `unknown subcommand '${sub}'`);
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] });
  } catch (err) {
    return usage((err as Error).message);
  }
  for (const key of Object.keys(values) as (keyof typeof OPTIONS)[]) {
    if (!spec.options.includes(key)) return usage(`'${sub}' does not take --${key}`);
  }
  for (const key of spec.required) {
    if (values[key] === undefined || values[key] === "") return usage(`'${sub}' needs --${key}`);
  }
  if (positionals.length !== (spec.id ? 1 : 0)) return usage(spec.id ? `'${sub}' needs exactly one approval ID` : `'${sub}' takes no arguments`);
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

  const location = values.db!;
  const pg = isPostgresUrl(location);
  const path = pg ? shown(location) : location;
  if (!pg && !existsSync(path)) {
    await write(io.stderr, `tollgate: no approvals database at ${path}\n`);
    return EXIT_FAILED;
  }
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
      await write(io.stdout, values.json ? rows.map((a) => JSON.stringify(a)).join("\n") + (rows.length ? "\n" : "") : table(rows));
      return EXIT_OK;
    }
    const id = positionals[0]!;
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
