// src/state/memory-store.ts: the in-memory counter store (spec section 8),
// bullet by bullet, then a property test that drives random sequences of
// records, resolutions, reloads and time steps through it and through the
// reference interpreter's CounterState (test/support/reference/counters.ts),
// comparing every sum.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryCounterStore, encodeKey, type Key } from "../../src/state/memory-store.js";
import { CounterState } from "../support/reference/index.js";
import { type CompiledCounter, keyOf } from "../support/reference/counters.js";

const def = (name: string, windowMs: number, definition = `${name}/${windowMs}`) => ({ name, windowMs, definition });

function store(windowMs = 100) {
  return new MemoryCounterStore([def("n", windowMs)]);
}

describe("windows", () => {
  it("a contribution recorded at t counts at t .. t + window - 1 and stops at t + window exactly", () => {
    const s = store(100);
    s.record([{ counter: "n", key: ["a"], amount: 1 }], 1000);
    expect(s.sum("n", ["a"], 1000)).toBe(1);
    expect(s.sum("n", ["a"], 1099)).toBe(1);
    expect(s.sum("n", ["a"], 1099.5)).toBe(1);
    expect(s.sum("n", ["a"], 1100)).toBe(0);
  });

  it("a sum that overflows is Infinity until the entries that made it leave, never 0 (a limit failing open)", () => {
    const s = store(10);
    s.record([{ counter: "n", key: [], amount: 1 }], 0);
    s.record([{ counter: "n", key: [], amount: 1e308 }], 1);
    s.record([{ counter: "n", key: [], amount: 1e308 }], 2);
    expect(s.sum("n", [], 2)).toBe(Infinity);
    s.record([{ counter: "n", key: [], amount: 2 }], 3);
    expect(s.sum("n", [], 3)).toBe(Infinity);
    expect(s.sum("n", [], 10)).toBe(Infinity); // 1 left; 1e308 + 1e308 + 2 still overflow
    expect(s.sum("n", [], 11)).toBe(1e308 + 2); // one 1e308 left: summed again from what counts
    expect(s.sum("n", [], 12)).toBe(2);
    expect(s.sum("n", [], 13)).toBe(0);
    // A pending overflowing contribution denied: the rest is summed again.
    s.record([{ counter: "n", key: [], amount: 5 }], 20);
    s.record([{ counter: "n", key: [], amount: Number.MAX_VALUE }], 21, { id: "p", expiresAt: 1000, onTimeout: "deny" });
    s.record([{ counter: "n", key: [], amount: Number.MAX_VALUE }], 21);
    expect(s.sum("n", [], 21)).toBe(Infinity);
    expect(s.resolve("p", "denied", 22)).toBe(true);
    expect(s.sum("n", [], 22)).toBe(5 + Number.MAX_VALUE);
  });

  it("sums several contributions and lets them leave one by one", () => {
    const s = store(10);
    s.record([{ counter: "n", key: [], amount: 1 }], 0);
    s.record([{ counter: "n", key: [], amount: 2 }], 3);
    s.record([{ counter: "n", key: [], amount: 4 }], 3);
    s.record([{ counter: "n", key: [], amount: 8 }], 7);
    expect(s.sum("n", [], 9)).toBe(15);
    expect(s.sum("n", [], 10)).toBe(14);
    expect(s.sum("n", [], 12)).toBe(14);
    expect(s.sum("n", [], 13)).toBe(8);
    expect(s.sum("n", [], 17)).toBe(0);
  });

  it("counters and keys count separately; zero amounts record nothing", () => {
    const s = new MemoryCounterStore([def("a", 100), def("b", 100)]);
    s.record([{ counter: "a", key: ["k"], amount: 1 }, { counter: "b", key: ["k"], amount: 5 }, { counter: "a", key: ["j"], amount: 0 }], 0);
    expect(s.sum("a", ["k"], 1)).toBe(1);
    expect(s.sum("b", ["k"], 1)).toBe(5);
    expect(s.sum("a", ["j"], 1)).toBe(0);
    expect(s.size()).toEqual({ entries: 2, keys: 2, pending: 0, heap: 0 });
  });

  it("memory is what is inside the windows: evicted entries and empty keys are dropped, untouched counters too", () => {
    const s = new MemoryCounterStore([def("a", 10), def("b", 1000)]);
    for (let i = 0; i < 50; i++) s.record([{ counter: "a", key: [i % 5], amount: 1 }, { counter: "b", key: ["x", i], amount: 1 }], i);
    expect(s.size()).toEqual({ entries: 10 + 50, keys: 5 + 50, pending: 0, heap: 0 });
    // only counter a is asked; b is evicted as well when the clock moves
    expect(s.sum("a", [0], 2000)).toBe(0);
    expect(s.size()).toEqual({ entries: 0, keys: 0, pending: 0, heap: 0 });
  });

  it("a long run keeps only the window (queue compaction)", () => {
    const s = store(100);
    for (let t = 0; t < 20_000; t++) {
      s.record([{ counter: "n", key: ["k"], amount: 1 }], t);
      expect(s.sum("n", ["k"], t)).toBe(Math.min(t + 1, 100));
    }
    expect(s.size().entries).toBe(100);
  });
});

