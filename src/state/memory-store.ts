// The in-memory counter store of the Node host (spec section 8, "State:
// counters"): exact sliding-window sums per (counter, key), with pending
// escalations that are approved, denied or expire into `on_timeout`. The
// decision pipeline (library, CLI, gate, server) will read its sums before a
// decision and record the decision's contributions after it; this module
// knows nothing of policies, actions or approvals beyond what it is given.
//
// Choices (the reference interpreter, test/support/reference/counters.ts,
// is the oracle; where it is silent, the choice is said here):
//   - Time never goes backward in a store. The store keeps a clock: the
//     largest `now` (or `at`) it has been given. A call with an earlier time
//     is taken at the clock: it records at the clock's time, sums at it and
//     resolves at it. So the queues stay in time order whatever the host's
//     clock does (a wall clock stepped back by NTP does not throw or reorder);
//     a contribution recorded "late" counts from the clock's time, which never
//     shortens its stay in the window. Calls at the same time are ordered by
//     arrival (section 8, "Time"). Sequence tests (section 7) never go back.
//   - A window holds contributions at `t` with `now - window < t <= now`: one
//     recorded at `t` stops counting at `t + window` exactly. Each counter
//     keeps one queue of its contributions in time order (all keys); when the
//     clock advances, every counter evicts from its front, so memory is what
//     is inside the windows at the clock (evicted entries are freed, a key
//     with no entry left is dropped). Every operation is amortized O(1), plus
//     O(log P) once per escalation (P = open pending approvals) for the
//     expiry heap.
//   - Pending (escalate) contributions count like recorded ones. `resolve`
//     approved: they stay, with their original time. Denied: removed from
//     every later sum. Unresolved at a clock `>= expiresAt`: settled as
//     approved (`onTimeout: "allow"`) or removed ("deny"). A resolution at or
//     after `expiresAt` is too late and changes nothing; a second resolution
//     changes nothing (the first stands); as in the reference. The store
//     forgets an approval once it is resolved, expired, or all its
//     contributions have left their windows (then no resolution can change a
//     sum): `resolve` then returns false. Approval ids are the caller's (the
//     approvals module's); an id may not be reused while the store holds it.
//   - Keys: a list of strings and finite numbers. Numbers compare as doubles
//     (0 and -0 are one key); a number is never the same key as a string
//     (1 and "1" differ). See `encodeKey`.
//   - Identity of state: a counter's state belongs to its name and definition.
//     `retain` keeps the state of every counter whose name, definition text
//     and window are unchanged, starts the others empty and drops the rest.
//   - Float drift: each key keeps a running sum with Neumaier (compensated)
//     summation, and resets to exactly 0 when it holds no counting entry.
//     While every amount is an integer or a multiple of 1/1024 and the sums
//     stay below 2^40 (the spec's bound), every addition and subtraction is
//     exact, the compensation stays 0, and the sum equals the reference's
//     in-order sum bit for bit. Beyond that bound the compensation keeps the
//     error to the last bits instead of letting it grow (a huge amount that
//     leaves the window does not take the small ones' precision with it).

export type KeyPart = string | number;
export type Key = readonly KeyPart[];

/** One contribution of a decision: `amount` (finite, >= 0; 0 records nothing)
 *  to `counter` under `key`. */
export interface Contribution {
  counter: string;
  key: Key;
  amount: number;
  /** `encodeKey(key)`, when the caller has it already (the host's hot path). */
  keyText?: string;
}

/** The approval an escalated decision's contributions wait for. */
export interface Pending {
  id: string;
  /** `t + timeout_ms`: from this time on, an unresolved approval is settled. */
  expiresAt: number;
  onTimeout: "allow" | "deny";
}

/** A counter as the policy declares it. `definition` is the caller's canonical
 *  text of its definition (per, window, when, sum): state is kept across
 *  `retain` only while it is unchanged. */
export interface CounterDefinition {
  name: string;
  windowMs: number;
  definition: string;
}

export type Resolution = "approved" | "denied";

