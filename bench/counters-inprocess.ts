// In-process part of the counters benchmark (bench/counters.bench.ts): Policy.evaluate with and
// without counters, and rate-limiter-flexible's RateLimiterMemory on the same limits and keys.

import { RateLimiterMemory } from "rate-limiter-flexible";
import { Policy } from "../src/index.js";
import type { Decision } from "../src/index.js";
import { applicable, LIMITS } from "./counters-workload.js";

export interface Percentiles { p50: number; p99: number; p999: number; mean: number; max: number; samples: number }

export function percentiles(a: Float64Array): Percentiles {
  const s = a.slice().sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), mean: sum / s.length, max: s[s.length - 1]!, samples: s.length };
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
let sink = 0;

/** Median cost of one process.hrtime.bigint() reading, in ns (subtracted from every sample). */
export function timerOverheadNs(): number {
  const n = 100_000;
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const t1 = process.hrtime.bigint();
    a[i] = Number(t1 - t0);
  }
  return percentiles(a).p50;
}

export interface Variant {
  name: string;
  /** Decides `action`, the i-th of this variant (synchronously); returns its decision for the mix. */
  call(action: Record<string, unknown>, i: number): Decision | string;
}

export interface VariantResult {
  name: string;
  /** ns per decision, timer overhead subtracted. */
  latency: Percentiles;
  /** Decisions per second of untimed loops. */
  decisionsPerSec: number;
  mix: Record<string, number>;
  decisions: number;
}

export function decisionKey(d: Decision | string): string {
  if (typeof d === "string") return d;
  if (d.error) return "error";
  if (d.rule === null) return `${d.decision} (default)`;
  if (d.rule.startsWith("counters.")) return `${d.decision} (by a counter)`;
  return d.undetermined ? `${d.decision} (undetermined)` : d.decision;
}

/** Actions are made in chunks of this many, outside the timed code. */
const CHUNK = 256;

/**
 * Interleaved rounds: each round times every variant's next `block` decisions one call at a
 * time, then runs `block` more untimed (for the rate); so a noisy spell on the shared machine
 * touches every variant alike. Each variant decides its own sequence of actions, made by
 * `make(i)` (i = 0, 1, ...) in chunks of 256 just before they are decided (fresh objects, as a
 * parsed request body is), outside the timed code.
 */
export function interleaved(variants: Variant[], make: (i: number) => Record<string, unknown>, rounds: number, block: number, warm: number, log: (m: string) => void): VariantResult[] {
  block = Math.ceil(block / CHUNK) * CHUNK;
  const timer = timerOverheadNs();
  const next = variants.map(() => 0);
  const chunk: Record<string, unknown>[] = new Array(CHUNK);
  const fill = (from: number) => {
    for (let j = 0; j < CHUNK; j++) chunk[j] = make(from + j);
  };
  for (let v = 0; v < variants.length; v++) {
    for (let k = 0; k < warm; k += CHUNK) {
      fill(next[v]!);
      for (let j = 0; j < CHUNK; j++) variants[v]!.call(chunk[j]!, next[v]! + j);
      next[v]! += CHUNK;
    }
  }
  const samples = variants.map(() => new Float64Array(rounds * block));
  const untimedNs = variants.map(() => 0);
  const mixes = variants.map(() => new Map<string, number>());
  for (let r = 0; r < rounds; r++) {
    for (let v = 0; v < variants.length; v++) {
      const variant = variants[v]!;
      const out = samples[v]!;
      const mix = mixes[v]!;
      gc();
      let i = next[v]!;
      for (let k = 0; k < block; k += CHUNK) {
        fill(i);
        for (let j = 0; j < CHUNK; j++) {
          const t0 = process.hrtime.bigint();
          const d = variant.call(chunk[j]!, i + j);
          const t1 = process.hrtime.bigint();
          out[r * block + k + j] = Math.max(0, Number(t1 - t0) - timer);
          const key = decisionKey(d);
          mix.set(key, (mix.get(key) ?? 0) + 1);
        }
        i += CHUNK;
      }
      for (let k = 0; k < block; k += CHUNK) {
        fill(i);
        const t0 = process.hrtime.bigint();
        for (let j = 0; j < CHUNK; j++) {
          const d = variant.call(chunk[j]!, i + j);
          sink += typeof d === "string" ? d.length : d.decision.length;
        }
        untimedNs[v]! += Number(process.hrtime.bigint() - t0);
        i += CHUNK;
      }
      next[v] = i;
    }
    log(`  round ${r + 1}/${rounds}: ${variants.map((v, k) => `${v.name} p50 ${(percentiles(samples[k]!.subarray(r * block, (r + 1) * block)).p50 / 1000).toFixed(2)} µs`).join(", ")}`);
  }
  return variants.map((v, k) => ({
    name: v.name,
    latency: percentiles(samples[k]!),
    decisionsPerSec: (rounds * block) / (untimedNs[k]! / 1e9),
    mix: Object.fromEntries([...mixes[k]!.entries()].sort((a, b) => b[1] - a[1])),
    decisions: next[k]!,
  }));
}

