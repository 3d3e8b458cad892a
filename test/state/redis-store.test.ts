// src/state/redis-store.ts against a real redis-server (test/support/services/redis.ts):
// windows, keys, pending approvals, compare-and-record, reloads, key expiry, the script cache;
// a differential test against MemoryCounterStore (seeded random sequences, sums compared bit
// for bit after every operation); and exactness under contention from several processes.

import { fork } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "redis";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryCounterStore, type Contribution, type CounterDefinition, type Key, type Pending } from "../../src/state/memory-store.js";
import { RedisCounterStore, type RedisCounterStoreOptions } from "../../src/state/redis-store.js";
import type { CounterRef } from "../../src/state/shared-store.js";
import { redisServer, startRedis, type RedisService } from "../support/services/redis.js";
import { mulberry32 } from "../support/mulberry32.js";

const root = join(import.meta.dirname, "../..");
const availability = redisServer("test/state/redis-store.test.ts");

type Client = ReturnType<typeof createClient>;
let server: RedisService;
let admin: Client;
let prefixes = 0;
const stores: RedisCounterStore[] = [];

const def = (name: string, windowMs: number, definition = `${name}/${windowMs}`): CounterDefinition => ({ name, windowMs, definition });
const c = (counter: string, key: Key, amount: number): Contribution => ({ counter, key, amount });
const ref = (counter: string, key: Key): CounterRef => ({ counter, key });
const esc = (id: string, expiresAt: number, onTimeout: "allow" | "deny" = "deny"): Pending => ({ id, expiresAt, onTimeout });

/** A store on its own key prefix; synthetic times, so a long grace unless a test wants expiry. */
async function open(defs: CounterDefinition[], options: RedisCounterStoreOptions = {}): Promise<RedisCounterStore> {
  const s = new RedisCounterStore(admin, { prefix: `t${prefixes++}:`, expiryGraceMs: 3_600_000, ...options });
  await s.retain(defs);
  stores.push(s);
  return s;
}

/** Records as an allowing decider does: read the sums, commit with them. */
async function record(s: RedisCounterStore, entries: Contribution[], now: number, pending?: Pending): Promise<void> {
  const refs = entries.map((e) => ref(e.counter, e.key));
  const sums = await s.read(refs, now);
  const r = await s.commit(refs, sums, entries, now, pending);
  if (!r.ok) throw new Error(`conflict in a single-process test: ${JSON.stringify(r.sums)}`);
}

const sum = async (s: RedisCounterStore, counter: string, key: Key, now: number) => (await s.read([ref(counter, key)], now))[0];

async function keysOf(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) out.push(...batch);
  return out;
}

