// Load benchmark of the control plane (`npm run bench:server`): the server runs as a child
// process on loopback (audit on, approvals on), autocannon drives it from this process.
//
// Scenarios (each bounded in time):
//   decide @ 10,000 keep-alive connections (agent sessions), with 10 policy reloads during it
//   batch  @ 10,000 connections (BATCH actions per request)
//   decide @ 64 and @ 256 connections, batch @ 64 (latency with fewer sessions)
// Then: SIGTERM, `tollgate audit verify`, and the record count compared with the decisions answered.
//
// Then the ceiling peers (bench/server-ceiling.ts), one after the other, once the Tollgate server
// has stopped: the same routes served by the same HTTP stack with nothing behind it (no auth,
// engine or audit; a constant decision-like answer per action), with fastify configured as the
// server's and with plain node:http, on the same number of cluster workers. They run decide @
// 10,000 (without reloads; not with --quick), decide @ 64 and @ 256 and batch @ 64 with the same
// requests and autocannon settings: what the machine allows the HTTP stack alone, next to Tollgate.
//
// Each scenario runs a fixed number of requests (autocannon `amount`, sized from a short
// calibration run) rather than a fixed duration: a duration-bounded run abandons its in-flight
// requests at the end, which the server still decides and audits, and the record count could
// then not equal the decisions answered.
//
// Then the open loop (bench/server-open-loop.ts, bench/open-loop.ts): a fresh server per policy —
// the stateless benchmark policy, the same with 4 counters (bench/counters-workload.ts) and the
// 10,000-rule policy — offered 50% of fastify alone's decide @ BIG rate at constant intervals
// over BIG connections, latency counted from each request's scheduled time, with every GC pause
// and the event-loop delay of the primary and the workers recorded (src/server/pauses.ts). And a
// table of issue 19's targets, each with its ceiling and ratio from this run.
//
// Options: --quick (short scenarios), --workers N (default 2), --connections N (default 10000),
// --batch N (actions per batch request, default 100), --policy FILE, --actions FILE, --cli FILE
// (the tollgate CLI to start, default bin/tollgate.js), --out DIR, --skip-ceiling (no ceiling
// peers), --open-rate N (the open loop's offered rate; default 50% of fastify alone's decide @ BIG,
// else of @ 256), --open-seconds N (default 20), --skip-open-loop. Writes
// <out>/server-latest.{json,md,svg}.

import { spawnSync } from "node:child_process";
import { hash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import * as hdr from "hdr-histogram-js";
import type { TopLevelSpec } from "vega-lite";
import { svgOf } from "./chart.js";
import { repoRoot } from "./paths.js";
import { startListening } from "../test/support/server-child.js";
import { withCounters } from "./counters-workload.js";
import { openLoopRun } from "./server-open-loop.js";
import type { OpenLoopRun } from "./server-open-loop.js";
import type { Exit, ListeningChild } from "../test/support/server-child.js";

const root = repoRoot();
const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    workers: { type: "string", default: "2" },
    connections: { type: "string", default: "10000" },
    policy: { type: "string", default: join(root, "bench/policies/generated-100.yaml") },
    actions: { type: "string", default: join(root, "bench/policies/generated-100.actions.jsonl") },
    batch: { type: "string", default: "100" },
    out: { type: "string", default: join(root, "bench/results") },
    cli: { type: "string", default: join(root, "bin/tollgate.js") },
    "skip-ceiling": { type: "boolean", default: false },
    "open-rate": { type: "string" },
    "open-seconds": { type: "string" },
    "skip-open-loop": { type: "boolean", default: false },
  },
});
const QUICK = opts.quick === true;
const BIG = Number(opts.connections);
const BATCH = Number(opts.batch);
const SECONDS = QUICK ? 4 : 15;
const LOW_SECONDS = QUICK ? 3 : 6;
/** The 10,000-connection decide run is longer: ten reloads (each compiling the policy in every worker) must fit in it. */
const RELOAD_SECONDS = QUICK ? 6 : 20;
const AGENTS = 32;
/** Largest batch the servers accept (Tollgate's --max-batch, the ceilings' too). */
const MAX_BATCH = Math.max(BATCH, 10_000);

interface Scenario {
  name: string;
  endpoint: "/v1/decide" | "/v1/decide/batch";
  connections: number;
  seconds: number;
  reloads: number;
  /** Actions per batch request. */
  batch?: number;
  /** Requests per connection at least (amortizes connection setup). */
  perConnection: number;
}

