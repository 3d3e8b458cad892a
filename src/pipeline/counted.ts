// Counters made durable by the audit log (spec section 8; docs/semantics.md, "Counters"): the
// record of a decision that recorded contributions carries them in its decision object, as
// `counted` — `{"at": now_ms, "add": [[counter, digest, key, amount], ...], "pending": id}` —
// so the in-memory state of a gate or a server is a view of the last window of the log, rebuilt
// on start. A `kill -9` loses nothing that was acknowledged: an acknowledged decision's record is
// durable, and with it what it counted. Approval transitions (their records link the escalate
// record by hash) settle pending contributions. A counter keyed by, or summing, a field that
// `audit.redact` removes has those values sealed in the record (src/audit/counted-seal.ts), and
// its value in the record's `counters` is "[redacted]" when it sums one (spec section 2).

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { listSegments, splitLines } from "../audit/segments.js";
import { isSealed } from "../audit/counted-seal.js";
import type { CountedSeal, Sealed } from "../audit/counted-seal.js";
import type { CounterEntry, CounterInfo } from "../counters.js";
import type { Decision } from "../decision.js";
import { REDACTED } from "../redact.js";
import type { Key, MemoryCounterStore } from "../state/memory-store.js";

/** What a decision recorded in counters, as its audit record carries it. */
export interface Counted {
  at: number;
  /** Key and amount as the contribution was made, or sealed (a redacted field's value). */
  add: [counter: string, digest: string, key: Key | Sealed, amount: number | Sealed][];
  /** The id its pending contributions wait under (escalations only). */
  pending?: string;
}

export type CountedDecision = Decision & { readonly counted: Counted };

/** Counter name -> digest, per policy's counters. */
const digests = new WeakMap<readonly CounterInfo[], Map<string, string>>();

/** What a record must seal of a counter's contributions: its key, its amount (spec section 2). */
export interface SealedParts {
  key: boolean;
  amount: boolean;
}

/** Whether one path is the other or lies under it: redacting either hides the other's value. */
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

const sealedCache = new WeakMap<readonly CounterInfo[], { redact: readonly (readonly string[])[]; parts: Map<string, SealedParts> }>();

/**
 * The counters whose contributions the record must seal: keyed by a field (`per`) or summing one
 * (`sum`) that an `audit.redact` path is, lies under or lies over. Empty for most policies.
 */
export function sealedCounters(counters: readonly CounterInfo[], redact: readonly (readonly string[])[]): ReadonlyMap<string, SealedParts> {
  const cached = sealedCache.get(counters);
  if (cached !== undefined && cached.redact === redact) return cached.parts;
  const parts = new Map<string, SealedParts>();
  if (redact.length > 0) {
    const hidden = (path: readonly string[]) => redact.some((r) => r.length > 0 && overlaps(r, path));
    for (const c of counters) {
      const key = c.per.some(hidden);
      const amount = c.sum !== null && hidden(c.sum);
      if (key || amount) parts.set(c.name, { key, amount });
    }
  }
  sealedCache.set(counters, { redact, parts });
  return parts;
}

/** What the record's decision needs of a policy. */
export interface CountingPolicy {
  readonly counters: readonly CounterInfo[];
  readonly redact: readonly (readonly string[])[];
}

/**
 * The record's decision: `decision` plus what it counted (the decision itself when nothing is
 * counted or sealed). `seal` is the log's (src/audit/counted-seal.ts); null when the record will
 * never be written (a hook without an audit directory): sealed parts then become "[redacted]".
 */
export function countedDecision(decision: Decision, policy: CountingPolicy, entries: readonly CounterEntry[], at: number, pending: string | null, seal: CountedSeal | null): Decision {
  const { counters } = policy;
  const sealed = sealedCounters(counters, policy.redact);
  let out = decision;
  if (sealed.size > 0 && decision.counters !== undefined) {
    // A sum of redacted amounts is theirs to hide too (the first contribution is the sum).
    let values: Record<string, number | string | null> | undefined;
    for (const name of Object.keys(decision.counters)) {
      if (sealed.get(name)?.amount !== true) continue;
      values ??= { ...decision.counters };
      values[name] = REDACTED;
    }
    if (values !== undefined) out = { ...decision, counters: values } as Decision;
  }
  if (entries.length === 0) return out;
  let digest = digests.get(counters);
  if (digest === undefined) digests.set(counters, (digest = new Map(counters.map((c) => [c.name, c.digest]))));
  // (Without a seal nothing is written: the placeholder stands in for the sealed value.)
  const hide = (v: unknown): Sealed => (seal === null ? (REDACTED as unknown as Sealed) : seal.seal(v));
  const add: Counted["add"] = entries.map((e) => {
    const parts = sealed.get(e.counter);
    const key = e.key as Key;
    return [e.counter, digest.get(e.counter)!, parts?.key === true ? hide(key) : key, parts?.amount === true ? hide(e.amount) : e.amount];
  });
  const counted: Counted = { at, add };
  if (pending !== null) counted.pending = pending;
  return { ...out, counted } as CountedDecision;
}

/** A contribution's key or amount as recorded, opened with the log's seal if it was sealed; a
 *  key that is not a list or an amount that is not a number ("[redacted]": decided without the
 *  log's seal) cannot be counted, and throws rather than count under a wrong key (fail open). */
function opened<T>(v: T | Sealed, seal: CountedSeal | null, what: "key" | "amount"): T {
  let out: unknown = v;
  if (isSealed(v)) {
    if (seal === null) throw new Error(`the log holds a sealed counter ${what}, and no key to open it was given`);
    out = seal.open(v);
  }
  if (what === "key" ? !Array.isArray(out) : typeof out !== "number") {
    throw new Error(`the log holds a counter ${what} that is not a ${what === "key" ? "list" : "number"} (${JSON.stringify(out)}): the counts cannot be rebuilt`);
  }
  return out as T;
}

