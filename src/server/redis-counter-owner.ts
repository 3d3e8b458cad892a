// Counters in Redis for `tollgate serve --state redis://...` (docs/redis.md): several servers
// (and library processes) share one state. The primary stays the one client of its workers, as
// for the in-memory state (counter-owner.ts), and forwards reads and commits to Redis, where the
// Lua script compares and records atomically. The commits of one worker message go in one call
// (commitMany), which applies them in order (each compared and recorded as on its own). Redis holds
// the state: nothing is rebuilt from the audit log, and an unreachable Redis fails the decisions
// that need it (503), never lets them through.

import type { Approval } from "../approvals/approval.js";
import { PendingByRecord, rememberPending, settleTransition } from "../pipeline/counted.js";
import type { Commit } from "../pipeline/message.js";
import { RedisCounterStore } from "../state/redis-store.js";
import type { Key } from "../state/memory-store.js";
import type { CommitRequest } from "../state/shared-store.js";
import type { CounterAuthority } from "./counter-owner.js";
import type { Log } from "./log.js";
import type { PolicySummary } from "./policy-check.js";

type Ref = readonly [string, string, Key];

export class RedisCounterOwner implements CounterAuthority {
  private digests: Map<string, string>;
  private readonly pending = new PendingByRecord();
  private ready: Promise<void>;

  private constructor(private readonly store: RedisCounterStore, policy: PolicySummary, private readonly log: Log) {
    this.digests = new Map(policy.counters.map((c) => [c.name, c.digest]));
    this.ready = store.retain(policy.counters);
  }

  /** Connects (a startup error if Redis cannot be reached) and sets the policy's counters. */
  static async open(url: string, policy: PolicySummary, log: Log): Promise<RedisCounterOwner> {
    const store = new RedisCounterStore(url);
    const owner = new RedisCounterOwner(store, policy, log);
    try {
      await owner.ready;
    } catch (err) {
      await store.close().catch(() => undefined);
      throw new Error(`cannot use the counter state at ${url}: ${(err as Error).message}`);
    }
    return owner;
  }

  retain(policy: PolicySummary): void {
    this.digests = new Map(policy.counters.map((c) => [c.name, c.digest]));
    const next = this.store.retain(policy.counters);
    this.ready = next.catch((err: Error) => this.log.error("counters: cannot set the new policy's counters in Redis", { detail: err.message }));
  }

  private current(counter: string, digest: string): boolean {
    return this.digests.get(counter) === digest;
  }

  async sums(refs: readonly Ref[], now: number): Promise<number[]> {
    await this.ready;
    const live = refs.filter(([c, d]) => this.current(c, d));
    const read = await this.store.read(live.map(([counter, , key]) => ({ counter, key })), now);
    let k = 0;
    return refs.map(([c, d]) => (this.current(c, d) ? read[k++]! : 0));
  }

  /** The commits of one worker message in one call to Redis (commitMany): applied there in
   *  order, each compared and recorded as on its own. */
  async commitAll(commits: readonly (Commit | undefined)[]): Promise<(true | number[])[]> {
    await this.ready;
    const requests: CommitRequest[] = [];
    const at: number[] = [];
    const lives: number[][] = [];
    let now = -Infinity;
    commits.forEach((c, k) => {
      if (c === undefined) return;
      const [t, refs, sums, add, pending] = c;
      const live = refs.map(([counter, digest], i) => [this.current(counter, digest), i] as const).filter(([ok]) => ok).map(([, i]) => i);
      const entries = add.filter(([counter, digest]) => this.current(counter, digest)).map(([counter, , key, amount]) => ({ counter, key, amount }));
      requests.push({
        refs: live.map((i) => ({ counter: refs[i]![0], key: refs[i]![2] })),
        sums: live.map((i) => sums[i]!),
        entries,
        pending: pending === null || entries.length === 0 ? undefined : { id: pending[0], expiresAt: pending[1], onTimeout: pending[2] },
      });
      at.push(k);
      lives.push(live);
      if (t > now) now = t;
    });
    const out: (true | number[])[] = commits.map(() => true);
    if (requests.length === 0) return out;
    const results = await this.store.commitMany(requests, now);
    results.forEach((r, j) => {
      if (r instanceof Error) throw r;
      if (r.ok) return;
      const k = at[j]!;
      const current = commits[k]![1].map(() => 0);
      lives[j]!.forEach((i, n) => (current[i] = r.sums[n]!));
      out[k] = current;
    });
    return out;
  }

  recorded(hash: string, c: Commit): void {
    rememberPending(this.pending, hash, c[4] === null ? null : { id: c[4][0], expiresAt: c[4][1] });
  }

  onTransition(a: Approval): void {
    settleTransition(this.pending, a, (id, resolution) => {
      this.store.resolve(id, resolution, Date.now()).catch((err: Error) => {
        this.log.error("counters: cannot settle an approval's pending contributions in Redis", { approval: a.id, detail: err.message });
      });
    });
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
