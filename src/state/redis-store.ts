// The Redis counter store of the Node host (spec section 8; docs/redis.md): the counters of
// many processes or machines, Node and Python alike, in one Redis. The Python host's
// tollgate/state/redis_store.py is its twin: the same key names, the same script
// (src/state/redis-counters.lua, copied into both by scripts/gen-lua.mjs), so processes of
// both hosts share counters.
//
// Semantics are MemoryCounterStore's (src/state/memory-store.ts; its header lists every
// choice), per counter+key, with these differences, all about sharing:
//   - Clock. Each store object keeps MemoryCounterStore's clock (the latest time it was
//     given); each counter+key in Redis keeps the latest time any process used on it. A call
//     runs at the latest of its time, the object's clock and the clocks of every counter+key
//     it touches (the script's `now'`), so one key's entries stay in time order whatever the
//     processes' clocks say. From one process alone the sums are MemoryCounterStore's.
//   - Identity of state is global: a counter's contributions belong to (name, window,
//     definition) in Redis, not to this object's last `retain`. A process that retains a
//     definition it (or another process) used before finds its contributions still in their
//     windows; MemoryCounterStore would start it empty.
//   - Approvals are global too: `resolve` settles an approval's contributions in every counter
//     it touched, including counters this object has since dropped (another process may still
//     count them), and says true while any of them is still in its window.
//   - Memory: the keys of a counter+key expire (PEXPIRE) when its newest entry leaves the
//     window, plus `expiryGraceMs`: Redis's clock measures the TTL, so callers' times must be
//     milliseconds that pass like the wall clock's (Date.now(), or synthetic times that run no
//     slower than real time by more than the grace).
//
// Compare-and-record (SharedCounterStore): `commit` sends the sums it was decided with; the
// script recomputes them at now' and records only if they are equal, atomically.

import { createHash } from "node:crypto";
import { createClient } from "redis";
import { checkDefinition, checkPending, checkTime, encodeKey } from "./memory-store.js";
import { COUNTERS_LUA } from "./redis-counters.generated.js";
import type { CommitRequest, CommitResult, Contribution, CounterDefinition, CounterRef, Pending, Resolution, SharedCounterStore } from "./shared-store.js";

/** What the store needs of a client: node-redis's `sendCommand` (v4 and later), which
 *  resolves with the reply and rejects with the server's error reply. */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

export interface RedisCounterStoreOptions {
  /** Prepended to every key (default "tollgate:"). For Redis Cluster, put a hash tag in it
   *  ("tollgate:{t}:"): every key of the store is then in that one slot (docs/redis.md). */
  prefix?: string;
  /** Milliseconds a counter+key is kept past its window (default 10,000): slack for callers'
   *  clocks against Redis's. */
  expiryGraceMs?: number;
  /** Errors of a client the store created from a URL (a lost connection; default: ignored,
   *  the calls of that moment reject). */
  onError?: (error: Error) => void;
}

export const DEFAULT_PREFIX = "tollgate:";
export const DEFAULT_EXPIRY_GRACE_MS = 10_000;

/** SHA-256 of a string's UTF-16 code units (lone surrogates included, as Python's
 *  "utf-16-le"/"surrogatepass" encodes them): equal strings, equal hashes, in both hosts. */
function hash(text: string, hexDigits: number): string {
  return createHash("sha256").update(Buffer.from(text, "utf16le")).digest("hex").slice(0, hexDigits);
}

/** The namespace of a counter's state in Redis: its name, window and definition. */
export function counterNamespace(d: CounterDefinition): string {
  return hash(encodeKey([d.name, d.windowMs, d.definition]), 24);
}

/** The Redis key names of a counter+key (hash, list, zset: `B:h`, `B:q`, `B:p`), sharing one
 *  hash tag. */
export function baseKey(prefix: string, namespace: string, key: readonly (string | number)[]): string {
  return `${prefix}${namespace}:{${hash(`${namespace}\n${encodeKey(key)}`, 32)}}`;
}

/** The Redis key of a pending approval. */
export function approvalKey(prefix: string, id: string): string {
  return `${prefix}ap:{${hash(id, 32)}}`;
}

const SCRIPT_SHA = createHash("sha1").update(COUNTERS_LUA).digest("hex");