/** What the store holds: entries in the windows (removed ones included until
 *  they leave), keys with at least one entry, approvals it can still resolve,
 *  and the expiry heap's length (stale items included). */
export interface StoreSize {
  entries: number;
  keys: number;
  pending: number;
  heap: number;
}

/** The canonical text of a key: equal keys (as section 8 compares them), equal
 *  texts, and only them. A string part is `s<length>:<text>`, a number part is
 *  `n<shortest round-trip text>;` (`String(-0)` is "0"). Throws a TypeError for
 *  a part that is neither a string nor a finite number. */
export function encodeKey(key: Key): string {
  let out = "";
  for (const v of key) {
    if (typeof v === "string") out += `s${v.length}:${v}`;
    else if (typeof v === "number" && Number.isFinite(v)) out += `n${String(v)};`;
    else throw new TypeError(`a key part must be a string or a finite number, not ${typeof v === "number" ? String(v) : typeof v}`);
  }
  return out;
}

class Bucket {
  /** Neumaier running sum of the counting entries: `sum + comp`. */
  sum = 0;
  comp = 0;
  /** Entries that count (not removed, not evicted). */
  counting = 0;
  /** Entries in the counter's queue (removed ones included). */
  entries = 0;
  constructor(
    readonly counter: CounterSlot,
    readonly key: string,
  ) {}

  add(x: number): void {
    const s = this.sum + x;
    if (Math.abs(this.sum) >= Math.abs(x)) this.comp += this.sum - s + x;
    else this.comp += x - s + this.sum;
    this.sum = s;
  }

  /** Stops counting `amount`; back to exactly 0 when nothing counts. */
  take(amount: number): void {
    if (--this.counting === 0) this.sum = this.comp = 0;
    else this.add(-amount);
  }

  value(): number {
    if (this.counting === 0) return 0;
    const v = this.sum + this.comp;
    return v > 0 ? v : 0;
  }
}

interface Entry {
  readonly t: number;
  readonly amount: number;
  readonly bucket: Bucket;
  approval: ApprovalState | null;
  removed: boolean;
  evicted: boolean;
}

interface ApprovalState {
  readonly id: string;
  readonly expiresAt: number;
  readonly onTimeout: "allow" | "deny";
  entries: Entry[];
  /** Entries not yet evicted. */
  live: number;
}

class CounterSlot {
  readonly buckets = new Map<string, Bucket>();
  /** Every entry of this counter, in time order, from `head`. */
  queue: (Entry | undefined)[] = [];
  head = 0;
  dropped = false;
  constructor(
    readonly name: string,
    readonly windowMs: number,
    readonly definition: string,
  ) {}
}

export class MemoryCounterStore {
  private slots = new Map<string, CounterSlot>();
  private readonly approvals = new Map<string, ApprovalState>();
  /** Min-heap by expiresAt; items whose approval the store has forgotten are
   *  stale and skipped (compacted when they are the majority). */
  private heap: ApprovalState[] = [];
  private stale = 0;
  private now = -Infinity;

  constructor(definitions: Iterable<CounterDefinition> = []) {
    this.retain(definitions);
  }

  /** The store's clock: the latest time it was given (-Infinity before any). */
  get clock(): number {
    return this.now;
  }

