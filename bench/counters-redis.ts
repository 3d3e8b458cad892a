// The Redis part of the counters benchmark (bench/counters.bench.ts): Tollgate deciding the whole
// policy against counters in Redis from one Node process (SharedDecider, 64 actions in flight),
// rate-limiter-flexible's RateLimiterRedis on the same limits and keys (64 in flight), and the
// exactness test of issue 13 for both (1,000 concurrent attempts on one key against a limit of
// 50), in memory and in Redis.

import { createClient } from "redis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import { Policy } from "../src/index.js";
import { SharedDecider } from "../src/pipeline/shared-decide.js";
import { RedisCounterStore } from "../src/state/redis-store.js";
import { consumesOf, decisionKey, limit, percentiles } from "./counters-inprocess.js";
import type { Consume, Percentiles } from "./counters-inprocess.js";
import { LIMITS } from "./counters-workload.js";
import type { ActionStream } from "./counters-workload.js";

export interface FlightRun {
  name: string;
  inFlight: number;
  seconds: number;
  decisions: number;
  decisions_per_s: number;
  /** Per decision (or per action through the limiters), ns. */
  latency: Percentiles;
  mix: Record<string, number>;
}

/** `inFlight` loops, each awaiting `one(i)` for the next action index, for `seconds`. */
export async function inFlight(name: string, n: number, seconds: number, offset: number, one: (i: number) => Promise<string>): Promise<FlightRun> {
  let next = offset;
  let done = 0;
  const lat: number[] = [];
  const mix = new Map<string, number>();
  const end = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      const d = await one(i);
      lat.push(Number(process.hrtime.bigint() - t0));
      mix.set(d, (mix.get(d) ?? 0) + 1);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, loop));
  const elapsed = (performance.now() - t0) / 1000;
  return { name, inFlight: n, seconds: Math.round(elapsed * 10) / 10, decisions: done, decisions_per_s: Math.round(done / elapsed), latency: percentiles(Float64Array.from(lat)), mix: Object.fromEntries([...mix].sort((a, b) => b[1] - a[1])) };
}

/** Tollgate: the stateful policy through a SharedDecider on a RedisCounterStore. */
export async function tollgateRedis(url: string, statefulYaml: string, stream: ActionStream, n: number, seconds: number, offset: number): Promise<{ run: FlightRun; store: RedisCounterStore }> {
  const policy = Policy.fromYaml(statefulYaml);
  const store = new RedisCounterStore(url, { prefix: `bench${Date.now()}:` });
  await store.retain(policy.counters.map((c) => ({ name: c.name, windowMs: c.windowMs, definition: c.definition })));
  const decider = new SharedDecider(store);
  const one = async (i: number) => decisionKey((await decider.decide(policy, stream.action(i))).decision);
  await inFlight("warm-up", n, Math.min(2, seconds), offset, one);
  const run = await inFlight("Tollgate SharedDecider + RedisCounterStore", n, seconds, offset + 1_000_000, one);
  return { run, store };
}

type Limiters = Record<Consume[0], { consume(key: string, points: number): Promise<unknown> }>;

/** rate-limiter-flexible's Redis limiters for the four limits, on one node-redis client. */
export async function redisLimiters(url: string, prefix: string): Promise<{ limiters: Limiters; close: () => Promise<void> }> {
  const client = createClient({ url, disableOfflineQueue: true });
  await client.connect();
  const mk = (name: string, points: number, duration: number) => new RateLimiterRedis({ storeClient: client, useRedisPackage: true, keyPrefix: `${prefix}${name}`, points, duration });
  return {
    limiters: {
      calls: mk("calls", LIMITS.callsPerMinute, 60),
      refunds: mk("refunds", LIMITS.refundsPerHour, 3600),
      refunded: mk("refunded", LIMITS.refundedPerDay, 86_400),
      secrets: mk("secrets", LIMITS.secretsPerSession, 30 * 86_400),
    },
    close: async () => {
      await client.close();
    },
  };
}

export async function peerRedis(url: string, stream: ActionStream, n: number, seconds: number, offset: number): Promise<FlightRun> {
  const { limiters, close } = await redisLimiters(url, `rlf${Date.now()}:`);
  try {
    const one = (i: number) => limit(limiters, consumesOf(stream.action(i)));
    await inFlight("warm-up", n, Math.min(2, seconds), offset, one);
    return await inFlight("rate-limiter-flexible RateLimiterRedis (4 limiters)", n, seconds, offset + 1_000_000, one);
  } finally {
    await close();
  }
}

