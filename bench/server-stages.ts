// Where a decision's CPU goes in `tollgate serve`, stage by stage, for the batch endpoint
// (`npm run bench:stages`). A program, not a test.
//
// Each stage runs in this one process with tinybench on the same 100-action requests the load
// benchmark sends (bench/policies/generated-100.*), through the very functions the server's
// worker and primary call. The sum is the CPU one decision costs the server outside the HTTP
// stack and the kernel, so 2 cores / sum bounds the decisions per second of a 2-core machine
// even before HTTP, syscalls, GC pressure under load and the load generator take their share.
//
// Options: --time MS (tinybench time per stage, default 1000), --batch N (default 100),
// --out DIR (default bench/results; writes server-stages-latest.{json,md}), --no-write.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { deserialize, serialize } from "node:v8";
import { Registry } from "prom-client";
import { Bench } from "tinybench";
import { canonicalAction, canonicalDecision, canonicalParsedAction, encodeRecord, GENESIS } from "../src/audit/format.js";
import { redact } from "../src/redact.js";
import { GateMetrics } from "../src/metrics/metrics.js";
import { Policy } from "../src/policy.js";
import { decideMany } from "../src/pipeline/decide.js";
import type { Decided } from "../src/pipeline/message.js";
import { bindAgent, responseText } from "../src/server/app.js";
import type { Principal } from "../src/server/tokens.js";
import { repoRoot } from "./paths.js";

const root = repoRoot();
const { values: opts } = parseArgs({
  options: {
    time: { type: "string", default: "1000" },
    batch: { type: "string", default: "100" },
    out: { type: "string", default: join(root, "bench/results") },
    "no-write": { type: "boolean", default: false },
  },
});
const BATCH = Number(opts.batch);
const TIME = Number(opts.time);

const policy = Policy.fromYaml(readFileSync(join(root, "bench/policies/generated-100.yaml"), "utf8"), { filename: "generated-100.yaml" });
const lines = readFileSync(join(root, "bench/policies/generated-100.actions.jsonl"), "utf8").trim().split("\n").slice(0, BATCH);
const body = JSON.stringify({ actions: lines.map((l) => JSON.parse(l) as unknown) });
const who: Principal = { identity: "billing-bot", role: "agent", approvers: [] };
const metrics = new GateMetrics({ registry: new Registry() });

// Inputs of each stage, made once from the stage before it.
const parsed = (): Record<string, unknown>[] => (JSON.parse(body) as { actions: Record<string, unknown>[] }).actions;
const actions = parsed().map((a) => bindAgent(a, who));
const decisions = policy.evaluateBatch(actions);
const entries: Decided[] = decideMany(policy, actions, { parsed: true }).entries;
const message = { t: "audit", id: 1, e: entries };
const wire = serialize(message);
const hashes = entries.map((_, i) => i.toString(16).padStart(64, "0"));
const ack = { t: "audit", id: 1, s: 1, h: hashes, ap: new Array<string | null>(BATCH).fill(null) };
const ackWire = serialize(ack);

interface Stage {
  name: string;
  where: "worker" | "primary";
  run: () => void;
  /** Not part of the server's path: shown for comparison, left out of the sum. */
  reference?: boolean;
}

