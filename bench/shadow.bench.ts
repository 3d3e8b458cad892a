// What shadowing costs live decisions (issue 15, "Shadow": at most 20%).
//
// 1. The server: one `tollgate serve --shadow CANDIDATE` (audit on), driven by autocannon from this
//    process; rounds alternate shadow off (DELETE /v1/policy/shadow) and on (PUT), the order
//    flipped every round so that drift (disk, other jobs) falls on both; decisions/s, p50 and
//    p99 of each mode over its rounds.
// 2. The gate: Gate.check with setShadow(null) / setShadow(candidate) alternating, 64 checks in
//    flight and one at a time.
//
// The candidate is the live policy with `default: allow` (live: deny) and another name, so a
// share of decisions disagree and are logged (the rate is printed).
//
// Options: --rounds N (per mode, default 6), --seconds S (per server round, default 3),
// --connections N (default 64), --workers N (default 2), --checks N (per gate round, default
// 4000), --policy FILE, --actions FILE, --cli FILE (default bin/tollgate.js), --out DIR.
// Writes <out>/shadow-latest.{json,md}.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { Gate } from "../src/gate/gate.js";
import { Policy } from "../src/policy.js";
import { repoRoot } from "./paths.js";
import { startListening } from "../test/support/server-child.js";

const root = repoRoot();
const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string", default: "6" },
    seconds: { type: "string", default: "3" },
    connections: { type: "string", default: "64" },
    workers: { type: "string", default: "2" },
    checks: { type: "string", default: "4000" },
    policy: { type: "string", default: join(root, "bench/policies/generated-100.yaml") },
    actions: { type: "string", default: join(root, "bench/policies/generated-100.actions.jsonl") },
    cli: { type: "string", default: join(root, "bin/tollgate.js") },
    out: { type: "string", default: join(root, "bench/results") },
  },
});
const ROUNDS = Number(opts.rounds);
const SECONDS = Number(opts.seconds);
const CONNECTIONS = Number(opts.connections);
const CHECKS = Number(opts.checks);

const AGENT = "example-agent-billing-bot";
const ADMIN = "example-admin-ops";
const live = readFileSync(opts.policy!, "utf8");
const candidate = live.replace(/^default: deny$/m, "default: allow").replace(/^name: (.*)$/m, "name: $1-candidate");
if (candidate === live) throw new Error("could not make the candidate (expected `default: deny`)");
const actions = readFileSync(opts.actions!, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

const dir = mkdtempSync(join(tmpdir(), "tollgate-shadow-bench-"));
writeFileSync(join(dir, "live.yaml"), live);
writeFileSync(join(dir, "candidate.yaml"), candidate);

interface Sample {
  rate: number;
  p50: number;
  p99: number;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (xs: Sample[]) => ({ rate: median(xs.map((x) => x.rate)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)), rounds: xs });

async function api(url: string, method: string, path: string, body?: string): Promise<void> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body && { "content-type": "application/yaml" }) }, body });
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
}

function load(url: string): Promise<Sample> {
  let i = 0;
  return new Promise((resolve, reject) => {
    autocannon({
      url,
      connections: CONNECTIONS,
      duration: SECONDS,
      requests: [{
        method: "POST",
        path: "/v1/decide",
        headers: { "content-type": "application/json", authorization: `Bearer ${AGENT}` },
        setupRequest: (req: autocannon.Request) => ({ ...req, body: JSON.stringify({ action: actions[(i++ * 61) % actions.length] }) }),
      }],
    }, (err, res) => {
      if (err) return reject(err);
      if (res.non2xx > 0 || res.errors > 0) return reject(new Error(`${res.non2xx} non-2xx, ${res.errors} errors`));
      resolve({ rate: res["2xx"] / SECONDS, p50: res.latency.p50, p99: res.latency.p99 });
    });
  });
}