// --- exactness ------------------------------------------------------------------------------------

export interface Exactness {
  who: string;
  attempts: number;
  limit: number;
  allowed: number;
  /** What the store holds for the key afterwards (Tollgate: the window sum; the peer: consumed points). */
  counted: number;
  note: string;
}

const ATTEMPTS = 1000;
const EXACT_LIMIT = 50;

const EXACT_POLICY = `tollgate: 1
name: exactness
default: allow
counters:
  n:
    per: [agent.id]
    window: 1h
rules:
  - id: limit
    effect: deny
    reason: More than ${EXACT_LIMIT} an hour
    when: {$n: {gt: ${EXACT_LIMIT}}}
`;

const hotAction = { tool: "payments.refund", agent: { id: "hot-agent" }, args: { amount: 1 } };

export async function exactness(url: string): Promise<Exactness[]> {
  const out: Exactness[] = [];
  // Tollgate in memory: Policy.evaluate is synchronous, one decision at a time by construction.
  {
    const p = Policy.fromYaml(EXACT_POLICY);
    const now = Date.now();
    const ds = await Promise.all(Array.from({ length: ATTEMPTS }, async () => p.evaluate(hotAction, { now })));
    out.push({
      who: "Tollgate, in memory (Policy.evaluate)",
      attempts: ATTEMPTS,
      limit: EXACT_LIMIT,
      allowed: ds.filter((d) => d.decision === "allow").length,
      counted: p.state!.sum("n", ["hot-agent"], now),
      note: "a refused action records nothing",
    });
  }
  // Tollgate on Redis: 1,000 concurrent decisions through two SharedDeciders (two stores, two
  // connections: as two processes would), all at once.
  {
    const p = Policy.fromYaml(EXACT_POLICY);
    const prefix = `exact${Date.now()}:`;
    const defs = p.counters.map((c) => ({ name: c.name, windowMs: c.windowMs, definition: c.definition }));
    const stores = [new RedisCounterStore(url, { prefix }), new RedisCounterStore(url, { prefix })];
    for (const s of stores) await s.retain(defs);
    const deciders = stores.map((s) => new SharedDecider(s));
    const ds = await Promise.all(Array.from({ length: ATTEMPTS }, (_, i) => deciders[i % 2]!.decide(p, hotAction)));
    const [sum] = await stores[0]!.read([{ counter: "n", key: ["hot-agent"] }], Date.now());
    for (const s of stores) await s.close();
    out.push({
      who: "Tollgate, Redis (2 SharedDeciders, 2 connections)",
      attempts: ATTEMPTS,
      limit: EXACT_LIMIT,
      allowed: ds.filter((d) => d.decision.decision === "allow").length,
      counted: sum!,
      note: "compare-and-record: a refused action records nothing",
    });
  }
  // rate-limiter-flexible, memory and Redis: 1,000 concurrent consume(key) against 50 points.
  const peer = async (who: string, limiter: { consume(k: string, p: number): Promise<unknown>; get(k: string): Promise<{ consumedPoints: number } | null> }, note: string) => {
    const rs = await Promise.all(Array.from({ length: ATTEMPTS }, () => limiter.consume("hot-agent", 1).then(() => true, (e: unknown) => {
      if (e instanceof Error) throw e;
      return false;
    })));
    const got = await limiter.get("hot-agent");
    out.push({ who, attempts: ATTEMPTS, limit: EXACT_LIMIT, allowed: rs.filter(Boolean).length, counted: got?.consumedPoints ?? 0, note });
  };
  await peer("rate-limiter-flexible RateLimiterMemory", new RateLimiterMemory({ keyPrefix: `exact${Date.now()}`, points: EXACT_LIMIT, duration: 3600 }), "a refused consume still adds its points");
  const client = createClient({ url });
  await client.connect();
  try {
    await peer("rate-limiter-flexible RateLimiterRedis", new RateLimiterRedis({ storeClient: client, useRedisPackage: true, keyPrefix: `exact${Date.now()}`, points: EXACT_LIMIT, duration: 3600 }), "a refused consume still adds its points (INCRBY in its script)");
  } finally {
    await client.close();
  }
  return out;
}

export { RateLimiterMemory };