  /** Sets the counters (a policy load or reload): keeps the state of every
   *  counter whose name, definition and window are unchanged; the others
   *  start empty; counters not listed are dropped, with their contributions
   *  to pending approvals. */
  retain(definitions: Iterable<CounterDefinition>): void {
    const next = new Map<string, CounterSlot>();
    for (const d of definitions) {
      if (typeof d.name !== "string") throw new TypeError("a counter name must be a string");
      if (next.has(d.name)) throw new Error(`counter '${d.name}' is defined twice`);
      if (typeof d.windowMs !== "number" || !(d.windowMs > 0) || d.windowMs === Infinity) {
        throw new RangeError(`counter '${d.name}': the window must be a finite number of milliseconds > 0`);
      }
      if (typeof d.definition !== "string") throw new TypeError(`counter '${d.name}': the definition must be a string`);
      const old = this.slots.get(d.name);
      const keep = old !== undefined && old.definition === d.definition && old.windowMs === d.windowMs;
      next.set(d.name, keep ? old : new CounterSlot(d.name, d.windowMs, d.definition));
    }
    let droppedAny = false;
    for (const [name, slot] of this.slots) {
      if (next.get(name) !== slot) {
        slot.dropped = true;
        droppedAny = true;
      }
    }
    this.slots = next;
    if (!droppedAny) return;
    for (const a of [...this.approvals.values()]) {
      const kept = a.entries.filter((e) => !e.bucket.counter.dropped);
      if (kept.length === a.entries.length) continue;
      a.entries = kept;
      a.live = kept.reduce((n, e) => n + (e.evicted ? 0 : 1), 0);
      if (a.live === 0) this.forget(a);
    }
  }

  /** Records a decision's contributions at `now` (taken at the clock if
   *  earlier): allowed without `pending`, escalated with it. Zero amounts
   *  record nothing. Throws, recording nothing, on an unknown counter, a bad
   *  key, an amount that is not a finite number >= 0, a bad `pending`, or a
   *  pending id the store still holds. */
  record(entries: readonly Contribution[], now: number, pending?: Pending): void {
    checkTime(now, "now");
    const items: [CounterSlot, string, number][] = [];
    for (const c of entries) {
      const slot = this.slotOf(c.counter);
      const key = c.keyText ?? encodeKey(c.key);
      if (typeof c.amount !== "number" || !Number.isFinite(c.amount) || c.amount < 0) {
        throw new RangeError(`counter '${c.counter}': an amount must be a finite number >= 0`);
      }
      if (c.amount !== 0) items.push([slot, key, c.amount]);
    }
    if (pending !== undefined) {
      if (typeof pending.id !== "string") throw new TypeError("a pending id must be a string");
      if (typeof pending.expiresAt !== "number" || Number.isNaN(pending.expiresAt)) throw new TypeError("expiresAt must be a number");
      if (pending.onTimeout !== "allow" && pending.onTimeout !== "deny") throw new TypeError("onTimeout must be 'allow' or 'deny'");
    }
    this.advance(now);
    if (pending !== undefined && this.approvals.has(pending.id)) throw new Error(`approval '${pending.id}' is already pending`);
    if (items.length === 0) return;

    let approval: ApprovalState | null = null;
    if (pending !== undefined) {
      if (pending.expiresAt <= this.now) {
        // Already expired: for every sum from now on it is settled.
        if (pending.onTimeout === "deny") return;
      } else {
        approval = { id: pending.id, expiresAt: pending.expiresAt, onTimeout: pending.onTimeout, entries: [], live: 0 };
        this.approvals.set(approval.id, approval);
        this.push(approval);
      }
    }
    for (const [slot, key, amount] of items) {
      let bucket = slot.buckets.get(key);
      if (bucket === undefined) slot.buckets.set(key, (bucket = new Bucket(slot, key)));
      const e: Entry = { t: this.now, amount, bucket, approval, removed: false, evicted: false };
      slot.queue.push(e);
      bucket.entries++;
      bucket.counting++;
      bucket.add(amount);
      if (approval !== null) {
        approval.entries.push(e);
        approval.live++;
      }
    }
  }

  /** The sum of the contributions to `counter` under `key` at times t with
   *  `now - window < t <= now` (now taken at the clock if earlier), pending
   *  ones included, denied and expired-into-deny ones not. Throws on an
   *  unknown counter or a bad key. */
  sum(counter: string, key: Key, now: number, keyText?: string): number {
    checkTime(now, "now");
    const slot = this.slotOf(counter);
    const k = keyText ?? encodeKey(key);
    this.advance(now);
    return slot.buckets.get(k)?.value() ?? 0;
  }

