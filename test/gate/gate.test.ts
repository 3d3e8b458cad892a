import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Gate } from "../../src/gate/gate.js";
import { ActionDenied } from "../../src/gate/denied.js";
import { ApprovalAlreadyResolved } from "../../src/approvals/approval.js";
import { UNRECORDABLE_TEXT } from "../../src/audit/recordable.js";
import { verifyLog } from "../../src/audit/verify.js";
import { Policy } from "../../src/policy.js";
import { PolicyError } from "../../src/errors.js";
import { tempDir } from "../audit/helpers.js";
import { approvalsLocation, storeKinds, usesStore } from "../approvals/helpers.js";

const POLICY = `tollgate: 1
name: gate-test
approvers:
  finance: { timeout: 10m, on_timeout: deny }
  ops: { timeout: 1m, on_timeout: allow }
audit:
  redact: [args.card_number]
rules:
  - { id: no-drop, effect: deny, reason: never drop, when: { tool: db.query, args.sql: { matches: "(?i)drop" } } }
  - { id: big-refund, effect: escalate, approver: finance, reason: big refunds need finance, when: { tool: payments.refund, args.amount: { gt: 500 } } }
  - { id: restart, effect: escalate, approver: ops, reason: restarts need ops, when: { tool: ops.restart } }
  - { id: refunds, effect: allow, when: { tool: payments.refund } }
  - { id: reads, effect: allow, when: { tool: db.query } }
`;

const gates: Gate[] = [];
async function openGateOn(dir = tempDir("gate"), extra: Partial<Parameters<typeof Gate.open>[0]> = {}): Promise<{ gate: Gate; dir: string }> {
  const gate = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir, audit: { batchWindowMs: 0 }, ...extra });
  gates.push(gate);
  return { gate, dir };
}

function records(dir: string): Record<string, any>[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".jsonl"))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)));
}

afterEach(async () => {
  vi.useRealTimers();
  for (const g of gates.splice(0)) await g.close().catch(() => undefined);
});

