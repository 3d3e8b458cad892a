// GET /metrics: every worker's registry (decisions, rule matches, evaluation time), asked for
// over IPC, merged with the primary's own (audit append time, pending approvals) by prom-client's
// AggregatorRegistry.

import { AggregatorRegistry, Registry } from "prom-client";
import { GateMetrics } from "../metrics/metrics.js";
import type { ToPrimary } from "./ipc.js";
import { connectedWorkers } from "./workers.js";

export class ClusterMetrics {
  /** The primary's own figures: audit append time (the Recorder's) and pending approvals. */
  readonly metrics = new GateMetrics({ registry: new Registry() });
  private nextId = 1;
  private readonly requests = new Map<number, { left: number; parts: unknown[][]; resolve: (parts: unknown[][]) => void }>();

  /**
   * The Prometheus text of the whole server. `pending`: the pending approvals, counted when
   * scraped (an indexed count), under the name of the policy being served (count null: not
   * counted, the store is closed).
   */
  async collect(pending: () => { policy: string; count: number | null | Promise<number | null> }): Promise<string> {
    const workers = connectedWorkers();
    const id = this.nextId++;
    const parts = await new Promise<unknown[][]>((resolve) => {
      if (workers.length === 0) return resolve([]);
      const req = { left: workers.length, parts: [] as unknown[][], resolve };
      this.requests.set(id, req);
      for (const w of workers) w.send({ t: "metrics-req", id });
      setTimeout(() => {
        if (this.requests.delete(id)) resolve(req.parts);
      }, 2000).unref();
    });
    const now = pending();
    const policy = now.policy;
    const count = await now.count;
    if (count !== null) this.metrics.setPendingApprovals(policy, count);
    parts.push((await this.metrics.registry.getMetricsAsJSON()) as unknown[]);
    // HDR percentiles cannot be summed across workers: the largest is the conservative figure.
    for (const part of parts) {
      for (const m of part as { name: string; aggregator?: string }[]) {
        if (m.name.endsWith("_latency_seconds")) m.aggregator = "max";
      }
    }
    return AggregatorRegistry.aggregate(parts as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  /** A worker's answer to `metrics-req`. */
  onResponse(msg: Extract<ToPrimary, { t: "metrics-res" }>): void {
    const req = this.requests.get(msg.id);
    if (!req) return;
    req.parts.push(msg.metrics);
    if (--req.left === 0) {
      this.requests.delete(msg.id);
      req.resolve(req.parts);
    }
  }
}