/** A retained counter: its window and its namespace in Redis. */
interface Namespaced {
  windowMs: number;
  namespace: string;
}

interface Call {
  /** The bases' hash keys, in base order. */
  readonly keys: string[];
  base(counter: string, key: readonly (string | number)[], keyText?: string): number;
  /** The bases' windows, space-separated. */
  windows(): string;
}

/** Base key names remembered (a SHA-256 per counter+key and call showed in profiles); emptied
 *  when it reaches this size. */
const BASE_CACHE_SIZE = 100_000;

/** The client a store created from a URL (and so closes). */
interface Owned {
  close(): Promise<unknown>;
}

export class RedisCounterStore implements SharedCounterStore {
  private readonly client: RedisCommandClient;
  private readonly owned: Owned | null;
  private readonly ready: Promise<unknown>;
  /** The prefix of every key of this store. */
  readonly prefix: string;
  private readonly grace: string;
  private counters = new Map<string, Namespaced>();
  /** Per namespace, key text -> base key name. */
  private readonly bases = new Map<string, Map<string, string>>();
  private basesHeld = 0;
  private now = -Infinity;
  private closed = false;

  /** From a `redis://` (or `rediss://`) URL: the store creates, connects and closes its own
   *  client; a first connection that fails 5 times rejects every call. Or from a connected
   *  node-redis client, which stays the caller's (`close` leaves it open). */
  constructor(target: string | RedisCommandClient, options: RedisCounterStoreOptions = {}) {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (typeof prefix !== "string" || /[\n\r]/.test(prefix)) throw new TypeError("prefix must be a string without line breaks");
    const grace = options.expiryGraceMs ?? DEFAULT_EXPIRY_GRACE_MS;
    if (typeof grace !== "number" || !Number.isFinite(grace) || grace < 0) throw new RangeError("expiryGraceMs must be a finite number >= 0");
    this.prefix = prefix;
    this.grace = String(grace);
    if (typeof target === "string") {
      let connected = false;
      const client = createClient({
        url: target,
        // A decision must not wait for Redis to come back: calls while disconnected reject.
        disableOfflineQueue: true,
        socket: {
          connectTimeout: 5_000,
          reconnectStrategy: (retries: number, cause: Error) => (!connected && retries >= 5 ? cause : Math.min(50 * 2 ** retries, 2_000)),
        },
      });
      client.on("error", (e: Error) => options.onError?.(e));
      client.on("ready", () => {
        connected = true;
      });
      this.owned = client;
      this.client = client;
      this.ready = client.connect();
      this.ready.catch(() => {}); // surfaced by the first call that awaits it
    } else {
      if (target === null || typeof target !== "object" || typeof target.sendCommand !== "function") {
        throw new TypeError("a RedisCounterStore needs a redis:// URL or a node-redis client");
      }
      this.owned = null;
      this.client = target;
      this.ready = Promise.resolve();
    }
  }

  /** This object's clock: the latest time it was given (-Infinity before any). */
  get clock(): number {
    return this.now;
  }

  /** Sets the counters, as MemoryCounterStore#retain (validation included). State lives in
   *  Redis by (name, window, definition): an unchanged counter keeps it, a changed one reads
   *  another, empty, namespace. Also loads the script, so a Redis that cannot be reached is
   *  reported at policy load. */
  async retain(definitions: Iterable<CounterDefinition>): Promise<void> {
    const next = new Map<string, Namespaced>();
    for (const d of definitions) {
      checkDefinition(d, next);
      next.set(d.name, { windowMs: d.windowMs, namespace: counterNamespace(d) });
    }
    await this.connected();
    await this.client.sendCommand(["SCRIPT", "LOAD", COUNTERS_LUA]);
    this.counters = next;
  }

  /** The window sums of `refs` at `now` (taken at the clock if earlier), in order. */
  async read(refs: readonly CounterRef[], now: number): Promise<number[]> {
    checkTime(now, "now");
    const call = this.call();
    const refIdx = refs.map((r) => call.base(r.counter, r.key, r.keyText));
    this.advance(now);
    if (refs.length === 0) return [];
    // `reads`: each distinct counter+key once, packed (docs/redis.md).
    const reply = (await this.run([call.keys[0]!], ["reads", String(this.now), this.grace, call.keys.join("\n"), call.windows()])) as unknown[];
    return refIdx.map((i) => numberOf(reply[i]));
  }