describe("time", () => {
  it("never goes back: an earlier now is taken at the clock (records and sums)", () => {
    const s = store(100);
    s.record([{ counter: "n", key: [], amount: 1 }], 1000);
    expect(s.clock).toBe(1000);
    s.record([{ counter: "n", key: [], amount: 2 }], 500); // recorded at 1000
    expect(s.clock).toBe(1000);
    expect(s.sum("n", [], 0)).toBe(3); // summed at 1000
    expect(s.sum("n", [], 1099)).toBe(3);
    expect(s.sum("n", [], 1100)).toBe(0);
  });

  it("same now: ordered by arrival, all counted", () => {
    const s = store(100);
    for (let i = 0; i < 5; i++) {
      expect(s.sum("n", ["k"], 7)).toBe(i);
      s.record([{ counter: "n", key: ["k"], amount: 1 }], 7);
    }
    expect(s.sum("n", ["k"], 7)).toBe(5);
  });

  it("refuses times and amounts that are not numbers it can order or add", () => {
    const s = store();
    expect(() => s.sum("n", [], NaN)).toThrow(TypeError);
    expect(() => s.record([{ counter: "n", key: [], amount: 1 }], Infinity)).toThrow(TypeError);
    expect(() => s.record([{ counter: "n", key: [], amount: -1 }], 0)).toThrow(RangeError);
    expect(() => s.record([{ counter: "n", key: [], amount: Infinity }], 0)).toThrow(RangeError);
    expect(() => s.record([{ counter: "m", key: [], amount: 1 }], 0)).toThrow(/unknown counter 'm'/);
    // a refused call records nothing, even its valid entries
    expect(() => s.record([{ counter: "n", key: [], amount: 1 }, { counter: "n", key: [NaN], amount: 1 }], 0)).toThrow(TypeError);
    expect(s.sum("n", [], 0)).toBe(0);
    expect(s.size().entries).toBe(0);
  });
});

describe("keys", () => {
  it("numbers compare as doubles: 0 and -0 are one key; 1 and '1' differ; 1 and 1.0 are one", () => {
    const s = store();
    s.record([{ counter: "n", key: [0], amount: 1 }], 0);
    s.record([{ counter: "n", key: [-0], amount: 1 }], 0);
    s.record([{ counter: "n", key: [1], amount: 10 }], 0);
    s.record([{ counter: "n", key: ["1"], amount: 100 }], 0);
    expect(s.sum("n", [-0], 0)).toBe(2);
    expect(s.sum("n", [0], 0)).toBe(2);
    expect(s.sum("n", [1.0], 0)).toBe(10);
    expect(s.sum("n", ["1"], 0)).toBe(100);
    expect(s.sum("n", ["0"], 0)).toBe(0);
    expect(s.sum("n", [0.1 + 0.2], 0)).toBe(0);
  });

  it("the encoding is unambiguous across parts", () => {
    const keys: Key[] = [[], [""], ["", ""], ["a", "b"], ["ab"], ["a:", "b"], ["a", ":b"], ["s1:a"], [1, 2], [12], ["1", 2], [1, "2"], ["n1;"], [1e21], [1e-7], [Number.MAX_VALUE], [-Number.MIN_VALUE]];
    const texts = keys.map(encodeKey);
    expect(new Set(texts).size).toBe(keys.length);
    expect(encodeKey([0])).toBe(encodeKey([-0]));
    expect(() => encodeKey([NaN])).toThrow(TypeError);
    expect(() => encodeKey([Infinity])).toThrow(TypeError);
    expect(() => encodeKey([true as unknown as string])).toThrow(TypeError);
  });

  it("keys of one to eight parts, strings and numbers mixed", () => {
    const s = store();
    s.record([{ counter: "n", key: ["a", 1, "b", 2, "c", 3, "d", 4], amount: 3 }], 0);
    expect(s.sum("n", ["a", 1, "b", 2, "c", 3, "d", 4], 0)).toBe(3);
    expect(s.sum("n", ["a", 1, "b", 2, "c", 3, "d", "4"], 0)).toBe(0);
    expect(s.sum("n", ["a", 1, "b", 2, "c", 3, "d"], 0)).toBe(0);
  });
});

