// Load benchmark of the control plane (`npm run bench:server`): the server runs as a child
// process on loopback (audit on, approvals on), autocannon drives it from this process.
//
// Scenarios (each bounded in time):
//   decide @ 10,000 keep-alive connections (agent sessions), with 10 policy reloads during it
//   batch  @ 10,000 connections (BATCH actions per request)
//   decide @ 64 and @ 256 connections, batch @ 64 (latency with fewer sessions)
// Then: SIGTERM, `tollgate audit verify`, and the record count compared with the decisions answered.
//
// Each scenario runs a fixed number of requests (autocannon `amount`, sized from a short
// calibration run) rather than a fixed duration: a duration-bounded run abandons its in-flight
// requests at the end, which the server still decides and audits, and the record count could
// then not equal the decisions answered.
//
// Options: --quick (short scenarios), --workers N (default 2), --connections N (default 10000),
// --batch N (actions per batch request, default 100), --policy FILE, --actions FILE, --cli FILE
// (the tollgate CLI to start, default bin/tollgate.js), --out DIR.

import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { hash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import * as hdr from "hdr-histogram-js";
import { repoRoot } from "./paths.js";

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

function startServer(): Promise<{ proc: ChildProcess; port: number; url: string }> {
  const cli = opts.cli!;
  const proc = spawn(process.execPath, [cli, "serve", "--policy", policyFile, "--audit-dir", auditDir, "--tokens", join(dir, "tokens.yaml"), "--port", "0", "--workers", opts.workers!, "--log-level", "warn", "--no-watch", "--max-batch", String(Math.max(BATCH, 10_000))], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let buf = "";
    proc.stdout!.setEncoding("utf8");
    proc.stdout!.on("data", (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.msg === "listening" && j.port) resolve({ proc, port: j.port, url: `http://127.0.0.1:${j.port}` });
          else if ((j as { level?: number }).level! >= 40) process.stderr.write(line + "\n");
        } catch {
          process.stderr.write(line + "\n");
        }
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
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

async function reloadLoop(url: string, count: number, startMs: number, stop: () => boolean): Promise<{ ms: number[]; failures: number }> {
  const ms: number[] = [];
  let failures = 0;
  await sleep(startMs);
  for (let i = 1; i <= count && !stop(); i++) {
    if (i > 1) await sleep(300);
    const text = policyText.replace(/^description: .*$/m, `description: bench reload ${i} ${Date.now()}`);
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

async function scenario(url: string, s: Scenario): Promise<Result> {
  const batch = s.endpoint === "/v1/decide" ? 1 : s.batch ?? BATCH;
  const requests = requestList(s.endpoint, batch);
  const base: autocannon.Options = { url, connections: s.connections, pipelining: 1, requests, timeout: 60, workers: 0 } as autocannon.Options;
  // Calibration: the rate with this many connections, to size the measured run.
  const calib = await runRamped(base, s.endpoint === "/v1/decide" ? Math.max(s.connections * 2, 20_000) : Math.max(s.connections, 1_000));
  const rate = calib.ok / Math.max(0.5, calib.seconds);
  calibrated += calib.ok * batch;
  calibrationFailures += calib.errors + calib.timeouts + calib.non2xx;
  // At least `perConnection` requests per connection, so that the sessions, not their
  // connection set-up, dominate the run.
  const amount = Math.max(s.connections * s.perConnection, Math.round(rate * s.seconds));
  let done = false;
  // Reloads start once the connections are open and follow each other with a short pause
  // (each takes about a second here: the primary and then every worker compile the policy).
  const rampMs = Math.ceil(s.connections / GROUP) * RAMP_MS;
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
  console.error(`${s.name}: ${res.decisions_per_s} decisions/s, p50 ${res.latency_ms.p50} ms, p99 ${res.latency_ms.p99} ms, p99.9 ${res.latency_ms.p99_9} ms; errors ${res.errors + res.timeouts + res.non2xx}; reloads ${res.reloads}/${s.reloads}`);
  return res;
}

let calibrated = 0;
let calibrationFailures = 0;

async function main(): Promise<void> {
  const load0 = loadavg()[0]!;
  const server = await startServer();
  console.error(`server on ${server.url} (workers ${opts.workers}); audit in ${auditDir}`);
  // Warm-up (JIT, connections) — counted in the audit comparison like every other decision.
  const warm = await runRamped({ url: server.url, connections: 64, requests: requestList("/v1/decide"), timeout: 60 }, 20_000);
  calibrated += warm.ok;
  calibrationFailures += warm.errors + warm.timeouts + warm.non2xx;

  const SMALL = Math.max(1, Math.round(BATCH / 10));
  const scenarios: Scenario[] = [
    { name: `decide @ ${BIG} connections`, endpoint: "/v1/decide", connections: BIG, seconds: RELOAD_SECONDS, reloads: 10, perConnection: QUICK ? 2 : 12 },
    { name: `batch(${SMALL}) @ ${BIG} connections`, endpoint: "/v1/decide/batch", connections: BIG, seconds: SECONDS, reloads: 0, batch: SMALL, perConnection: 2 },
    { name: "decide @ 64 connections", endpoint: "/v1/decide", connections: 64, seconds: LOW_SECONDS, reloads: 0, perConnection: 1 },
    { name: "decide @ 256 connections", endpoint: "/v1/decide", connections: 256, seconds: LOW_SECONDS, reloads: 0, perConnection: 1 },
    { name: `batch(${BATCH}) @ 64 connections`, endpoint: "/v1/decide/batch", connections: 64, seconds: LOW_SECONDS, reloads: 0, perConnection: 1 },
  ];
  const results: Result[] = [];
  for (const s of scenarios) results.push(await scenario(server.url, s));

  // Shut down (SIGTERM drains and closes the log), then verify the chain and count the records.
  server.proc.kill("SIGTERM");
  const code = await new Promise<number | null>((r) => server.proc.on("exit", (c) => r(c)));
  const verify = spawnSync(process.execPath, [opts.cli!, "audit", "verify", auditDir], { encoding: "utf8" });
  const m = /ok: (\d+) records/.exec(verify.stdout);
  const records = m ? Number(m[1]) : -1;
  const answered = calibrated + results.reduce((a, r) => a + r.decisions, 0);
  const failed = calibrationFailures + results.reduce((a, r) => a + r.errors + r.timeouts + r.non2xx + r.reload_failures, 0);
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? "?"}`,
    load_average_before: load0,
    load_average_after: loadavg()[0],
    workers: Number(opts.workers),
    policy: opts.policy!.slice(root.length + 1),
    actions: opts.actions!.slice(root.length + 1),
    agents: AGENTS,
    results,
    server_exit_code: code,
    audit_verify: verify.status === 0 ? verify.stdout.trim() : `FAILED: ${verify.stderr.trim()}`,
    audit_records: records,
    decisions_answered: answered,
    records_equal_answered: records === answered,
    failed_requests: failed,
  };
  mkdirSync(opts.out!, { recursive: true });
  writeFileSync(join(opts.out!, "server-latest.json"), JSON.stringify(summary, null, 2) + "\n");
  writeFileSync(join(opts.out!, "server-latest.md"), markdown(summary));
  console.log(markdown(summary));
  rmSync(dir, { recursive: true, force: true });
  if (!summary.records_equal_answered || verify.status !== 0 || failed > 0) process.exitCode = 1;
}

function markdown(s: { date: string; node: string; cpus: string; load_average_before: number; load_average_after: number | undefined; workers: number; policy: string; actions: string; results: Result[]; audit_verify: string; audit_records: number; decisions_answered: number; records_equal_answered: boolean; failed_requests: number; server_exit_code: number | null }): string {
  const rows = s.results.map((r) =>
    `| ${r.endpoint}${r.batch > 1 ? ` (${r.batch}/req)` : ""} | ${r.connections} | ${r.decisions_per_s.toLocaleString("en-US")} | ${r.requests_per_s.toLocaleString("en-US")} | ${r.latency_ms.p50} | ${r.latency_ms.p99} | ${r.latency_ms.p99_9} | ${r.latency_ms.max} | ${r.errors + r.timeouts + r.non2xx} | ${r.reloads > 0 || r.reload_failures > 0 ? `${r.reloads} ok, ${r.reload_failures} failed` : "-"} | ${r.client_cpu_pct}% |`,
  );
  return `# Tollgate control plane benchmark

${s.date} — node ${s.node}, ${s.cpus}, ${s.workers} workers + primary, load generator (autocannon) in the same machine; load average ${s.load_average_before.toFixed(2)} before, ${s.load_average_after?.toFixed(2)} after.
Policy \`${s.policy}\`, actions \`${s.actions}\` (+ examples/actions.jsonl), audit on (fdatasync before each answer), approvals on (SQLite).

| endpoint | connections | decisions/s | requests/s | p50 ms | p99 ms | p99.9 ms | max ms | failed | reloads | client CPU |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}

- Latency is per HTTP request (a batch request carries many decisions), from autocannon's response events into one HDR histogram; above 1,000 connections they are opened in groups of 1,000, 250 ms apart (10,000 connects at once overflow the kernel's accept queue, somaxconn 4096, and the dropped SYNs are retried after 1, 3, 7, 15, 31 s). Each run is a fixed number of requests sized from a calibration run (so no request is abandoned and the audit count can be compared exactly).
- Server exit after SIGTERM: ${s.server_exit_code}. Audit verify: ${s.audit_verify}.
- Audit records ${s.audit_records.toLocaleString("en-US")} vs decisions answered ${s.decisions_answered.toLocaleString("en-US")} (incl. warm-up and calibration runs): ${s.records_equal_answered ? "equal" : "DIFFERENT"}.
- Failed requests (errors, timeouts, non-2xx, failed reloads): ${s.failed_requests}.
`;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