interface Result {
  scenario: string;
  endpoint: string;
  connections: number;
  batch: number;
  requests: number;
  decisions: number;
  seconds: number;
  decisions_per_s: number;
  requests_per_s: number;
  latency_ms: { p50: number; p90: number; p99: number; p99_9: number; max: number; mean: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  reloads: number;
  reload_failures: number;
  reload_ms: number[];
  client_cpu_pct: number;
}

// --- workload ----------------------------------------------------------------------------------

const actionLines = readFileSync(opts.actions!, "utf8").split("\n").filter((l) => l.trim() !== "");
const extra = readFileSync(join(root, "examples/actions.jsonl"), "utf8").split("\n").filter((l) => l.trim() !== "");
const actions = actionLines.map((l) => JSON.parse(l) as Record<string, unknown>);
{
  // The example actions too (decided by the default rule of a generated policy, mostly).
  for (const l of extra) {
    try {
      const a = JSON.parse(l) as unknown;
      if (a !== null && typeof a === "object" && !Array.isArray(a)) actions.push(a as Record<string, unknown>);
    } catch {
      // the file has a deliberately malformed line (for `tollgate eval`); the API would answer 400
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), "tollgate-bench-server-"));
const auditDir = join(dir, "audit");
const tokens: string[] = [];
let tokensYaml = "tokens:\n";
for (let i = 0; i < AGENTS; i++) {
  const t = `bench-agent-${i}-${Math.random().toString(36).slice(2)}`;
  tokens.push(t);
  tokensYaml += `  ${hash("sha256", t, "hex")}: { identity: agent-${i}, role: agent }\n`;
}
const adminToken = `bench-admin-${Math.random().toString(36).slice(2)}`;
tokensYaml += `  ${hash("sha256", adminToken, "hex")}: { identity: bench-admin, role: admin }\n`;
writeFileSync(join(dir, "tokens.yaml"), tokensYaml);
const policyText = readFileSync(opts.policy!, "utf8");
const policyFile = join(dir, "policy.yaml");
writeFileSync(policyFile, policyText);

/**
 * autocannon requests. autocannon renders every listed request once per connection, so at
 * 10,000 connections the decide list is short (16 distinct actions × agents); batch bodies are
 * large, so there is one entry whose setupRequest picks a body from a shared pool instead.
 */
function requestList(endpoint: Scenario["endpoint"], batchSize = BATCH): autocannon.Request[] {
  if (endpoint === "/v1/decide") {
    return Array.from({ length: 16 }, (_, i) => ({
      method: "POST" as const,
      path: endpoint,
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens[i % tokens.length]}` },
      body: JSON.stringify({ action: actions[(i * 61) % actions.length] }),
    }));
  }
  let k = 0;
  const bodies = Array.from({ length: 64 }, () => JSON.stringify({ actions: Array.from({ length: batchSize }, () => actions[k++ % actions.length]) }));
  let next = 0;
  return [{
    method: "POST",
    path: endpoint,
    headers: { "content-type": "application/json", authorization: `Bearer ${tokens[0]}` },
    setupRequest: (req: autocannon.Request) => {
      const n = next++;
      return { ...req, body: bodies[n % bodies.length]!, headers: { ...req.headers, authorization: `Bearer ${tokens[n % tokens.length]}` } };
    },
  }];
}

// --- the server ---------------------------------------------------------------------------------

function startServer(): Promise<ListeningChild> {
  return startListening([opts.cli!, "serve", "--policy", policyFile, "--audit-dir", auditDir, "--tokens", join(dir, "tokens.yaml"), "--port", "0", "--workers", opts.workers!, "--log-level", "warn", "--no-watch", "--max-batch", String(MAX_BATCH)]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  ok: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  seconds: number;
  latency: { p50: number; p90: number; p99: number; p99_9: number; max: number; mean: number };
}

/** Connections are opened in groups of this many, RAMP_MS apart (see runRamped). */
const GROUP = 1000;
const RAMP_MS = 250;

/**
 * `amount` requests over `connections` keep-alive connections. Above GROUP connections, the
 * connections are opened in groups RAMP_MS apart (several autocannon instances in this
 * process): 10,000 connects in the same millisecond overflow the kernel's accept queue
 * (somaxconn 4096 here; TcpExtListenOverflows), and the dropped SYNs are retried after 1, 3,
 * 7, 15, 31 s, which measures the kernel's SYN back-off rather than the server. Latencies of
 * all instances go into one HDR histogram (µs).
 */
async function runRamped(o: autocannon.Options, amount: number): Promise<Run> {
  const conns = o.connections ?? 1;
  const groups = Math.max(1, Math.ceil(conns / GROUP));
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  const share = (x: number, g: number) => Math.floor(x / groups) + (g < x % groups ? 1 : 0);
  const t0 = performance.now();
  const runs: Promise<autocannon.Result>[] = [];
  for (let g = 0; g < groups; g++) {
    runs.push(new Promise((resolve, reject) => {
      const inst = autocannon({ ...o, connections: share(conns, g), amount: share(amount, g) }, (err, res) => (err ? reject(err) : resolve(res)));
      inst.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
        if (status >= 200 && status < 300) h.recordValue(Math.max(1, Math.round(ms * 1000)));
      });
    }));
    if (g + 1 < groups) await sleep(RAMP_MS);
  }
  const rs = await Promise.all(runs);
  const seconds = (performance.now() - t0) / 1000;
  const ms = (p: number) => Math.round(h.getValueAtPercentile(p) / 10) / 100;
  const out: Run = {
    ok: rs.reduce((a, r) => a + r["2xx"], 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    timeouts: rs.reduce((a, r) => a + r.timeouts, 0),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
    seconds,
    latency: { p50: ms(50), p90: ms(90), p99: ms(99), p99_9: ms(99.9), max: Math.round(h.maxValue / 10) / 100, mean: Math.round(h.mean / 10) / 100 },
  };
  h.destroy();
  return out;
}

const RELOAD_PAUSE_MS = 300;

async function reloadLoop(url: string, count: number, startMs: number, stop: () => boolean, tag = "run"): Promise<{ ms: number[]; failures: number }> {
  const ms: number[] = [];
  let failures = 0;
  await sleep(startMs);
  for (let i = 1; i <= count && !stop(); i++) {
    if (i > 1) await sleep(RELOAD_PAUSE_MS);
    const text = policyText.replace(/^description: .*$/m, `description: bench reload ${tag} ${i} ${Date.now()}`);
    const t0 = performance.now();
    try {
      const r = await fetch(`${url}/v1/policy`, { method: "PUT", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/yaml" }, body: text });
      const body = (await r.json()) as { changed?: boolean };
      if (r.status !== 200 || body.changed !== true) failures++;
    } catch {
      failures++;
    }
    ms.push(performance.now() - t0);
  }
  return { ms, failures };
}

/** Requests answered and failed outside the measured runs (warm-up, calibration). */
interface Tally {
  decisions: number;
  failures: number;
}

async function scenario(url: string, s: Scenario, tally: Tally, label = ""): Promise<Result> {
  const batch = s.endpoint === "/v1/decide" ? 1 : s.batch ?? BATCH;
  const requests = requestList(s.endpoint, batch);
  const base: autocannon.Options = { url, connections: s.connections, pipelining: 1, requests, timeout: 60, workers: 0 } as autocannon.Options;
  // Calibration: the rate with this many connections, to size the measured run; with reloads,
  // also how long one reload takes under this load (it is not counted among the run's reloads).
  const rampMs = Math.ceil(s.connections / GROUP) * RAMP_MS;
  const calibReload = s.reloads > 0 ? reloadLoop(url, 1, rampMs, () => false, "calibration") : null;
  const calib = await runRamped(base, s.endpoint === "/v1/decide" ? Math.max(s.connections * 2, 20_000) : Math.max(s.connections, 1_000));
  // With reloads to fit in, the rate is taken after the ramp (connections opening): erring high
  // makes the run longer, never too short for its reloads.
  const rate = calib.ok / Math.max(0.5, calib.seconds - (s.reloads > 0 ? rampMs / 1000 : 0));
  tally.decisions += calib.ok * batch;
  tally.failures += calib.errors + calib.timeouts + calib.non2xx;
  const calibrated = calibReload === null ? { ms: [], failures: 0 } : await calibReload;
  const reloadEstimateMs = calibReload === null ? 0 : Math.max(...calibrated.ms, 500);
  tally.failures += calibrated.failures;
  // Long enough for every reload to happen during the run (twice the calibration's reload
  // time each, plus the pauses, after the connections are open), and at least
  // `perConnection` requests per connection, so that the sessions, not their connection
  // set-up, dominate the run.
  const seconds = Math.max(s.seconds, (rampMs + s.reloads * (2 * reloadEstimateMs + RELOAD_PAUSE_MS)) / 1000);
  const amount = Math.max(s.connections * s.perConnection, Math.round(rate * seconds));
  let done = false;
  // Reloads start once the connections are open and follow each other with a short pause
  // (each takes about a second here: the primary and then every worker compile the policy).
  const reloads = s.reloads > 0 ? reloadLoop(url, s.reloads, rampMs, () => done) : Promise.resolve({ ms: [], failures: 0 });
  const cpu0 = process.cpuUsage();
  const r = await runRamped(base, amount);
  const cpu = process.cpuUsage(cpu0);
  done = true;
  const rl = await reloads;
  const decisions = r.ok * batch;
  const res: Result = {
    scenario: s.name,
    endpoint: s.endpoint,
    connections: s.connections,
    batch,
    requests: r.ok,
    decisions,
    seconds: Math.round(r.seconds * 100) / 100,
    decisions_per_s: Math.round(decisions / r.seconds),
    requests_per_s: Math.round(r.ok / r.seconds),
    latency_ms: r.latency,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    reloads: rl.ms.length - rl.failures,
    reload_failures: rl.failures,
    reload_ms: rl.ms.map((x) => Math.round(x)),
    client_cpu_pct: Math.round(((cpu.user + cpu.system) / 1e6 / r.seconds) * 100),
  };
  console.error(`${label}${s.name}: ${res.decisions_per_s} decisions/s, p50 ${res.latency_ms.p50} ms, p99 ${res.latency_ms.p99} ms, p99.9 ${res.latency_ms.p99_9} ms; errors ${res.errors + res.timeouts + res.non2xx}; reloads ${res.reloads}/${s.reloads}`);
  return res;
}

// --- the ceiling peers ---------------------------------------------------------------------------

const CEILINGS = [
  { stack: "fastify", label: "fastify alone" },
  { stack: "node-http", label: "node:http alone" },
] as const;
/** bench/server-ceiling.ts, compiled next to this file. */
const ceilingProgram = fileURLToPath(new URL("./server-ceiling.js", import.meta.url));

interface CeilingRun {
  stack: string;
  label: string;
  /** fastify's version, or node's for node:http. */
  version: string;
  results: Result[];
  failed_requests: number;
  exit_code: number | null;
  exited_early: boolean;
}

/** One request to each route: a ceiling that answers something else would measure nothing. */
async function checkCeiling(url: string): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as { decision?: unknown; decisions?: unknown[] } };
  };
  const one = await post("/v1/decide", { action: actions[0] });
  const many = await post("/v1/decide/batch", { actions: actions.slice(0, 3) });
  if (one.status !== 200 || typeof one.body.decision !== "string" || many.status !== 200 || many.body.decisions?.length !== 3) {
    throw new Error(`ceiling on ${url} answers wrongly: ${JSON.stringify([one, many]).slice(0, 300)}`);
  }
}

async function runCeiling(c: (typeof CEILINGS)[number], scenarios: Scenario[]): Promise<CeilingRun> {
  const child = await startListening([ceilingProgram, "--stack", c.stack, "--workers", opts.workers!, "--port", "0", "--max-batch", String(MAX_BATCH), "--log-level", "warn"]);
  console.error(`ceiling ${c.label} (${String(child.info.version)}) on ${child.url} (workers ${opts.workers})`);
  const tally: Tally = { decisions: 0, failures: 0 };
  const results: Result[] = [];
  let exit: Exit = { code: null, signal: null };
  let early = false;
  try {
    await checkCeiling(child.url);
    // The same warm-up as the Tollgate server's.
    const warm = await runRamped({ url: child.url, connections: 64, requests: requestList("/v1/decide"), timeout: 60 }, 20_000);
    tally.failures += warm.errors + warm.timeouts + warm.non2xx;
    for (const s of scenarios) results.push(await scenario(child.url, s, tally, `[${c.label}] `));
  } finally {
    early = child.exitedEarly();
    exit = await child.stop();
    if (early) console.error(`ceiling ${c.label} exited during the run (code ${exit.code}, signal ${exit.signal})`);
  }
  return {
    stack: c.stack,
    label: c.label,
    version: String(child.info.version),
    results,
    failed_requests: tally.failures + results.reduce((a, r) => a + r.errors + r.timeouts + r.non2xx, 0),
    exit_code: exit.code,
    exited_early: early,
  };
}

interface Share {
  scenario: string;
  tollgate_decisions_per_s: number;
  /** Per ceiling stack: its decisions/s and Tollgate's as a % of it. */
  ceilings: { stack: string; decisions_per_s: number; tollgate_pct: number; p99_ms: number }[];
  tollgate_p99_ms: number;
}

function shares(results: Result[], runs: CeilingRun[]): Share[] {
  const out: Share[] = [];
  for (const r of results) {
    const ceilings = runs.flatMap((run) => run.results.filter((x) => x.scenario === r.scenario).map((x) => ({
      stack: run.stack,
      decisions_per_s: x.decisions_per_s,
      tollgate_pct: x.decisions_per_s > 0 ? Math.round((1000 * r.decisions_per_s) / x.decisions_per_s) / 10 : 0,
      p99_ms: x.latency_ms.p99,
    })));
    if (ceilings.length > 0) out.push({ scenario: r.scenario, tollgate_decisions_per_s: r.decisions_per_s, tollgate_p99_ms: r.latency_ms.p99, ceilings });
  }
  return out;
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const load0 = loadavg()[0]!;
  const server = await startServer();
  console.error(`server on ${server.url} (workers ${opts.workers}); audit in ${auditDir}`);
  const tally: Tally = { decisions: 0, failures: 0 };
  // Warm-up (JIT, connections) — counted in the audit comparison like every other decision.
  const warm = await runRamped({ url: server.url, connections: 64, requests: requestList("/v1/decide"), timeout: 60 }, 20_000);
  tally.decisions += warm.ok;
  tally.failures += warm.errors + warm.timeouts + warm.non2xx;

  const SMALL = Math.max(1, Math.round(BATCH / 10));
  const bigDecide: Scenario = { name: `decide @ ${BIG} connections`, endpoint: "/v1/decide", connections: BIG, seconds: RELOAD_SECONDS, reloads: 10, perConnection: QUICK ? 2 : 12 };
  const low: Scenario[] = [
    { name: "decide @ 64 connections", endpoint: "/v1/decide", connections: 64, seconds: LOW_SECONDS, reloads: 0, perConnection: 1 },
    { name: "decide @ 256 connections", endpoint: "/v1/decide", connections: 256, seconds: LOW_SECONDS, reloads: 0, perConnection: 1 },
    { name: `batch(${BATCH}) @ 64 connections`, endpoint: "/v1/decide/batch", connections: 64, seconds: LOW_SECONDS, reloads: 0, batch: BATCH, perConnection: 1 },
  ];
  const scenarios: Scenario[] = [
    bigDecide,
    { name: `batch(${SMALL}) @ ${BIG} connections`, endpoint: "/v1/decide/batch", connections: BIG, seconds: SECONDS, reloads: 0, batch: SMALL, perConnection: 2 },
    ...low,
  ];
  const results: Result[] = [];
  for (const s of scenarios) results.push(await scenario(server.url, s, tally));

  // Shut down (SIGTERM drains and closes the log), then verify the chain and count the records.
  const early = server.exitedEarly();
  const { code, signal } = await server.stop();
  if (early) console.error(`the server exited during the run (code ${code}, signal ${signal})`);
  const verify = spawnSync(process.execPath, [opts.cli!, "audit", "verify", auditDir], { encoding: "utf8" });
  const m = /ok: (\d+) records/.exec(verify.stdout);
  const records = m ? Number(m[1]) : -1;
  const answered = tally.decisions + results.reduce((a, r) => a + r.decisions, 0);
  const failed = tally.failures + results.reduce((a, r) => a + r.errors + r.timeouts + r.non2xx + r.reload_failures, 0);
  const load1 = loadavg()[0]!;

  // The ceiling peers, once the server (and the verifier) have stopped. Decide @ BIG without
  // reloads (nothing to reload), hence for SECONDS rather than RELOAD_SECONDS; not with --quick,
  // where it would add half a minute.
  let ceiling: Summary["ceiling"] = null;
  if (!opts["skip-ceiling"]) {
    const ceilingScenarios: Scenario[] = QUICK ? low : [{ ...bigDecide, reloads: 0, seconds: SECONDS }, ...low];
    const runs: CeilingRun[] = [];
    for (const c of CEILINGS) runs.push(await runCeiling(c, ceilingScenarios));
    ceiling = {
      program: "bench/server-ceiling.ts",
      what: "the same routes on the same HTTP stack and cluster layout, answering a constant decision-like JSON per action: no auth, no engine, no audit",
      load_average_before: load1,
      load_average_after: loadavg()[0]!,
      runs,
      tollgate_share: shares(results, runs),
      failed_requests: runs.reduce((a, r) => a + r.failed_requests, 0),
    };
  }

  // The open loop, once everything else has stopped: a fresh server per policy.
  const openLoop: OpenLoopRun[] = [];
  let openRate = opts["open-rate"] === undefined ? 0 : Number(opts["open-rate"]);
  let openRateFrom = "--open-rate";
  if (openRate <= 0 && ceiling !== null) {
    const fastify = ceiling.runs.find((r) => r.stack === "fastify");
    const ref = fastify?.results.find((r) => r.scenario === bigDecide.name) ?? fastify?.results.find((r) => r.scenario === "decide @ 256 connections");
    if (ref) {
      openRate = Math.round(ref.requests_per_s / 2);
      openRateFrom = `50% of fastify alone's ${n(ref.requests_per_s)} requests/s (${ref.scenario})`;
    }
  }
  if (!opts["skip-open-loop"] && openRate > 0) {
    const statefulFile = join(dir, "policy-counters.yaml");
    writeFileSync(statefulFile, withCounters(policyText));
    const bigFile = join(root, "bench/policies/generated-10000.yaml");
    const policies = [
      { label: "stateless", file: policyFile, name: opts.policy!.slice(root.length + 1), actions: opts.actions! },
      { label: "4 counters", file: statefulFile, name: `${opts.policy!.slice(root.length + 1)} + 4 counters (bench/counters-workload.ts)`, actions: opts.actions! },
      { label: "10,000 rules", file: bigFile, name: "bench/policies/generated-10000.yaml", actions: join(root, "bench/policies/generated-10000.actions.jsonl") },
    ];
    for (const p of policies) {
      openLoop.push(await openLoopRun({
        cli: opts.cli!, label: p.label, policyFile: p.file, policyName: p.name, tokensFile: join(dir, "tokens.yaml"), tokens, actionsFile: p.actions,
        workers: opts.workers!, maxBatch: MAX_BATCH, rate: openRate, connections: BIG, seconds: Number(opts["open-seconds"] ?? (QUICK ? 6 : 20)),
      }));
    }
  }

  const summary: Summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? "?"}`,
    load_average_before: load0,
    load_average_after: load1,
    workers: Number(opts.workers),
    policy: opts.policy!.slice(root.length + 1),
    actions: opts.actions!.slice(root.length + 1),
    agents: AGENTS,
    results,
    server_exit_code: code,
    server_exited_early: early,
    audit_verify: verify.status === 0 ? verify.stdout.trim() : `FAILED: ${verify.stderr.trim()}`,
    audit_records: records,
    decisions_answered: answered,
    records_equal_answered: records === answered,
    failed_requests: failed,
    ceiling,
    open_loop: openLoop.length === 0 ? null : { rate: openRate, rate_from: openRateFrom, connections: BIG, runs: openLoop, load_average_after: loadavg()[0]! },
  };
  summary.targets = targets(summary);
  mkdirSync(opts.out!, { recursive: true });
  writeFileSync(join(opts.out!, "server-latest.json"), JSON.stringify(summary, null, 2) + "\n");
  writeFileSync(join(opts.out!, "server-latest.md"), markdown(summary));
  writeFileSync(join(opts.out!, "server-latest.svg"), await chartSvg(summary));
  console.log(markdown(summary));
  rmSync(dir, { recursive: true, force: true });
  const ceilingBad = ceiling !== null && ceiling.runs.some((r) => r.failed_requests > 0 || r.exited_early || r.exit_code !== 0);
  // A run that ended before all its reloads happened did not test what it claims.
  const missingReloads = scenarios.reduce((a, sc, i) => a + Math.max(0, sc.reloads - results[i]!.reloads - results[i]!.reload_failures), 0);
  if (missingReloads > 0) console.error(`${missingReloads} policy reload(s) did not happen during their run`);
  const openBad = openLoop.some((r) => r.result.failed > 0 || r.server_exit_code !== 0);
  if (!summary.records_equal_answered || verify.status !== 0 || failed > 0 || early || ceilingBad || missingReloads > 0 || openBad) process.exitCode = 1;
}

interface Summary {
  date: string;
  node: string;
  cpus: string;
  load_average_before: number;
  load_average_after: number;
  workers: number;
  policy: string;
  actions: string;
  agents: number;
  results: Result[];
  server_exit_code: number | null;
  server_exited_early: boolean;
  audit_verify: string;
  audit_records: number;
  decisions_answered: number;
  records_equal_answered: boolean;
  failed_requests: number;
  ceiling: {
    program: string;
    what: string;
    load_average_before: number;
    load_average_after: number;
    runs: CeilingRun[];
    tollgate_share: Share[];
    failed_requests: number;
  } | null;
  open_loop: { rate: number; rate_from: string; connections: number; runs: OpenLoopRun[]; load_average_after: number } | null;
  targets?: Target[];
}

/** One target of issue 19, measured in this run. */
interface Target {
  what: string;
  target: string;
  measured: string;
  met: boolean | null;
}

/** Issue 19's targets, each against its ceiling from this run (null: not measured in this run). */
function targets(s: Summary): Target[] {
  const out: Target[] = [];
  const fastify = s.ceiling?.runs.find((r) => r.stack === "fastify");
  const pct = (a: number, b: number) => (b > 0 ? Math.round((1000 * a) / b) / 10 : 0);
  for (const name of ["decide @ 64 connections", "decide @ 256 connections"]) {
    const t = s.results.find((r) => r.scenario === name);
    const f = fastify?.results.find((r) => r.scenario === name);
    if (!t || !f) continue;
    out.push({ what: `/v1/decide ${name.slice(9)}: requests/s vs fastify alone`, target: ">= 85%", measured: `${n(t.requests_per_s)} vs ${n(f.requests_per_s)} = ${pct(t.requests_per_s, f.requests_per_s)}%`, met: t.requests_per_s >= 0.85 * f.requests_per_s });
    out.push({ what: `/v1/decide ${name.slice(9)}: p99 vs fastify alone's`, target: "<= 2x", measured: `${t.latency_ms.p99} vs ${f.latency_ms.p99} ms = ${(t.latency_ms.p99 / f.latency_ms.p99).toFixed(2)}x`, met: t.latency_ms.p99 <= 2 * f.latency_ms.p99 });
  }
  const batch = s.results.find((r) => r.scenario === `batch(${BATCH}) @ 64 connections`);
  const fb = fastify?.results.find((r) => r.scenario === `batch(${BATCH}) @ 64 connections`);
  if (batch && fb) out.push({ what: `/v1/decide/batch (${BATCH}/request) @ 64: decisions/s vs fastify alone`, target: ">= 60%", measured: `${n(batch.decisions_per_s)} vs ${n(fb.decisions_per_s)} = ${pct(batch.decisions_per_s, fb.decisions_per_s)}%`, met: batch.decisions_per_s >= 0.6 * fb.decisions_per_s });
  for (const r of s.open_loop?.runs ?? []) {
    const l = r.result.latency_ms;
    out.push({ what: `open loop, ${r.label}: p99 / p99.9 per decision, failed`, target: "<= 5 ms / <= 20 ms, 0", measured: `${l.p99} / ${l.p99_9} ms, ${r.result.failed}`, met: l.p99 <= 5 && l.p99_9 <= 20 && r.result.failed === 0 });
    out.push({ what: `open loop, ${r.label}: longest GC pause; event-loop delay p99.9 (any process)`, target: "<= 5 ms; <= 10 ms", measured: `${r.pauses.gc_max_ms} ms; ${r.pauses.eld_p999_ms} ms`, met: r.pauses.gc_max_ms <= 5 && r.pauses.eld_p999_ms <= 10 });
  }
  return out;
}