describe("pending contributions", () => {
  const esc = (id: string, expiresAt: number, onTimeout: "allow" | "deny" = "deny") => ({ id, expiresAt, onTimeout });

  it("count like recorded ones while pending", () => {
    const s = store(1000);
    s.record([{ counter: "n", key: [], amount: 5 }], 0, esc("a", 100));
    expect(s.sum("n", [], 50)).toBe(5);
    expect(s.size()).toMatchObject({ entries: 1, pending: 1, heap: 1 });
  });

  it("approved: stay, with their original time for the window", () => {
    const s = store(1000);
    s.record([{ counter: "n", key: [], amount: 5 }], 10, esc("a", 100));
    expect(s.resolve("a", "approved", 50)).toBe(true);
    expect(s.sum("n", [], 500)).toBe(5);
    expect(s.sum("n", [], 1009)).toBe(5);
    expect(s.sum("n", [], 1010)).toBe(0);
    expect(s.size()).toEqual({ entries: 0, keys: 0, pending: 0, heap: 0 });
  });

  it("denied: removed from every later sum (and from every counter and key of the decision)", () => {
    const s = new MemoryCounterStore([def("n", 1000), def("m", 500)]);
    s.record([{ counter: "n", key: ["k"], amount: 5 }, { counter: "m", key: [1], amount: 2 }], 10, esc("a", 100));
    s.record([{ counter: "n", key: ["k"], amount: 1 }], 20);
    expect(s.sum("n", ["k"], 30)).toBe(6);
    expect(s.resolve("a", "denied", 40)).toBe(true);
    expect(s.sum("n", ["k"], 40)).toBe(1);
    expect(s.sum("m", [1], 40)).toBe(0);
    expect(s.size()).toMatchObject({ pending: 0 });
  });

  it("a denial after one of its contributions left its (shorter) window touches only the others", () => {
    const s = new MemoryCounterStore([def("short", 10), def("long", 100)]);
    s.record([{ counter: "short", key: [], amount: 1 }, { counter: "long", key: [], amount: 1 }], 0, esc("x", 50));
    s.record([{ counter: "short", key: [], amount: 1 }], 5);
    expect(s.sum("short", [], 12)).toBe(1);
    expect(s.resolve("x", "denied", 12)).toBe(true);
    expect(s.sum("short", [], 12)).toBe(1);
    expect(s.sum("long", [], 12)).toBe(0);
  });

  it("expired into allow: from expiresAt on, counts as approved", () => {
    const s = store(1000);
    s.record([{ counter: "n", key: [], amount: 5 }], 0, esc("a", 100, "allow"));
    expect(s.sum("n", [], 99)).toBe(5);
    expect(s.sum("n", [], 100)).toBe(5);
    expect(s.resolve("a", "denied", 100)).toBe(false); // too late: the expiry outcome holds
    expect(s.sum("n", [], 999)).toBe(5);
    expect(s.sum("n", [], 1000)).toBe(0);
  });

  it("expired into deny: from expiresAt on, removed", () => {
    const s = store(1000);
    s.record([{ counter: "n", key: [], amount: 5 }], 0, esc("a", 100, "deny"));
    expect(s.sum("n", [], 99)).toBe(5);
    expect(s.sum("n", [], 100)).toBe(0);
    expect(s.resolve("a", "approved", 100)).toBe(false);
    expect(s.sum("n", [], 101)).toBe(0);
    expect(s.size()).toMatchObject({ entries: 1, pending: 0, heap: 0 }); // the removed entry leaves with its window
    expect(s.sum("n", [], 1000)).toBe(0);
    expect(s.size()).toEqual({ entries: 0, keys: 0, pending: 0, heap: 0 });
  });

  it("an expiry is settled even when the clock jumps past it without a sum in between", () => {
    const s = store(1000);
    s.record([{ counter: "n", key: [], amount: 5 }], 0, esc("a", 100, "deny"));
    s.record([{ counter: "n", key: [], amount: 1 }], 500);
    expect(s.sum("n", [], 500)).toBe(1);
  });

  it("resolution just before expiry applies; the first resolution stands; unknown ids change nothing", () => {
    const s = store(1000);
    s.record([{ counter: "n", key: [], amount: 5 }], 0, esc("a", 100, "deny"));
    expect(s.resolve("a", "approved", 99)).toBe(true);
    expect(s.resolve("a", "denied", 99)).toBe(false);
    expect(s.resolve("zzz", "denied", 99)).toBe(false);
    expect(s.sum("n", [], 200)).toBe(5);
  });

  it("a pending whose expiry is already reached is settled at once", () => {
    const s = store(1000);
    s.record([{ counter: "n", key: [], amount: 5 }], 100, esc("a", 100, "deny"));
    s.record([{ counter: "n", key: [], amount: 3 }], 100, esc("b", 50, "allow"));
    expect(s.sum("n", [], 100)).toBe(3);
    expect(s.size()).toMatchObject({ entries: 1, pending: 0 });
  });

  it("an approval whose contributions all left their windows is forgotten (and a late denial cannot matter)", () => {
    const s = store(10);
    s.record([{ counter: "n", key: [], amount: 5 }], 0, esc("a", 1_000_000));
    expect(s.sum("n", [], 10)).toBe(0);
    expect(s.size().pending).toBe(0);
    expect(s.resolve("a", "denied", 11)).toBe(false);
  });

  it("a pending id the store holds cannot be used again; a forgotten one can", () => {
    const s = store(1000);
    s.record([{ counter: "n", key: [], amount: 1 }], 0, esc("a", 100));
    expect(() => s.record([{ counter: "n", key: [], amount: 1 }], 0, esc("a", 100))).toThrow(/already pending/);
    s.resolve("a", "approved", 1);
    s.record([{ counter: "n", key: [], amount: 1 }], 2, esc("a", 100));
    s.resolve("a", "denied", 3);
    expect(s.sum("n", [], 3)).toBe(1);
  });

  it("the expiry heap stays bounded when approvals are resolved long before they expire", () => {
    const s = store(10);
    for (let t = 0; t < 5000; t++) {
      s.record([{ counter: "n", key: [], amount: 1 }], t, esc(`a${t}`, t + 1_000_000));
      s.resolve(`a${t}`, t % 2 ? "approved" : "denied", t);
    }
    expect(s.size().heap).toBeLessThan(200);
    expect(s.sum("n", [], 5000)).toBe(5); // the approved (odd) t in 4991..4999
  });
});