export interface InProcessSetup {
  stateless: Policy;
  stateful: Policy;
  /** Simulated ms per decision of the stateful policy. */
  msPerDecision: number;
  start: number;
}

/** The two Policy variants: stateless `evaluate(action)`, stateful `evaluate(action, { now })`. */
export function policyVariants(s: InProcessSetup): Variant[] {
  return [
    { name: "without counters", call: (a) => s.stateless.evaluate(a) },
    { name: "with 4 counters", call: (a, i) => s.stateful.evaluate(a, { now: s.start + i * s.msPerDecision }) },
  ];
}

// --- rate-limiter-flexible in memory ------------------------------------------------------------

/** The four limits as rate-limiter-flexible limiters (fixed windows of the same lengths). */
export interface Limiters {
  calls: RateLimiterMemory;
  refunds: RateLimiterMemory;
  refunded: RateLimiterMemory;
  secrets: RateLimiterMemory;
}

/** The longest duration (s) RateLimiterMemory holds a key for (see memoryLimiters). */
export const MEMORY_MAX_DURATION_S = Math.floor((2 ** 31 - 1) / 1000);

export function memoryLimiters(prefix: string): Limiters {
  return {
    calls: new RateLimiterMemory({ keyPrefix: `${prefix}calls`, points: LIMITS.callsPerMinute, duration: 60 }),
    refunds: new RateLimiterMemory({ keyPrefix: `${prefix}refunds`, points: LIMITS.refundsPerHour, duration: 3600 }),
    refunded: new RateLimiterMemory({ keyPrefix: `${prefix}refunded`, points: LIMITS.refundedPerDay, duration: 86_400 }),
    // 30 days is past setTimeout's limit (2^31 - 1 ms), which RateLimiterMemory uses to expire
    // a key: Node fires such a timer after 1 ms (a TimeoutOverflowWarning per key), so the key
    // would be forgotten at once. The longest window it can hold is ~24.8 days.
    secrets: new RateLimiterMemory({ keyPrefix: `${prefix}secrets`, points: LIMITS.secretsPerSession, duration: MEMORY_MAX_DURATION_S }),
  };
}

/** What the peer checks per action: the consumes the four limits make, as (limiter, key, points). */
export type Consume = ["calls" | "refunds" | "refunded" | "secrets", string, number];

export function consumesOf(a: Record<string, unknown>): Consume[] {
  const x = applicable(a);
  const out: Consume[] = [];
  if (x.agent !== null) {
    out.push(["calls", x.agent, 1]);
    if (x.refund) out.push(["refunds", x.agent, 1]);
    // rate-limiter-flexible's Redis limiter takes whole points only: amounts are rounded up (both modes alike).
    if (x.amount !== null && x.amount > 0) out.push(["refunded", x.agent, Math.ceil(x.amount)]);
  }
  if (x.session !== null && x.secret) out.push(["secrets", x.session, 1]);
  return out;
}

interface Consumer {
  consume(key: string, points: number): Promise<unknown>;
}

/** One action through the limiters: every applicable consume, in parallel; "deny" when any refused. */
export async function limit(limiters: Record<Consume[0], Consumer>, consumes: Consume[]): Promise<string> {
  let denied = false;
  await Promise.all(consumes.map(([l, key, points]) => limiters[l].consume(key, points).catch((e: unknown) => {
    if (e instanceof Error) throw e; // a store error, not a refusal
    denied = true;
  })));
  return denied ? "deny (limited)" : "allow (limits only)";
}

/** Sequential awaited calls (each timed), interleaved with Tollgate's in-process figures by the caller. */
export async function measureAsync(name: string, call: (i: number) => Promise<string>, n: number, warm: number): Promise<VariantResult> {
  const timer = timerOverheadNs();
  for (let i = 0; i < warm; i++) await call(i);
  gc();
  const out = new Float64Array(n);
  const mix = new Map<string, number>();
  let i = warm;
  for (let k = 0; k < n; k++) {
    const t0 = process.hrtime.bigint();
    const d = await call(i++);
    out[k] = Math.max(0, Number(process.hrtime.bigint() - t0) - timer);
    mix.set(d, (mix.get(d) ?? 0) + 1);
  }
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) sink += (await call(i++)).length;
  const ns = Number(process.hrtime.bigint() - t0);
  return { name, latency: percentiles(out), decisionsPerSec: n / (ns / 1e9), mix: Object.fromEntries(mix), decisions: i };
}

export function keepAlive(): number {
  return sink;
}