describe.skipIf(!availability.available)("RedisCounterStore (real redis-server)", () => {
  beforeAll(async () => {
    server = await startRedis();
    admin = createClient({ url: server.url });
    admin.on("error", () => {});
    await admin.connect();
  });

  afterAll(async () => {
    for (const s of stores) await s.close();
    await admin?.close();
    await server?.stop();
  });

  describe("windows and keys, as MemoryCounterStore", () => {
    it("a contribution at t counts until t + window exactly", async () => {
      const s = await open([def("n", 100)]);
      await record(s, [c("n", ["a"], 1)], 1000);
      expect(await sum(s, "n", ["a"], 1000)).toBe(1);
      expect(await sum(s, "n", ["a"], 1099.5)).toBe(1);
      expect(await sum(s, "n", ["a"], 1100)).toBe(0);
    });

    it("numbers compare as doubles: 0 and -0 are one key; 1 and '1' differ", async () => {
      const s = await open([def("n", 100)]);
      await record(s, [c("n", [0], 1), c("n", [-0], 1), c("n", [1], 10), c("n", ["1"], 100)], 0);
      expect(await s.read([ref("n", [-0]), ref("n", [0]), ref("n", [1.0]), ref("n", ["1"]), ref("n", ["0"])], 0)).toEqual([2, 2, 10, 100, 0]);
    });

    it("sums of 1/1024ths are exact, and returned as doubles (not Redis's truncated integers)", async () => {
      const s = await open([def("n", 1000)]);
      for (let i = 0; i < 10; i++) await record(s, [c("n", [], 3 / 1024)], i);
      await record(s, [c("n", [], 2 ** 39 + 0.5)], 10);
      expect(await sum(s, "n", [], 10)).toBe(2 ** 39 + 0.5 + 30 / 1024);
      expect(await sum(s, "n", [], 1005)).toBe(2 ** 39 + 0.5 + 4 * (3 / 1024));
    });

    it("a sum that overflows is Infinity until the entries that made it leave, never 0 (as MemoryCounterStore)", async () => {
      const s = await open([def("n", 10)]);
      await record(s, [c("n", [], 1)], 0);
      await record(s, [c("n", [], 1e308)], 1);
      await record(s, [c("n", [], 1e308)], 2);
      expect(await sum(s, "n", [], 2)).toBe(Infinity);
      await record(s, [c("n", [], 2)], 3);
      expect(await sum(s, "n", [], 3)).toBe(Infinity);
      // A commit that read the infinite sum records when it still holds.
      expect(await s.commit([ref("n", [])], [Infinity], [c("n", [], 0.5)], 3)).toEqual({ ok: true });
      expect(await sum(s, "n", [], 10)).toBe(Infinity);
      expect(await sum(s, "n", [], 11)).toBe(1e308 + 2.5);
      expect(await sum(s, "n", [], 12)).toBe(2.5);
      expect(await sum(s, "n", [], 13)).toBe(0);
    });

    it("huge amounts leaving take nothing else with them (as MemoryCounterStore; counters-huge-amounts.yaml)", async () => {
      const s = await open([def("n", 100)]);
      await record(s, [c("n", [], 1500)], 0);
      await record(s, [c("n", [], 4e38)], 1);
      await record(s, [c("n", [], 7e28)], 2);
      await record(s, [c("n", [], 1000)], 3);
      expect(await sum(s, "n", [], 3)).toBe(1500 + 4e38 + 7e28 + 1000);
      await record(s, [c("n", [], 1)], 101); // 1500 left; 4e38 leaves at 101, 7e28 at 102
      expect(await sum(s, "n", [], 102)).toBe(1001);
      expect(await sum(s, "n", [], 103)).toBe(1); // the 1000 left too
    });

    it("the clock never goes back: an earlier now is taken at the latest time seen", async () => {
      const s = await open([def("n", 100)]);
      await record(s, [c("n", [], 1)], 1000);
      await record(s, [c("n", [], 2)], 500); // at 1000
      expect(await sum(s, "n", [], 0)).toBe(3);
      expect(await sum(s, "n", [], 1099)).toBe(3);
      expect(await sum(s, "n", [], 1100)).toBe(0);
      expect(s.clock).toBe(1100);
    });

    it("refuses what MemoryCounterStore refuses, recording nothing", async () => {
      const s = await open([def("n", 100)]);
      await expect(s.read([ref("m", [])], 0)).rejects.toThrow(/unknown counter 'm'/);
      await expect(s.read([ref("n", [NaN])], 0)).rejects.toThrow(TypeError);
      await expect(s.read([ref("n", [])], NaN)).rejects.toThrow(TypeError);
      await expect(s.commit([], [], [c("n", [], -1)], 0)).rejects.toThrow(RangeError);
      await expect(s.commit([], [], [c("n", [], 1), c("n", [Infinity], 1)], 0)).rejects.toThrow(TypeError);
      await expect(s.commit([ref("n", [])], [], [], 0)).rejects.toThrow(TypeError);
      await expect(s.retain([def("a", 0)])).rejects.toThrow(RangeError);
      await expect(s.retain([def("a", 1), def("a", 2)])).rejects.toThrow(/twice/);
      expect(await sum(s, "n", [], 0)).toBe(0);
    });
  });

  describe("pending contributions", () => {
    it("count while pending; approved stay with their time; denied leave every counter and key", async () => {
      const s = await open([def("n", 1000), def("m", 500)]);
      await record(s, [c("n", ["k"], 5), c("m", [1], 2)], 10, esc("a", 100));
      await record(s, [c("n", ["k"], 5)], 10, esc("b", 100));
      await record(s, [c("n", ["k"], 1)], 20);
      expect(await s.read([ref("n", ["k"]), ref("m", [1])], 30)).toEqual([11, 2]);
      expect(await s.resolve("a", "denied", 40)).toBe(true);
      expect(await s.resolve("a", "approved", 41)).toBe(false); // the first resolution stands
      expect(await s.resolve("b", "approved", 42)).toBe(true);
      expect(await s.read([ref("n", ["k"]), ref("m", [1])], 50)).toEqual([6, 0]);
      expect(await sum(s, "n", ["k"], 1009)).toBe(6);
      expect(await sum(s, "n", ["k"], 1010)).toBe(1);
      expect(await s.resolve("nope", "approved", 1010)).toBe(false);
    });

    it("expire into on_timeout at expiresAt; a resolution then is too late", async () => {
      const s = await open([def("n", 1000)]);
      await record(s, [c("n", ["allow"], 5)], 0, esc("x", 100, "allow"));
      await record(s, [c("n", ["deny"], 5)], 0, esc("y", 100, "deny"));
      expect(await s.read([ref("n", ["allow"]), ref("n", ["deny"])], 99)).toEqual([5, 5]);
      expect(await s.read([ref("n", ["allow"]), ref("n", ["deny"])], 100)).toEqual([5, 0]);
      expect(await s.resolve("x", "denied", 100)).toBe(false);
      expect(await s.resolve("y", "approved", 150)).toBe(false);
      expect(await s.read([ref("n", ["allow"]), ref("n", ["deny"])], 999)).toEqual([5, 0]);
    });

    it("already expired when decided: into allow it is recorded, into deny nothing is", async () => {
      const s = await open([def("n", 1000)]);
      await record(s, [c("n", [], 1)], 50, esc("x", 50, "allow"));
      await record(s, [c("n", [], 2)], 50, esc("y", 40, "deny"));
      expect(await sum(s, "n", [], 60)).toBe(1);
    });

    it("an id may not be reused while held; once forgotten it may", async () => {
      const s = await open([def("n", 100)]);
      await record(s, [c("n", [], 1)], 0, esc("x", 1000));
      await expect(record(s, [c("n", [], 1)], 50, esc("x", 1000))).rejects.toThrow(/approval 'x' is already pending/);
      expect(await sum(s, "n", [], 50)).toBe(1);
      // its only contribution has left the window: forgotten
      await record(s, [c("n", [], 2)], 100, esc("x", 1000));
      expect(await sum(s, "n", [], 100)).toBe(2);
      expect(await s.resolve("x", "denied", 101)).toBe(true);
      expect(await sum(s, "n", [], 101)).toBe(0);
    });
  });

  describe("compare-and-record", () => {
    it("a commit with stale sums records nothing and returns the current sums", async () => {
      const s = await open([def("n", 100), def("m", 100)]);
      const refs = [ref("n", ["k"]), ref("m", ["k"])];
      const before = await s.read(refs, 10);
      expect(before).toEqual([0, 0]);
      await record(s, [c("m", ["k"], 4)], 10); // another decider's
      const r = await s.commit(refs, before, [c("n", ["k"], 1), c("m", ["k"], 1)], 10);
      expect(r).toEqual({ ok: false, sums: [0, 4] });
      expect(await s.read(refs, 10)).toEqual([0, 4]);
      expect(await s.commit(refs, [0, 4], [c("n", ["k"], 1), c("m", ["k"], 1)], 10)).toEqual({ ok: true });
      expect(await s.read(refs, 10)).toEqual([1, 5]);
    });

    it("sums compare as doubles: -0 matches 0; a sum that changed and came back matches (no ABA issue)", async () => {
      const s = await open([def("n", 100)]);
      expect(await s.commit([ref("n", [])], [-0], [c("n", [], 1)], 0)).toEqual({ ok: true });
      await record(s, [c("n", [], 1)], 0, esc("p", 50));
      expect(await s.resolve("p", "denied", 1)).toBe(true);
      expect(await s.commit([ref("n", [])], [1], [c("n", [], 1)], 2)).toEqual({ ok: true });
    });

    it("the window moving between read and commit is a change", async () => {
      const s = await open([def("n", 100)]);
      await record(s, [c("n", [], 1)], 0);
      const [v] = await s.read([ref("n", [])], 50);
      expect(await s.commit([ref("n", [])], [v], [c("n", [], 1)], 100)).toEqual({ ok: false, sums: [0] });
    });
  });

  describe("identity of state and memory", () => {
    it("retain: an unchanged counter keeps its state, a changed definition or window starts empty", async () => {
      const s = await open([def("a", 100, "A"), def("b", 100, "B"), def("w", 100, "W")]);
      await record(s, [c("a", [], 1), c("b", [], 2), c("w", [], 3)], 0);
      await s.retain([def("a", 100, "A"), def("b", 100, "B2"), def("w", 200, "W")]);
      expect(await s.read([ref("a", []), ref("b", []), ref("w", [])], 1)).toEqual([1, 0, 0]);
      // another process with the same policy shares the state; one with another policy does not
      const other = new RedisCounterStore(admin, { prefix: s.prefix });
      stores.push(other);
      await other.retain([def("a", 100, "A"), def("b", 100, "B")]);
      expect(await other.read([ref("a", []), ref("b", [])], 1)).toEqual([1, 2]);
    });

    it("keys expire once nothing in them can count (window + grace), approvals too", async () => {
      const s = await open([def("n", 200), def("m", 300)], { expiryGraceMs: 0 });
      const prefix = s.prefix;
      const t0 = Date.now();
      await record(s, [c("n", ["a"], 1), c("m", ["a"], 1)], t0);
      await record(s, [c("n", ["b"], 1)], t0, esc("p", t0 + 100_000));
      expect((await keysOf(prefix)).length).toBeGreaterThanOrEqual(5);
      const ttls = await Promise.all((await keysOf(prefix)).map((k) => admin.pTTL(k)));
      for (const ttl of ttls) expect(ttl).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 450));
      expect(await keysOf(prefix)).toEqual([]);
      expect(await s.resolve("p", "denied", Date.now())).toBe(false);
    });

    it("a counter+key whose entries all left is deleted when touched", async () => {
      const s = await open([def("n", 100)]);
      const prefix = s.prefix;
      await record(s, [c("n", ["a"], 1)], 0);
      expect((await keysOf(prefix)).length).toBe(2); // :h and :q (no pending)
      expect(await sum(s, "n", ["a"], 100)).toBe(0);
      expect(await keysOf(prefix)).toEqual([]);
    });
  });

  describe("commitMany: the commits of a turn in one call", () => {
    it("applies them in order, each compared as on its own: a later one sees what an earlier one recorded", async () => {
      const s = await open([def("n", 1000), def("m", 1000)]);
      await record(s, [c("n", ["a"], 1)], 0);
      const r = await s.commitMany([
        { refs: [ref("n", ["a"])], sums: [1], entries: [c("n", ["a"], 1)] }, // 1 -> 2
        { refs: [ref("n", ["a"])], sums: [1], entries: [c("n", ["a"], 5)] }, // stale: 2 now
        { refs: [ref("n", ["a"]), ref("m", ["b"])], sums: [2, 0], entries: [c("m", ["b"], 3)] }, // sees the first
        { refs: [], sums: [], entries: [] }, // nothing to check or record
      ], 1);
      expect(r).toEqual([{ ok: true }, { ok: false, sums: [2] }, { ok: true }, { ok: true }]);
      expect(await s.read([ref("n", ["a"]), ref("m", ["b"])], 2)).toEqual([2, 3]);
    });

    it("an approval id still held fails that commit alone; pending entries count and resolve", async () => {
      const s = await open([def("n", 1000)]);
      await record(s, [c("n", [], 1)], 0, esc("p", 500));
      const r = await s.commitMany([
        { refs: [ref("n", [])], sums: [1], entries: [c("n", [], 1)], pending: esc("p", 500) },
        { refs: [ref("n", [])], sums: [1], entries: [c("n", [], 2)], pending: esc("q", 500, "allow") },
      ], 1);
      expect(r[0]).toBeInstanceOf(Error);
      expect((r[0] as Error).message).toMatch(/approval 'p' is already pending/);
      expect(r[1]).toEqual({ ok: true });
      expect(await sum(s, "n", [], 2)).toBe(3);
      expect(await s.resolve("q", "denied", 3)).toBe(true);
      expect(await sum(s, "n", [], 3)).toBe(1);
      expect(await sum(s, "n", [], 500)).toBe(0); // p expired into deny
    });

    it("a base changed by a version of the script that does not keep its summary is read in full", async () => {
      // A rolling upgrade: an older script records (list + hash) without the summary fields
      // (ht, pm, v) that let a read skip the list, and writes clk without its trailing space.
      const s = await open([def("n", 1000)]);
      await record(s, [c("n", ["a"], 1)], 0);
      expect(await sum(s, "n", ["a"], 1)).toBe(1);
      const [h] = (await keysOf(s.prefix)).filter((k) => k.endsWith(":h"));
      const q = h!.slice(0, -1) + "q";
      await admin.rPush(q, "2 5 7 -");
      await admin.hSet(h!, { sum: "8", comp: "0", cnt: "2", clk: "5", seq: "2" });
      expect(await sum(s, "n", ["a"], 6)).toBe(8);
      expect(await sum(s, "n", ["a"], 1000)).toBe(7); // the first left at 1000, read from the list
      expect(await sum(s, "n", ["a"], 1005)).toBe(0);
    });
  });

  describe("the script", () => {
    it("is sent again (EVAL) when the server lost it (NOSCRIPT)", async () => {
      const s = await open([def("n", 100)]);
      await record(s, [c("n", [], 1)], 0);
      await admin.scriptFlush();
      expect(await sum(s, "n", [], 1)).toBe(1);
      await record(s, [c("n", [], 1)], 1);
      expect(await sum(s, "n", [], 1)).toBe(2);
    });

    it("a store made from a URL connects, works and closes its own client", async () => {
      const s = new RedisCounterStore(server.url, { prefix: `t${prefixes++}:` });
      await s.retain([def("n", 100)]);
      await record(s, [c("n", [], 1)], 0);
      expect(await sum(s, "n", [], 0)).toBe(1);
      await s.close();
      await expect(sum(s, "n", [], 0)).rejects.toThrow(/closed/);
    });

    it("a URL nobody answers rejects at retain instead of hanging", async () => {
      const s = new RedisCounterStore("redis://127.0.0.1:1");
      await expect(s.retain([def("n", 100)])).rejects.toThrow();
      await s.close();
    }, 20_000);
  });

  describe("differential against MemoryCounterStore", () => {
    const EXACT = [0, 1, 1, 2, 3, 0.5, 1 / 1024, 3 / 1024, 7.25, 1000, 2 ** 30, 12345 / 1024];
    const KEYS: Key[] = [[], ["a"], ["b"], [0], [-0], ["0"], [1], ["1"], ["a", 1], [1.5]];
    const NAMES = ["c1", "c2", "c3"];
    const WINDOWS = [100, 37, 250, 60, 1];

    const rng = mulberry32;

    async function sequence(seed: number, length: number): Promise<void> {
      const r = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      // a counter's definition never comes back after a change: Redis keeps state by definition
      // (documented), MemoryCounterStore by its last retain
      const version = new Map(NAMES.map((n) => [n, 0]));
      const windows = new Map(NAMES.map((n, i) => [n, WINDOWS[i]!]));
      let present = [...NAMES];
      const defs = () => present.map((n) => def(n, windows.get(n)!, `${n}/v${version.get(n)}`));
      const mem = new MemoryCounterStore(defs());
      const red = await open(defs());
      const open_: { id: string; counters: Map<string, number> }[] = [];
      let ids = 0;
      let t = 1000 + Math.floor(r() * 100);
      for (let n = 0; n < length; n++) {
        const x = r();
        let now = t;
        let what: string;
        if (x < 0.45) {
          if (r() < 0.05) now = t - pick([1, 5, 30]);
          const entries: Contribution[] = [];
          const k = 1 + Math.floor(r() * 3);
          for (let i = 0; i < k; i++) entries.push(c(pick(present), pick(KEYS), pick(EXACT)));
          let pending: Pending | undefined;
          if (r() < 0.4) {
            pending = esc(`p${seed}-${ids++}`, now + pick([0, 5, 20, 60, 150, 400]) - (r() < 0.1 ? 3 : 0), r() < 0.5 ? "allow" : "deny");
            open_.push({ id: pending.id, counters: new Map(entries.map((e) => [e.counter, version.get(e.counter)!])) });
          }
          what = `record ${JSON.stringify(entries)} ${JSON.stringify(pending)}`;
          mem.record(entries, now, pending);
          await record(red, entries, now, pending);
        } else if (x < 0.6 && open_.length > 0) {
          const a = r() < 0.9 ? pick(open_) : { id: "unknown", counters: new Map<string, number>() };
          const outcome = r() < 0.5 ? "approved" : "denied";
          what = `resolve ${a.id} ${outcome}`;
          const m = mem.resolve(a.id, outcome, now);
          const d = await red.resolve(a.id, outcome, now);
          // Redis settles an approval in counters this process has since reloaded (others may
          // count them): its answer may then differ, never its sums
          const reloaded = [...a.counters].some(([name, v]) => version.get(name) !== v || !present.includes(name));
          if (!reloaded) expect(d, `seed ${seed} op ${n}: ${what}`).toBe(m);
        } else if (x < 0.9) {
          t += pick([0, 1, 5, 13, 37, 50, 100, 120, 300]);
          now = t;
          what = `advance to ${t}`;
        } else if (x < 0.96) {
          const name = pick(NAMES);
          const y = r();
          const bump = () => version.set(name, version.get(name)! + 1);
          if (!present.includes(name)) {
            present.push(name);
            bump();
          } else if (y < 0.25 && present.length > 1) {
            present = present.filter((p) => p !== name);
          } else if (y < 0.5) {
            windows.set(name, pick(WINDOWS));
            bump();
          } else if (y < 0.75) {
            bump();
          } // else unchanged: keeps its state
          what = `retain ${JSON.stringify(defs())}`;
          mem.retain(defs());
          await red.retain(defs());
          now = t;
        } else {
          now = t - pick([1, 10, 100]);
          what = `sum at ${now}`;
        }
        const refs = present.flatMap((name) => KEYS.map((k) => ref(name, k)));
        const want = refs.map((q) => mem.sum(q.counter, q.key, now));
        const got = await red.read(refs, now);
        for (let i = 0; i < refs.length; i++) {
          if (!Object.is(got[i], want[i])) {
            throw new Error(`seed ${seed} op ${n} (${what}) at ${now}: ${refs[i]!.counter} ${JSON.stringify(refs[i]!.key)}: redis ${got[i]}, memory ${want[i]}`);
          }
        }
        expect(red.clock).toBe(mem.clock);
      }
    }

    it("the same sums bit for bit after every operation (60 seeded sequences of 150 operations)", async () => {
      for (let seed = 1; seed <= 60; seed++) await sequence(seed, 150);
    });
  });

  describe("atomicity across processes", () => {
    let dir: string;

    beforeAll(() => {
      // Node 20 cannot run TypeScript: the children run a private transpilation of src/state.
      mkdirSync(join(root, "node_modules/.cache"), { recursive: true });
      dir = mkdtempSync(join(root, "node_modules/.cache/tollgate-redis-"));
      for (const name of ["memory-store", "shared-store", "redis-store", "redis-counters.generated"]) {
        const js = ts.transpileModule(readFileSync(join(root, "src/state", `${name}.ts`), "utf8"), {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        }).outputText;
        mkdirSync(join(dir, "state"), { recursive: true });
        writeFileSync(join(dir, "state", `${name}.js`), js);
      }
      writeFileSync(join(dir, "package.json"), '{"type":"module"}');
      writeFileSync(
        join(dir, "child.js"),
        `import { RedisCounterStore } from "./state/redis-store.js";
const [url, prefix, attempts, parallel, limit] = process.argv.slice(2);
const store = new RedisCounterStore(url, { prefix });
await store.retain([{ name: "n", windowMs: 3600000, definition: "n" }]);
const refs = [{ counter: "n", key: ["hot"] }];
const entry = [{ counter: "n", key: ["hot"], amount: 1 }];
let started = 0, recorded = 0, denied = 0, conflicts = 0;
async function loop() {
  while (started < Number(attempts)) {
    started++;
    const now = Date.now();
    let [s] = await store.read(refs, now);
    for (;;) {
      if (!(s + 1 <= Number(limit))) { denied++; break; }
      const r = await store.commit(refs, [s], entry, now);
      if (r.ok) { recorded++; break; }
      conflicts++;
      s = r.sums[0];
    }
  }
}
process.send("ready");
process.once("message", async () => {
  await Promise.all(Array.from({ length: Number(parallel) }, loop));
  await store.close();
  process.send({ recorded, denied, conflicts });
  process.disconnect();
});
`,
      );
    });

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("1,000 concurrent attempts from 4 processes at a limit of 50: exactly 50 recorded; another key untouched", async () => {
      const prefix = `t${prefixes++}:`;
      const s = await open([def("n", 3_600_000, "n")], { prefix });
      await record(s, [c("n", ["cold"], 7)], Date.now());
      const children = Array.from({ length: 4 }, () => fork(join(dir, "child.js"), [server.url, prefix, "250", "8", "50"], { stdio: "inherit" }));
      const ready = children.map((ch) => new Promise((res, rej) => (ch.once("message", res), ch.once("exit", (code) => rej(new Error(`child exited ${code}`))))));
      await Promise.all(ready);
      const results = children.map(
        (ch) =>
          new Promise<{ recorded: number; denied: number; conflicts: number }>((res, rej) => {
            ch.once("message", (m) => res(m as { recorded: number; denied: number; conflicts: number }));
            ch.once("exit", (code) => (code === 0 ? undefined : rej(new Error(`child exited ${code}`))));
          }),
      );
      for (const ch of children) ch.send("go");
      const out = await Promise.all(results);
      const recorded = out.reduce((n, o) => n + o.recorded, 0);
      const denied = out.reduce((n, o) => n + o.denied, 0);
      expect(recorded).toBe(50);
      expect(recorded + denied).toBe(1000);
      expect(out.reduce((n, o) => n + o.conflicts, 0)).toBeGreaterThan(0); // they did contend
      expect(await s.read([ref("n", ["hot"]), ref("n", ["cold"])], Date.now())).toEqual([50, 7]);
    });
  });
});