/** An escalation's contributions, pending in a store under `id` until `expiresAt`. */
export interface PendingEscalation {
  id: string;
  expiresAt: number;
}

/** The pending contributions of a decided step (Policy#step): those of an escalation that counted. */
export function pendingOf(step: { decision: Decision; pending: string | null; now: number }): PendingEscalation | null {
  return step.pending === null ? null : { id: step.pending, expiresAt: step.now + step.decision.timeout_ms! };
}

/** Pending ids of escalations by the hash of their record, for the transitions that settle them. */
export class PendingByRecord {
  private map = new Map<string, PendingEscalation>();

  add(hash: string, id: string, expiresAt: number): void {
    this.map.set(hash, { id, expiresAt });
  }

  /** The pending id of the escalation recorded as `hash` (forgotten once taken). */
  take(hash: string): string | undefined {
    const p = this.map.get(hash);
    if (p !== undefined) this.map.delete(hash);
    return p?.id;
  }

  /** Drops what has expired by `now` (the store settles those itself). */
  prune(now: number): void {
    if (this.map.size < 1024) return;
    for (const [h, p] of this.map) if (p.expiresAt <= now) this.map.delete(h);
  }
}

/**
 * The approval transition `a` settles the pending contributions of the escalation recorded as
 * its `decision_hash`: calls `settle` with their id for an approve or a deny (an expiry settles
 * itself in the store, by `on_timeout`). Shared by the gate and the server's counter owners.
 */
export function settleTransition(pending: PendingByRecord, a: { decision_hash: string; state: string }, settle: (id: string, resolution: "approved" | "denied") => void): void {
  const id = pending.take(a.decision_hash);
  if (id !== undefined && (a.state === "approved" || a.state === "denied")) settle(id, a.state);
}

/** Remembers the pending id of the escalation recorded as `hash`, if it counted. */
export function rememberPending(pending: PendingByRecord, hash: string, p: PendingEscalation | null): void {
  if (p === null) return;
  pending.prune(Date.now());
  pending.add(hash, p.id, p.expiresAt);
}

interface ParsedRecord {
  hash: string;
  ts: string;
  decision: { counted?: Counted; approval?: { decision_hash?: string; state?: string }; timeout_ms?: number; on_timeout?: "allow" | "deny" };
}

/**
 * Rebuilds `store` (empty, with `counters`' definitions) from the audit log in `dir`: every
 * contribution whose counter (name and definition digest) the policy still has and that can
 * still count at `now`, and every approval transition that settled one. Reads back from the
 * end only as far as the longest window (+ the longest approval timeout) reaches. Returns the
 * pending ids of escalations still open, by record hash, and how many records it replayed.
 * Sealed keys and amounts are opened with `seal` (the log's); one that does not open throws:
 * counting without it would let a limit fail open.
 */
export async function rebuildCounters(dir: string, counters: readonly CounterInfo[], store: MemoryCounterStore, now: number, seal: CountedSeal | null): Promise<{ pending: PendingByRecord; replayed: number }> {
  const pending = new PendingByRecord();
  if (counters.length === 0) return { pending, replayed: 0 };
  const known = new Map(counters.map((c) => [c.name, c.digest]));
  const horizon = now - Math.max(...counters.map((c) => c.windowMs)) - 7 * 86_400_000;
  // Newest segment first, until one starts before the horizon.
  const segments = await listSegments(dir);
  const chosen: string[] = [];
  for (let s = segments.length - 1; s >= 0; s--) {
    const name = segments[s]!.name;
    chosen.unshift(name);
    const { lines } = splitLines(await readFile(join(dir, name), "utf8"));
    const first = lines[0];
    if (first === undefined) continue;
    const ts = Date.parse((JSON.parse(first) as ParsedRecord).ts);
    if (Number.isFinite(ts) && ts < horizon) break;
  }
  const open = new Map<string, string>(); // record hash -> pending id
  let replayed = 0;
  for (const name of chosen) {
    const { lines } = splitLines(await readFile(join(dir, name), "utf8"));
    for (const line of lines) {
      // Cheap filter first: most records count nothing.
      if (!line.includes('"counted":') && !line.includes('"approval":')) continue;
      const r = JSON.parse(line) as ParsedRecord;
      const c = r.decision.counted;
      if (c !== undefined && r.decision.approval === undefined) {
        const entries = c.add.filter(([counter, digest]) => known.get(counter) === digest).map(([counter, , key, amount]) => ({ counter, key: opened(key, seal, "key"), amount: opened(amount, seal, "amount") }));
        if (entries.length === 0) continue;
        if (c.pending !== undefined && r.decision.timeout_ms !== undefined) {
          const expiresAt = c.at + r.decision.timeout_ms;
          store.record(entries, c.at, { id: c.pending, expiresAt, onTimeout: r.decision.on_timeout ?? "deny" });
          open.set(r.hash, c.pending);
          pending.add(r.hash, c.pending, expiresAt);
        } else {
          store.record(entries, c.at);
        }
        replayed++;
        continue;
      }
      const link = r.decision.approval;
      if (link?.decision_hash === undefined) continue;
      const id = open.get(link.decision_hash);
      if (id === undefined) continue;
      open.delete(link.decision_hash);
      pending.take(link.decision_hash);
      // An expiry settles itself in the store (on_timeout at expiresAt); approve and deny are explicit.
      if (link.state === "approved" || link.state === "denied") store.resolve(id, link.state, Date.parse(r.ts));
      replayed++;
    }
  }
  return { pending, replayed };
}
