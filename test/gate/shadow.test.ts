// The gate's shadow policy (issue 15, "Shadow"): a candidate takes every decision too, with
// counters of its own; the answers, the audit log and the live counters are the live policy's;
// disagreements are counted (tollgate_shadow_disagreements_total) and logged as JSON lines.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Gate } from "../../src/gate/gate.js";
import { Policy } from "../../src/policy.js";
import { tempDir } from "../audit/helpers.js";
import { auditRecords } from "../server/helpers.js";

// Live: 5 per agent an hour; the candidate: 2, drops escalate, a redacted field of its own.
const LIVE = readFileSync(join(import.meta.dirname, "../fixtures/shadow-live.yaml"), "utf8");
const CANDIDATE = readFileSync(join(import.meta.dirname, "../fixtures/shadow-candidate.yaml"), "utf8");

const gates: Gate[] = [];
afterEach(async () => {
  for (const g of gates.splice(0)) await g.close();
});

async function open(dir: string, shadow?: string | Policy, shadowLog?: string): Promise<Gate> {
  const gate = await Gate.open({ policy: Policy.fromYaml(LIVE), auditDir: join(dir, "audit"), shadow: typeof shadow === "string" ? Policy.fromYaml(shadow) : shadow, shadowLog });
  gates.push(gate);
  return gate;
}

async function waitLines(path: string, n: number): Promise<unknown[]> {
  for (let i = 0; i < 200 && lines(path).length < n; i++) await new Promise((r) => setTimeout(r, 10));
  return lines(path);
}

const lines = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);

describe("Gate shadow option", () => {
  it("answers with the live policy, counts the candidate's own way, and logs each disagreement", async () => {
    const dir = tempDir();
    const gate = await open(dir, CANDIDATE);
    const act = { tool: "t", agent: { id: "a" }, args: { secret: "s3", token: "tk" } };
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await gate.check(act));
    // The count includes the action: live denies the 6th (> 5); the candidate the 3rd on (> 2).
    expect(answers.map((d) => d.decision)).toEqual(["allow", "allow", "allow", "allow", "allow", "deny"]);
    expect(answers.every((d) => d.policy === "live")).toBe(true);
    // The live counter counted the live allows, nothing of the candidate's.
    expect(gate.policy.state!.sum("n", ["a"], Date.now())).toBe(5);
    expect(gate.shadow!.state!.sum("n", ["a"], Date.now())).toBe(2);

    const drop = await gate.check({ tool: "drop", agent: { id: "a" } });
    expect(drop.decision).toBe("deny");

    const text = await gate.metrics();
    await gate.close(); // flushes the disagreement log
    gates.length = 0;
    const log = lines(join(dir, "audit-shadow.jsonl")); // the default: beside the audit directory
    expect(log.map((l) => [l.live.decision, l.shadow.decision, l.shadow.rule])).toEqual([
      ["allow", "deny", "tight-cap"],
      ["allow", "deny", "tight-cap"],
      ["allow", "deny", "tight-cap"],
      ["deny", "escalate", "drop-review"],
    ]);
    expect(log[0]).toMatchObject({ audit_seq: answers[2]!.audit_seq, audit_id: answers[2]!.audit_id, live: { rule: null, policy: "live", policy_hash: gate.policy.hash }, shadow: { policy: "candidate" } });
    expect(log[3]).toMatchObject({ audit_seq: drop.audit_seq, live: { rule: "no-drop" } });
    expect(typeof log[0].time).toBe("string");
    // Both policies' redactions apply to the logged action.
    expect(log[0].action).toEqual({ tool: "t", agent: { id: "a" }, args: { secret: "[redacted]", token: "[redacted]" } });

    expect(text).toMatch(/tollgate_shadow_disagreements_total\{live="allow",shadow="deny",rule="tight-cap"\} 3/);
    expect(text).toMatch(/tollgate_shadow_disagreements_total\{live="deny",shadow="escalate",rule="drop-review"\} 1/);
    expect(text).toMatch(/tollgate_shadow_decisions_total 7/);
  });

  it("a candidate with a tighter limit never denies live; the audit log has only live decisions", async () => {
    const dir = tempDir();
    const gate = await open(dir, CANDIDATE);
    const ds = await Promise.all(Array.from({ length: 5 }, () => gate.check({ tool: "t", agent: { id: "b" } })));
    expect(ds.every((d) => d.decision === "allow")).toBe(true);
    const sixth = await gate.check({ tool: "t", agent: { id: "b" } });
    expect(sixth.decision).toBe("deny"); // live's own cap: > 5
    expect(sixth.rule).toBe("cap");
    expect(gate.policy.state!.sum("n", ["b"], Date.now())).toBe(5);
    expect(gate.shadow!.state!.sum("n", ["b"], Date.now())).toBe(2); // only what the candidate allowed
    const records = auditRecords(join(dir, "audit"));
    expect(records).toHaveLength(6);
    expect(records.every((r) => (r.decision as { policy?: string }).policy === "live")).toBe(true);
  });

  it("setShadow starts, replaces (fresh counters) and stops shadowing; a bad file changes nothing", async () => {
    const dir = tempDir();
    const log = join(dir, "review.jsonl");
    const gate = await open(dir, undefined, log);
    expect(gate.shadow).toBeNull();
    await gate.check({ tool: "drop" });
    expect(lines(log)).toEqual([]);
    const p = gate.setShadow(Policy.fromYaml(CANDIDATE));
    expect(gate.shadow).toBe(p);
    await gate.check({ tool: "drop" });
    expect(await waitLines(log, 1)).toHaveLength(1);
    expect(() => gate.setShadow(join(dir, "missing.yaml"))).toThrow(/no such file/);
    expect(gate.shadow).toBe(p);
    expect(() => gate.setShadow(gate.policy)).toThrow(/of its own/);
    gate.setShadow(null);
    await gate.check({ tool: "drop" });
    await gate.close();
    gates.length = 0;
    expect(lines(log)).toHaveLength(1);
  });

  it("an action that cannot be recorded is not shadowed (its deny holds whatever the policy)", async () => {
    const dir = tempDir();
    const gate = await open(dir, CANDIDATE);
    const d = await gate.check({ tool: "drop", memo: "\ud800" });
    expect(d.error).toMatch(/cannot be recorded/);
    expect(await gate.metrics()).toMatch(/tollgate_shadow_decisions_total 0/);
  });
});

