// Counters in the gate (spec section 8): one process decides and counts in one synchronous step,
// so concurrent checks are exact; the audit log makes counters durable (src/pipeline/counted.ts),
// rebuilt when the gate opens; approvals settle pending contributions.

import { describe, expect, it } from "vitest";
import { Gate } from "../../src/gate/gate.js";
import { verifyLog } from "../../src/audit/verify.js";
import { Policy } from "../../src/policy.js";
import { tempDir } from "../audit/helpers.js";
import { gateOpener, records } from "./helpers.js";

const LIMIT = `tollgate: 1
name: limits
default: allow
approvers:
  finance: { timeout: 10m }
  quick: { timeout: 200ms }
counters:
  n:
    per: [agent.id]
    window: 1h
    when: { tool: t }
  spent:
    per: [agent.id]
    window: 1d
    when: { tool: pay }
    sum: args.amount
rules:
  - { id: cap, effect: deny, reason: more than 50, when: { tool: t, $n: { gt: 50 } } }
  - { id: budget, effect: escalate, approver: finance, reason: over budget, when: { tool: pay, $spent: { gt: 100 } } }
  - { id: quick, effect: escalate, approver: quick, reason: quick, when: { tool: q } }
`;

const { gates, open } = gateOpener(LIMIT);

const t = (agent: string) => ({ tool: "t", agent: { id: agent } });
const pay = (agent: string, amount: number) => ({ tool: "pay", agent: { id: agent }, args: { amount } });

describe("gate counters", () => {
  it("1,000 concurrent checks of one key against $n > 50: exactly 50 allows; another key unaffected", async () => {
    const gate = await open(tempDir("gate-counters"));
    const results = await Promise.all(Array.from({ length: 1000 }, () => gate.check(t("a"))));
    expect(results.filter((d) => d.decision === "allow")).toHaveLength(50);
    expect(results.filter((d) => d.decision === "deny" && d.rule === "cap")).toHaveLength(950);
    expect((await gate.check(t("b"))).decision).toBe("allow");
    // Decisions carry the values they read; denied ones counted nothing.
    expect(results.map((d) => d.counters!.n).sort((a, b) => a! - b!).slice(0, 3)).toEqual([1, 2, 3]);
    expect(results.filter((d) => d.decision === "deny").every((d) => d.counters!.n === 51)).toBe(true);
    // Prometheus: per-counter decision counts, no per-key series.
    const text = await gate.metrics();
    expect(text).toContain('tollgate_counter_decisions_total{policy="limits",counter="n",decision="allow"} 51');
    expect(text).toContain('tollgate_counter_decisions_total{policy="limits",counter="n",decision="deny"} 950');
    expect(text).toContain('tollgate_counter_decisions_total{policy="limits",counter="spent",decision="allow"} 51');
    expect(text).not.toMatch(/tollgate_counter_decisions_total\{[^}]*"a"/);
  });

  it("counters survive a restart: rebuilt from the audit log, which stays verifiable", async () => {
    const dir = tempDir("gate-counters");
    let gate = await open(dir);
    for (let i = 0; i < 30; i++) expect((await gate.check(t("a"))).decision).toBe("allow");
    await gate.close();
    gates.splice(0);
    gate = await open(dir);
    const after = await Promise.all(Array.from({ length: 40 }, () => gate.check(t("a"))));
    expect(after.filter((d) => d.decision === "allow")).toHaveLength(20);
    await gate.close();
    gates.splice(0);
    expect((await verifyLog(dir)).ok).toBe(true);
    // The record says what was counted; the answer to the caller does not carry it.
    const counted = records(dir).filter((r) => r.decision.counted !== undefined);
    expect(counted).toHaveLength(50);
    expect(counted[0].decision.counted.add[0]).toEqual(["n", expect.stringMatching(/^[0-9a-f]{16}$/), ["a"], 1]);
    expect("counted" in after[0]!).toBe(false);
  });

  it("an escalation counts while pending; denied, it is released — also after a restart", async () => {
    const dir = tempDir("gate-counters");
    let gate = await open(dir);
    expect((await gate.check(pay("a", 90))).decision).toBe("allow");
    const e = await gate.check(pay("a", 20));
    expect(e).toMatchObject({ decision: "escalate", rule: "budget", counters: { spent: 110 } });
    expect((await gate.check(pay("a", 5))).counters).toEqual({ n: 0, spent: 115 });
    await gate.close();
    gates.splice(0);
    gate = await open(dir);
    // Still pending after the restart: it counts.
    expect((await gate.check(pay("a", 1))).counters).toEqual({ n: 0, spent: 116 });
    // 115 -> the escalation of 5 was also pending; deny the first one.
    await gate.deny(e.approval_id!, { by: "alice" });
    expect((await gate.check(pay("a", 0))).counters).toEqual({ n: 0, spent: 96 });
    await gate.close();
    gates.splice(0);
    gate = await open(dir);
    expect((await gate.check(pay("a", 0))).counters).toEqual({ n: 0, spent: 96 });
  });

  it("an escalation that expires into deny stops counting", async () => {
    const dir = tempDir("gate-counters");
    const gate = await open(dir, LIMIT.replace("when: { tool: t }", "when: { tool: { in: [t, q] } }"));
    expect((await gate.check({ tool: "q", agent: { id: "a" } })).decision).toBe("escalate");
    expect((await gate.check(t("a"))).counters).toEqual({ n: 2, spent: 0 });
    await new Promise((r) => setTimeout(r, 300));
    expect((await gate.check(t("a"))).counters).toEqual({ n: 2, spent: 0 });
  });

  it("a reload keeps the state of unchanged counters and starts changed ones empty", async () => {
    const gate = await open(tempDir("gate-counters"));
    for (let i = 0; i < 3; i++) await gate.check(t("a"));
    await gate.check(pay("a", 7));
    gate.reload(Policy.fromYaml(LIMIT.replace("window: 1d", "window: 2d")));
    expect((await gate.check(t("a"))).counters).toEqual({ n: 4, spent: 0 });
  });
});

