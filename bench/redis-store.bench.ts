// Throughput of the Redis counter store (`npm run bench:redis`; docs/redis.md): one process, one
// connection (node-redis pipelines), IN_FLIGHT decisions in flight, each a read + a commit (2
// round trips, 2 script runs) against a redis-server started for the run on loopback.
//
//   distinct keys: every decision in flight has its own key: commits never conflict
//   one hot key:   all decide on one key under a limit they never reach: conflicts and retries
//
// Options: --seconds N (per scenario, default 5), --in-flight N (default 64), --url redis://...
// (an existing server instead of starting one; its keys are left under a fresh prefix).

import { RedisCounterStore } from "../src/state/redis-store.js";
import { startRedis } from "../test/support/services/redis.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const seconds = Number(option("seconds", "5"));
const inFlight = Number(option("in-flight", "64"));

async function scenario(url: string, label: string, keyOf: (loop: number) => string): Promise<void> {
  const store = new RedisCounterStore(url, { prefix: `bench${Date.now()}:` });
  await store.retain([{ name: "n", windowMs: 3_600_000, definition: "bench" }]);
  let decisions = 0;
  let conflicts = 0;
  const end = Date.now() + seconds * 1000;
  const latencies: number[] = [];
  const loop = async (i: number) => {
    const refs = [{ counter: "n", key: [keyOf(i)] }];
    const entries = [{ counter: "n", key: [keyOf(i)], amount: 1 }];
    while (Date.now() < end) {
      const t0 = performance.now();
      const now = Date.now();
      let sums = await store.read(refs, now);
      for (;;) {
        const r = await store.commit(refs, sums, entries, now);
        if (r.ok) break;
        conflicts++;
        sums = r.sums;
      }
      latencies.push(performance.now() - t0);
      decisions++;
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: inFlight }, (_, i) => loop(i)));
  const elapsed = (Date.now() - t0) / 1000;
  await store.close();
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2);
  console.log(
    `${label}: ${Math.round(decisions / elapsed)} read+commit decisions/s (${inFlight} in flight), ` +
      `${conflicts} conflicts; latency p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`,
  );
}

const given = option("url", "");
const server = given ? null : await startRedis();
const url = given || server!.url;
try {
  await scenario(url, "distinct keys", (i) => `agent-${i}`);
  await scenario(url, "one hot key  ", () => "hot");
} finally {
  await server?.stop();
}