describe("identity of state", () => {
  it("retain keeps unchanged counters, restarts changed ones, drops the others", () => {
    const s = new MemoryCounterStore([def("a", 100, "A"), def("b", 100, "B"), def("c", 100, "C"), def("d", 100, "D")]);
    for (const c of ["a", "b", "c", "d"]) s.record([{ counter: c, key: [], amount: 1 }], 0);
    s.retain([def("a", 100, "A"), def("b", 100, "B2"), def("c", 200, "C"), def("e", 100, "E")]);
    expect(s.sum("a", [], 1)).toBe(1);
    expect(s.sum("b", [], 1)).toBe(0);
    expect(s.sum("c", [], 1)).toBe(0);
    expect(s.sum("e", [], 1)).toBe(0);
    expect(() => s.sum("d", [], 1)).toThrow(/unknown counter 'd'/);
    expect(s.size()).toMatchObject({ entries: 1, keys: 1 });
  });

  it("pending approvals stay resolvable for the counters kept; the dropped ones' contributions are gone", () => {
    const s = new MemoryCounterStore([def("a", 100), def("b", 100)]);
    s.record([{ counter: "a", key: [], amount: 1 }, { counter: "b", key: [], amount: 1 }], 0, { id: "x", expiresAt: 50, onTimeout: "allow" });
    s.record([{ counter: "b", key: [], amount: 1 }], 0, { id: "y", expiresAt: 50, onTimeout: "allow" });
    s.retain([def("a", 100)]);
    expect(s.size().pending).toBe(1); // y had nothing left
    expect(s.resolve("x", "denied", 1)).toBe(true);
    expect(s.sum("a", [], 1)).toBe(0);
  });

  it("refuses definitions it cannot use", () => {
    expect(() => new MemoryCounterStore([def("a", 0)])).toThrow(RangeError);
    expect(() => new MemoryCounterStore([def("a", NaN)])).toThrow(RangeError);
    expect(() => new MemoryCounterStore([def("a", 1), def("a", 1)])).toThrow(/twice/);
  });
});

