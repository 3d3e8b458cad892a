// Audit log throughput and append latency, with and without group commit, at several
// concurrencies. A program, not a test.
//
// Run: npx tsc -p tsconfig.json && node --expose-gc build/dist/bench/audit.bench.js
//   [--records N]   records per group-commit run at concurrency >= 64 (default 200000)
//   [--seconds S]   a run also stops after S seconds (default 3; the slow runs are time-bound)
//   [--repeat R]    runs per scenario (default 3): the table gives the median and the range
//   [--only TEXT]   only scenarios whose name contains TEXT; [--no-write] keeps bench/results alone
//   [--out DIR]     where audit-latest.json and .md go (default bench/results)
//
// Scenarios (each at 1, 64 and 1024 concurrent producers, every producer awaiting its append):
//   objects       group commit; the entry carries the (redacted) action object, which the
//                 writer validates and canonicalizes: the full path of `gate.check` in one process.
//   precanonical  group commit; the entry comes from `auditRecordJson` (action and decision
//                 already canonical JSON, made before timing starts, as a server's worker threads
//                 would): the writer only hashes and writes.
//   nogroup       objects, groupCommit: false: one write and one fdatasync per record.
// Latency is from the call of `append` to the resolution of its promise (the record is on disk).
// "cpu µs/record" is this process's user+system CPU time over the run divided by records (all
// threads: the kernel's share of write and fdatasync counts as system time).

