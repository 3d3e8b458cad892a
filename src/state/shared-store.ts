// The contract of a counter store shared by many deciders (spec section 8,
// "Atomicity"): the server's primary for its workers, Redis for many
// processes or machines. A decider cannot hold a lock across a decision that
// runs elsewhere, so deciding is optimistic compare-and-record:
//
//   1. read the window sums of the counters the rules reference, at `now`;
//   2. decide with them (the core; no policy logic outside it);
//   3. when the decision records something (allow or escalate with a nonzero
//      contribution), commit: the store records the entries only if every sum
//      it was decided with is still the sum at `now`; else it returns the
//      current sums and the decider decides again with them.
//
// A decision depends on the state only through those sums (docs/semantics.md),
// so a commit whose sums are unchanged is exactly the decision a
// one-at-a-time order would have taken at that point; a deny, or an allow that
// records nothing, takes effect at its read. No versions: comparing the sums
// themselves cannot suffer ABA (a key emptied and refilled to the same sum
// decides the same).
//
// Implemented by RedisCounterStore (src/state/redis-store.ts; docs/redis.md).

import type { Contribution, CounterDefinition, Key, Pending, Resolution } from "./memory-store.js";

export type { Contribution, CounterDefinition, Key, Pending, Resolution };

/** A counter and one key of it, whose window sum a decision reads. */
export interface CounterRef {
  counter: string;
  key: Key;
  /** `encodeKey(key)`, when the caller has it already (the host's hot path). */
  keyText?: string;
}

export type CommitResult = { ok: true } | { ok: false; sums: number[] };

/** One commit of `commitMany`: `commit`'s arguments but `now`. */
export interface CommitRequest {
  refs: readonly CounterRef[];
  sums: readonly number[];
  entries: readonly Contribution[];
  pending?: Pending;
}

export interface SharedCounterStore {
  /** Sets the counters (a policy load or reload): as MemoryCounterStore#retain.
   *  A store shared by several deciders keys state by name and definition, so
   *  deciders with different policies never mix their counters. */
  retain(definitions: Iterable<CounterDefinition>): Promise<void>;
  /** The window sums of `refs` at `now`, in order. */
  read(refs: readonly CounterRef[], now: number): Promise<number[]>;
  /** Records `entries` at `now` (pending on `pending`) if the sums of `refs`
   *  at `now` still equal `sums` (compared as doubles, bit for bit but 0 = -0);
   *  else records nothing and returns the current sums. */
  commit(refs: readonly CounterRef[], sums: readonly number[], entries: readonly Contribution[], now: number, pending?: Pending): Promise<CommitResult>;
  /** Many commits at `now` in one call (one round trip): applied in order, each compared and
   *  recorded as `commit` would on its own (a later one sees what an earlier one recorded).
   *  Each result is `commit`'s, or the Error `commit` would throw for it (a pending id still
   *  held), which leaves the others to proceed. Optional: a decider commits one by one without. */
  commitMany?(commits: readonly CommitRequest[], now: number): Promise<(CommitResult | Error)[]>;
  /** Approves or denies a pending approval at `at`: as MemoryCounterStore#resolve. */
  resolve(id: string, resolution: Resolution, at: number): Promise<boolean>;
  close(): Promise<void>;
}
