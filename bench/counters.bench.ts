// The counters benchmark of issue 13 (`npm run bench:counters`; a program, not a test), in one run:
//
//   1. in process: the 100-rule generated policy with 4 counters (bench/counters-workload.ts:
//      calls per minute, refunds per hour, refunded per day (a sum) per agent, secrets read
//      per session; 1,000 agents, 4 sessions each) against the SAME policy without counters:
//      Node `Policy.evaluate(action, { now })` (now + 1 ms per decision) vs `evaluate(action)`,
//      p50/p99/p99.9 and decisions/s, interleaved rounds; the same in Python (a separate
//      process: bench/counters_bench.py); rate-limiter-flexible's RateLimiterMemory on the same
//      4 limits and keys;
//   2. `tollgate serve` (2 workers, audit and approvals on) with and without counters: POST
//      /v1/decide at 64 connections, each policy twice, alternating;
//   3. Redis (a redis-server started for the run): Tollgate's SharedDecider (64 actions in
//      flight, one process) and rate-limiter-flexible's RateLimiterRedis (64 in flight), then
//      `tollgate serve --state redis://` with 1, 2 and 3 instances at once;
//   4. exactness: 1,000 concurrent attempts on one key against a limit of 50, both engines, in
//      memory and in Redis (how many allowed; what a refusal leaves counted).
//
// Targets (issue 13; ratios from this one run, the machine being shared): Node p99 with counters
// <= 2x without; Python p99 <= 25 µs; the server with counters >= 80% of its decisions/s
// without; SharedDecider on Redis >= 20,000 decisions/s; Tollgate at least as fast as
// rate-limiter-flexible in memory and in Redis while it decides a whole policy.
//
// Options: --quick (short runs), --skip-python, --skip-server, --skip-redis, --out DIR (default
// bench/results), --cli FILE (the tollgate CLI, default bin/tollgate.js).
// Writes <out>/counters-latest.{json,md,svg}.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { TopLevelSpec } from "vega-lite";
import { Policy } from "../src/index.js";
import { startRedis } from "../test/support/services/redis.js";
import { svgOf } from "./chart.js";
import { consumesOf, interleaved, limit, measureAsync, memoryLimiters, policyVariants } from "./counters-inprocess.js";
import type { Percentiles, VariantResult } from "./counters-inprocess.js";
import { exactness, peerRedis, tollgateRedis } from "./counters-redis.js";
import type { Exactness, FlightRun } from "./counters-redis.js";
import { decideRequests, drive, ServerCpu, ServeEnv } from "./counters-server.js";
import type { ServeRun } from "./counters-server.js";
import { ActionStream, AGENTS, COUNTER_RULES_YAML, COUNTERS_YAML, LIMITS, loadWorkload, SESSIONS_PER_AGENT } from "./counters-workload.js";
import { pythonExecutable } from "./peers-python.js";
import { repoRoot } from "./paths.js";

const root = repoRoot();
const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "skip-python": { type: "boolean", default: false },
    "skip-server": { type: "boolean", default: false },
    "skip-redis": { type: "boolean", default: false },
    out: { type: "string", default: join(root, "bench/results") },
    cli: { type: "string", default: join(root, "bin/tollgate.js") },
  },
});
const QUICK = opts.quick === true;
const ROUNDS = QUICK ? 3 : 10;
const BLOCK = QUICK ? 10_240 : 25_600;
const SERVE_SECONDS = QUICK ? 4 : 10;
const REDIS_SECONDS = QUICK ? 4 : 10;
const IN_FLIGHT = 64;
const CONNECTIONS = 64;
const WORKERS = 2;
/** Workers per instance of `serve --state redis://` (1, 2, 3 instances: 1, 2, 3 workers on 2 cores). */
const REDIS_WORKERS = 1;

const log = (m: string) => process.stderr.write(`[counters] ${m}\n`);
const workload = loadWorkload(root);
const stream = new ActionStream(workload.templates, 1_000_000);

// --- 1. in process ---------------------------------------------------------------------------