describe("Gate.check", () => {
  it("returns the decision with the durable audit record's hash and seq", async () => {
    const { gate, dir } = await openGateOn();
    const d = await gate.check({ tool: "payments.refund", args: { amount: 20, card_number: "4111" } });
    expect(d).toMatchObject({ decision: "allow", rule: "refunds", policy: "gate-test", audit_seq: 1 });
    expect(d.audit_id).toMatch(/^[0-9a-f]{64}$/);
    const denied = await gate.check({ tool: "db.query", args: { sql: "DROP TABLE x" } });
    expect(denied).toMatchObject({ decision: "deny", rule: "no-drop", reason: "never drop", audit_seq: 2 });
    const [r1, r2] = records(dir);
    expect(r1).toMatchObject({ seq: 1, hash: d.audit_id, policy_hash: gate.policy.hash, action: { args: { card_number: "[redacted]" } } });
    expect(r2!.decision.rule).toBe("no-drop");
    await gate.close();
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it("denies (and records) an action that is not an object, never throwing", async () => {
    const { gate } = await openGateOn();
    const d = await gate.check("rm -rf /");
    expect(d).toMatchObject({ decision: "deny", rule: null, error: "action is not a JSON object" });
  });

  it("denies, unevaluated, an action that cannot be recorded faithfully; the deny is recorded", async () => {
    const { gate, dir } = await openGateOn();
    const deep = JSON.parse(`{"tool":"db.query","args":{"sql":"select 1","x":${"[".repeat(600)}${"]".repeat(600)}}}`);
    const cyclic: Record<string, any> = { tool: "db.query", args: { sql: "select 1" } };
    cyclic.args.self = cyclic;
    const cases: unknown[] = [
      { tool: "db.query", args: { sql: "select 1", memo: "\ud800" } }, // allowed by `reads` if evaluated
      { tool: "db.query", args: { sql: "select 1", "\udfff": 1 } }, // in a key
      deep,
      { tool: "payments.refund", args: { amount: 900, memo: "x\udc00" } }, // `big-refund` would escalate
      { tool: "db.query", args: { sql: "select 1", n: NaN } },
      cyclic,
    ];
    for (const action of cases) {
      const d = await gate.check(action);
      expect(d).toMatchObject({ decision: "deny", rule: null, reason: UNRECORDABLE_TEXT, error: UNRECORDABLE_TEXT, undetermined: false, policy: "gate-test" });
      expect(d.approval_id).toBeUndefined();
    }
    expect(await gate.approvals.pendingCount()).toBe(0);
    const recs = records(dir);
    expect(recs.map((r) => [r.action, r.decision.decision, r.decision.error, r.eval_ns])).toEqual(cases.map(() => ["[not JSON]", "deny", UNRECORDABLE_TEXT, 0]));
    expect(gate.metricsSnapshot()!.decisions).toEqual({ allow: 0, deny: cases.length, escalate: 0 });
    // A value at a redacted path is not recorded: what it holds does not matter.
    const ok = await gate.check({ tool: "payments.refund", args: { amount: 20, card_number: "\ud800" } });
    expect(ok).toMatchObject({ decision: "allow", rule: "refunds" });
    expect(records(dir).at(-1)!.action.args.card_number).toBe("[redacted]");
    await gate.close();
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it("fails closed: when the record cannot be written the check rejects", async () => {
    const { gate } = await openGateOn();
    await gate.audit.close();
    await expect(gate.check({ tool: "db.query", args: { sql: "select 1" } })).rejects.toThrow(/closed/);
  });

  it("counts decisions and latencies", async () => {
    const { gate } = await openGateOn();
    for (let i = 0; i < 5; i++) await gate.check({ tool: "db.query", args: { sql: "select 1" } });
    await gate.check({ tool: "payments.refund", args: { amount: 900 } });
    const s = gate.metricsSnapshot()!;
    expect(s.decisions).toEqual({ allow: 5, deny: 0, escalate: 1 });
    expect(s.rules).toEqual({ reads: 5, "big-refund": 1 });
    expect(s.eval_ns.count).toBe(6);
    expect(s.audit_append_ns.count).toBe(6);
    expect(s.pending_approvals).toBe(1);
    const text = await gate.metrics();
    expect(text).toContain('tollgate_decisions_total{policy="gate-test",decision="allow",rule="reads"} 5');
    expect(text).toContain('tollgate_pending_approvals{policy="gate-test"} 1');
  });

  it("reloads atomically: a bad policy is refused with its position and the old one keeps deciding", async () => {
    const { gate, dir } = await openGateOn();
    const before = gate.policy.hash;
    const bad = join(dir, "bad.yaml");
    (await import("node:fs")).writeFileSync(bad, "tollgate: 1\nname: x\nrules:\n  - id: a\n    effect: maybe\n");
    expect(() => gate.reload(bad)).toThrow(PolicyError);
    expect(gate.policy.hash).toBe(before);
    const next = Policy.fromYaml(POLICY.replace("name: gate-test", "name: gate-test-2"));
    gate.reload(next);
    const d = await gate.check({ tool: "db.query", args: { sql: "select 1" } });
    expect(d.policy).toBe("gate-test-2");
    expect(records(dir).at(-1)!.policy_hash).toBe(next.hash);
  });
});

for (const kind of storeKinds("test/gate/gate.test.ts")) describe.skipIf(!kind.available)(`escalation and approvals (${kind.name})`, () => {
  // A new store per test (PostgreSQL: a new schema; SQLite: the default file in the audit directory).
  let approvals: string | undefined;
  beforeEach(async () => {
    approvals = await approvalsLocation(kind);
  });
  const openGate = async (dir?: string, extra: Partial<Parameters<typeof Gate.open>[0]> = {}) => {
    const opened = await openGateOn(dir, { ...(approvals !== undefined && { approvals }), ...extra });
    expect(usesStore(kind, opened.dir)).toBe(true);
    return opened;
  };

  it("check opens an approval; approve resolves it with its own linked audit record", async () => {
    const { gate, dir } = await openGate();
    const d = await gate.check({ tool: "payments.refund", args: { amount: 900, card_number: "4111" } });
    expect(d).toMatchObject({ decision: "escalate", approver: "finance", timeout_ms: 600_000, on_timeout: "deny" });
    expect(d.approval_id).toBeTruthy();
    const pending = (await gate.approvals.get(d.approval_id!))!;
    expect(pending).toMatchObject({ state: "pending", approver: "finance", decision_seq: d.audit_seq, decision_hash: d.audit_id });
    expect((pending.action as any).args.card_number).toBe("[redacted]");
    const approved = await gate.approve(d.approval_id!, { by: "alice", note: "ok" });
    expect(approved).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice" });
    await expect(gate.deny(d.approval_id!, { by: "bob" })).rejects.toBeInstanceOf(ApprovalAlreadyResolved);
    const recs = records(dir);
    expect(recs).toHaveLength(2);
    expect(recs[1]!.decision).toMatchObject({
      decision: "allow",
      rule: "big-refund",
      approval: { id: d.approval_id, state: "approved", by: "alice", note: "ok", decision_seq: d.audit_seq, decision_hash: d.audit_id },
    });
    expect(recs[1]!.decision.approver).toBeUndefined();
    expect(gate.metricsSnapshot()!.pending_approvals).toBe(0);
    await gate.close();
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it("enforce runs allowed actions, throws ActionDenied for denied ones", async () => {
    const { gate } = await openGate();
    const run = vi.fn(async () => "refunded");
    await expect(gate.enforce({ tool: "payments.refund", args: { amount: 20 } }, run)).resolves.toBe("refunded");
    await expect(gate.enforce({ tool: "db.query", args: { sql: "drop table t" } }, run)).rejects.toSatisfy(
      (e: unknown) => e instanceof ActionDenied && e.decision.rule === "no-drop" && /never drop/.test(e.message),
    );
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("enforce waits for a human, then runs on approve", async () => {
    const notified: string[] = [];
    const { gate } = await openGate(undefined, { notifier: (a) => void notified.push(a.id) });
    const run = vi.fn(() => "done");
    const pending = gate.enforce({ tool: "payments.refund", args: { amount: 900 } }, run);
    await vi.waitFor(() => expect(notified).toHaveLength(1));
    expect(run).not.toHaveBeenCalled();
    await gate.approve(notified[0]!, { by: "alice" });
    await expect(pending).resolves.toBe("done");
  });

  it("enforce throws ActionDenied when the human denies", async () => {
    const notified: string[] = [];
    const { gate } = await openGate(undefined, { notifier: (a) => void notified.push(a.id) });
    const run = vi.fn();
    const pending = gate.enforce({ tool: "payments.refund", args: { amount: 900 } }, run);
    await vi.waitFor(() => expect(notified).toHaveLength(1));
    await gate.deny(notified[0]!, { by: "bob", note: "not this one" });
    await expect(pending).rejects.toThrow(/denied by bob: not this one/);
    expect(run).not.toHaveBeenCalled();
  });

  it("expiry resolves by on_timeout (fake timers): deny throws, allow runs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { gate, dir } = await openGate();
    const runDeny = vi.fn();
    const runAllow = vi.fn(() => "restarted");
    const denied = gate.enforce({ tool: "payments.refund", args: { amount: 900 } }, runDeny);
    const allowed = gate.enforce({ tool: "ops.restart" }, runAllow);
    denied.catch(() => undefined);
    await vi.waitFor(async () => expect(await gate.approvals.pendingCount()).toBe(2));
    await vi.advanceTimersByTimeAsync(60_000 + 1); // ops: 1m, on_timeout allow
    await expect(allowed).resolves.toBe("restarted");
    expect(await gate.approvals.pendingCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(10 * 60_000); // finance: 10m, on_timeout deny
    await expect(denied).rejects.toThrow(/expired/);
    expect(runDeny).not.toHaveBeenCalled();
    const states = records(dir)
      .filter((r) => r.decision.approval)
      .map((r) => [r.decision.approval.state, r.decision.decision]);
    expect(states).toEqual([
      ["expired", "allow"],
      ["expired", "deny"],
    ]);
  });

  it("pending approvals survive a restart and resolve into the same chain", async () => {
    const { gate, dir } = await openGate();
    const d = await gate.check({ tool: "payments.refund", args: { amount: 900 } });
    await gate.close();
    gates.length = 0;
    const { gate: again } = await openGate(dir);
    expect((await again.approvals.get(d.approval_id!))!.state).toBe("pending");
    const waiting = again.approvals.wait(d.approval_id!);
    await again.approve(d.approval_id!, { by: "carol" });
    await expect(waiting).resolves.toMatchObject({ state: "approved", outcome: "allow" });
    await again.close();
    const result = await verifyLog(dir);
    expect(result.ok).toBe(true);
    expect(records(dir).map((r) => r.decision.decision)).toEqual(["escalate", "allow"]);
  });
});