const n = (x: number) => x.toLocaleString("en-US");
const endpointCell = (r: Result) => `${r.endpoint}${r.batch > 1 ? ` (${r.batch}/req)` : ""}`;
const latencyCells = (r: Result) => `${r.latency_ms.p50} | ${r.latency_ms.p99} | ${r.latency_ms.p99_9} | ${r.latency_ms.max}`;

function markdown(s: Summary): string {
  const rows = s.results.map((r) =>
    `| ${endpointCell(r)} | ${r.connections} | ${n(r.decisions_per_s)} | ${n(r.requests_per_s)} | ${latencyCells(r)} | ${r.errors + r.timeouts + r.non2xx} | ${r.reloads > 0 || r.reload_failures > 0 ? `${r.reloads} ok, ${r.reload_failures} failed` : "-"} | ${r.client_cpu_pct}% |`,
  );
  return `# Tollgate control plane benchmark

${s.date} — node ${s.node}, ${s.cpus}, ${s.workers} workers + primary, load generator (autocannon) in the same machine; load average ${s.load_average_before.toFixed(2)} before, ${s.load_average_after.toFixed(2)} after.
Policy \`${s.policy}\`, actions \`${s.actions}\` (+ examples/actions.jsonl), audit on (fdatasync before each answer), approvals on (SQLite).
${targetsMarkdown(s)}
| endpoint | connections | decisions/s | requests/s | p50 ms | p99 ms | p99.9 ms | max ms | failed | reloads | client CPU |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}

- Latency is per HTTP request (a batch request carries many decisions), from autocannon's response events into one HDR histogram; above 1,000 connections they are opened in groups of 1,000, 250 ms apart (10,000 connects at once overflow the kernel's accept queue, somaxconn 4096, and the dropped SYNs are retried after 1, 3, 7, 15, 31 s). Each run is a fixed number of requests sized from a calibration run (so no request is abandoned and the audit count can be compared exactly).
- Server exit after SIGTERM: ${s.server_exit_code}${s.server_exited_early ? " (it had exited DURING the run)" : ""}. Audit verify: ${s.audit_verify}.
- Audit records ${n(s.audit_records)} vs decisions answered ${n(s.decisions_answered)} (incl. warm-up and calibration runs): ${s.records_equal_answered ? "equal" : "DIFFERENT"}.
- Failed requests (errors, timeouts, non-2xx, failed reloads): ${s.failed_requests}.
${s.ceiling === null ? "" : ceilingMarkdown(s, s.ceiling)}${s.open_loop === null ? "" : openLoopMarkdown(s.open_loop)}`;
}