  /** Records `entries` at `now` (pending on `pending`) if the sums of `refs` at `now` still
   *  equal `sums`; else records nothing and returns the current sums. Validates as
   *  MemoryCounterStore#record, recording nothing on a refusal; a pending id the store still
   *  holds is refused (Error) before the sums are compared. */
  async commit(refs: readonly CounterRef[], sums: readonly number[], entries: readonly Contribution[], now: number, pending?: Pending): Promise<CommitResult> {
    const [r] = await this.commitMany([{ refs, sums, entries, pending }], now);
    if (r instanceof Error) throw r;
    return r!;
  }

  /** Many commits at `now` in one script run (SharedCounterStore#commitMany): in order, each
   *  compared and recorded as `commit` would on its own, at one time (the latest of `now` and
   *  the clocks of every counter+key they touch). Validates every commit first (a refusal throws
   *  and records nothing); a pending id the store still holds gives that commit an Error. */
  async commitMany(commits: readonly CommitRequest[], now: number): Promise<(CommitResult | Error)[]> {
    checkTime(now, "now");
    const call = this.call();
    const plan: { refIdx: number[]; sums: readonly number[]; items: [number, number][]; pending: Pending | undefined }[] = [];
    for (const c of commits) {
      const { refs, sums, entries, pending } = c;
      if (!Array.isArray(sums) || sums.length !== refs.length) throw new TypeError("commit needs one sum per ref");
      // Infinity is a sum (one that overflowed); the script reads "Infinity" as strtod does.
      for (const x of sums) if (typeof x !== "number" || Number.isNaN(x) || x === -Infinity) throw new TypeError("a sum must be a number (finite, or Infinity)");
      const refIdx = refs.map((r) => call.base(r.counter, r.key, r.keyText));
      const items: [number, number][] = [];
      for (const e of entries) {
        const i = call.base(e.counter, e.key, e.keyText);
        if (typeof e.amount !== "number" || !Number.isFinite(e.amount) || e.amount < 0) {
          throw new RangeError(`counter '${e.counter}': an amount must be a finite number >= 0`);
        }
        if (e.amount !== 0) items.push([i, e.amount]);
      }
      checkPending(pending);
      plan.push({ refIdx, sums, items, pending });
    }
    this.advance(now);
    const out: (CommitResult | Error)[] = new Array(commits.length);
    const sent: number[] = [];
    plan.forEach((p, k) => {
      if (p.refIdx.length === 0 && p.items.length === 0 && p.pending === undefined) out[k] = { ok: true };
      else sent.push(k);
    });
    if (sent.length === 0) return out;
    // `commits`, packed (docs/redis.md): one body of space-separated tokens.
    const body: string[] = [String(sent.length)];
    const approvals: string[] = [];
    for (const k of sent) {
      const p = plan[k]!;
      body.push(String(p.refIdx.length));
      p.refIdx.forEach((i, j) => body.push(String(i), String(p.sums[j])));
      body.push(String(p.items.length));
      for (const [i, amount] of p.items) body.push(String(i), String(amount));
      if (p.pending === undefined) {
        body.push("0");
      } else {
        approvals.push(approvalKey(this.prefix, p.pending.id));
        body.push("1", String(approvals.length), String(p.pending.expiresAt), p.pending.onTimeout);
      }
    }
    const keys = [call.keys[0] ?? approvals[0]!];
    const args = ["commits", String(this.now), this.grace, call.keys.join("\n"), call.windows(), body.join(" "), approvals.join("\n")];
    const reply = (await this.run(keys, args)) as unknown[];
    let at = 1;
    for (const k of sent) {
      const status = String(reply[at++]);
      if (status === "1") out[k] = { ok: true };
      else if (status === "P") out[k] = new Error(`approval '${plan[k]!.pending!.id}' is already pending`);
      else {
        const n = plan[k]!.refIdx.length;
        out[k] = { ok: false, sums: numbers(reply.slice(at, at + n)) };
        at += n;
      }
    }
    return out;
  }

