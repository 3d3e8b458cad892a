// Test-only reference: GateMetrics as it was before per-decision recording moved off prom-client
// (commit 96a7470), kept verbatim apart from the class name and imports. It feeds prom-client
// directly on every call; test/metrics/equivalence.test.ts checks that GateMetrics exposes
// exactly what this does, and test/metrics/record-bench.ts measures both.

import * as hdr from "hdr-histogram-js";
import type { Histogram as Hdr } from "hdr-histogram-js";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Decision, Effect } from "../../src/decision.js";
import { DEFAULT_RULE } from "../../src/metrics/metrics.js";

export interface LatencySnapshot {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** One policy's figures; the Python host's `Metrics.snapshot()` has the same shape. */
export interface PolicyMetricsSnapshot {
  policy: string;
  decisions: Record<Effect, number>;
  rules: Record<string, number>;
  counters: Record<string, Record<Effect, number>>;
  eval_ns: LatencySnapshot;
  audit_append_ns: LatencySnapshot;
  pending_approvals: number;
}

export interface MetricsSnapshot {
  policies: Record<string, PolicyMetricsSnapshot>;
}

// Prometheus histogram buckets in seconds: evaluation is sub-microsecond to tens of microseconds,
// an audit append waits for fdatasync (sub-millisecond to tens of milliseconds).
const EVAL_BUCKETS = [2.5e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2];
const APPEND_BUCKETS = [5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.5, 1];
const QUANTILES: readonly [string, number][] = [["0.5", 50], ["0.99", 99], ["0.999", 99.9], ["1", 100]];

interface PolicyState {
  decisions: Record<Effect, number>;
  rules: Map<string, number>;
  evalHdr: Hdr;
  appendHdr: Hdr;
  pending: number;
  counters: Map<string, Record<Effect, number>>;
}

type Inc = { inc(): void };
type Observe = { observe(v: number): void };

function newHdr(): Hdr {
  // 1 ns .. 1 hour, 3 significant digits; auto-resize covers anything slower.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 });
}

function latency(h: Hdr): LatencySnapshot {
  const count = h.totalCount;
  if (count === 0) return { count: 0, p50: 0, p99: 0, p999: 0, max: 0 };
  return { count, p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9), max: h.maxValue };
}

export class ReferenceGateMetrics {
  readonly registry: Registry;
  private readonly decisionsTotal: Counter<"policy" | "decision" | "rule">;
  private readonly ruleMatches: Counter<"policy" | "rule">;
  private readonly evalSeconds: Histogram<"policy">;
  private readonly appendSeconds: Histogram<"policy">;
  private readonly pendingGauge: Gauge<"policy">;
  private readonly counterDecisions: Counter<"policy" | "counter" | "decision">;
  private readonly states = new Map<string, PolicyState>();
  // Label lookups cost more than the evaluation itself: bound children are cached per
  // decision object (the engine's decisions are shared, frozen objects) and per policy.
  private readonly decisionChildren = new WeakMap<Decision, { total: Inc; rule: Inc }>();
  private readonly evalChildren = new Map<string, Observe>();
  private readonly appendChildren = new Map<string, Observe>();