function targetsMarkdown(s: Summary): string {
  if (!s.targets || s.targets.length === 0) return "";
  return `
## Targets (issue 19), from this run

| what | target | measured | met |
|---|---|---|---|
${s.targets.map((t) => `| ${t.what} | ${t.target} | ${t.measured} | ${t.met === null ? "-" : t.met ? "yes" : "**no**"} |`).join("\n")}
`;
}

function openLoopMarkdown(o: NonNullable<Summary["open_loop"]>): string {
  const rows = o.runs.map((r) => {
    const l = r.result.latency_ms;
    return `| ${r.label} | ${n(r.result.offered_per_s)} | ${n(r.result.ok)} | ${r.result.failed} | ${l.p50} | ${l.p90} | ${l.p99} | ${l.p99_9} | ${l.max} | ${r.pauses.gc_max_ms} | ${r.pauses.gc_pauses} | ${r.pauses.eld_p999_ms} | ${r.pauses.eld_max_ms} | ${r.result.max_send_lag_ms} | ${r.result.client_cpu_pct}% |`;
  });
  const procs = o.runs.map((r) => `- ${r.label} (\`${r.policy}\`): ${r.pauses.processes.map((p) => `${p.role} ${p.gc_pauses} GC pauses, longest ${p.gc_max_ms} ms, ${p.gc_total_ms} ms in all, event-loop delay up to ${p.eld_max_ms} ms`).join("; ")}.`);
  return `
## Open loop: ${n(o.connections)} connections at a constant ${n(o.rate)} decisions/s

Offered rate: ${o.rate_from}. \`bench/open-loop.ts\` (its own process, undici, one keep-alive connection per agent session, opened in groups of 1,000) sends request *i* at start + *i* / rate whatever the answers, and counts each latency from that scheduled time (no coordinated omission). A fresh \`tollgate serve\` per policy (same workers, audit durable, approvals on), with \`TOLLGATE_PAUSE_LOG\` (src/server/pauses.ts): every GC pause (perf_hooks) and each second's event-loop delay (monitorEventLoopDelay, 1 ms resolution) of the primary and the workers, taken inside the generator's window. Load average after: ${o.load_average_after.toFixed(2)}.

| policy | offered /s | answered | failed | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | longest GC ms | GC pauses | event-loop delay p99.9 ms | max ms | generator lag ms | generator CPU |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}

- Event-loop delay p99.9 is the largest per-second p99.9 of any process (per-second histograms cannot be merged exactly: an upper bound); "generator lag" is how far the sender fell behind its own schedule at worst (a busy generator delays requests, and that delay is counted in their latency).
${procs.join("\n")}
`;
}

