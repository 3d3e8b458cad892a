// The replay report for people (text) and for programs (`--format json`: the ReplayResult as one
// JSON document).

import type { Outcome } from "./sources.js";
import type { ReplayResult } from "./report.js";

const n = (x: number): string => x.toLocaleString("en-US");
const pct = (x: number, of: number): string => (of === 0 ? "0%" : `${((100 * x) / of).toFixed(x === of || x === 0 ? 0 : 2)}%`);
const outcomeText = (o: Outcome): string => `${o.decision} ${o.rule ?? "(default)"}`;
const short = (hash: string): string => hash.slice(0, 12);

export function formatJson(r: ReplayResult): string {
  return JSON.stringify(r) + "\n";
}

export function formatText(r: ReplayResult): string {
  const out: string[] = [];
  const t = r.totals;
  const old = r.against === null ? "the recorded decisions" : `${r.against.file} (${r.against.name} ${short(r.against.hash)})`;
  out.push(`replay of ${r.candidate.file} (${r.candidate.name} ${short(r.candidate.hash)}) against ${old}`);
  for (const s of r.sources) {
    const parts = [`${n(s.actions)} actions`];
    if (s.transitions > 0) parts.push(`${n(s.transitions)} approval transitions`);
    if (s.events > 0) parts.push(`${n(s.events)} audit events`);
    if (s.skipped > 0) parts.push(`${n(s.skipped)} skipped`);
    out.push(`  ${s.source} (${s.kind === "audit" ? "audit log" : "actions"}): ${parts.join(", ")}`);
    if (s.recordedPolicies.length > 0) {
      out.push(`    recorded under ${s.recordedPolicies.map((p) => `${p.name} ${short(p.hash)} (${n(p.records)})`).join(", ")}`);
    }
  }
  out.push("");
  out.push(`${n(t.actions)} actions replayed: ${n(t.changed)} changed (${pct(t.changed, t.actions)}), ${n(t.unchanged)} unchanged`);
  const effects = (["allow", "deny", "escalate"] as const).map((e) => `${e} ${n(t.before[e])} → ${n(t.after[e])}`);
  out.push(`  ${effects.join(", ")}`);
  if (r.redacted.records > 0) {
    out.push("");
    out.push(`${n(r.redacted.records)} records cannot be replayed exactly: they hold "[redacted]" (audit.redact) at paths the ${r.against === null ? "candidate reads" : "policies read"} (${n(r.redacted.changed)} of them changed):`);
    for (const p of r.redacted.paths) out.push(`  ${p.path}: ${n(p.records)} records`);
  }
  if (r.changes.length > 0) {
    out.push("");
    const rows = r.changes.map((c) => [outcomeText(c.from), outcomeText(c.to), n(c.count), c.inexact > 0 ? `(${n(c.inexact)} redacted)` : ""]);
    const head = ["before", "after", "count", ""];
    const w = [0, 1, 2].map((i) => Math.max(head[i]!.length, ...rows.map((row) => row[i]!.length)));
    const line = (row: string[]): string => `  ${row[0]!.padEnd(w[0]!)}  →  ${row[1]!.padEnd(w[1]!)}  ${row[2]!.padStart(w[2]!)}${row[3] ? `  ${row[3]}` : ""}`.trimEnd();
    out.push(line(head).replace("→", " "));
    for (const row of rows) out.push(line(row));
    for (const c of r.changes) {
      out.push("");
      out.push(`${outcomeText(c.from)} → ${outcomeText(c.to)}: ${n(c.count)}${c.count > c.examples.length ? `, first ${c.examples.length}` : ""}`);
      for (const e of c.examples) {
        const where = e.seq !== undefined ? `${e.source} seq ${e.seq}` : `${e.file}:${e.line}`;
        out.push(`  ${where}: ${e.action}${e.redacted ? `  (redacted: ${e.redacted.join(", ")})` : ""}`);
      }
    }
  }
  if (r.skipped.length > 0) {
    out.push("");
    out.push(`${n(t.skipped)} not replayed:`);
    for (const s of r.skipped) {
      const where = s.examples.map((e) => (e.seq !== undefined ? `${e.source} seq ${e.seq}` : `${e.file}:${e.line}`)).join(", ");
      out.push(`  ${s.reason}: ${n(s.count)} (${where}${s.count > s.examples.length ? ", …" : ""})`);
    }
  }
  for (const note of r.notes) out.push(`note: ${note}`);
  out.push("");
  out.push(t.changed === 0 ? "no decision changes" : `${n(t.changed)} decision${t.changed === 1 ? "" : "s"} change`);
  return out.join("\n") + "\n";
}