  /** Approves or denies the pending approval `id` at `at` (taken at the clock
   *  if earlier). True when this changed it; false when the store does not
   *  hold it: unknown, already resolved, expired (at >= expiresAt), or with no
   *  contribution left in any window. */
  resolve(id: string, resolution: Resolution, at: number): boolean {
    checkTime(at, "at");
    if (resolution !== "approved" && resolution !== "denied") throw new TypeError("a resolution is 'approved' or 'denied'");
    this.advance(at);
    const a = this.approvals.get(id);
    if (a === undefined) return false;
    this.settle(a, resolution === "approved");
    return true;
  }

  /** What the store holds (for tests and metrics). */
  size(): StoreSize {
    let entries = 0;
    let keys = 0;
    for (const slot of this.slots.values()) {
      entries += slot.queue.length - slot.head;
      keys += slot.buckets.size;
    }
    return { entries, keys, pending: this.approvals.size, heap: this.heap.length };
  }

  private slotOf(counter: string): CounterSlot {
    const slot = this.slots.get(counter);
    if (slot === undefined) throw new Error(`unknown counter '${counter}'`);
    return slot;
  }

  /** Moves the clock to `now` if later: expiries up to it, then evictions. */
  private advance(now: number): void {
    if (!(now > this.now)) return;
    this.now = now;
    while (this.heap.length > 0 && this.heap[0].expiresAt <= now) {
      const a = this.pop();
      if (this.approvals.get(a.id) === a) this.settle(a, a.onTimeout === "allow");
      else this.stale--;
    }
    for (const slot of this.slots.values()) this.evict(slot);
  }

  private evict(slot: CounterSlot): void {
    const q = slot.queue;
    const limit = this.now - slot.windowMs; // counts while limit < t (the reference's test)
    let head = slot.head;
    while (head < q.length && !(limit < q[head]!.t)) {
      const e = q[head]!;
      q[head++] = undefined;
      e.evicted = true;
      const b = e.bucket;
      if (!e.removed) b.take(e.amount);
      if (--b.entries === 0) slot.buckets.delete(b.key);
      const a = e.approval;
      if (a !== null && --a.live === 0 && this.approvals.get(a.id) === a) this.forget(a);
    }
    if (head === q.length) {
      slot.queue = [];
      slot.head = 0;
    } else if (head > 1024 && head * 2 > q.length) {
      slot.queue = q.slice(head);
      slot.head = 0;
    } else {
      slot.head = head;
    }
  }

  /** Approved (or expired into allow): the entries stay as recorded ones.
   *  Otherwise they stop counting. The store then forgets the approval. */
  private settle(a: ApprovalState, approved: boolean): void {
    for (const e of a.entries) {
      e.approval = null;
      if (!approved && !e.evicted && !e.removed) {
        e.removed = true;
        e.bucket.take(e.amount);
      }
    }
    a.entries = [];
    this.forget(a);
  }

  private forget(a: ApprovalState): void {
    this.approvals.delete(a.id);
    for (const e of a.entries) e.approval = null;
    a.entries = [];
    // Its heap item is stale unless it was just popped (advance adjusts).
    if (this.heapHolds(a)) {
      this.stale++;
      if (this.stale > 64 && this.stale * 2 > this.heap.length) this.compact();
    }
  }

  /** Whether `a` still has an item in the heap: it has unless its expiry has
   *  been reached (expired items are popped before anything else happens). */
  private heapHolds(a: ApprovalState): boolean {
    return a.expiresAt > this.now;
  }

  private compact(): void {
    const live = this.heap.filter((a) => this.approvals.get(a.id) === a);
    this.heap = [];
    this.stale = 0;
    for (const a of live) this.push(a);
  }

  private push(a: ApprovalState): void {
    const h = this.heap;
    let i = h.length;
    h.push(a);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].expiresAt <= a.expiresAt) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = a;
  }

  private pop(): ApprovalState {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const c = l + 1 < h.length && h[l + 1].expiresAt < h[l].expiresAt ? l + 1 : l;
        if (h[c].expiresAt >= last.expiresAt) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function checkTime(t: number, name: string): void {
  if (typeof t !== "number" || !Number.isFinite(t)) throw new TypeError(`${name} must be a finite number of milliseconds`);
}