function ceilingMarkdown(s: Summary, c: NonNullable<Summary["ceiling"]>): string {
  const rows: string[] = [];
  for (const share of c.tollgate_share) {
    const t = s.results.find((r) => r.scenario === share.scenario)!;
    rows.push(`| ${endpointCell(t)} | ${t.connections} | **Tollgate** | ${n(t.decisions_per_s)} | ${n(t.requests_per_s)} | ${latencyCells(t)} | ${t.errors + t.timeouts + t.non2xx} | ${t.client_cpu_pct}% | |`);
    for (const run of c.runs) {
      const r = run.results.find((x) => x.scenario === share.scenario);
      const pct = share.ceilings.find((x) => x.stack === run.stack)?.tollgate_pct;
      if (r) rows.push(`| | | ${run.label} | ${n(r.decisions_per_s)} | ${n(r.requests_per_s)} | ${latencyCells(r)} | ${r.errors + r.timeouts + r.non2xx} | ${r.client_cpu_pct}% | ${pct}% |`);
    }
  }
  const fastify = c.runs.find((r) => r.stack === "fastify");
  const lines = c.tollgate_share.map((sh) => {
    const f = sh.ceilings.find((x) => x.stack === "fastify");
    const h = sh.ceilings.find((x) => x.stack === "node-http");
    const reloads = s.results.find((r) => r.scenario === sh.scenario)!.reloads;
    return `- ${sh.scenario}: **${f ? `${f.tollgate_pct}%` : "-"}** of fastify alone (${n(sh.tollgate_decisions_per_s)} vs ${f ? n(f.decisions_per_s) : "-"} decisions/s; p99 ${sh.tollgate_p99_ms} vs ${f?.p99_ms ?? "-"} ms)${h ? `, ${h.tollgate_pct}% of node:http alone (${n(h.decisions_per_s)}/s)` : ""}${reloads > 0 ? ` — Tollgate's run includes ${reloads} policy reloads, the ceilings' none` : ""}`;
  });
  return `
## HTTP stack alone (no engine, no audit)

The same scenarios, requests (bodies and headers) and autocannon settings against \`${c.program}\`: ${s.workers} cluster workers (SCHED_NONE, as the server) serving \`POST /v1/decide\` and \`POST /v1/decide/batch\` with a constant decision-like answer (~280 bytes per action, one per action of a batch): no auth, no engine, no audit, no primary in the path. ${c.runs.map((r) => `${r.label}: ${r.stack === "fastify" ? `fastify ${r.version} configured as the server's (same options, logger, bodyLimit and body schemas; fastify parses and validates the JSON)` : `plain node:http (${r.version}; reads the body, JSON.parse, checks its shape)`}`).join("; ")}. Run one after the other once the Tollgate server had stopped; load average ${c.load_average_before.toFixed(2)} before, ${c.load_average_after.toFixed(2)} after.

| endpoint | connections | server | decisions/s | requests/s | p50 ms | p99 ms | p99.9 ms | max ms | failed | client CPU | Tollgate as % of it |
|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}

Tollgate's decisions/s as a share of the ${fastify ? `fastify ${fastify.version}` : "fastify"} ceiling, per scenario:

${lines.join("\n")}

- Failed requests against the ceilings: ${c.failed_requests}${c.runs.some((r) => r.exited_early || r.exit_code !== 0) ? `; exits: ${c.runs.map((r) => `${r.label} ${r.exit_code}${r.exited_early ? " (DURING the run)" : ""}`).join(", ")}` : ""}.
`;
}

