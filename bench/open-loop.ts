// An open-loop load generator (issue 19): requests are sent at constant intervals — the way
// agents arrive, whether or not earlier answers came back — over many keep-alive connections,
// and each latency is counted from the request's *scheduled* time, so time a request spent
// waiting for its connection or for the generator is counted too (no coordinated omission).
// autocannon's `overallRate` sends each second's requests in a burst, which measures its own
// queue; this sends request i at start + i / rate.
//
// Run as its own process (so its CPU is not the caller's event loop):
//   node build/dist/bench/open-loop.js '<json Config>'
// prints one JSON line (OpenLoopResult) on stdout. bench/server-open-loop.ts drives it.

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import * as hdr from "hdr-histogram-js";
import { Client } from "undici";

export interface OpenLoopConfig {
  url: string;
  path: string;
  /** Requests per second, offered at constant intervals. */
  rate: number;
  connections: number;
  seconds: number;
  /** JSON lines: the actions; request i carries action i mod n. */
  actionsFile: string;
  /** Bearer tokens; request i carries token i mod n. */
  tokens: string[];
  /** Connections are opened (one warm-up request each) in groups of this many, rampMs apart. */
  group: number;
  rampMs: number;
}

export interface OpenLoopResult {
  offered_per_s: number;
  sent: number;
  ok: number;
  failed: number;
  /** Answers other than 200, by status. */
  statuses: Record<string, number>;
  errors: string[];
  seconds: number;
  /** Epoch ms of the first scheduled request and of the last answer. */
  window: { start: number; end: number };
  /** From each request's scheduled time to its answer, ms. */
  latency_ms: { p50: number; p90: number; p99: number; p99_9: number; max: number; mean: number };
  /** Largest lag of the sender behind its schedule, ms (the generator's own health). */
  max_send_lag_ms: number;
  client_cpu_pct: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function openLoop(c: OpenLoopConfig): Promise<OpenLoopResult> {
  const actions = readFileSync(c.actionsFile, "utf8").split("\n").filter((l) => l.trim().startsWith("{"));
  const bodies = actions.map((a) => `{"action":${a}}`);
  const headers = c.tokens.map((t) => ({ "content-type": "application/json", authorization: `Bearer ${t}` }));
  const clients = Array.from({ length: c.connections }, () => new Client(c.url, { pipelining: 1, keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000, headersTimeout: 120_000, bodyTimeout: 120_000 }));
  const send = async (i: number): Promise<number> => {
    const res = await clients[i % clients.length]!.request({ path: c.path, method: "POST", headers: headers[i % headers.length], body: bodies[i % bodies.length] });
    await res.body.dump();
    return res.statusCode;
  };
  // Open every connection first (a warm-up request on each), in groups: 10,000 connects at once
  // overflow the kernel's accept queue and measure its SYN back-off.
  for (let g = 0; g < clients.length; g += c.group) {
    const batch: Promise<number>[] = [];
    for (let k = g; k < Math.min(clients.length, g + c.group); k++) batch.push(send(k).catch(() => 0));
    await Promise.all(batch);
    await sleep(c.rampMs);
  }

  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  const total = Math.round(c.rate * c.seconds);
  if (!(total > 0)) throw new Error(`open loop: nothing to send at ${c.rate}/s for ${c.seconds} s`);
  const interval = 1000 / c.rate;
  const statuses: Record<string, number> = {};
  const errors: string[] = [];
  let ok = 0;
  let failed = 0;
  let done = 0;
  let maxLag = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now() + 50;
  const start = Date.now() + 50;
  let next = 0;
  let finish!: () => void;
  const all = new Promise<void>((resolve) => (finish = resolve));
  const settle = () => {
    if (++done === total) finish();
  };
  // Every millisecond or so, send each request whose time has come.
  while (next < total) {
    const now = performance.now();
    while (next < total && t0 + next * interval <= now) {
      const i = next++;
      const scheduled = t0 + i * interval;
      maxLag = Math.max(maxLag, now - scheduled);
      send(i).then(
        (status) => {
          h.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
          if (status === 200) ok++;
          else {
            failed++;
            statuses[status] = (statuses[status] ?? 0) + 1;
          }
          settle();
        },
        (e: Error) => {
          failed++;
          if (errors.length < 5) errors.push(String(e.message));
          settle();
        },
      );
    }
    await sleep(Math.max(0, Math.min(1, t0 + next * interval - performance.now())));
  }
  await all;
  const end = Date.now();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await Promise.all(clients.map((cl) => cl.close().catch(() => undefined)));
  const ms = (p: number) => Math.round(h.getValueAtPercentile(p) / 10) / 100;
  const result: OpenLoopResult = {
    offered_per_s: c.rate,
    sent: total,
    ok,
    failed,
    statuses,
    errors,
    seconds: Math.round(seconds * 100) / 100,
    window: { start, end },
    latency_ms: { p50: ms(50), p90: ms(90), p99: ms(99), p99_9: ms(99.9), max: Math.round(h.maxValue / 10) / 100, mean: Math.round(h.mean / 10) / 100 },
    max_send_lag_ms: Math.round(maxLag * 100) / 100,
    client_cpu_pct: Math.round(((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100),
  };
  h.destroy();
  return result;
}

if (process.argv[1]?.endsWith("open-loop.js") && process.argv[2] !== undefined) {
  openLoop(JSON.parse(process.argv[2]) as OpenLoopConfig).then(
    (r) => process.stdout.write(JSON.stringify(r) + "\n"),
    (e: unknown) => {
      process.stderr.write(`open-loop: ${String((e as Error)?.stack ?? e)}\n`);
      process.exit(1);
    },
  );
}