describe("Policy.adoptState", () => {
  it("the policy whose state was adopted refuses to decide (never with stale sums); adopting from itself changes nothing", () => {
    const a = Policy.fromYaml(LIMIT);
    a.evaluate(t("x"), { now: 1 });
    const b = Policy.fromYaml(LIMIT);
    b.adoptState(a);
    expect(b.evaluate(t("x"), { now: 2 }).counters).toEqual({ n: 2, spent: 0 });
    expect(() => a.evaluate(t("x"), { now: 3 })).toThrow(/adopted by another policy/);
    b.adoptState(b);
    expect(b.evaluate(t("x"), { now: 4 }).counters).toEqual({ n: 3, spent: 0 });
    expect(() => Policy.fromYaml(LIMIT).adoptState(a)).toThrow(/adopted by another policy/);
  });
});

describe("gate counters in Redis", async () => {
  const { redisServer, startRedis } = await import("../support/services/redis.js");
  const availability = redisServer("test/gate/counters.test.ts (Redis)");
  it.skipIf(!availability.available)("two gates (two audit logs) share one Redis: 1,000 concurrent checks → exactly 50 allows", async () => {
    const redis = await startRedis();
    try {
      const a = await Gate.open({ policy: Policy.fromYaml(LIMIT), auditDir: tempDir("gate-redis"), audit: { batchWindowMs: 0 }, state: redis.url });
      const b = await Gate.open({ policy: Policy.fromYaml(LIMIT), auditDir: tempDir("gate-redis"), audit: { batchWindowMs: 0 }, state: redis.url });
      gates.push(a, b);
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? a : b).check(t("shared"))));
      expect(results.filter((d) => d.decision === "allow")).toHaveLength(50);
      expect(results.filter((d) => d.decision === "allow").map((d) => d.counters!.n).sort((x, y) => x! - y!)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect((await a.check(t("other"))).counters).toEqual({ n: 1, spent: 0 });
      // An escalation counts in the shared store while pending; denied, it is released.
      expect((await a.check(pay("p", 90))).decision).toBe("allow");
      const e = await b.check(pay("p", 20));
      expect(e).toMatchObject({ decision: "escalate", counters: { spent: 110 } });
      expect((await a.check(pay("p", 0))).counters!.spent).toBe(110);
      await b.deny(e.approval_id!, { by: "alice" });
      await new Promise((r) => setTimeout(r, 100));
      expect((await a.check(pay("p", 0))).counters!.spent).toBe(90);
      await a.close();
      await b.close();
      gates.splice(0);
    } finally {
      await redis.stop();
    }
  }, 60_000);
});
