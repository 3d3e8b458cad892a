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
//     expiry heap. The queues and the per-key sums are typed arrays (see
//     CounterSlot): no object per contribution for the garbage collector.
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

/** An amount at least this large is not taken back from a sum by subtraction but by summing the
 *  others again (CounterSlot#take): 2^40, far above any budget, far below where a double's
 *  rounding reaches the units. The Python store and the Redis script use the same bound. */
export const HUGE_AMOUNT = 2 ** 40;

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

/** A counter of a store as `handles` gives it, for `sumAt`: valid while `table` is unchanged. */
export interface CounterHandle {
  readonly name: string;
}

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

/** A bucket's numbers in CounterSlot#b: BUCKET of them, at these offsets. */
const BUCKET = 4;
const SUM = 0;
const COMP = 1;
const COUNTING = 2;
const QUEUED = 3;

/** Entry flags (CounterSlot#flags). */
const REMOVED = 1;
const PENDING = 2;

/**
 * One counter's state, in typed arrays (no object per contribution: thousands of live entries
 * would be as many objects for the garbage collector to trace and promote, and scattered in
 * memory, each a cache miss when it leaves the window).
 *
 * Keys ("buckets") are numbered: `ids` maps a key's text to its number; per number the
 * Neumaier running sum (`sum` + `comp`), the entries that count and the entries in the queue.
 * The queue is a ring of entries in time order: time, amount, bucket, flags (removed; pending,
 * with its approval in `approvalOf`). Entry numbers (`seq`) grow from 0 and are never reused;
 * the ring holds `headSeq .. headSeq + size - 1`; an entry below `headSeq` has been evicted.
 */
class CounterSlot {
  readonly ids = new Map<string, number>();
  /** Per bucket: its key text (undefined when the number is free). */
  private keys: (string | undefined)[] = [];
  private free: number[] = [];
  /** Per bucket, side by side (one cache line holds a bucket, rather than four arrays each
   *  missed per lookup): the Neumaier running sum and its compensation, the entries that count
   *  and the entries in the queue. */
  b = new Float64Array(16 * BUCKET);

  t = new Float64Array(16);
  amount = new Float64Array(16);
  bucket = new Int32Array(16);
  flags = new Uint8Array(16);
  /** The approval of each pending entry, by ring index (null for the others): an array beside
   *  the ring rather than a map by entry number, which cost a hash-table miss per entry. */
  approvalOf: (ApprovalState | null)[] = new Array<ApprovalState | null>(16).fill(null);
  /** Ring index of the oldest entry, entries held, number of the oldest entry. */
  head = 0;
  size = 0;
  headSeq = 0;
  dropped = false;

  constructor(
    readonly name: string,
    readonly windowMs: number,
    readonly definition: string,
  ) {}

  /** Whether bucket `id` is the one of `key`. */
  holds(id: number, key: string): boolean {
    return id >= 0 && this.keys[id] === key;
  }

