// Deciding against a counter store shared with other processes (spec section 8, "Atomicity";
// src/state/shared-store.ts): a Gate opened with `state: "redis://..."`. The decisions of one
// event-loop turn read their sums in one call, are decided in arrival order (each with the sums
// its predecessors of the turn left), and every one that counted — or that read a sum its own
// turn changed — is committed in that order (compare-and-record). One whose sums changed in the
// meantime is decided again in the next turn. So the outcome is that of some one-at-a-time
// order across every process sharing the store. A store with commitMany (Redis) takes the commits
// of a turn in one call.

import { randomUUID } from "node:crypto";
import type { CounterEntry } from "../counters.js";
import type { Decision } from "../decision.js";
import type { Policy } from "../policy.js";
import { TurnRefs } from "./turn-refs.js";
import type { CommitRequest, CommitResult, SharedCounterStore } from "../state/shared-store.js";

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
    const turn = new TurnRefs();
    const slotsOf = batch.map((w) => turn.add(w.policy.counterRefs(w.action)));
    const wanted = turn.refs;
    const slotOf = (counter: string, keyText: string) => turn.slotOf(counter, keyText);
    const now = this.clock();
    const read = wanted.length === 0 ? [] : await this.store.read(wanted, now);
    const local = read.slice();
    const steps: SharedStep[] = [];
    /** The commits of this turn, in order, and the decision each is for. */
    const commits: CommitRequest[] = [];
    const owner: number[] = [];
    for (let k = 0; k < batch.length; k++) {
      const { policy, action } = batch[k]!;
      const slots = slotsOf[k]!;
      const used = slots.map((slot) => local[slot]!);
      const r = policy.decideWithCounters(action, (counter, _key, keyText) => {
        const slot = slotOf(counter, keyText);
        return slot === undefined ? undefined : local[slot];
      });
      const d = r.decision;
      const chained = slots.some((slot, j) => used[j] !== read[slot]);
      let pending: string | null = null;
      if (r.entries.length > 0 || chained) {
        if (d.decision === "escalate" && r.entries.length > 0) pending = randomUUID();
        commits.push({ refs: slots.map((slot) => wanted[slot]!), sums: used, entries: r.entries, pending: pending === null ? undefined : { id: pending, expiresAt: now + d.timeout_ms!, onTimeout: d.on_timeout! } });
        owner.push(k);
        for (const e of r.entries) {
          const slot = slotOf(e.counter, e.keyText);
          if (slot !== undefined) local[slot] = local[slot]! + e.amount;
        }
      }
      steps.push({ decision: d, entries: r.entries, now, pending });
    }
    // A decision with nothing to commit took effect at the read (its sums are the store's then):
    // it is answered now, without waiting for the commits of the others. So its caller's next
    // action can be read (on the same connection, after these commits) while they run.
    const committing = new Set(owner);
    batch.forEach((w, k) => {
      if (!committing.has(k)) w.resolve(steps[k]!);
    });
    const results = await this.commit(commits, now);
    const again: Waiting[] = [];
    results.forEach((res, j) => {
      const k = owner[j]!;
      if (res instanceof Error) batch[k]!.reject(res);
      else if (!res.ok) again.push(batch[k]!);
      else batch[k]!.resolve(steps[k]!);
    });
    return again;
  }

  /** The commits of one turn, in order: in one call when the store can (commitMany), else issued
   *  one after the other in this turn (one connection: the store applies them in order). */
  private async commit(commits: CommitRequest[], now: number): Promise<(CommitResult | Error)[]> {
    if (commits.length === 0) return [];
    if (this.store.commitMany !== undefined) return this.store.commitMany(commits, now);
    return Promise.all(commits.map((c) => this.store.commit(c.refs, c.sums, c.entries, now, c.pending).catch((e: Error) => e)));
  }
}
