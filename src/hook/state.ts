// Counters across hook invocations (spec section 8). Each tool call is a new process, so the
// state must outlive it. The audit log is the durable truth, as for a gate: every record that
// counted carries `counted`, and `rebuildCounters` (src/pipeline/counted.ts) makes the state
// from the log's last window. Reading that window on every tool call would cost more as the log
// grows, so the hook keeps beside the log a snapshot (DIR/hook-state.json): the store's own
// operations (each `record` and `resolve`, in order) still inside the longest window, and the
// end of the log (seq, hash) and the counter definitions they belong to. A snapshot that does
// not match the log's end or the policy's counters (a crash after the append, another writer, a
// changed policy, a deleted file) is ignored and the state rebuilt from the log. Replaying the
// same operations in the same order gives the same store: the snapshot changes no decision.
// The snapshot is sealed with the log's key (src/audit/counted-seal.ts: AES-256-GCM): it holds no
// redacted key or amount in the clear, and one edited by anyone without `audit.key` does not
// open, so it is rebuilt from the log (an emptied snapshot would otherwise reset every counter
// while the log still verified).

import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isSealed } from "../audit/counted-seal.js";
import type { CountedSeal } from "../audit/counted-seal.js";
import { counterDefinitions } from "../counters.js";
import type { CounterInfo } from "../counters.js";
import { rebuildCounters } from "../pipeline/counted.js";
import { MemoryCounterStore } from "../state/memory-store.js";
import type { Contribution, Key, Pending, Resolution } from "../state/memory-store.js";

export const HOOK_STATE_FILE = "hook-state.json";
const FORMAT = "tollgate-hook-state/1";

/** One store operation, as replayed. */
export type StoreOp =
  | { at: number; add: [counter: string, key: Key, amount: number][]; pending?: Pending }
  | { at: number; resolve: string; resolution: Resolution };

interface Snapshot {
  format: typeof FORMAT;
  /** The log's last record when the snapshot was written. */
  seq: number;
  hash: string;
  /** `name digest` of each counter, sorted: the definitions the operations belong to. */
  counters: string[];
  ops: StoreOp[];
}

/** A MemoryCounterStore that remembers its operations (to write them to the snapshot). */
export class RecordingStore extends MemoryCounterStore {
  readonly ops: StoreOp[] = [];

  override record(entries: readonly Contribution[], now: number, pending?: Pending): void {
    super.record(entries, now, pending);
    const op: StoreOp = { at: now, add: entries.map((e) => [e.counter, e.key, e.amount]) };
    if (pending !== undefined) op.pending = { id: pending.id, expiresAt: pending.expiresAt, onTimeout: pending.onTimeout };
    this.ops.push(op);
  }

  override resolve(id: string, resolution: Resolution, at: number): boolean {
    const changed = super.resolve(id, resolution, at);
    this.ops.push({ at, resolve: id, resolution });
    return changed;
  }

  /** Replays operations (from a snapshot), remembering them again. */
  replay(ops: readonly StoreOp[]): void {
    for (const op of ops) {
      if ("resolve" in op) this.resolve(op.resolve, op.resolution, op.at);
      else this.record(op.add.map(([counter, key, amount]) => ({ counter, key, amount })), op.at, op.pending);
    }
  }
}

function fingerprint(counters: readonly CounterInfo[]): string[] {
  return counters.map((c) => `${c.name} ${c.digest}`).sort();
}

async function readSnapshot(dir: string, seal: CountedSeal): Promise<Snapshot | null> {
  try {
    const sealed = JSON.parse(await readFile(join(dir, HOOK_STATE_FILE), "utf8")) as unknown;
    if (!isSealed(sealed)) return null;
    const s = seal.open(sealed) as Snapshot; // throws if edited or sealed by another key
    return s !== null && typeof s === "object" && s.format === FORMAT && Array.isArray(s.ops) && Array.isArray(s.counters) ? s : null;
  } catch {
    return null; // absent, unreadable or altered: rebuilt from the log
  }
}

/**
 * The counter state for `counters` at `now`, the log in `dir` ending at (`seq`, `hash`): from the
 * snapshot when it matches, else rebuilt from the log. `rebuilt` says which.
 */
export async function loadState(dir: string, counters: readonly CounterInfo[], end: { seq: number; hash: string }, now: number, seal: CountedSeal): Promise<{ store: RecordingStore; rebuilt: boolean }> {
  const store = new RecordingStore(counterDefinitions(counters));
  const snap = await readSnapshot(dir, seal);
  const fp = fingerprint(counters);
  if (snap !== null && snap.seq === end.seq && snap.hash === end.hash && snap.counters.length === fp.length && snap.counters.every((c, i) => c === fp[i])) {
    try {
      store.replay(snap.ops);
      return { store, rebuilt: false };
    } catch {
      // a snapshot the store refuses: rebuild below, from a fresh store
    }
  }
  const fresh = new RecordingStore(counterDefinitions(counters));
  await rebuildCounters(dir, counters, fresh, now, seal);
  return { store: fresh, rebuilt: true };
}

/**
 * Writes the snapshot of `store` for the log ending at (`seq`, `hash`): the operations whose
 * contributions are still inside the longest window at `now` (and the resolutions of those).
 * Atomic (a temporary file renamed over the old one); not synced: a snapshot lost to a crash is
 * rebuilt from the log, which is.
 */
export async function saveState(dir: string, counters: readonly CounterInfo[], store: RecordingStore, end: { seq: number; hash: string }, now: number, seal: CountedSeal): Promise<void> {
  const horizon = now - Math.max(0, ...counters.map((c) => c.windowMs));
  const kept: StoreOp[] = [];
  const pending = new Set<string>();
  for (const op of store.ops) {
    if ("resolve" in op) {
      if (pending.has(op.resolve)) kept.push(op);
    } else if (op.at > horizon) {
      kept.push(op);
      if (op.pending !== undefined) pending.add(op.pending.id);
    }
  }
  const snap: Snapshot = { format: FORMAT, seq: end.seq, hash: end.hash, counters: fingerprint(counters), ops: kept };
  const path = join(dir, HOOK_STATE_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(seal.seal(snap)), { mode: 0o600 });
  await rename(tmp, path);
}
