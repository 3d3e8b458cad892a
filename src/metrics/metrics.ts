// Gate metrics: Prometheus exposition through prom-client, exact latency percentiles through
// HDR histograms (nanosecond resolution), and a JSON snapshot of the same figures.

import * as hdr from "hdr-histogram-js";
import type { Histogram as Hdr } from "hdr-histogram-js";
import { Counter, Gauge, Registry } from "prom-client";
import type { CounterConfiguration, Histogram, Metric } from "prom-client";
import type { Decision, Effect } from "../decision.js";

/** The `rule` label and snapshot key of a default decision (rule ids cannot contain parentheses). */
export const DEFAULT_RULE = "(default)";

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
  /** Decisions that read each counter (spec section 8), by result: one entry per counter, never per key. */
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

type DecisionLabels = { policy: string; decision: Effect; rule: string };
type RuleLabels = { policy: string; rule: string };

/** A labelled count that a PublishedCounter hands to prom-client when the registry is collected. */
interface CountCell<L> {
  readonly labels: L;
  /** Counted since the counter last took this cell's counts. */
  pending: number;
  /** In the counter's `counted` list (counted since the counter was last reset). */
  listed: boolean;
}

/**
 * A prom-client Counter that is counted in plain cells and takes the counts in its `collect()`
 * (the documented hook that runs on every `registry.metrics()` / `getMetricsAsJSON()`) through
 * `inc(labels, n)`. prom-client then holds exactly what per-call `inc()` would have given it:
 * same values, same series in the same order (first counted first), same label hashing.
 * `reset()` is overridden only so that `registry.resetMetrics()` also drops counts not yet taken,
 * as it did when every call went straight to prom-client.
 */
class PublishedCounter<T extends string> extends Counter<T> {
  // Assigned after super(): prom-client's Metric constructor calls reset() before fields exist.
  private counted: CountCell<Partial<Record<T, string>>>[] | undefined;

  constructor(config: CounterConfiguration<T>) {
    super({
      ...config,
      collect(this: Counter<T>) {
        (this as PublishedCounter<T>).publish();
      },
    });
    this.counted = [];
  }

  count(c: CountCell<Partial<Record<T, string>>>): void {
    if (!c.listed) {
      c.listed = true;
      this.counted!.push(c);
    }
    c.pending++;
  }

  override reset(): void {
    super.reset();
    if (this.counted === undefined) return;
    for (const c of this.counted) {
      c.pending = 0;
      c.listed = false;
    }
    this.counted = [];
  }

  private publish(): void {
    for (const c of this.counted!) {
      if (c.pending === 0) continue;
      this.inc(c.labels, c.pending);
      c.pending = 0;
    }
  }
}

/** One policy's series of a BucketHistogram: what prom-client's Histogram keeps per label set. */
interface BucketSeries {
  readonly labels: { policy: string };
  /** Observations per bucket, not cumulative; the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  /** In the histogram's `observed` list (observed since the histogram was last reset). */
  listed: boolean;
}

type HistogramJson = Awaited<ReturnType<Histogram<"policy">["get"]>>;