interface InProcess {
  node: VariantResult[];
  store: unknown;
  peer: VariantResult;
  python: PythonResult;
}

interface PythonResult {
  ok: boolean;
  note?: string;
  python?: string;
  variants?: { name: string; latency_us: { p50: number; p99: number; p999: number; max: number; mean: number; samples: number }; decisions_per_s: number; mix: Record<string, number> }[];
  store?: unknown;
}

function runPython(): PythonResult {
  if (opts["skip-python"]) return { ok: false, note: "skipped (--skip-python)" };
  const python = pythonExecutable(root);
  if (!existsSync(python)) return { ok: false, note: `no Python venv at ${python} (create it with \`npm run test:python\`)` };
  const dir = mkdtempSync(join(tmpdir(), "tollgate-counters-py-"));
  try {
    const input = join(dir, "in.json");
    const output = join(dir, "out.json");
    writeFileSync(input, JSON.stringify({
      stateless: workload.statelessYaml,
      stateful: workload.statefulYaml,
      templates: workload.templates,
      agents: Array.from(stream.agents.subarray(0, 200_000)),
      sessions: Array.from(stream.sessions.subarray(0, 200_000)),
      start: Date.now(),
      rounds: ROUNDS,
      block: QUICK ? 2_560 : 5_120,
      warm: 5_120,
    }));
    log("Python (separate process)");
    const r = spawnSync(python, [join(root, "bench/counters_bench.py"), input, output], {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, TOLLGATE_WASM: join(root, "build/tollgate.wasm") },
      timeout: 20 * 60_000,
    });
    if (r.status !== 0 || !existsSync(output)) return { ok: false, note: `the Python benchmark failed (exit ${r.status ?? r.signal})` };
    return JSON.parse(readFileSync(output, "utf8")) as PythonResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function inProcess(): Promise<InProcess> {
  const stateless = Policy.fromYaml(workload.statelessYaml, { filename: "generated-100.yaml" });
  const stateful = Policy.fromYaml(workload.statefulYaml, { filename: "generated-100-counters.yaml" });
  log(`in process: ${ROUNDS} rounds of ${BLOCK} timed + ${BLOCK} untimed decisions per variant`);
  const node = interleaved(policyVariants({ stateless, stateful, msPerDecision: 1, start: Date.now() }), (i) => stream.action(i), ROUNDS, BLOCK, 20_480, log);
  const store = stateful.state?.size();
  // rate-limiter-flexible in memory: the same four limits on the same keys; its API is a
  // promise per consume, awaited one action at a time.
  const limiters = memoryLimiters(`m${Date.now()}`);
  const n = ROUNDS * BLOCK;
  log(`rate-limiter-flexible RateLimiterMemory: ${n} actions`);
  const peer = await measureAsync("rate-limiter-flexible RateLimiterMemory (4 limiters)", (i) => limit(limiters, consumesOf(stream.action(i))), n, 20_480);
  const python = runPython();
  return { node, store, peer, python };
}

// --- 2 and 3. servers and Redis ----------------------------------------------------------------

interface Servers {
  stateless: ServeRun[];
  stateful: ServeRun[];
}

async function servers(): Promise<Servers> {
  const env = new ServeEnv();
  const requests = decideRequests(env, stream, 50_000, 0);
  const out: Servers = { stateless: [], stateful: [] };
  try {
    const files = { stateless: env.policyFile("generated-100", workload.statelessYaml), stateful: env.policyFile("generated-100-counters", workload.statefulYaml) };
    for (const round of [0, 1]) {
      for (const kind of ["stateless", "stateful"] as const) {
        const s = await env.start(opts.cli!, files[kind], WORKERS);
        try {
          await drive([s.url], requests, CONNECTIONS, 2, "warm-up", WORKERS);
          const cpu = ServerCpu.start(s.proc.pid!);
          const r = await drive([s.url], requests, CONNECTIONS, SERVE_SECONDS, kind === "stateless" ? "without counters" : "with 4 counters", WORKERS);
          r.cpu_us_per_decision = cpu?.perDecision(r.decisions);
          log(`serve ${kind} (round ${round + 1}): ${r.decisions_per_s} decisions/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, errors ${r.errors + r.non2xx}, server CPU ${cpuText(r)} µs/decision`);
          out[kind].push(r);
        } finally {
          await s.stop();
        }
      }
    }
  } finally {
    env.close();
  }
  return out;
}

/** The server's CPU per decision, all its processes (null when not measured). */
function serverCpu(r: ServeRun): number | null {
  const c = r.cpu_us_per_decision;
  return c === undefined ? null : c.primary + c.workers.reduce((a, b) => a + b, 0);
}

/** "total (primary + worker + worker)", or "-". */
function cpuText(r: ServeRun): string {
  const c = r.cpu_us_per_decision;
  return c === undefined ? "-" : `${serverCpu(r)!.toFixed(1)} (${[c.primary, ...c.workers].map((x) => x.toFixed(1)).join(" + ")})`;
}

interface RedisPart {
  tollgate: FlightRun[];
  peer: FlightRun[];
  serve: ServeRun[];
  exactness: Exactness[];
  redis: string;
}

async function redisPart(): Promise<RedisPart> {
  const server = await startRedis();
  const version = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout.trim();
  const out: RedisPart = { tollgate: [], peer: [], serve: [], exactness: [], redis: version };
  try {
    for (const round of [0, 1]) {
      const t = await tollgateRedis(server.url, workload.statefulYaml, stream, IN_FLIGHT, REDIS_SECONDS, round * 4_000_000);
      await t.store.close();
      log(`Redis, Tollgate SharedDecider (round ${round + 1}): ${t.run.decisions_per_s} decisions/s, p50 ${(t.run.latency.p50 / 1e6).toFixed(2)} ms, p99 ${(t.run.latency.p99 / 1e6).toFixed(2)} ms`);
      out.tollgate.push(t.run);
      const p = await peerRedis(server.url, stream, IN_FLIGHT, REDIS_SECONDS, round * 4_000_000 + 2_000_000);
      log(`Redis, rate-limiter-flexible (round ${round + 1}): ${p.decisions_per_s} actions/s, p50 ${(p.latency.p50 / 1e6).toFixed(2)} ms, p99 ${(p.latency.p99 / 1e6).toFixed(2)} ms`);
      out.peer.push(p);
    }
    if (!opts["skip-server"]) {
      const env = new ServeEnv();
      const requests = decideRequests(env, stream, 50_000, 3_000_000);
      try {
        const file = env.policyFile("generated-100-counters", workload.statefulYaml);
        for (const n of [1, 2, 3]) {
          const instances = [];
          try {
            for (let k = 0; k < n; k++) instances.push(await env.start(opts.cli!, file, REDIS_WORKERS, server.url));
            const urls = instances.map((s) => s.url);
            await drive(urls, requests, CONNECTIONS, 2, "warm-up", REDIS_WORKERS);
            const r = await drive(urls, requests, CONNECTIONS, SERVE_SECONDS, `${n} instance${n > 1 ? "s" : ""}`, REDIS_WORKERS);
            log(`serve --state redis, ${n} instance(s): ${r.decisions_per_s} decisions/s (${r.per_instance.join(" + ")}), p99 ${r.latency_ms.p99} ms, errors ${r.errors + r.non2xx}`);
            out.serve.push(r);
          } finally {
            for (const s of instances) await s.stop();
          }
        }
      } finally {
        env.close();
      }
    }
    out.exactness = await exactness(server.url);
    for (const e of out.exactness) log(`exactness, ${e.who}: ${e.allowed} allowed of ${e.attempts} (limit ${e.limit}), ${e.counted} counted`);
  } finally {
    await server.stop();
  }
  return out;
}

// --- report --------------------------------------------------------------------------------------

interface Summary {
  date: string;
  node: string;
  cpus: string;
  load_average_before: number;
  load_average_after: number;
  seconds: number;
  workload: { policy: string; counters: string; rules: string; agents: number; sessions: number; limits: typeof LIMITS; ms_per_decision: number };
  in_process: InProcess;
  servers: Servers | null;
  redis: RedisPart | null;
  targets: Target[];
}

interface Target {
  what: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const us = (ns: number) => (ns / 1000 < 10 ? (ns / 1000).toFixed(2) : (ns / 1000).toFixed(1));
const ms = (ns: number) => (ns / 1e6).toFixed(2);
const n = (x: number) => Math.round(x).toLocaleString("en-US");
const total = (runs: { decisions: number; seconds: number }[]) => runs.reduce((a, r) => a + r.decisions, 0) / runs.reduce((a, r) => a + r.seconds, 0);
const pooledP = (runs: { latency: Percentiles }[], f: (p: Percentiles) => number) => Math.max(...runs.map((r) => f(r.latency)));

function targets(s: Omit<Summary, "targets">): Target[] {
  const out: Target[] = [];
  const [off, on] = s.in_process.node;
  out.push({ what: "Node `Policy.evaluate` p99 with counters vs without", target: "<= 2x", measured: `${us(on!.latency.p99)} vs ${us(off!.latency.p99)} µs = ${(on!.latency.p99 / off!.latency.p99).toFixed(2)}x`, met: on!.latency.p99 <= 2 * off!.latency.p99 });
  const py = s.in_process.python;
  const pyOn = py.variants?.find((v) => v.name === "with 4 counters");
  out.push({ what: "Python `Policy.evaluate` p99 with counters", target: "<= 25 µs", measured: pyOn ? `${pyOn.latency_us.p99.toFixed(1)} µs` : `not measured: ${py.note}`, met: pyOn ? pyOn.latency_us.p99 <= 25 : null });
  if (s.servers !== null) {
    const a = total(s.servers.stateless.map((r) => ({ decisions: r.decisions, seconds: r.seconds })));
    const b = total(s.servers.stateful.map((r) => ({ decisions: r.decisions, seconds: r.seconds })));
    out.push({ what: "`tollgate serve` decisions/s with counters vs without", target: ">= 80%", measured: `${n(b)} vs ${n(a)} /s = ${Math.round((100 * b) / a)}%`, met: b >= 0.8 * a });
  }
  if (s.redis !== null) {
    const t = total(s.redis.tollgate);
    out.push({ what: "SharedDecider on Redis, 64 in flight", target: ">= 20,000 decisions/s", measured: `${n(t)} /s`, met: t >= 20_000 });
    const p = total(s.redis.peer);
    out.push({ what: "Tollgate vs rate-limiter-flexible, Redis (decisions vs limited actions /s)", target: ">= 1x", measured: `${n(t)} vs ${n(p)} /s = ${(t / p).toFixed(2)}x`, met: t >= p });
  }
  const peer = s.in_process.peer;
  out.push({ what: "Tollgate vs rate-limiter-flexible, memory (decisions vs limited actions /s)", target: ">= 1x", measured: `${n(on!.decisionsPerSec)} vs ${n(peer.decisionsPerSec)} /s = ${(on!.decisionsPerSec / peer.decisionsPerSec).toFixed(2)}x`, met: on!.decisionsPerSec >= peer.decisionsPerSec });
  return out;
}

function mixText(mix: Record<string, number>): string {
  const sum = Object.values(mix).reduce((a, b) => a + b, 0);
  return Object.entries(mix).map(([k, v]) => `${k} ${((100 * v) / sum).toFixed(1)}%`).join(", ");
}

function markdown(s: Summary): string {
  const [off, on] = s.in_process.node;
  const py = s.in_process.python;
  const lines: string[] = [];
  lines.push(`# Counters benchmark (bench/counters.bench.ts)

${s.date} — node ${s.node}, ${s.cpus}; load average ${s.load_average_before.toFixed(2)} before, ${s.load_average_after.toFixed(2)} after; ${Math.round(s.seconds)} s. The machine is shared: compare ratios within this run.

Workload: \`${s.workload.policy}\` (100 rules) against the same policy with 4 counters and 4 rules reading them (bench/counters-workload.ts), its 1,000 generated actions given ${s.workload.agents} agent ids and ${s.workload.sessions} sessions at random; limits that rarely trigger (${s.workload.limits.callsPerMinute} calls a minute, ${s.workload.limits.refundsPerHour} refunds an hour, ${n(s.workload.limits.refundedPerDay)} refunded a day per agent; ${s.workload.limits.secretsPerSession} secrets read per session), every one evaluated on every decision. In process, \`now\` advances ${s.workload.ms_per_decision} ms per decision.

\`\`\`yaml
${s.workload.counters.trimEnd()}
rules:
  # ... the 100 generated rules, then:
${s.workload.rules.trimEnd()}
\`\`\`

## Targets

| what | target | measured | met |
|---|---|---|---|
${s.targets.map((t) => `| ${t.what} | ${t.target} | ${t.measured} | ${t.met === null ? "n/a" : t.met ? "yes" : "**no**"} |`).join("\n")}

## 1. In process

| engine | p50 µs | p99 µs | p99.9 µs | decisions/s |
|---|---:|---:|---:|---:|
| Node \`Policy.evaluate(action)\`, no counters | ${us(off!.latency.p50)} | ${us(off!.latency.p99)} | ${us(off!.latency.p999)} | ${n(off!.decisionsPerSec)} |
| Node \`Policy.evaluate(action, { now })\`, 4 counters | ${us(on!.latency.p50)} | ${us(on!.latency.p99)} | ${us(on!.latency.p999)} | ${n(on!.decisionsPerSec)} |`);
  for (const v of py.variants ?? []) lines.push(`| Python \`Policy.evaluate(action${v.name === "with 4 counters" ? ", now=…" : ""})\`, ${v.name === "with 4 counters" ? "4 counters" : "no counters"} | ${v.latency_us.p50.toFixed(1)} | ${v.latency_us.p99.toFixed(1)} | ${v.latency_us.p999.toFixed(1)} | ${n(v.decisions_per_s)} |`);
  const peer = s.in_process.peer;
  lines.push(`| rate-limiter-flexible \`RateLimiterMemory\`, the 4 limits only (awaited consumes) | ${us(peer.latency.p50)} | ${us(peer.latency.p99)} | ${us(peer.latency.p999)} | ${n(peer.decisionsPerSec)} |

- ${n(on!.latency.samples)} timed decisions per Node variant in ${ROUNDS} interleaved rounds (timer cost subtracted); decisions/s from as many untimed decisions. Actions are new objects made just before they are decided (outside the timed code). Store after the run: ${JSON.stringify(s.in_process.store)}.
- Decisions, without counters: ${mixText(off!.mix)}. With counters: ${mixText(on!.mix)} (an allow or escalate records its contributions; a deny records nothing).
- Python: ${py.ok ? `${py.python}, separate process, same actions and method (${py.variants?.[0]?.latency_us.samples ?? "?"} timed decisions per variant); store after the run: ${JSON.stringify(py.store)}` : `**not measured**: ${py.note}`}.
- rate-limiter-flexible ${"11.4"}: one \`RateLimiterMemory\` per limit (fixed windows of the same lengths; the day budget consumes the amount rounded up, as its Redis limiter takes whole points only), each applicable \`consume\` of an action in parallel, awaited. Its secrets limit runs for ~24.8 days instead of 30: \`RateLimiterMemory\` expires a key with a \`setTimeout\`, and Node fires a timer longer than 2^31 - 1 ms after 1 ms (the key would be forgotten at once).`);
  if (s.servers !== null) {
    const row = (label: string, r: ServeRun) => `| ${label} | ${n(r.decisions_per_s)} | ${r.latency_ms.p50} | ${r.latency_ms.p90} | ${r.latency_ms.p99} | ${r.errors + r.non2xx} | ${cpuText(r)} |`;
    const cpuOf = (runs: ServeRun[]) => runs.map((r) => serverCpu(r)).filter((x): x is number => x !== null);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [cpuOff, cpuOn] = [cpuOf(s.servers.stateless), cpuOf(s.servers.stateful)];
    lines.push(`
## 2. \`tollgate serve\` (${WORKERS} workers, audit and approvals on), POST /v1/decide at ${CONNECTIONS} connections

| policy, run | decisions/s | p50 ms | p90 ms | p99 ms | failed | server CPU µs/decision: primary + workers |
|---|---:|---:|---:|---:|---:|---:|
${s.servers.stateless.map((r, i) => row(`no counters, ${i + 1}`, r)).join("\n")}
${s.servers.stateful.map((r, i) => row(`4 counters, ${i + 1}`, r)).join("\n")}

- ${SERVE_SECONDS} s per run after 2 s of warm-up, runs alternating (no counters, counters, no counters, counters); each request the next action of the stream with its agent's token (1,000 tokens: the server sets \`agent.id\` from the token). With counters, the primary owns the state: per worker turn one \`sums\` message, and the commits travel with the audit entries.
- Server CPU: user + system time of the primary and each worker (/proc) during the run, per decision: the server's own work, without the time it waited for a CPU the load generator or another process held (it still varies from run to run: a busier machine gives each event-loop turn fewer requests to share its costs). The workers' split shows a run where one worker took most connections (SCHED_NONE).${cpuOff.length > 0 && cpuOn.length > 0 ? ` Mean over the runs: ${mean(cpuOff).toFixed(1)} µs without counters, ${mean(cpuOn).toFixed(1)} µs with (${mean(cpuOff) > 0 ? ((100 * mean(cpuOff)) / mean(cpuOn)).toFixed(0) : "?"}%: the decisions/s the same CPU would give with counters, as a share of without).` : ""}`);
  }
  if (s.redis !== null) {
    const r = s.redis;
    const frow = (f: FlightRun) => `| ${f.name} | ${n(f.decisions_per_s)} | ${ms(f.latency.p50)} | ${ms(f.latency.p99)} | ${ms(f.latency.p999)} |`;
    lines.push(`
## 3. Redis (${r.redis.replace(/ sha=.*$/, "")}, on loopback, started for the run)

| engine (${IN_FLIGHT} in flight, one process) | per s | p50 ms | p99 ms | p99.9 ms |
|---|---:|---:|---:|---:|
${[...r.tollgate, ...r.peer].map(frow).join("\n")}

- Tollgate decides the whole policy (100 rules, 4 counters) per action against counters in Redis (\`SharedDecider\` + \`RedisCounterStore\`: per event-loop turn one read of every counter+key, decisions in order, the turn's commits in one call); rate-limiter-flexible only counts the 4 limits (its \`RateLimiterRedis\` on the same node-redis version, one \`EVAL\` per applicable limit, in parallel). ${REDIS_SECONDS} s per run, two rounds alternating.
- Decisions (Tollgate): ${mixText(r.tollgate[0]!.mix)}.`);
    if (r.serve.length > 0) {
      lines.push(`
\`tollgate serve --state redis://…\`, ${REDIS_WORKERS} worker each (so 1, 2, 3 workers and primaries on the 2 cores, with Redis and the load generator), ${CONNECTIONS} connections per instance, all instances at once, sharing the counters in one Redis:

| instances | decisions/s (total) | per instance | p50 ms | p99 ms | failed |
|---|---:|---|---:|---:|---:|
${r.serve.map((x) => `| ${x.instances} | ${n(x.decisions_per_s)} | ${x.per_instance.map(n).join(" + ")} | ${x.latency_ms.p50} | ${x.latency_ms.p99} | ${x.errors + x.non2xx} |`).join("\n")}`);
    }
    lines.push(`
## 4. Exactness: 1,000 concurrent attempts on one key, limit 50

| engine | allowed | counted afterwards | |
|---|---:|---:|---|
${r.exactness.map((e) => `| ${e.who} | ${e.allowed} | ${e.counted} | ${e.note} |`).join("\n")}`);
  }
  return lines.join("\n") + "\n";
}

function chart(s: Summary): Promise<string> {
  const values: { group: string; engine: string; value: number }[] = [];
  const [off, on] = s.in_process.node;
  const g1 = "in process, decisions/s";
  values.push({ group: g1, engine: "Tollgate, no counters", value: off!.decisionsPerSec });
  values.push({ group: g1, engine: "Tollgate, 4 counters", value: on!.decisionsPerSec });
  values.push({ group: g1, engine: "rate-limiter-flexible (limits only)", value: s.in_process.peer.decisionsPerSec });
  const g2 = "in process, p99 µs";
  values.push({ group: g2, engine: "Tollgate, no counters", value: off!.latency.p99 / 1000 });
  values.push({ group: g2, engine: "Tollgate, 4 counters", value: on!.latency.p99 / 1000 });
  values.push({ group: g2, engine: "rate-limiter-flexible (limits only)", value: s.in_process.peer.latency.p99 / 1000 });
  if (s.servers !== null) {
    const g = "tollgate serve, decisions/s";
    values.push({ group: g, engine: "Tollgate, no counters", value: total(s.servers.stateless) });
    values.push({ group: g, engine: "Tollgate, 4 counters", value: total(s.servers.stateful) });
  }
  if (s.redis !== null) {
    const g = "Redis, 64 in flight, per s";
    values.push({ group: g, engine: "Tollgate, 4 counters", value: total(s.redis.tollgate) });
    values.push({ group: g, engine: "rate-limiter-flexible (limits only)", value: total(s.redis.peer) });
    for (const x of s.redis.serve) values.push({ group: "serve --state redis, decisions/s", engine: `${x.instances} instance${x.instances > 1 ? "s" : ""}`, value: x.decisions_per_s });
  }
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Tollgate counters (100 rules, 4 counters, 1,000 agents)", subtitle: `${s.date.slice(0, 10)}, ${s.cpus}; each panel has its own scale` },
    data: { values },
    facet: { column: { field: "group", type: "nominal", title: null, sort: [...new Set(values.map((v) => v.group))] } },
    spec: {
      width: 150,
      height: 200,
      encoding: {
        x: { field: "engine", type: "nominal", axis: null, sort: null },
        y: { field: "value", type: "quantitative", title: null },
      },
      layer: [
        { mark: "bar", encoding: { color: { field: "engine", type: "nominal", title: null } } },
        { mark: { type: "text", dy: -5, fontSize: 10 }, encoding: { text: { field: "value", type: "quantitative", format: ",.3~r" } } },
      ],
    },
    resolve: { scale: { y: "independent", x: "independent" } },
    config: { legend: { orient: "bottom", labelLimit: 400 } },
  };
  return svgOf(spec);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const load0 = loadavg()[0]!;
  const in_process = await inProcess();
  const srv = opts["skip-server"] ? null : await servers();
  const redis = opts["skip-redis"] ? null : await redisPart();
  const base: Omit<Summary, "targets"> = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? "?"}`,
    load_average_before: load0,
    load_average_after: loadavg()[0]!,
    seconds: (performance.now() - t0) / 1000,
    workload: { policy: "bench/policies/generated-100.yaml", counters: COUNTERS_YAML, rules: COUNTER_RULES_YAML, agents: AGENTS, sessions: AGENTS * SESSIONS_PER_AGENT, limits: LIMITS, ms_per_decision: 1 },
    in_process,
    servers: srv,
    redis,
  };
  const summary: Summary = { ...base, targets: targets(base) };
  mkdirSync(opts.out!, { recursive: true });
  writeFileSync(join(opts.out!, "counters-latest.json"), JSON.stringify(summary, null, 2) + "\n");
  const md = markdown(summary);
  writeFileSync(join(opts.out!, "counters-latest.md"), md);
  writeFileSync(join(opts.out!, "counters-latest.svg"), await chart(summary));
  console.log(md);
  const failed = (srv?.stateless ?? []).concat(srv?.stateful ?? [], redis?.serve ?? []).some((r) => r.errors + r.non2xx > 0);
  const inexact = (redis?.exactness ?? []).some((e) => e.who.startsWith("Tollgate") && (e.allowed !== e.limit || e.counted !== e.limit));
  if (failed) console.error("some requests failed");
  if (inexact) console.error("Tollgate's exactness test did not give exactly the limit");
  if (failed || inexact) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