  /** The bucket of `key`, made when missing. */
  bucketOf(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.free.pop();
      if (id === undefined) {
        id = this.keys.length;
        if (id * BUCKET === this.b.length) this.growBuckets();
      }
      this.keys[id] = key;
      this.b.fill(0, id * BUCKET, id * BUCKET + BUCKET);
      this.ids.set(key, id);
    }
    return id;
  }

  private growBuckets(): void {
    const b = new Float64Array(this.b.length * 2);
    b.set(this.b);
    this.b = b;
  }

  /** Neumaier summation (Bucket#add before the typed arrays; the same arithmetic). A sum that
   *  overflows is Infinity with no compensation (which would be -Infinity, and the value NaN,
   *  read as 0: a limit failing open); it stays so until an entry leaves (`take`). */
  add(id: number, x: number): void {
    const b = this.b;
    const at = id * BUCKET;
    const sum = b[at + SUM]!;
    const s = sum + x;
    if (s === Infinity) {
      b[at + SUM] = s;
      b[at + COMP] = 0;
      return;
    }
    if (Math.abs(sum) >= Math.abs(x)) b[at + COMP]! += sum - s + x;
    else b[at + COMP]! += x - s + sum;
    b[at + SUM] = s;
  }

  /** Stops counting `amount`, the entry at ring index `leaving`; back to exactly 0 when nothing
   *  counts. An overflowed sum cannot have an amount taken back (Infinity - x), nor can a huge
   *  amount (HUGE_AMOUNT and more) without its rounding in the compensation swamping what the
   *  smaller amounts add (two of 4e38 and 7e28 leaving left a day's budget reading 0: a limit
   *  failing open): both are summed again from the entries that still count, oldest first. */
  take(id: number, amount: number, leaving: number): void {
    const b = this.b;
    const at = id * BUCKET;
    if (--b[at + COUNTING]! === 0) b[at + SUM] = b[at + COMP] = 0;
    else if (b[at + SUM] === Infinity || amount >= HUGE_AMOUNT) this.resum(id, leaving);
    else this.add(id, -amount);
  }

  /** The bucket's sum from its counting entries (all but `leaving` and the removed ones). */
  private resum(id: number, leaving: number): void {
    const at = id * BUCKET;
    this.b[at + SUM] = this.b[at + COMP] = 0;
    const mask = this.t.length - 1;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & mask;
      if (i !== leaving && this.bucket[i] === id && (this.flags[i]! & REMOVED) === 0) this.add(id, this.amount[i]!);
    }
  }

  value(id: number): number {
    const b = this.b;
    const at = id * BUCKET;
    if (b[at + COUNTING] === 0) return 0;
    const v = b[at + SUM]! + b[at + COMP]!;
    return v > 0 ? v : 0;
  }

  /** Appends an entry (its bucket counts it); returns its number. */
  push(t: number, amount: number, id: number, approval: ApprovalState | null): number {
    if (this.size === this.t.length) this.resize(this.t.length * 2);
    const i = (this.head + this.size) & (this.t.length - 1);
    this.t[i] = t;
    this.amount[i] = amount;
    this.bucket[i] = id;
    const seq = this.headSeq + this.size;
    if (approval === null) {
      this.flags[i] = 0;
    } else {
      this.flags[i] = PENDING;
      this.approvalOf[i] = approval;
    }
    this.size++;
    this.b[id * BUCKET + QUEUED]!++;
    this.b[id * BUCKET + COUNTING]!++;
    this.add(id, amount);
    return seq;
  }

  /** The ring index of entry `seq`, or -1 once it has been evicted. */
  index(seq: number): number {
    return seq < this.headSeq ? -1 : (this.head + (seq - this.headSeq)) & (this.t.length - 1);
  }

  /** Removes the oldest entry (the caller has read it); frees its bucket when it was the last. */
  shift(): void {
    const id = this.bucket[this.head]!;
    if (--this.b[id * BUCKET + QUEUED]! === 0) {
      this.ids.delete(this.keys[id]!);
      this.keys[id] = undefined;
      this.free.push(id);
    }
    this.head = (this.head + 1) & (this.t.length - 1);
    this.size--;
    this.headSeq++;
  }

  /** After evictions: gives memory back when the ring is mostly empty, and the bucket numbers
   *  when no key is left. */
  trim(): void {
    const cap = this.t.length;
    if (cap > 64 && this.size * 8 < cap) this.resize(Math.max(16, cap >>> 2));
    if (this.ids.size === 0 && this.keys.length > 0) {
      this.keys = [];
      this.free = [];
      if (this.b.length > 64 * BUCKET) this.b = new Float64Array(16 * BUCKET);
    }
  }

  /** The ring in a new capacity (a power of 2 >= size), oldest entry first. */
  private resize(cap: number): void {
    const t = new Float64Array(cap);
    const amount = new Float64Array(cap);
    const bucket = new Int32Array(cap);
    const flags = new Uint8Array(cap);
    const approvalOf = new Array<ApprovalState | null>(cap).fill(null);
    const mask = this.t.length - 1;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & mask;
      t[k] = this.t[i]!;
      amount[k] = this.amount[i]!;
      bucket[k] = this.bucket[i]!;
      flags[k] = this.flags[i]!;
      approvalOf[k] = this.approvalOf[i]!;
    }
    this.approvalOf = approvalOf;
    this.t = t;
    this.amount = amount;
    this.bucket = bucket;
    this.flags = flags;
    this.head = 0;
  }
}

interface ApprovalState {
  readonly id: string;
  readonly expiresAt: number;
  readonly onTimeout: "allow" | "deny";
  /** Its entries: counter and entry number, pairwise. */
  slots: CounterSlot[];
  seqs: number[];
  /** Entries not yet evicted. */
  live: number;
  /** Set when the store forgets it: its heap item, if any, is then stale (an id may be reused). */
  forgotten: boolean;
}