import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { cpus, tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { AuditLog } from "../src/audit/log.js";
import type { AuditLogOptions } from "../src/audit/log.js";
import type { AuditEntry } from "../src/audit/format.js";
import { auditRecordJson } from "../src/audit/record.js";
import type { AuditedPolicy } from "../src/audit/record.js";
import { repoRoot } from "./paths.js";

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const RECORDS = Number(argValue("--records") ?? 200_000);
const SECONDS = Number(argValue("--seconds") ?? 3);
const REPEAT = Number(argValue("--repeat") ?? 3);
const ONLY = argValue("--only");
const WRITE = !process.argv.includes("--no-write");

const policy: AuditedPolicy = { name: "billing-agent", hash: "ab".repeat(32), redact: [["args", "card_number"]] };
const decision = Object.freeze({ decision: "allow" as const, rule: "refunds", reason: null, undetermined: false, policy: "billing-agent" });

/** An action as an agent would send it (the card number is redacted on the way in). */
function action(i: number): unknown {
  return { tool: "payments.refund", args: { order_id: `o-${i}`, amount: (i % 900) + 0.5, currency: "EUR", card_number: "4111 1111 1111 1111" }, agent: { id: "billing-bot" } };
}

/** The full path's entry: what `auditRecord` returns, built here without its redaction copy. */
function objectEntry(i: number): AuditEntry {
  return {
    decision,
    action: { tool: "payments.refund", args: { order_id: `o-${i}`, amount: (i % 900) + 0.5, currency: "EUR", card_number: "[redacted]" }, agent: { id: "billing-bot" } },
    policy: policy.name,
    policy_hash: policy.hash,
    eval_ns: 900 + (i % 300),
  };
}

type Mode = "objects" | "precanonical" | "nogroup";

interface Run {
  records: number;
  seconds: number;
  recordsPerSecond: number;
  cpuMicrosPerRecord: number;
  userMicrosPerRecord: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

interface Scenario {
  name: string;
  mode: Mode;
  concurrency: number;
  maxRecords: number;
  runs: Run[];
}

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function runOnce(mode: Mode, concurrency: number, maxRecords: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-audit-bench-"));
  const options: AuditLogOptions = { checkpointIntervalMs: 1000, groupCommit: mode !== "nogroup" };
  // The server's path: canonical JSON made beforehand (by workers, in a real server).
  const pre = mode === "precanonical" ? Array.from({ length: maxRecords }, (_, i) => auditRecordJson(policy, action(i), decision, 900 + (i % 300))) : null;
  const log = await AuditLog.open(dir, options);
  (globalThis as { gc?: () => void }).gc?.(); // with --expose-gc: start each run with a clean heap
  const latencies = new Float64Array(maxRecords);
  const deadline = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  let next = 0;
  let stop = false;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  async function producer(): Promise<void> {
    while (!stop && next < maxRecords) {
      const i = next++;
      const e = pre !== null ? pre[i]! : objectEntry(i);
      const t0 = process.hrtime.bigint();
      await log.append(e);
      const t1 = process.hrtime.bigint();
      latencies[i] = Number(t1 - t0) / 1e6;
      if (t1 > deadline) stop = true;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, producer));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  const records = next;
  const sorted = latencies.subarray(0, records).sort();
  return {
    records,
    seconds: round(seconds, 3),
    recordsPerSecond: Math.round(records / seconds),
    cpuMicrosPerRecord: round((cpu.user + cpu.system) / records, 2),
    userMicrosPerRecord: round(cpu.user / records, 2),
    p50Ms: round(pct(sorted, 0.5), 3),
    p99Ms: round(pct(sorted, 0.99), 3),
    p999Ms: round(pct(sorted, 0.999), 3),
    maxMs: round(sorted[records - 1]!, 3),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const label: Record<Mode, string> = {
  objects: "group commit, action objects",
  precanonical: "group commit, pre-canonicalized (auditRecordJson)",
  nogroup: "no group commit (1 fdatasync/record)",
};

const scenarios: Scenario[] = [];
for (const mode of ["objects", "precanonical", "nogroup"] as const) {
  for (const concurrency of [1, 64, 1024]) {
    const name = `${mode} c=${concurrency}`;
    if (ONLY !== undefined && !name.includes(ONLY)) continue;
    // Runs are also time-bound (--seconds); the slow ones (one producer, or one fdatasync per
    // record) never get near RECORDS, so they build fewer entries in advance.
    const slow = concurrency === 1 || mode === "nogroup";
    scenarios.push({ name, mode, concurrency, maxRecords: slow ? Math.min(RECORDS, 20_000) : RECORDS, runs: [] });
  }
}

const started = new Date();
const loadStart = loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`audit bench: ${scenarios.length} scenarios x ${REPEAT} runs, up to ${RECORDS} records or ${SECONDS} s each; node ${process.version}, ${cpus().length} cpus, load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
// Warm-up (JIT), not reported.
await runOnce("objects", 256, Math.min(RECORDS, 30_000));
await runOnce("precanonical", 256, Math.min(RECORDS, 30_000));
for (let r = 0; r < REPEAT; r++) {
  for (const s of scenarios) {
    const run = await runOnce(s.mode, s.concurrency, s.maxRecords);
    s.runs.push(run);
    console.log(
      `[${r + 1}/${REPEAT}] ${s.name.padEnd(22)} ${String(run.records).padStart(7)} records ${run.recordsPerSecond.toLocaleString("en-US").padStart(9)} records/s` +
        `  cpu ${run.cpuMicrosPerRecord.toFixed(2).padStart(6)} (user ${run.userMicrosPerRecord.toFixed(2)}) µs/rec  append p50 ${run.p50Ms.toFixed(3)} p99 ${run.p99Ms.toFixed(3)} p99.9 ${run.p999Ms.toFixed(3)} ms`,
    );
  }
}

function cell(runs: Run[], key: keyof Run, digits: number): string {
  const xs = runs.map((r) => r[key]);
  const fmt = (x: number) => (digits === 0 ? Math.round(x).toLocaleString("en-US") : x.toFixed(digits));
  return xs.length === 1 ? fmt(xs[0]!) : `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
}

const rows = scenarios.map(
  (s) =>
    `| ${label[s.mode]} | ${s.concurrency} | ${cell(s.runs, "recordsPerSecond", 0)} | ${cell(s.runs, "cpuMicrosPerRecord", 2)} | ${cell(s.runs, "p50Ms", 3)} | ${cell(s.runs, "p99Ms", 3)} | ${cell(s.runs, "p999Ms", 3)} | ${s.runs.map((r) => r.records).join(", ")} |`,
);
const md = [
  "# Audit log benchmark",
  "",
  `\`node --expose-gc build/dist/bench/audit.bench.js\` on ${started.toISOString()}: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "?"}, temp dir \`${tmpdir()}\`.`,
  `Each cell: median of ${REPEAT} runs (min–max). A run stops after ${RECORDS} records (${Math.min(RECORDS, 20_000)} with one producer or without group commit) or ${SECONDS} s. Latency: call of \`append\` to resolution (record fdatasynced).`,
  `The machine is shared: load average ${loadStart} at the start, ${loadavg().map((x) => x.toFixed(2)).join(" ")} at the end; treat the numbers as ranges.`,
  "",
  "| path | producers | records/s | cpu µs/record | p50 ms | p99 ms | p99.9 ms | records per run |",
  "|---|---:|---:|---:|---:|---:|---:|---|",
  ...rows,
  "",
].join("\n");

if (WRITE) {
  const out = argValue("--out") ?? join(repoRoot(), "bench", "results");
  mkdirSync(out, { recursive: true });
  const json = {
    benchmark: "audit",
    date: started.toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAverage: { start: loadStart, end: loadavg().map((x) => x.toFixed(2)).join(" ") },
    cpuModel: cpus()[0]?.model ?? null,
    tmpdir: tmpdir(),
    options: { records: RECORDS, seconds: SECONDS, repeat: REPEAT, auditLog: "defaults (batchWindowMs 2, startBatchRecords 256, maxBatchRecords 8192)" },
    scenarios: scenarios.map((s) => ({
      name: s.name,
      path: label[s.mode],
      groupCommit: s.mode !== "nogroup",
      preCanonicalized: s.mode === "precanonical",
      concurrency: s.concurrency,
      median: {
        recordsPerSecond: median(s.runs.map((r) => r.recordsPerSecond)),
        p50Ms: median(s.runs.map((r) => r.p50Ms)),
        p99Ms: median(s.runs.map((r) => r.p99Ms)),
        p999Ms: median(s.runs.map((r) => r.p999Ms)),
      },
      runs: s.runs,
    })),
  };
  writeFileSync(join(out, "audit-latest.json"), JSON.stringify(json, null, 2) + "\n");
  writeFileSync(join(out, "audit-latest.md"), md);
  console.log(`wrote ${join(out, "audit-latest.json")} and audit-latest.md`);
}
console.log("\n" + md);
