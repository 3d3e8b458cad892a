// GateMetrics keeps its counts and histogram buckets itself and hands them to prom-client only when
// the registry is collected; these tests check that it exposes exactly what the previous
// implementation (test/metrics/reference-metrics.ts, which fed prom-client on every call) exposed for
// the same calls: the Prometheus text, getMetricsAsJSON() (compared deeply and as serialized JSON,
// so key order and `undefined` fields count), what AggregatorRegistry.aggregate makes of several
// processes' JSON (the server's primary), and snapshot().

import fc from "fast-check";
import { AggregatorRegistry, Registry, openMetricsContentType, type RegistryContentType } from "prom-client";
import { describe, expect, it } from "vitest";
import { DecisionTable, ErrorCode, type Decision, type PolicyTable, type RuleInfo } from "../../src/decision.js";
import { GateMetrics } from "../../src/metrics/metrics.js";
import { ReferenceGateMetrics } from "./reference-metrics.js";

type Metrics = GateMetrics | ReferenceGateMetrics;

function rule(id: string, effect: RuleInfo["effect"]): RuleInfo {
  return effect === "escalate"
    ? { id, effect, reason: `${id} needs a human`, approver: "oncall", timeout_ms: 60_000, on_timeout: "deny" }
    : { id, effect, reason: null, approver: null, timeout_ms: null, on_timeout: null };
}

function table(name: string, def: "allow" | "deny", rules: RuleInfo[]): PolicyTable {
  return { abi: 1, name, default: def, rules, fields: [], redact: [] };
}

// prom-client identifies a series by the string `decision:D,policy:P,rule:R,`, so policy "a" with rule
// "b,rule:c" and policy "a,rule:b" with rule "c" are one series in both implementations; label values
// that need escaping go through the registry's formatting.
const tables = [
  table("billing-agent", "deny", [rule("block-destructive-sql", "deny"), rule("refund-needs-finance", "escalate"), rule("small-refund", "allow")]),
  table("a", "allow", [rule("b,rule:c", "deny"), rule("x", "escalate"), rule('quote"and\\back\nslash', "allow")]),
  table("a,rule:b", "deny", [rule("c", "deny"), rule("x", "allow")]),
  table("__proto__", "deny", [rule("__proto__", "allow"), rule("1", "deny"), rule("constructor", "escalate")]),
];
const policies = tables.map((t) => t.name).concat(["not-loaded"]);

// Every decision each table can produce, as the engine hands them out: shared frozen objects.
const decisions: Decision[] = tables.flatMap((t) => {
  const dt = new DecisionTable(t);
  const out: Decision[] = [dt.fromResult(t.default === "allow" ? 0 : 1, 0, 0, -1), dt.error(ErrorCode.NotJson), dt.error(ErrorCode.Trap)];
  t.rules.forEach((_, i) => out.push(dt.fromResult(0, 0, 0, i), dt.fromResult(0, 1, 0, i)));
  return out;
});
// A non-frozen decision reused across calls (a host may build its own objects, e.g. for Python parity).
const reused: Decision = { decision: "deny", rule: null, reason: "no rule matched", undetermined: false, policy: "billing-agent" };
decisions.push(reused);

const NS = 1e9;
const EVAL_BOUNDS_NS = [2.5e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2].map((b) => Math.round(b * NS));
const APPEND_BOUNDS_NS = [5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.5, 1].map((b) => Math.round(b * NS));
const nearBounds = [...EVAL_BOUNDS_NS, ...APPEND_BOUNDS_NS].flatMap((b) => [b - 1, b - 0.5, b, b + 0.49, b + 1]);

const nanos = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 60_000 }) },
  { weight: 3, arbitrary: fc.double({ min: -5, max: 2e9, noNaN: true }) },
  { weight: 3, arbitrary: fc.constantFrom(...nearBounds) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 0.4, 0.5, 1.5, 3e9, 7.5e10) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY) },
);

