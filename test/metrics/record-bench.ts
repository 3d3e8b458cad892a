// Microbenchmark of the per-decision metrics calls (not a vitest file: build it and run it with node).
//
//   npx tsc --outDir build/tmp-metrics-bench --rootDir . --target ES2022 --module NodeNext \
//     --moduleResolution NodeNext --strict --skipLibCheck --types node test/metrics/record-bench.ts
//   node build/tmp-metrics-bench/test/metrics/record-bench.js [new|reference] [calls]
//
// Times `calls` recordDecision calls on a few distinct frozen decisions built by DecisionTable (the
// engine's objects), then `calls` recordAuditAppend calls, each in several rounds after a warm-up,
// and one scrape. `reference` is the previous implementation (test/metrics/reference-metrics.ts).

import { DecisionTable, type Decision, type PolicyTable } from "../../src/decision.js";
import { GateMetrics } from "../../src/metrics/metrics.js";
import { ReferenceGateMetrics } from "./reference-metrics.js";

const impl = process.argv[2] ?? "new";
const calls = Number(process.argv[3] ?? 1_000_000);
const rounds = 7;

const table: PolicyTable = {
  abi: 1,
  name: "billing-agent",
  default: "deny",
  rules: [
    { id: "block-destructive-sql", effect: "deny", reason: "Destructive SQL is never allowed", approver: null, timeout_ms: null, on_timeout: null },
    { id: "refund-needs-finance", effect: "escalate", reason: "Refunds over 200 need finance on-call", approver: "finance-oncall", timeout_ms: 900_000, on_timeout: "deny" },
    { id: "small-refund", effect: "allow", reason: "Small refunds on a known order are automatic", approver: null, timeout_ms: null, on_timeout: null },
  ],
  fields: [],
  redact: [],
};
const dt = new DecisionTable(table);
// allow, allow (undetermined), escalate, deny by rule, default deny: five shared frozen objects.
const decisions: Decision[] = [dt.fromResult(0, 0, 0, 2), dt.fromResult(0, 1, 0, 2), dt.fromResult(2, 0, 0, 1), dt.fromResult(1, 0, 0, 0), dt.fromResult(1, 0, 0, -1)];
if (!decisions.every((d) => Object.isFrozen(d))) throw new Error("expected frozen decisions");
const policy = table.name;

// Pseudo-random but fixed inputs: decision index and latency, drawn before timing.
const N = 1 << 16;
const pick = new Uint8Array(N);
const evalNs = new Float64Array(N);
const appendNs = new Float64Array(N);
let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
for (let i = 0; i < N; i++) {
  pick[i] = Math.floor(rand() * decisions.length);
  evalNs[i] = 150 + rand() * rand() * 30_000;
  appendNs[i] = 40_000 + rand() * rand() * 5_000_000;
}

const m = impl === "reference" ? new ReferenceGateMetrics() : impl === "new" ? new GateMetrics() : null;
if (m === null) throw new Error(`unknown implementation ${impl} (new | reference)`);

function decide(n: number): void {
  for (let i = 0; i < n; i++) {
    const j = i & (N - 1);
    m!.recordDecision(policy, decisions[pick[j]!]!, evalNs[j]!);
  }
}
function append(n: number): void {
  for (let i = 0; i < n; i++) m!.recordAuditAppend(policy, appendNs[i & (N - 1)]!);
}

function time(name: string, run: (n: number) => void): void {
  run(200_000); // warm-up
  const perCall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    run(calls);
    perCall.push(Number(process.hrtime.bigint() - t0) / calls);
  }
  perCall.sort((a, b) => a - b);
  const fmt = (x: number) => x.toFixed(1);
  console.log(`${impl} ${name}: median ${fmt(perCall[rounds >> 1]!)} ns/call, min ${fmt(perCall[0]!)}, max ${fmt(perCall[rounds - 1]!)} (${rounds} rounds of ${calls})`);
}

time("recordDecision", decide);
time("recordAuditAppend", append);

const t0 = process.hrtime.bigint();
const text = await m.prometheus();
const json = await m.registry.getMetricsAsJSON();
console.log(`${impl} scrape (text + JSON): ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(2)} ms, ${text.length} chars, ${json.length} metrics`);