async function serverBench() {
  const child = await startListening([opts.cli!, "serve", "--policy", join(dir, "live.yaml"), "--audit-dir", join(dir, "audit"), "--tokens", join(root, "examples/tokens.yaml"), "--port", "0", "--workers", opts.workers!, "--log-level", "warn", "--no-watch", "--shadow", join(dir, "candidate.yaml")]);
  const off: Sample[] = [];
  const on: Sample[] = [];
  try {
    await load(child.url); // warm-up (shadow on: both policies warm)
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
        if (mode === "off") await api(child.url, "DELETE", "/v1/policy/shadow");
        else await api(child.url, "PUT", "/v1/policy/shadow", candidate);
        const s = await load(child.url);
        (mode === "on" ? on : off).push(s);
        console.error(`server round ${r + 1} shadow ${mode}: ${Math.round(s.rate)}/s p50 ${s.p50} ms p99 ${s.p99} ms`);
      }
    }
    const metrics = await (await fetch(`${child.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    const total = (name: string) => metrics.split("\n").filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(" ").pop()), 0);
    return { off: summary(off), on: summary(on), shadowDecisions: total("tollgate_shadow_decisions_total"), disagreements: total("tollgate_shadow_disagreements_total") };
  } finally {
    await child.stop();
  }
}

async function gateRound(gate: Gate, inFlight: number): Promise<Sample> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < CHECKS) {
      const a = actions[(next++ * 61) % actions.length];
      const s = performance.now();
      await gate.check(a);
      lat.push(performance.now() - s);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const at = (p: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))]! * 1000) / 1000;
  return { rate: lat.length / seconds, p50: at(50), p99: at(99) };
}

async function gateBench() {
  const gate = await Gate.open({ policy: Policy.fromYaml(live), auditDir: join(dir, "gate-audit") });
  const shadow = Policy.fromYaml(candidate);
  const out: Record<string, { off: ReturnType<typeof summary>; on: ReturnType<typeof summary> }> = {};
  try {
    for (const inFlight of [64, 1]) {
      const off: Sample[] = [];
      const on: Sample[] = [];
      gate.setShadow(shadow);
      await gateRound(gate, inFlight); // warm-up
      for (let r = 0; r < ROUNDS; r++) {
        for (const mode of r % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
          gate.setShadow(mode === "on" ? shadow : null);
          const s = await gateRound(gate, inFlight);
          (mode === "on" ? on : off).push(s);
          console.error(`gate ${inFlight} in flight, round ${r + 1} shadow ${mode}: ${Math.round(s.rate)}/s p50 ${s.p50} ms p99 ${s.p99} ms`);
        }
      }
      out[`${inFlight} in flight`] = { off: summary(off), on: summary(on) };
    }
  } finally {
    await gate.close();
  }
  return out;
}

const pct = (on: number, off: number) => `${on >= off ? "+" : ""}${(((on - off) / off) * 100).toFixed(1)}%`;

try {
  const server = await serverBench();
  const gate = await gateBench();
  const when = new Date().toISOString();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "?"}, load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} at the end`;
  mkdirSync(opts.out!, { recursive: true });
  writeFileSync(join(opts.out!, "shadow-latest.json"), JSON.stringify({ when, machine, rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, workers: Number(opts.workers), checks: CHECKS, server, gate }, null, 2) + "\n");
  const row = (name: string, m: { off: Sample; on: Sample }) =>
    `| ${name} | ${Math.round(m.off.rate)} | ${Math.round(m.on.rate)} (${pct(m.on.rate, m.off.rate)}) | ${m.off.p50} | ${m.on.p50} (${pct(m.on.p50, m.off.p50)}) | ${m.off.p99} | ${m.on.p99} (${pct(m.on.p99, m.off.p99)}) |`;
  const md = [
    `# Shadow overhead (bench/shadow.bench.ts, ${when})`,
    "",
    `Machine: ${machine}. Medians over ${ROUNDS} rounds per mode, alternating off/on (order flipped each round).`,
    `Policy ${opts.policy!.slice(root.length + 1)}; candidate: the same with \`default: allow\`. Server: ${opts.workers} workers, ${CONNECTIONS} connections, ${SECONDS} s per round, POST /v1/decide; disagreements ${server.disagreements} of ${server.shadowDecisions} shadowed decisions (${((server.disagreements / Math.max(1, server.shadowDecisions)) * 100).toFixed(1)}%), each logged. Gate: ${CHECKS} checks per round.`,
    "",
    "| | decisions/s off | on | p50 ms off | on | p99 ms off | on |",
    "|---|---|---|---|---|---|---|",
    row("tollgate serve", server),
    ...Object.entries(gate).map(([k, v]) => row(`Gate.check, ${k}`, v)),
    "",
  ].join("\n");
  writeFileSync(join(opts.out!, "shadow-latest.md"), md);
  process.stdout.write(md);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