describe("Gate shadow and approvals", () => {
  // The candidate is the live policy under another name: it must never disagree.
  const SAME = readFileSync(join(import.meta.dirname, "../fixtures/shadow-approvals.yaml"), "utf8");

  it.each(["denied", "approved"] as const)("a live escalation %s settles the candidate's escalation of the same action alike", async (state) => {
    const dir = tempDir();
    const gate = await Gate.open({ policy: Policy.fromYaml(SAME.replace("name: live-copy", "name: live")), auditDir: join(dir, "audit"), shadow: Policy.fromYaml(SAME) });
    gates.push(gate);
    const refund = (amount: number) => ({ tool: "refund", agent: { id: "a" }, args: { amount } });
    const big = await gate.check(refund(200));
    expect(big.decision).toBe("escalate");
    if (state === "denied") await gate.deny(big.approval_id!, { by: "alice" });
    else await gate.approve(big.approval_id!, { by: "alice" });
    const after = [];
    for (let i = 0; i < 3; i++) after.push((await gate.check(refund(1))).decision);
    // denied: the escalation is released, 3 refunds fit (n = 1, 2, 3); approved: it counts (n = 4 on the third)
    expect(after).toEqual(state === "denied" ? ["allow", "allow", "allow"] : ["allow", "allow", "deny"]);
    expect(gate.shadow!.state!.sum("n", ["a"], Date.now())).toBe(gate.policy.state!.sum("n", ["a"], Date.now()));
    const text = await gate.metrics();
    expect(text).not.toMatch(/tollgate_shadow_disagreements_total\{/);
    expect(text).toMatch(/tollgate_shadow_decisions_total 4/);
  });
});