describe("float drift", () => {
  it("sums of 1/1024 multiples stay exact through many evictions", () => {
    const s = store(50);
    const amounts = [123 / 1024, 1 / 1024, 3 / 1024, 7.5, 1, 1000];
    let exact = 0;
    const window: number[] = [];
    for (let t = 0; t < 3000; t++) {
      const a = t % 7 === 0 ? 2 ** 30 + 5 / 1024 : amounts[t % amounts.length];
      s.record([{ counter: "n", key: [], amount: a }], t);
      window.push(a);
      if (window.length > 50) window.shift();
      exact = window.reduce((x, y) => x + y, 0);
      expect(s.sum("n", [], t)).toBe(exact);
    }
  });

  it("a huge amount leaving the window does not take the small ones' precision with it", () => {
    const s = store(10);
    s.record([{ counter: "n", key: [], amount: 1e20 }], 0);
    s.record([{ counter: "n", key: [], amount: 1 }], 5);
    s.record([{ counter: "n", key: [], amount: 0.25 }], 6);
    expect(s.sum("n", [], 10)).toBe(1.25);
  });

  it("a key with nothing counting is exactly 0", () => {
    const s = store(10);
    s.record([{ counter: "n", key: [], amount: 0.1 }], 0);
    s.record([{ counter: "n", key: [], amount: 0.2 }], 1, { id: "a", expiresAt: 100, onTimeout: "deny" });
    s.record([{ counter: "n", key: [], amount: 0.3 }], 1);
    s.resolve("a", "denied", 2);
    expect(s.sum("n", [], 10)).toBe(0.3);
    expect(Object.is(s.sum("n", [], 11), 0)).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Differential: this store against the reference's CounterState.

const NAMES = ["c0", "c1", "c2"];
const WINDOWS = [10, 25, 7];
const KEYS: Key[] = [[], ["a"], ["b"], [0], [-0], [1], ["1"], ["a", 1], ["a", "1"], [1.5]];
const EXACT_AMOUNTS = [1, 1, 1, 2, 5, 0, 0.5, 1 / 1024, 3 / 1024, 1000, 2 ** 39];

type Op =
  | { kind: "step"; dt: number }
  | { kind: "record"; entries: { c: number; k: number; amount: number }[]; pending: null | { timeout: number; onTimeout: "allow" | "deny" } }
  | { kind: "resolve"; which: number; resolution: "approved" | "denied" }
  | { kind: "reload"; bump: boolean[]; windows: (number | null)[] };

function opArb(amount: fc.Arbitrary<number>): fc.Arbitrary<Op> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("step" as const), dt: fc.oneof({ weight: 3, arbitrary: fc.nat(3) }, fc.integer({ min: 0, max: 12 }), fc.constantFrom(5, 7, 10, 25)) }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("record" as const),
        // mostly the first two keys, so that contributions meet under one key
        entries: fc.array(fc.record({ c: fc.nat(NAMES.length - 1), k: fc.oneof(fc.nat(1), fc.nat(KEYS.length - 1)), amount }), { maxLength: 4 }),
        pending: fc.option(fc.record({ timeout: fc.constantFrom(0, 1, 3, 5, 12, 20, 30, 100), onTimeout: fc.constantFrom("allow" as const, "deny" as const) }), { freq: 2 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("resolve" as const), which: fc.oneof(fc.nat(2), fc.nat(40)), resolution: fc.constantFrom("approved" as const, "denied" as const) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("reload" as const),
        bump: fc.array(fc.boolean(), { minLength: NAMES.length, maxLength: NAMES.length }),
        windows: fc.array(fc.option(fc.constantFrom(...WINDOWS, 3)), { minLength: NAMES.length, maxLength: NAMES.length }),
      }),
    },
  );
}

