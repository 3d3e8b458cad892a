// Counters (spec section 8): contribution, key, value and recording, over an
// in-memory store. One call is one indivisible step (JavaScript is single
// threaded), so every run is some one-at-a-time order: the atomicity bullet.
//
// Choices where the spec is silent (also listed in the report of issue 13's
// preparation):
//   - Identity of state: a counter's state is kept across a reload when its
//     name and its definition *as parsed* are unchanged: `per` and `sum` as
//     parsed paths (`a.b` = `["a"].b`; absent `per` = `[]`), `window` in
//     milliseconds (`1h` = `60m`), `when` as JSON with mapping keys sorted
//     (key order never changes a condition's meaning). Any other difference
//     (list order in `per`, `any`, `in`...) is a new definition: it starts
//     empty. Pending approvals stay resolvable; their contributions to a
//     dropped counter are gone with it.
//   - A resolution (approve/deny) at or after the expiry `e` is too late and
//     changes nothing: the expiry outcome (`on_timeout`) holds. A second
//     resolution of an approval is ignored: the first one stands.
//   - Keys: numbers compare as doubles, so 0 and -0 are one key; a number
//     and a string are never the same key (1 vs "1").
//   - Values are computed from the state as it is when the action is decided:
//     a denial removes a pending contribution for every later computation,
//     whatever `now` the caller gives; windows and expiry use the given `now`.

import { type Condition, type CounterValue, FieldTable, UNKNOWN_VALUE, compileCondition } from "./condition.js";
import { parsePath } from "./path.js";
import { parseDuration } from "./validate.js";

export interface CompiledCounter {
  name: string;
  windowMs: number;
  when: Condition | null;
  perSlots: number[];
  sumSlot: number | null;
  /** Name and definition: state belongs to this (section 8, identity of state). */
  identity: string;
}

function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortedKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

/** The manifest's counters in declaration order; their fields get slots in
 *  `table` (when, then per, then sum, counter by counter). */
export function compileCounters(manifest: any, table: FieldTable): CompiledCounter[] {
  const counters: Record<string, any> = manifest.counters ?? {};
  return Object.entries(counters).map(([name, c]) => {
    const windowMs = parseDuration(c.window, Infinity);
    if (windowMs === null) throw new Error(`bad window ${c.window}`);
    const per: string[] = c.per ?? [];
    const identity = JSON.stringify([
      name,
      per.map((p) => parsePath(p)),
      windowMs,
      c.when === undefined ? null : sortedKeys(c.when),
      c.sum === undefined ? null : parsePath(c.sum),
    ]);
    return {
      name,
      windowMs,
      when: c.when === undefined ? null : compileCondition(c.when, table),
      perSlots: per.map((p) => table.slot(p)),
      sumSlot: c.sum === undefined ? null : table.slot(c.sum),
      identity,
    };
  });
}

/** The action's contribution: 0 when `when` is FALSE; when TRUE, 1 without
 *  `sum`, else the number at `sum` if finite and >= 0, else UNKNOWN; UNKNOWN
 *  when `when` is UNKNOWN. */
export function contribution(c: CompiledCounter, values: unknown[]): CounterValue {
  const holds = c.when === null ? "TRUE" : c.when(values);
  if (holds === "FALSE") return 0;
  if (holds === "UNKNOWN") return UNKNOWN_VALUE;
  if (c.sumSlot === null) return 1;
  const v = values[c.sumSlot];
  // input.ts has already refused non-finite numbers; -0 >= 0 and counts 0.
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v + 0 : UNKNOWN_VALUE;
}

/** The key as text (equal keys, equal texts), or null when UNKNOWN: a `per`
 *  value absent or neither a string nor a number. */
export function keyOf(c: CompiledCounter, values: unknown[]): string | null {
  const parts: unknown[] = [];
  for (const slot of c.perSlots) {
    const v = values[slot];
    if (typeof v === "string") parts.push(["s", v]);
    else if (typeof v === "number") parts.push(["n", v + 0]); // -0 + 0 is 0: doubles compare equal
    else return null;
  }
  return JSON.stringify(parts);
}

export type Resolution = "approved" | "denied";

interface Approval {
  readonly id: number;
  readonly t: number;
  readonly expires: number;
  readonly onTimeout: "allow" | "deny";
  resolution: Resolution | null;
}

interface Entry {
  readonly t: number;
  readonly amount: number;
  readonly approval: Approval | null;
}

export type ResolveOutcome = "resolved" | "expired" | "already resolved" | "unknown approval";

/** Recorded and pending contributions of every counter (by identity), and the
 *  approvals of escalated decisions. */
export class CounterState {
  private readonly logs = new Map<string, Map<string, Entry[]>>();
  private readonly approvals = new Map<number, Approval>();
  private nextApproval = 1;

  /** Whether an entry counts in a value computed at `now` (pending counts). */
  private static counts(e: Entry, now: number): boolean {
    const a = e.approval;
    if (a === null || a.resolution === "approved") return true;
    if (a.resolution === "denied") return false;
    return now < a.expires || a.onTimeout === "allow";
  }

  /** The sum of the contributions to a counter under a key at times t with
   *  now - window < t <= now, in recording order. */
  sum(c: CompiledCounter, key: string, now: number): number {
    let total = 0;
    for (const e of this.logs.get(c.identity)?.get(key) ?? []) {
      if (now - c.windowMs < e.t && e.t <= now && CounterState.counts(e, now)) total += e.amount;
    }
    return total;
  }

  record(c: CompiledCounter, key: string, t: number, amount: number, approval: number | null): void {
    let byKey = this.logs.get(c.identity);
    if (byKey === undefined) this.logs.set(c.identity, (byKey = new Map()));
    let entries = byKey.get(key);
    if (entries === undefined) byKey.set(key, (entries = []));
    entries.push({ t, amount, approval: approval === null ? null : this.approvals.get(approval)! });
  }

  /** A new approval for an escalation decided at `t`; its id. */
  openApproval(t: number, timeoutMs: number, onTimeout: "allow" | "deny"): number {
    const id = this.nextApproval++;
    this.approvals.set(id, { id, t, expires: t + timeoutMs, onTimeout, resolution: null });
    return id;
  }

  /** Approves or denies a pending approval at `now`. Only before its expiry
   *  `e = t + timeout_ms`, and only once; otherwise nothing changes. */
  resolve(id: number, resolution: Resolution, now: number): ResolveOutcome {
    const a = this.approvals.get(id);
    if (a === undefined) return "unknown approval";
    if (a.resolution !== null) return "already resolved";
    if (now >= a.expires) return "expired";
    a.resolution = resolution;
    return "resolved";
  }

  /** Keeps the state of the counters with these identities, drops the rest
   *  (a reload: section 8, identity of state). */
  retain(identities: ReadonlySet<string>): void {
    for (const id of [...this.logs.keys()]) if (!identities.has(id)) this.logs.delete(id);
  }
}
