// Deciding against a counter store shared with other processes (spec section 8, "Atomicity";
// src/state/shared-store.ts): a Gate opened with `state: "redis://..."`. The decisions of one
// event-loop turn read their sums in one call, are decided in arrival order (each with the sums
// its predecessors of the turn left), and every one that counted — or that read a sum its own
// turn changed — is committed in that order (compare-and-record). One whose sums changed in the
// meantime is decided again in the next turn. So the outcome is that of some one-at-a-time
// order across every process sharing the store.

import { randomUUID } from "node:crypto";
import { refText } from "../counters.js";
import type { CounterEntry } from "../counters.js";
import type { Decision } from "../decision.js";
import type { CounterRef, Policy } from "../policy.js";
import type { SharedCounterStore } from "../state/shared-store.js";

/** A decision made against the shared store, and what it counted there. */
export interface SharedStep {
  decision: Decision;
  entries: CounterEntry[];
  now: number;
  /** For an escalation that counted: the id its pending contributions wait under. */
  pending: string | null;
}

interface Waiting {
  policy: Policy;
  action: unknown;
  resolve: (s: SharedStep) => void;
  reject: (e: Error) => void;
}

const MAX_ROUNDS = 10_000;

export class SharedDecider {
  private queue: Waiting[] = [];
  private scheduled = false;

  constructor(
    readonly store: SharedCounterStore,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Decides `action` with `policy` against the shared store; rejects if the store cannot be
   *  reached (the action must not run). */
  decide(policy: Policy, action: unknown): Promise<SharedStep> {
    return new Promise((resolve, reject) => {
      this.queue.push({ policy, action, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.turn(0));
      }
    });
  }

  private async turn(round: number, carried?: Waiting[]): Promise<void> {
    let batch: Waiting[];
    if (carried === undefined) {
      this.scheduled = false;
      batch = this.queue;
      this.queue = [];
    } else batch = carried;
    if (batch.length === 0) return;
    try {
      const again = await this.round(batch);
      if (again.length === 0) return;
      if (round + 1 >= MAX_ROUNDS) throw new Error(`counters: no consistent decision after ${MAX_ROUNDS} rounds`);
      await this.turn(round + 1, again);
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
    }
  }

  /** One read, decide, commit; returns those whose sums changed meanwhile. */
  private async round(batch: Waiting[]): Promise<Waiting[]> {
    const refsOf = batch.map((w) => w.policy.counterRefs(w.action));
    const wanted = new Map<string, CounterRef>();
    for (const refs of refsOf) for (const r of refs) wanted.set(refText(r.counter, r.key), r);
    const now = this.clock();
    const texts = [...wanted.keys()];
    const sums = texts.length === 0 ? [] : await this.store.read([...wanted.values()], now);
    const read = new Map(texts.map((t, k) => [t, sums[k]!]));
    const local = new Map(read);
    const steps: SharedStep[] = [];
    const commits: Promise<{ ok: boolean }>[] = [];
    for (let k = 0; k < batch.length; k++) {
      const { policy, action } = batch[k]!;
      const refs = refsOf[k]!;
      const refTexts = refs.map((r) => refText(r.counter, r.key));
      const used = refTexts.map((t) => local.get(t)!);
      const r = policy.decideWithCounters(action, (counter, key) => local.get(refText(counter, key)));
      const d = r.decision;
      const chained = refTexts.some((t, j) => used[j] !== read.get(t));
      let pending: string | null = null;
      if (r.entries.length > 0 || chained) {
        if (d.decision === "escalate" && r.entries.length > 0) pending = randomUUID();
        // Issued in order in this turn: one connection, so the store applies them in order.
        commits.push(this.store.commit(refs, used, r.entries, now, pending === null ? undefined : { id: pending, expiresAt: now + d.timeout_ms!, onTimeout: d.on_timeout! }));
        for (const e of r.entries) {
          const t = refText(e.counter, e.key);
          const v = local.get(t);
          if (v !== undefined) local.set(t, v + e.amount);
        }
      } else {
        commits.push(Promise.resolve({ ok: true }));
      }
      steps.push({ decision: d, entries: r.entries, now, pending });
    }
    const results = await Promise.all(commits);
    const again: Waiting[] = [];
    results.forEach((res, k) => {
      if (res.ok) batch[k]!.resolve(steps[k]!);
      else again.push(batch[k]!);
    });
    return again;
  }
}