let seq = 0;
let prev = GENESIS;
const stages: Stage[] = [
  { name: "parse the request body (JSON.parse)", where: "worker", run: () => void parsed() },
  { name: "bind agent.id to the token", where: "worker", run: () => void actions.forEach((a) => bindAgent(a, who)) },
  { name: "evaluate (encode + Wasm, one crossing)", where: "worker", run: () => void policy.evaluateBatch(actions) },
  { name: "metrics (counters, histograms)", where: "worker", run: () => void decisions.forEach((d) => metrics.recordDecision(policy.name, d, 1000)) },
  { name: "redact + canonical JSON of the action", where: "worker", run: () => void actions.forEach((a) => canonicalParsedAction(redact(a, policy.redact))) },
  { name: "  (the same with the canonicalize package)", where: "worker", reference: true, run: () => void actions.forEach((a) => canonicalAction(redact(a, policy.redact))) },
  { name: "canonical JSON of the decision (cached)", where: "worker", run: () => void decisions.forEach((d) => canonicalDecision(d)) },
  { name: "IPC: serialize entries, deserialize the ack", where: "worker", run: () => void (serialize(message), deserialize(ackWire)) },
  {
    name: "response JSON (assembled, UTF-8 encoded)",
    where: "worker",
    // Encoded as the socket write will: string concatenation alone is lazy and would look free.
    run: () => void Buffer.from(`{"decisions":[${decisions.map((d, i) => responseText(d, policy.hash, hashes[i]!, i + 1, null)).join(",")}]}`),
  },
  { name: "IPC: deserialize entries, serialize the ack", where: "primary", run: () => void (deserialize(wire), serialize(ack)) },
  {
    name: "audit record: assemble, SHA-256, chain",
    where: "primary",
    run: () => {
      for (const e of entries) {
        const r = encodeRecord({ decision: decisions[0]!, decisionJson: e[0], actionJson: e[1], policy: e[2], policy_hash: e[3], eval_ns: e[4] }, ++seq, "2026-01-01T00:00:00.000Z", prev);
        prev = r.hash;
      }
    },
  },
];

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

const bench = new Bench({ name: "server stages", time: TIME, warmupTime: Math.min(250, TIME / 2) });
for (const s of stages) bench.add(s.name, s.run);
log(`server stages: ${stages.length} stages x ${TIME} ms, ${BATCH} actions per request, load average ${loadavg()[0]!.toFixed(2)}`);
bench.addEventListener("cycle", (e) => {
  const t = (e as unknown as { task?: { name: string } }).task;
  if (t) log(`  ${t.name}`);
});
await bench.run();

interface Row {
  stage: string;
  where: string;
  us_per_decision: number;
  reference: boolean;
}
const rows: Row[] = stages.map((s, i) => {
  const r = bench.tasks[i]!.result as { latency?: { p50?: number; mean?: number } } | undefined;
  const ms = r?.latency?.p50 ?? r?.latency?.mean ?? NaN;
  return { stage: s.name, where: s.where, us_per_decision: (ms * 1000) / BATCH, reference: s.reference === true };
});
const sum = (where?: string) => rows.filter((r) => !r.reference && (where === undefined || r.where === where)).reduce((a, r) => a + r.us_per_decision, 0);
const total = sum();
const out = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${cpus().length} x ${cpus()[0]?.model ?? "?"}`,
  load_average: loadavg()[0],
  batch: BATCH,
  rows,
  worker_us: sum("worker"),
  primary_us: sum("primary"),
  total_us: total,
  /** Decisions/s if two cores did nothing but these stages. */
  two_core_bound_per_s: Math.round(2e6 / total),
};

const f = (x: number) => x.toFixed(3);
const md = [
  `# Server stages — CPU per decision (batch of ${BATCH})`,
  "",
  `${out.date}, Node ${out.node}, ${out.cpus}, load average ${out.load_average?.toFixed(2)}. tinybench p50 per request of ${BATCH} actions, divided by ${BATCH}.`,
  "",
  "| stage | process | µs / decision |",
  "|---|---|---:|",
  ...rows.map((r) => `| ${r.stage} | ${r.where} | ${r.reference ? `(${f(r.us_per_decision)})` : f(r.us_per_decision)} |`),
  `| **worker total** | worker | **${f(out.worker_us)}** |`,
  `| **primary total** | primary | **${f(out.primary_us)}** |`,
  `| **sum** | | **${f(total)}** |`,
  "",
  `Two cores doing nothing but these stages: at most **${out.two_core_bound_per_s.toLocaleString("en-US")} decisions/s**, before the HTTP stack, the kernel (sockets, pipes, write, fdatasync), garbage collection under load and the load generator take their share.`,
  "",
].join("\n");
process.stdout.write(`${md}\n`);
if (!opts["no-write"]) {
  mkdirSync(opts.out!, { recursive: true });
  writeFileSync(join(opts.out!, "server-stages-latest.json"), `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(join(opts.out!, "server-stages-latest.md"), md);
  log(`wrote ${join(opts.out!, "server-stages-latest.{json,md}")}`);
}