  constructor(options: { registry?: Registry } = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    this.decisionsTotal = new Counter({ name: "tollgate_decisions_total", help: "Decisions made, by result and deciding rule", labelNames: ["policy", "decision", "rule"], registers });
    this.ruleMatches = new Counter({ name: "tollgate_rule_matches_total", help: "Decisions decided by each rule (the first matching rule of spec section 4)", labelNames: ["policy", "rule"], registers });
    this.evalSeconds = new Histogram({ name: "tollgate_eval_duration_seconds", help: "Policy evaluation time per decision", labelNames: ["policy"], buckets: EVAL_BUCKETS, registers });
    this.appendSeconds = new Histogram({ name: "tollgate_audit_append_duration_seconds", help: "Time from audit append to the record being durable", labelNames: ["policy"], buckets: APPEND_BUCKETS, registers });
    this.counterDecisions = new Counter({ name: "tollgate_counter_decisions_total", help: "Decisions that read each counter (spec section 8), by result: one series per counter, never per key", labelNames: ["policy", "counter", "decision"], registers });
    this.pendingGauge = new Gauge({ name: "tollgate_pending_approvals", help: "Escalations waiting for a human", labelNames: ["policy"], registers });
    const states = this.states;
    const quantileGauge = (name: string, help: string, pick: (s: PolicyState) => Hdr) =>
      new Gauge({
        name,
        help,
        labelNames: ["policy", "quantile"],
        registers,
        collect(this: Gauge<"policy" | "quantile">) {
          this.reset();
          for (const [policy, s] of states) {
            const h = pick(s);
            if (h.totalCount === 0) continue;
            for (const [q, p] of QUANTILES) this.set({ policy, quantile: q }, (p === 100 ? h.maxValue : h.getValueAtPercentile(p)) / 1e9);
          }
        },
      });
    quantileGauge("tollgate_eval_latency_seconds", "Evaluation latency percentiles from an HDR histogram (quantile 1 is the maximum)", (s) => s.evalHdr);
    quantileGauge("tollgate_audit_append_latency_seconds", "Audit append latency percentiles from an HDR histogram (quantile 1 is the maximum)", (s) => s.appendHdr);
  }

  /** Counts one decision of `policy` and records how long its evaluation took. */
  recordDecision(policy: string, d: Decision, evalNs: number): void {
    const s = this.state(policy);
    s.decisions[d.decision]++;
    const rule = d.rule ?? DEFAULT_RULE;
    s.rules.set(rule, (s.rules.get(rule) ?? 0) + 1);
    let children = this.decisionChildren.get(d);
    if (children === undefined || d.policy !== policy) {
      children = {
        total: this.decisionsTotal.labels({ policy, decision: d.decision, rule }),
        rule: this.ruleMatches.labels({ policy, rule }),
      };
      if (d.policy === policy) this.decisionChildren.set(d, children);
    }
    children.total.inc();
    children.rule.inc();
    const ns = Math.max(1, Math.round(evalNs));
    s.evalHdr.recordValue(ns);
    this.child(this.evalChildren, this.evalSeconds, policy).observe(ns / 1e9);
    for (const counter in d.counters ?? {}) {
      this.counterDecisions.labels({ policy, counter, decision: d.decision }).inc();
      let by = s.counters.get(counter);
      if (by === undefined) s.counters.set(counter, (by = { allow: 0, deny: 0, escalate: 0 }));
      by[d.decision]++;
    }
  }

  /** Records how long an audit append took to become durable. */
  recordAuditAppend(policy: string, ns: number): void {
    const n = Math.max(1, Math.round(ns));
    this.state(policy).appendHdr.recordValue(n);
    this.child(this.appendChildren, this.appendSeconds, policy).observe(n / 1e9);
  }

  setPendingApprovals(policy: string, n: number): void {
    this.state(policy).pending = n;
    this.pendingGauge.set({ policy }, n);
  }

  /** The Prometheus text exposition (content type: `registry.contentType`). */
  prometheus(): Promise<string> {
    return this.registry.metrics();
  }

  snapshot(): MetricsSnapshot {
    const policies: Record<string, PolicyMetricsSnapshot> = {};
    for (const [policy, s] of this.states) {
      policies[policy] = {
        policy,
        decisions: { ...s.decisions },
        rules: Object.fromEntries(s.rules),
        counters: Object.fromEntries(Array.from(s.counters, ([n, by]) => [n, { ...by }])),
        eval_ns: latency(s.evalHdr),
        audit_append_ns: latency(s.appendHdr),
        pending_approvals: s.pending,
      };
    }
    return { policies };
  }

  private state(policy: string): PolicyState {
    let s = this.states.get(policy);
    if (s === undefined) {
      s = { decisions: { allow: 0, deny: 0, escalate: 0 }, rules: new Map(), evalHdr: newHdr(), appendHdr: newHdr(), pending: 0, counters: new Map() };
      this.states.set(policy, s);
    }
    return s;
  }

  private child(cache: Map<string, Observe>, h: Histogram<"policy">, policy: string): Observe {
    let c = cache.get(policy);
    if (c === undefined) {
      c = h.labels({ policy });
      cache.set(policy, c);
    }
    return c;
  }
}