export class MemoryCounterStore {
  private slots = new Map<string, CounterSlot>();
  private readonly approvals = new Map<string, ApprovalState>();
  /** Min-heap by expiresAt; items whose approval the store has forgotten are
   *  stale and skipped (compacted when they are the majority). The keys are
   *  kept inline (`heapAt`, parallel to `heap`): a sift compares numbers in
   *  one array instead of following a pointer per level to an approval
   *  object somewhere in the heap of the process (a cache miss each, with
   *  thousands pending: most of an escalation's cost before). */
  private heap: ApprovalState[] = [];
  private heapAt = new Float64Array(16);
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
      checkDefinition(d, next);
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
      if (!a.slots.some((slot) => slot.dropped)) continue;
      const slots: CounterSlot[] = [];
      const seqs: number[] = [];
      let live = 0;
      a.slots.forEach((slot, k) => {
        if (slot.dropped) return;
        slots.push(slot);
        seqs.push(a.seqs[k]!);
        if (slot.index(a.seqs[k]!) >= 0) live++;
      });
      a.slots = slots;
      a.seqs = seqs;
      a.live = live;
      if (live === 0) this.forget(a);
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
    checkPending(pending);
    this.advance(now);
    if (pending !== undefined && this.approvals.has(pending.id)) throw new Error(`approval '${pending.id}' is already pending`);
    if (items.length === 0) return;

    let approval: ApprovalState | null = null;
    if (pending !== undefined) {
      if (pending.expiresAt <= this.now) {
        // Already expired: for every sum from now on it is settled.
        if (pending.onTimeout === "deny") return;
      } else {
        approval = { id: pending.id, expiresAt: pending.expiresAt, onTimeout: pending.onTimeout, slots: [], seqs: [], live: 0, forgotten: false };
        this.approvals.set(approval.id, approval);
        this.push(approval);
      }
    }
    for (const [slot, key, amount] of items) {
      const seq = slot.push(this.now, amount, slot.bucketOf(key), approval);
      if (approval !== null) {
        approval.slots.push(slot);
        approval.seqs.push(seq);
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
    const id = slot.ids.get(k);
    return id === undefined ? 0 : slot.value(id);
  }

  /** `sum(counter, key, now, keyText)` for a caller that keeps, per key, the number this store
   *  gave it last (`memo[at]`; -1 for none): a key's state is then found without hashing its
   *  text into the counter's map (a likely cache miss per counter with thousands of keys). A
   *  number is used only if it still belongs to `keyText` in this counter (numbers of keys that
   *  left are reused), so a stale or foreign memo costs a lookup, never a wrong sum. */
  sumMemo(counter: string, keyText: string, now: number, memo: number[], at: number): number {
    checkTime(now, "now");
    const slot = this.slotOf(counter);
    this.advance(now);
    return this.sumAt(slot, keyText, memo, at);
  }

  /** Identifies the store's counters: replaced by every `retain` (handles are then stale). */
  get table(): object {
    return this.slots;
  }

  /** Handles of the named counters, in order, for `sumAt` while `table` is unchanged; null for
   *  a counter the store does not have (`sum` then says so). */
  handles(names: readonly string[]): (CounterHandle | null)[] {
    return names.map((n) => this.slots.get(n) ?? null);
  }

  /** Moves the clock to `now` (nothing when earlier): what `sum` does first. */
  at(now: number): void {
    checkTime(now, "now");
    this.advance(now);
  }

  /** `sumMemo` at the clock for a counter's handle (call `at(now)` first): the hot path of a
   *  decision, which reads several counters at one time. */
  sumAt(handle: CounterHandle, keyText: string, memo: number[], at: number): number {
    const slot = handle as CounterSlot;
    let id = memo[at]!;
    if (!slot.holds(id, keyText)) {
      id = slot.ids.get(keyText) ?? -1;
      memo[at] = id;
      if (id < 0) return 0;
    }
    return slot.value(id);
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
      entries += slot.size;
      keys += slot.ids.size;
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
    while (this.heap.length > 0 && this.heapAt[0]! <= now) {
      const a = this.pop();
      if (!a.forgotten) this.settle(a, a.onTimeout === "allow");
      else this.stale--;
    }
    for (const slot of this.slots.values()) this.evict(slot);
  }

  private evict(slot: CounterSlot): void {
    const limit = this.now - slot.windowMs; // counts while limit < t (the reference's test)
    if (slot.size === 0 || limit < slot.t[slot.head]!) return;
    do {
      const i = slot.head;
      const f = slot.flags[i]!;
      if ((f & REMOVED) === 0) slot.take(slot.bucket[i]!, slot.amount[i]!, i);
      let a: ApprovalState | undefined;
      if ((f & PENDING) !== 0) {
        a = slot.approvalOf[i] ?? undefined;
        slot.approvalOf[i] = null;
      }
      slot.shift();
      if (a !== undefined && --a.live === 0 && !a.forgotten) this.forget(a);
    } while (slot.size > 0 && !(limit < slot.t[slot.head]!));
    slot.trim();
  }

  /** Approved (or expired into allow): the entries stay as recorded ones.
   *  Otherwise they stop counting. The store then forgets the approval. */
  private settle(a: ApprovalState, approved: boolean): void {
    for (let k = 0; k < a.slots.length; k++) {
      const slot = a.slots[k]!;
      const i = slot.index(a.seqs[k]!);
      if (i < 0) continue; // evicted
      slot.approvalOf[i] = null;
      const f = slot.flags[i]!;
      if (!approved && (f & REMOVED) === 0) {
        slot.flags[i] = REMOVED;
        slot.take(slot.bucket[i]!, slot.amount[i]!, i);
      } else {
        slot.flags[i] = f & ~PENDING;
      }
    }
    a.slots = [];
    a.seqs = [];
    this.forget(a);
  }

  private forget(a: ApprovalState): void {
    this.approvals.delete(a.id);
    a.forgotten = true;
    for (let k = 0; k < a.slots.length; k++) {
      const slot = a.slots[k]!;
      const i = slot.index(a.seqs[k]!);
      if (i < 0) continue;
      slot.approvalOf[i] = null;
      slot.flags[i]! &= ~PENDING;
    }
    a.slots = [];
    a.seqs = [];
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
    const live = this.heap.filter((a) => !a.forgotten);
    this.heap = [];
    this.heapAt = new Float64Array(Math.max(16, live.length * 2));
    this.stale = 0;
    for (const a of live) this.push(a);
  }

  private push(a: ApprovalState): void {
    const h = this.heap;
    let i = h.length;
    h.push(a);
    if (i >= this.heapAt.length) {
      const at = new Float64Array(this.heapAt.length * 2);
      at.set(this.heapAt);
      this.heapAt = at;
    }
    const at = this.heapAt;
    const key = a.expiresAt;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (at[p]! <= key) break;
      h[i] = h[p]!;
      at[i] = at[p]!;
      i = p;
    }
    h[i] = a;
    at[i] = key;
  }