/** One exposition line of a histogram as prom-client's Histogram produces it before splaying labels. */
interface HistogramLine {
  labels: { le?: number | string };
  sharedLabels: { policy: string };
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

/**
 * A Prometheus histogram with a `policy` label (a real `histogram`: same name, `le` buckets,
 * `_sum`, `_count`), kept in plain per-bucket counts and a sum and registered as its own metric
 * object, which reads out exactly what prom-client 15's Histogram reads out for the same
 * observations.
 *
 * Why not a prom-client Histogram brought up to date in its collect(): its public API adds one
 * observation per observe() call and cannot set a bucket count, the sum or the count, so
 * "reset() + re-observe" would cost one call per observation ever made, on every scrape, and
 * could not reproduce the sum (re-observing only what is new would just move today's cost to the
 * scrape); anything else means writing its `hashMap` or overriding its methods in a subclass, i.e.
 * depending on its internals. A Registry, on the other hand, takes any object with `name`, `help`,
 * `type`, `aggregator`, `get()` (the getMetricsAsJSON() entry, which AggregatorRegistry.aggregate
 * sums) and `reset()` (resetMetrics()); that is what `AggregatorRegistry.aggregate` itself
 * registers, and `registerMetric`'s TypeScript type lists only the built-in classes, hence the
 * cast. The registry renders the text from `getForPromString()` when a metric has one and from
 * `get()` otherwise; this class provides it, as prom-client's Histogram does, so that the series
 * labels stay apart and come after `le` even when the registry has default labels.
 */
class BucketHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private observed: BucketSeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric<"policy">);
  }

  series(policy: string): BucketSeries {
    return { labels: { policy }, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0, listed: false };
  }

  /** Adds `v` as prom-client's observe() does: to the first bucket with `v <= le`, the sum and the count. */
  observe(s: BucketSeries, v: number): void {
    if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${v}`);
    if (!s.listed) {
      s.listed = true;
      this.observed.push(s);
    }
    const b = this.buckets;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  /** As prom-client's: every series is gone until observed again. */
  reset(): void {
    for (const s of this.observed) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
      s.listed = false;
    }
    this.observed = [];
  }

  // Same values, keys (including `exemplar`) and order as prom-client 15's Histogram.
  async getForPromString(): Promise<{ name: string; help: string; type: "histogram"; values: HistogramLine[]; aggregator: "sum" }> {
    const bucketName = `${this.name}_bucket`;
    const values: HistogramLine[] = [];
    for (const s of this.observed) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.buckets[i]! }, sharedLabels: s.labels, value: acc, metricName: bucketName, exemplar: null });
      }
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucketName, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  async get(): Promise<HistogramJson> {
    const data = await this.getForPromString();
    const values = data.values.map(({ labels, sharedLabels, ...line }) => ({ ...line, labels: { ...labels, ...sharedLabels } }));
    return { ...data, values } as unknown as HistogramJson;
  }
}

/** A (decision, rule) of one policy, with everything one recordDecision updates. */
interface Outcome {
  readonly state: PolicyState;
  readonly decision: Effect;
  readonly rule: RuleCount;
  readonly cell: CountCell<DecisionLabels>;
}

interface RuleCount {
  total: number;
  readonly cell: CountCell<RuleLabels>;
}

interface PolicyState {
  decisions: Record<Effect, number>;
  /** By rule id, in the order first decided (the snapshot's `rules`). */
  rules: Map<string, RuleCount>;
  /** By decision, then rule. */
  outcomes: Map<Effect, Map<string, Outcome>>;
  evalHdr: Hdr;
  appendHdr: Hdr;
  evalSeries: BucketSeries;
  appendSeries: BucketSeries;
  pending: number;
  counters: Map<string, Record<Effect, number>>;
}

function newHdr(): Hdr {
  // 1 ns .. 1 hour, 3 significant digits; auto-resize covers anything slower. 64-bit counts
  // (exact to 2^53): the default 32-bit ones wrap silently after 2^32 values in one bucket,
  // about half a day of a busy server whose latencies sit in one bucket.
  return hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 });
}

function latency(h: Hdr): LatencySnapshot {
  const count = h.totalCount;
  if (count === 0) return { count: 0, p50: 0, p99: 0, p999: 0, max: 0 };
  return { count, p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9), max: h.maxValue };
}

export class GateMetrics {
  readonly registry: Registry;
  private readonly decisionsTotal: PublishedCounter<"policy" | "decision" | "rule">;
  private readonly ruleMatches: PublishedCounter<"policy" | "rule">;
  private readonly evalSeconds: BucketHistogram;
  private readonly appendSeconds: BucketHistogram;
  private readonly pendingGauge: Gauge<"policy">;
  private readonly states = new Map<string, PolicyState>();
  // recordDecision runs once per decision, so it only updates plain state (prom-client's bound
  // children hash their labels on every inc/observe): the counters take their counts and the
  // histograms are read when the registry is collected. Outcomes are cached per decision object
  // (the engine's decisions are shared, frozen objects).
  private readonly counterDecisions: PublishedCounter<"policy" | "counter" | "decision">;
  private readonly counterCells = new Map<string, CountCell<Partial<Record<"policy" | "counter" | "decision", string>>>>();
  private readonly outcomes = new WeakMap<Decision, Outcome>();

  constructor(options: { registry?: Registry } = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    this.decisionsTotal = new PublishedCounter({ name: "tollgate_decisions_total", help: "Decisions made, by result and deciding rule", labelNames: ["policy", "decision", "rule"], registers });
    this.ruleMatches = new PublishedCounter({ name: "tollgate_rule_matches_total", help: "Decisions decided by each rule (the first matching rule of spec section 4)", labelNames: ["policy", "rule"], registers });
    this.evalSeconds = new BucketHistogram("tollgate_eval_duration_seconds", "Policy evaluation time per decision", EVAL_BUCKETS, this.registry);
    this.appendSeconds = new BucketHistogram("tollgate_audit_append_duration_seconds", "Time from audit append to the record being durable", APPEND_BUCKETS, this.registry);
    this.counterDecisions = new PublishedCounter({ name: "tollgate_counter_decisions_total", help: "Decisions that read each counter (spec section 8), by result: one series per counter, never per key", labelNames: ["policy", "counter", "decision"], registers });
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
    let o = this.outcomes.get(d);
    if (o === undefined || d.policy !== policy) {
      o = this.outcome(policy, d.decision, d.rule ?? DEFAULT_RULE);
      if (d.policy === policy) this.outcomes.set(d, o);
    }
    const s = o.state;
    s.decisions[o.decision]++;
    o.rule.total++;
    this.decisionsTotal.count(o.cell);
    this.ruleMatches.count(o.rule.cell);
    const ns = Math.max(1, Math.round(evalNs));
    s.evalHdr.recordValue(ns);
    this.evalSeconds.observe(s.evalSeries, ns / 1e9);
    if (d.counters !== undefined) {
      for (const counter in d.counters) {
        this.counterDecisions.count(this.counterCell(policy, counter, d.decision));
        let by = s.counters.get(counter);
        if (by === undefined) s.counters.set(counter, (by = { allow: 0, deny: 0, escalate: 0 }));
        by[d.decision]++;
      }
    }
  }

  private counterCell(policy: string, counter: string, decision: Effect): CountCell<Partial<Record<"policy" | "counter" | "decision", string>>> {
    const k = `${policy}\u0000${counter}\u0000${decision}`;
    let c = this.counterCells.get(k);
    if (c === undefined) {
      c = { labels: { policy, counter, decision }, pending: 0, listed: false };
      this.counterCells.set(k, c);
    }
    return c;
  }

  /** Records how long an audit append took to become durable. */
  recordAuditAppend(policy: string, ns: number): void {
    const n = Math.max(1, Math.round(ns));
    const s = this.state(policy);
    s.appendHdr.recordValue(n);
    this.appendSeconds.observe(s.appendSeries, n / 1e9);
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
        rules: Object.fromEntries(Array.from(s.rules, ([rule, r]) => [rule, r.total])),
        counters: Object.fromEntries(Array.from(s.counters, ([name, by]) => [name, { ...by }])),
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
      s = {
        decisions: { allow: 0, deny: 0, escalate: 0 },
        rules: new Map(),
        outcomes: new Map(),
        evalHdr: newHdr(),
        appendHdr: newHdr(),
        evalSeries: this.evalSeconds.series(policy),
        appendSeries: this.appendSeconds.series(policy),
        pending: 0,
        counters: new Map(),
      };
      this.states.set(policy, s);
    }
    return s;
  }

  private outcome(policy: string, decision: Effect, rule: string): Outcome {
    const s = this.state(policy);
    let byRule = s.outcomes.get(decision);
    if (byRule === undefined) {
      byRule = new Map();
      s.outcomes.set(decision, byRule);
    }
    let o = byRule.get(rule);
    if (o === undefined) {
      let r = s.rules.get(rule);
      if (r === undefined) {
        r = { total: 0, cell: { labels: { policy, rule }, pending: 0, listed: false } };
        s.rules.set(rule, r);
      }
      o = { state: s, decision, rule: r, cell: { labels: { policy, decision, rule }, pending: 0, listed: false } };
      byRule.set(rule, o);
    }
    return o;
  }
}