  /** Approves or denies the pending approval `id` at `at` (taken at the clock if earlier), as
   *  MemoryCounterStore#resolve: true when this changed it; false when the store does not hold
   *  it (unknown, already resolved, expired, or with no contribution left in any window). */
  async resolve(id: string, resolution: Resolution, at: number): Promise<boolean> {
    checkTime(at, "at");
    if (resolution !== "approved" && resolution !== "denied") throw new TypeError("a resolution is 'approved' or 'denied'");
    if (typeof id !== "string") throw new TypeError("an approval id must be a string");
    this.advance(at);
    await this.connected();
    const akey = approvalKey(this.prefix, id);
    // Two steps, so that the script is given every key it touches (Redis Cluster's rule): the
    // approval's keys, then the script, which answers "retry" if the approval was replaced.
    for (let attempt = 0; attempt < 10; attempt++) {
      const keys = await this.client.sendCommand(["HGET", akey, "keys"]);
      if (keys === null || keys === undefined) return false;
      const text = String(keys);
      const reply = String(await this.run([akey, ...text.split("\n")], ["resolve", String(this.now), this.grace, resolution, text]));
      if (reply !== "retry") return reply === "1";
    }
    throw new Error(`approval '${id}': replaced while being resolved, 10 times`);
  }

  /** Closes the client the store created from a URL; a client given to it stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned === null) return;
    try {
      await this.ready;
    } catch {
      return; // never connected: nothing to close
    }
    await this.owned.close();
  }

  /** The distinct counter+keys ("bases") of one call, numbered from 1 as the script sees
   *  them, each named by its hash key (`B:h`: the one-key operations); `base` validates the
   *  counter and the key. */
  private call(): Call {
    const keys: string[] = [];
    const windows: number[] = [];
    const index = new Map<string, number>();
    return {
      keys,
      base: (counter, key, keyText) => {
        const ns = typeof counter === "string" ? this.counters.get(counter) : undefined;
        if (ns === undefined) throw new Error(`unknown counter '${counter}'`);
        if (!Array.isArray(key)) throw new TypeError("a key must be a list of strings and numbers");
        const b = this.baseOf(ns.namespace, key, keyText);
        let i = index.get(b);
        if (i === undefined) {
          windows.push(ns.windowMs);
          i = windows.length;
          index.set(b, i);
          keys.push(`${b}:h`);
        }
        return i;
      },
      windows: () => windows.join(" "),
    };
  }

  /** baseKey(prefix, namespace, key), remembered. */
  private baseOf(namespace: string, key: readonly (string | number)[], keyText?: string): string {
    let names = this.bases.get(namespace);
    if (names === undefined) this.bases.set(namespace, (names = new Map()));
    const text = keyText ?? encodeKey(key);
    let b = names.get(text);
    if (b === undefined) {
      b = baseKey(this.prefix, namespace, key);
      if (this.basesHeld >= BASE_CACHE_SIZE) {
        this.bases.clear();
        this.basesHeld = 0;
        this.bases.set(namespace, (names = new Map()));
      }
      names.set(text, b);
      this.basesHeld++;
    }
    return b;
  }

  private advance(now: number): void {
    if (now > this.now) this.now = now;
  }

  private async connected(): Promise<void> {
    if (this.closed) throw new Error("the counter store is closed");
    await this.ready;
  }

  /** EVALSHA, and EVAL when the server does not have the script (a restart, SCRIPT FLUSH). */
  private async run(keys: string[], args: string[]): Promise<unknown> {
    await this.connected();
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.client.sendCommand(["EVALSHA", SCRIPT_SHA, ...tail]);
    } catch (e) {
      if (!(e instanceof Error && e.message.startsWith("NOSCRIPT"))) throw e;
      return await this.client.sendCommand(["EVAL", COUNTERS_LUA, ...tail]);
    }
  }
}

/** Replies are text (%.17g): strings, or Buffers from a client whose type mapping says so. */
function numbers(replies: unknown[]): number[] {
  return replies.map(numberOf);
}

/** A reply's number: %.17g writes an overflowed sum as "inf" (Number() would read NaN). */
function numberOf(v: unknown): number {
  const text = String(v);
  return text === "inf" ? Infinity : Number(text);
}


