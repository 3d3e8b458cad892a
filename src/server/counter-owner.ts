// The primary's counters (spec section 8): the one state every worker decides against, kept the
// way the audit log is — one owner. Workers read window sums (`sums`) and send each decision
// that counted, or that read sums changed by their own earlier decisions, with a commit
// (pipeline/message.ts, `Commit`): the primary records it only if the sums are unchanged
// (compare-and-record, src/state/shared-store.ts), before its audit record is appended, so
// the outcome is that of a one-at-a-time order. State is rebuilt from the audit log at start
// (pipeline/counted.ts) and kept across reloads for unchanged counters.

import type { CountedSeal } from "../audit/counted-seal.js";
import type { Approval } from "../approvals/approval.js";
import { PendingByRecord, rebuildCounters, rememberPending, settleTransition } from "../pipeline/counted.js";
import type { Commit } from "../pipeline/message.js";
import { MemoryCounterStore } from "../state/memory-store.js";
import type { Key } from "../state/memory-store.js";
import type { PolicySummary } from "./policy-check.js";

type Counters = PolicySummary["counters"];
type Ref = readonly [string, string, Key];

/** What the primary asks of the counters, in memory (CounterOwner) or in Redis (RedisCounterOwner). */
export interface CounterAuthority {
  retain(policy: PolicySummary): void;
  sums(refs: readonly Ref[], now: number): number[] | Promise<number[]>;
  /** Each commit in order (undefined: nothing to check): true when recorded, else the current sums. */
  commitAll(commits: readonly (Commit | undefined)[]): (true | number[])[] | Promise<(true | number[])[]>;
  recorded(hash: string, c: Commit): void;
  onTransition(a: Approval): void;
  close(): Promise<void>;
}

export class CounterOwner implements CounterAuthority {
  private store: MemoryCounterStore;
  private digests: Map<string, string>;
  readonly pending: PendingByRecord;

  private constructor(counters: Counters, store: MemoryCounterStore, pending: PendingByRecord) {
    this.store = store;
    this.pending = pending;
    this.digests = new Map(counters.map((c) => [c.name, c.digest]));
  }

  /** The state of `policy`'s counters, rebuilt from the audit log in `auditDir`. */
  static async open(auditDir: string, policy: PolicySummary, seal: CountedSeal): Promise<CounterOwner> {
    const store = new MemoryCounterStore(policy.counters);
    const { pending } = await rebuildCounters(auditDir, policy.counters.map((c) => ({ ...c, per: [], sum: null, referenced: false })), store, Date.now(), seal);
    return new CounterOwner(policy.counters, store, pending);
  }

  /** A new policy: unchanged counters keep their state, the others start empty. */
  retain(policy: PolicySummary): void {
    this.store.retain(policy.counters);
    this.digests = new Map(policy.counters.map((c) => [c.name, c.digest]));
  }

  private current(counter: string, digest: string): boolean {
    return this.digests.get(counter) === digest;
  }

  /** The window sums at `now`; 0 for a counter the current policy does not have (a worker on the previous one). */
  sums(refs: readonly [string, string, Key][], now: number): number[] {
    return refs.map(([counter, digest, key]) => (this.current(counter, digest) ? this.store.sum(counter, key, now) : 0));
  }

  commitAll(commits: readonly (Commit | undefined)[]): (true | number[])[] {
    return commits.map((c) => (c === undefined ? true : this.commit(c)));
  }

  async close(): Promise<void> {
    // nothing to release: the state is rebuilt from the audit log
  }

  /** Records `c` if its sums still hold (true); else the current sums, and nothing is recorded. */
  commit(c: Commit): true | number[] {
    const [now, refs, sums, add, pending] = c;
    const current = this.sums(refs, now);
    for (let i = 0; i < current.length; i++) {
      if (current[i] !== sums[i]) return current;
    }
    const entries = add.filter(([counter, digest]) => this.current(counter, digest)).map(([counter, , key, amount]) => ({ counter, key, amount }));
    if (entries.length > 0) {
      this.store.record(entries, now, pending === null ? undefined : { id: pending[0], expiresAt: pending[1], onTimeout: pending[2] });
    }
    return true;
  }

  /** The escalation recorded as `hash` counted pending contributions under `c`'s pending id. */
  recorded(hash: string, c: Commit): void {
    rememberPending(this.pending, hash, c[4] === null ? null : { id: c[4][0], expiresAt: c[4][1] });
  }

  /** An approval was resolved: approved contributions stay, denied ones go (spec section 8). */
  onTransition(a: Approval): void {
    settleTransition(this.pending, a, (id, resolution) => this.store.resolve(id, resolution, Date.now()));
  }
}
