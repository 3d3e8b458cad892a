// What the adapter tests share: a policy that allows, denies, escalates and rate-limits tool
// calls, gates over temp audit dirs, the audit records, and a way to approve while a call waits.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Gate } from "../../src/gate/gate.js";
import type { Approval } from "../../src/approvals/approval.js";
import { Policy } from "../../src/policy.js";
import { tempDir } from "../audit/helpers.js";

export const POLICY = `tollgate: 1
name: adapters-test
default: deny
approvers:
  finance: { timeout: 10m, on_timeout: deny }
  hasty: { timeout: 300ms, on_timeout: deny }
counters:
  lookups:
    per: [session.id]
    window: 1h
    when: { tool: shop.lookup }
rules:
  - { id: no-drop, effect: deny, reason: Destructive SQL is never allowed, when: { tool: shop.query, args.sql: { matches: "(?i)\\\\bdrop\\\\b" } } }
  - { id: lookup-limit, effect: deny, reason: At most 3 lookups per session, when: { tool: shop.lookup, $lookups: { gt: 3 } } }
  - { id: big-refund, effect: escalate, approver: finance, reason: Refunds over 500 need finance, when: { tool: shop.refund, args.amount: { gt: 500 } } }
  - { id: restart, effect: escalate, approver: hasty, reason: Restarts need ops within 300ms, when: { tool: shop.restart } }
  - { id: refunds, effect: allow, when: { tool: shop.refund } }
  - { id: reads, effect: allow, when: { tool: [shop.query, shop.lookup, shop.count] } }
`;

const open: Gate[] = [];

export async function openGate(): Promise<{ gate: Gate; dir: string }> {
  const dir = tempDir("adapters");
  const gate = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir, audit: { batchWindowMs: 0 } });
  open.push(gate);
  return { gate, dir };
}

export async function closeGates(): Promise<void> {
  for (const g of open.splice(0)) await g.close().catch(() => undefined);
}

export function records(dir: string): Record<string, any>[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".jsonl"))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)));
}

/** The first pending approval, once one exists (the adapter is waiting on it). */
export async function pendingApproval(gate: Gate, timeoutMs = 10_000): Promise<Approval> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const [a] = await gate.approvals.list({ state: "pending" });
    if (a) return a;
    if (Date.now() > until) throw new Error("no pending approval appeared");
    await new Promise((r) => setTimeout(r, 5));
  }
}
