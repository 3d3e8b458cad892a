import { describe, expect, it } from "vitest";
import { Policy } from "../../src/policy.js";
import { DEFAULT_RULE, GateMetrics } from "../../src/metrics/metrics.js";

const policy = Policy.fromYaml(`
tollgate: 1
name: m
default: deny
approvers:
  finance: { timeout: 1m, on_timeout: deny }
rules:
  - id: refunds
    effect: allow
    when: { tool: payments.refund }
  - id: big
    effect: escalate
    approver: finance
    reason: big refunds need a human
    when: { tool: payments.refund, args.amount: { gt: 500 } }
`);

describe("GateMetrics", () => {
  it("counts decisions by result and rule, and takes HDR percentiles in nanoseconds", async () => {
    const m = new GateMetrics();
    for (let i = 1; i <= 1000; i++) m.recordDecision("m", policy.evaluate({ tool: "payments.refund", args: { amount: 10 } }), i * 100);
    m.recordDecision("m", policy.evaluate({ tool: "payments.refund", args: { amount: 900 } }), 5000);
    m.recordDecision("m", policy.evaluate({ tool: "shell.exec" }), 7000);
    m.recordAuditAppend("m", 250_000);
    m.setPendingApprovals("m", 1);
    const s = m.snapshot().policies.m!;
    expect(s.decisions).toEqual({ allow: 1000, deny: 1, escalate: 1 });
    expect(s.rules).toEqual({ refunds: 1000, big: 1, [DEFAULT_RULE]: 1 });
    expect(s.eval_ns.count).toBe(1002);
    // HDR keeps 3 significant digits: p50 of 100..100000 step 100 (+2 values) is ~50,100 ns.
    expect(s.eval_ns.p50).toBeGreaterThanOrEqual(49_900);
    expect(s.eval_ns.p50).toBeLessThanOrEqual(50_300);
    expect(s.eval_ns.max).toBeGreaterThanOrEqual(99_900);
    expect(s.audit_append_ns).toMatchObject({ count: 1 });
    expect(s.pending_approvals).toBe(1);

    const text = await m.prometheus();
    expect(text).toContain('tollgate_decisions_total{policy="m",decision="allow",rule="refunds"} 1000');
    expect(text).toContain('tollgate_decisions_total{policy="m",decision="deny",rule="(default)"} 1');
    expect(text).toContain('tollgate_rule_matches_total{policy="m",rule="big"} 1');
    expect(text).toMatch(/tollgate_eval_duration_seconds_bucket\{le="0.00001",policy="m"\} \d+/);
    expect(text).toContain('tollgate_eval_duration_seconds_count{policy="m"} 1002');
    expect(text).toContain('tollgate_audit_append_duration_seconds_count{policy="m"} 1');
    expect(text).toContain('tollgate_pending_approvals{policy="m"} 1');
    expect(text).toMatch(/tollgate_eval_latency_seconds\{policy="m",quantile="0.99"\} 0.0000\d+/);
  });

  it("latency histograms count past 2^32 values in one bucket (64-bit counts, no silent wrap)", () => {
    const m = new GateMetrics();
    m.recordDecision("p", { decision: "allow", rule: "r", reason: null, undetermined: false, policy: "p" }, 900);
    const hdr = (m as unknown as { state(p: string): { evalHdr: { recordValueWithCount(v: number, n: number): void } } }).state("p").evalHdr;
    for (let i = 0; i < 5; i++) hdr.recordValueWithCount(900, 2 ** 30); // 5 x 2^30 > 2^32, added in steps as counting would
    for (let i = 0; i < 10; i++) m.recordDecision("p", { decision: "allow", rule: "r", reason: null, undetermined: false, policy: "p" }, 50_000);
    const eval_ns = m.snapshot().policies.p!.eval_ns;
    expect(eval_ns.count).toBe(5 * 2 ** 30 + 11);
    expect(eval_ns.p50).toBeGreaterThanOrEqual(900); // a wrapped bucket would put p50 at 50,000
    expect(eval_ns.p50).toBeLessThan(901);
  });

  it("keeps policies apart and a fresh registry per instance", async () => {
    const a = new GateMetrics();
    const b = new GateMetrics();
    a.recordDecision("m", policy.evaluate({ tool: "x" }), 10);
    a.recordDecision("other", policy.evaluate({ tool: "x" }), 10);
    expect(Object.keys(a.snapshot().policies).sort()).toEqual(["m", "other"]);
    expect(b.snapshot().policies).toEqual({});
    expect(await a.prometheus()).toContain('tollgate_decisions_total{policy="other",decision="deny",rule="(default)"} 1');
  });
});
