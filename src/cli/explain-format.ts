// The explain tree as a person reads it (`tollgate eval --explain`): one line per rule evaluated,
// its conditions indented under it, ✓ TRUE / ✗ FALSE / ? UNKNOWN, then the allow rules that came
// closest for a deny. Colour only when asked (a terminal).

import type { Explanation, NodeExplanation, RuleExplanation, TestExplanation, Tri } from "../explain.js";

const MARK: Record<Tri, string> = { TRUE: "✓", FALSE: "✗", UNKNOWN: "?" };
const COLOUR: Record<Tri, string> = { TRUE: "\x1b[32m", FALSE: "\x1b[31m", UNKNOWN: "\x1b[33m" };
const DIM = "\x1b[2m";
const BOLD = "\x1b[1m";
const RESET = "\x1b[0m";

const text = (v: unknown): string => JSON.stringify(v) ?? String(v);

export function formatExplanation(e: Explanation, colour: boolean): string {
  const paint = (code: string, s: string): string => (colour ? code + s + RESET : s);
  const mark = (r: Tri): string => paint(COLOUR[r], MARK[r]);
  const seen = (n: { value?: unknown }): string => paint(DIM, "value" in n ? `(seen ${text(n.value)})` : "(absent)");
  const test = (t: TestExplanation): string => `${t.op} ${text(t.operand)}`;
  const lines: string[] = [];
  const d = e.decision;

  let head = `${paint(BOLD, d.decision)}`;
  head += d.rule !== null ? ` by ${d.rule}` : d.error !== undefined ? "" : " (default)";
  if (d.undetermined) head += " (undetermined)";
  if (d.reason !== null) head += `: ${d.reason}`;
  lines.push(head);
  if (e.counters !== undefined && e.counters.length > 0) {
    const c = e.counters.map((x) => `${x.name} = ${x.value === null ? "unknown" : x.value} (+${x.contribution === null ? "?" : x.contribution})`);
    lines.push(`  counters: ${c.join(", ")}`);
  }

  const node = (n: NodeExplanation, indent: string): void => {
    if (n.kind === "field" || n.kind === "counter") {
      const name = n.kind === "field" ? n.path : `$${n.counter}`;
      const value = n.kind === "field" ? seen(n) : paint(DIM, `(value ${n.value === null ? "unknown" : n.value})`);
      if (n.tests.length === 1) {
        lines.push(`${indent}${mark(n.result)} ${name} ${test(n.tests[0]!)}  ${value}`);
      } else {
        lines.push(`${indent}${mark(n.result)} ${name}  ${value}`);
        for (const t of n.tests) lines.push(`${indent}    ${mark(t.result)} ${test(t)}`);
      }
      return;
    }
    lines.push(`${indent}${mark(n.result)} ${n.kind}`);
    for (const c of n.children) node(c, indent + "    ");
  };

  const rule = (r: RuleExplanation): void => {
    const decided = r.decided ? paint(BOLD, "  ◀ decided") : "";
    lines.push(`  ${mark(r.result)} ${r.effect} ${r.id}${decided}`);
    for (const w of r.when) {
      if (w.group !== null) {
        lines.push(`      ${mark(w.result)} group ${w.group}`);
        for (const c of w.conditions) node(c, "          ");
      } else {
        for (const c of w.conditions) node(c, "      ");
      }
    }
  };
  e.rules.forEach(rule);
  if (e.rules.length === 0 && d.error === undefined) lines.push("  (no rule applies to this tool)");

  if (e.closest.length > 0) {
    lines.push("  closest allow rules:");
    for (const c of e.closest) {
      const failed = c.tests.map((t) => `${mark(t.result)} ${t.path} ${test(t)} ${seen(t)}`);
      lines.push(`    ${c.id}: ${c.failed === 0 ? "every test held (a deny wins)" : failed.join(", ")}`);
    }
  }
  return lines.join("\n") + "\n";
}