const STACK_ORDER = ["Tollgate", ...CEILINGS.map((c) => c.label)];
const METRICS = ["decisions/s", "p99 latency (ms)"];

/** Bars: decisions/s and p99 per scenario, Tollgate next to the ceilings (Tollgate alone without them). */
function chartSvg(s: Summary): Promise<string> {
  const named = s.ceiling === null ? s.results : s.results.filter((r) => s.ceiling!.tollgate_share.some((x) => x.scenario === r.scenario));
  const scenarioOrder = named.map((r) => r.scenario);
  const values: { scenario: string; server: string; metric: string; value: number }[] = [];
  const add = (server: string, r: Result) => {
    values.push({ scenario: r.scenario, server, metric: METRICS[0]!, value: r.decisions_per_s });
    values.push({ scenario: r.scenario, server, metric: METRICS[1]!, value: r.latency_ms.p99 });
  };
  for (const r of named) add("Tollgate", r);
  for (const run of s.ceiling?.runs ?? []) for (const r of run.results) if (scenarioOrder.includes(r.scenario)) add(run.label, r);
  const reloaded = s.ceiling === null ? [] : named.filter((r) => r.reloads > 0).map((r) => `${r.scenario}: Tollgate's run with ${r.reloads} policy reloads`);
  const color = { field: "server", type: "nominal" as const, title: null, sort: STACK_ORDER };
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: s.ceiling === null ? "Tollgate control plane" : "Tollgate control plane vs the HTTP stack alone (no engine, no audit)",
      subtitle: [`${s.date.slice(0, 10)}, ${s.workers} workers, ${s.cpus}, load generator on the same machine; each cell has its own scale`, ...reloaded],
    },
    data: { values },
    facet: {
      row: { field: "metric", type: "nominal", sort: METRICS, title: null },
      column: { field: "scenario", type: "nominal", sort: scenarioOrder, title: null },
    },
    spec: {
      width: 130,
      height: 170,
      encoding: {
        x: { field: "server", type: "nominal", sort: STACK_ORDER, axis: null },
        y: { field: "value", type: "quantitative", title: null },
      },
      layer: [
        { mark: "bar", encoding: { color } },
        { mark: { type: "text", dy: -5, fontSize: 10 }, encoding: { text: { field: "value", type: "quantitative", format: ",.4~r" } } },
      ],
    },
    resolve: { scale: { y: "independent" } },
    config: { legend: { orient: "bottom", labelLimit: 400 } },
  };
  return svgOf(spec);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