/** Runs `ops` through both stores; `compare(mine, reference, where)` on every
 *  sum of every counter and key after every op. */
function drive(ops: Op[], compare: (mine: number, ref: number, where: string) => void): MemoryCounterStore {
  const version = NAMES.map(() => 0);
  const windows = [...WINDOWS];
  const compiled = (): CompiledCounter[] =>
    NAMES.map((name, i) => ({ name, windowMs: windows[i], when: null, perSlots: [], sumSlot: null, identity: `${name}|${version[i]}|${windows[i]}` }));
  const defs = () => compiled().map((c) => ({ name: c.name, windowMs: c.windowMs, definition: c.identity }));
  const refKey = (key: Key) => keyOf({ ...compiled()[0], perSlots: key.map((_, i) => i) }, [...key])!;

  const mine = new MemoryCounterStore(defs());
  const ref = new CounterState();
  const opened: { mine: string; ref: number }[] = [];
  let now = 0;
  ops.forEach((op, n) => {
    let counters = compiled();
    switch (op.kind) {
      case "step":
        now += op.dt;
        break;
      case "record": {
        let approval: number | null = null;
        let pending;
        if (op.pending !== null) {
          approval = ref.openApproval(now, op.pending.timeout, op.pending.onTimeout);
          pending = { id: `p${approval}`, expiresAt: now + op.pending.timeout, onTimeout: op.pending.onTimeout };
          opened.push({ mine: pending.id, ref: approval });
        }
        mine.record(op.entries.map((e) => ({ counter: NAMES[e.c], key: KEYS[e.k], amount: e.amount })), now, pending);
        for (const e of op.entries) if (e.amount !== 0) ref.record(counters[e.c], refKey(KEYS[e.k]), now, e.amount, approval);
        break;
      }
      case "resolve": {
        if (opened.length === 0) break;
        const a = opened[opened.length - 1 - (op.which % opened.length)]; // 0: the latest
        const outcome = ref.resolve(a.ref, op.resolution, now);
        const changed = mine.resolve(a.mine, op.resolution, now);
        // the store may have forgotten an approval whose contributions all left (nothing to change)
        if (changed) expect(outcome).toBe("resolved");
        break;
      }
      case "reload":
        op.bump.forEach((b, i) => {
          if (b) version[i]++;
          if (op.windows[i] !== null) windows[i] = op.windows[i]!;
        });
        counters = compiled();
        mine.retain(defs());
        ref.retain(new Set(counters.map((c) => c.identity)));
        break;
    }
    for (const c of counters) {
      for (const k of KEYS) compare(mine.sum(c.name, k, now), ref.sum(c, refKey(k), now), `op ${n} (${op.kind}) at ${now}: ${c.name} ${JSON.stringify(k)}`);
    }
  });
  return mine;
}

describe("differential against the reference's CounterState", () => {
  it("equal sums everywhere (exact amounts), and nothing held once every window and expiry is past", () => {
    fc.assert(
      fc.property(fc.array(opArb(fc.constantFrom(...EXACT_AMOUNTS)), { maxLength: 120, size: "max" }), (ops) => {
        const mine = drive(ops, (m, r, where) => {
          if (!Object.is(m, r)) throw new Error(`${where}: store ${m}, reference ${r}`);
        });
        expect(mine.sum(NAMES[0], [], Math.max(mine.clock, 0) + 1000)).toBe(0);
        expect(mine.size()).toEqual({ entries: 0, keys: 0, pending: 0, heap: 0 });
      }),
      { numRuns: 400 },
    );
  });

  it("close sums for any finite amounts (beyond the spec's exactness bound)", () => {
    const amount = fc.oneof(fc.constantFrom(...EXACT_AMOUNTS), fc.double({ min: 0, max: 1e12, noNaN: true }));
    fc.assert(
      fc.property(fc.array(opArb(amount), { maxLength: 80, size: "max" }), (ops) => {
        drive(ops, (m, r, where) => {
          if (!(Math.abs(m - r) <= 1e-9 * Math.max(1, r))) throw new Error(`${where}: store ${m}, reference ${r}`);
        });
      }),
      { numRuns: 200 },
    );
  });
});