type Op =
  | { t: "decide"; w: number; d: number; as: number | null; copy: boolean; ns: number }
  | { t: "append"; w: number; p: number; ns: number }
  | { t: "pending"; w: number; p: number; n: number }
  | { t: "check" }
  | { t: "reset"; w: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 20, arbitrary: fc.record({ t: fc.constant("decide" as const), w: fc.nat(1), d: fc.nat(decisions.length - 1), as: fc.option(fc.nat(policies.length - 1), { freq: 8 }), copy: fc.boolean(), ns: nanos }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant("append" as const), w: fc.nat(1), p: fc.nat(policies.length - 1), ns: nanos }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("pending" as const), w: fc.nat(1), p: fc.nat(policies.length - 1), n: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.constant({ t: "check" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reset" as const), w: fc.nat(1) }) },
);

type RegistryKind = "prometheus" | "openmetrics" | "default-labels";

function registry(kind: RegistryKind): Registry {
  const r = new Registry();
  if (kind === "openmetrics") (r as Registry<RegistryContentType>).setContentType(openMetricsContentType);
  if (kind === "default-labels") r.setDefaultLabels({ worker: "7" });
  return r;
}

/** Runs `f` on both, and requires both to throw the same error or neither. */
function both<T>(a: T, b: T, f: (m: T) => void): void {
  let ea: unknown = null;
  let eb: unknown = null;
  try {
    f(a);
  } catch (e) {
    ea = e;
  }
  try {
    f(b);
  } catch (e) {
    eb = e;
  }
  expect(eb === null ? null : String(eb)).toBe(ea === null ? null : String(ea));
  if (ea !== null) expect((eb as object).constructor).toBe((ea as object).constructor);
}

async function expectSame(news: Metrics[], refs: Metrics[], aggregate: boolean): Promise<void> {
  const newJson: unknown[][] = [];
  const refJson: unknown[][] = [];
  for (let w = 0; w < news.length; w++) {
    const [n, r] = [news[w]!, refs[w]!];
    expect(await n.prometheus()).toBe(await r.prometheus());
    const [nj, rj] = [await n.registry.getMetricsAsJSON(), await r.registry.getMetricsAsJSON()];
    expect(nj).toStrictEqual(rj);
    expect(JSON.stringify(nj)).toBe(JSON.stringify(rj));
    expect(n.snapshot()).toStrictEqual(r.snapshot());
    expect(JSON.stringify(n.snapshot())).toBe(JSON.stringify(r.snapshot()));
    // Once more: collecting twice in a row must not count anything twice.
    expect(await n.prometheus()).toBe(await r.prometheus());
    newJson.push(nj);
    refJson.push(rj);
  }
  if (aggregate) {
    // As the server's primary does: the workers' JSON (here through a structured clone, like IPC).
    const agg = (parts: unknown[][]) => AggregatorRegistry.aggregate(structuredClone(parts) as Parameters<typeof AggregatorRegistry.aggregate>[0]);
    expect(await agg(newJson).metrics()).toBe(await agg(refJson).metrics());
    expect(await agg(newJson).getMetricsAsJSON()).toStrictEqual(await agg(refJson).getMetricsAsJSON());
  }
}

async function run(kind: RegistryKind, ops: Op[]): Promise<void> {
  const news = [new GateMetrics({ registry: registry(kind) }), new GateMetrics({ registry: registry(kind) })];
  const refs = [new ReferenceGateMetrics({ registry: registry(kind) }), new ReferenceGateMetrics({ registry: registry(kind) })];
  const aggregate = kind !== "openmetrics";
  for (const o of ops) {
    switch (o.t) {
      case "decide": {
        const d = decisions[o.d]!;
        const policy = o.as === null ? d.policy : policies[o.as]!;
        // `copy`: a fresh non-frozen object with the same fields (each implementation gets its own).
        both<Metrics>(news[o.w]!, refs[o.w]!, (m) => m.recordDecision(policy, o.copy ? { ...d } : d, o.ns));
        break;
      }
      case "append":
        both<Metrics>(news[o.w]!, refs[o.w]!, (m) => m.recordAuditAppend(policies[o.p]!, o.ns));
        break;
      case "pending":
        both<Metrics>(news[o.w]!, refs[o.w]!, (m) => m.setPendingApprovals(policies[o.p]!, o.n));
        break;
      case "reset":
        news[o.w]!.registry.resetMetrics();
        refs[o.w]!.registry.resetMetrics();
        break;
      case "check":
        await expectSame(news, refs, aggregate);
        break;
    }
  }
  await expectSame(news, refs, aggregate);
}

describe("GateMetrics exposes what feeding prom-client on every call exposed", () => {
  it("for random sequences of decisions, audit appends, pending counts, scrapes and resets", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<RegistryKind>("prometheus", "openmetrics", "default-labels"), fc.array(op, { maxLength: 150 }), run),
      { numRuns: 300 },
    );
  });

  it("for long runs on the engine's decisions, scraped now and then", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { weight: 200, arbitrary: fc.record({ t: fc.constant("decide" as const), w: fc.nat(1), d: fc.nat(decisions.length - 2), as: fc.constant(null), copy: fc.constant(false), ns: fc.integer({ min: 1, max: 200_000 }) }) },
            { weight: 50, arbitrary: fc.record({ t: fc.constant("append" as const), w: fc.nat(1), p: fc.nat(tables.length - 1), ns: fc.integer({ min: 1, max: 2e9 }) }) },
            { weight: 1, arbitrary: fc.constant({ t: "check" as const }) },
          ),
          { minLength: 1000, maxLength: 5000 },
        ),
        (ops) => run("prometheus", ops),
      ),
      { numRuns: 20 },
    );
  });

  it("merges the series prom-client merges and keeps the text of the existing tests", async () => {
    const [n, r] = [new GateMetrics(), new ReferenceGateMetrics()];
    const [inA, inAB] = [decisions.find((d) => d.policy === "a" && d.rule === "b,rule:c")!, decisions.find((d) => d.policy === "a,rule:b" && d.rule === "c")!];
    for (const m of [n, r]) {
      m.recordDecision("a,rule:b", inAB, 100);
      m.recordDecision("a", inA, 100);
      m.recordDecision("a", inA, 100);
    }
    const text = await n.prometheus();
    expect(text).toBe(await r.prometheus());
    expect(text).toContain('tollgate_decisions_total{policy="a,rule:b",decision="deny",rule="c"} 3');
    expect(text).toContain('tollgate_rule_matches_total{policy="a,rule:b",rule="c"} 3');
    expect(text).toContain('tollgate_eval_duration_seconds_count{policy="a"} 2');
    expect(text).toContain('tollgate_eval_duration_seconds_bucket{le="2.5e-7",policy="a,rule:b"} 1');
    expect(n.snapshot()).toStrictEqual(r.snapshot());
  });

  it("forgets, on registry.resetMetrics(), counts not yet collected", async () => {
    const [n, r] = [new GateMetrics(), new ReferenceGateMetrics()];
    const d = decisions[0]!;
    for (const m of [n, r]) {
      m.recordDecision(d.policy, d, 1000);
      m.recordAuditAppend(d.policy, 1e6);
    }
    await expectSame([n], [r], true);
    for (const m of [n, r]) {
      m.recordDecision(d.policy, d, 1000);
      m.recordDecision("other", d, 1000);
      m.registry.resetMetrics();
      m.recordDecision("other", d, 3000);
      m.recordDecision(d.policy, d, 2000);
    }
    await expectSame([n], [r], true);
    const text = await n.prometheus();
    expect(text).toContain(`tollgate_decisions_total{policy="${d.policy}",decision="${d.decision}",rule="(default)"} 1`);
    expect(text.indexOf('policy="other"')).toBeLessThan(text.indexOf(`policy="${d.policy}"`));
    expect(n.snapshot().policies[d.policy]!.decisions[d.decision]).toBe(3);
  });
});