  private pop(): ApprovalState {
    const h = this.heap;
    const at = this.heapAt;
    const top = h[0]!;
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      const key = at[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const c = l + 1 < n && at[l + 1]! < at[l]! ? l + 1 : l;
        if (at[c]! >= key) break;
        h[i] = h[c]!;
        at[i] = at[c]!;
        i = c;
      }
      h[i] = last;
      at[i] = key;
    }
    return top;
  }
}

/** Throws unless `d` is a usable definition whose name is not in `seen` yet (retain, in every store). */
export function checkDefinition(d: CounterDefinition, seen: ReadonlyMap<string, unknown>): void {
  if (typeof d.name !== "string") throw new TypeError("a counter name must be a string");
  if (seen.has(d.name)) throw new Error(`counter '${d.name}' is defined twice`);
  if (typeof d.windowMs !== "number" || !(d.windowMs > 0) || d.windowMs === Infinity) {
    throw new RangeError(`counter '${d.name}': the window must be a finite number of milliseconds > 0`);
  }
  if (typeof d.definition !== "string") throw new TypeError(`counter '${d.name}': the definition must be a string`);
}

/** Throws unless `t` is a time a store can take (a finite number of ms). */
export function checkTime(t: number, name: string): void {
  if (typeof t !== "number" || !Number.isFinite(t)) throw new TypeError(`${name} must be a finite number of milliseconds`);
}

/** Throws unless `pending` (when given) is a usable approval to wait on. */
export function checkPending(pending: Pending | undefined): void {
  if (pending === undefined) return;
  if (typeof pending.id !== "string") throw new TypeError("a pending id must be a string");
  if (typeof pending.expiresAt !== "number" || Number.isNaN(pending.expiresAt)) throw new TypeError("expiresAt must be a number");
  if (pending.onTimeout !== "allow" && pending.onTimeout !== "deny") throw new TypeError("onTimeout must be 'allow' or 'deny'");
}
