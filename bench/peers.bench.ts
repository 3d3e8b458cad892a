// Peer benchmark: Tollgate against Cedar (cedar-wasm) and the TypeScript reference interpreter,
// in one process and one run, on the same actions. Build and run:
//   npx tsc -p tsconfig.json && node --expose-gc build/dist/bench/peers.bench.js [--sizes 10,100,1000,10000] [--budget 1500] [--quick]
// (`npm run bench:peers`.)
//
// Workload per size N: generateCedarSubsetPolicy(N, 1) (bench/cedar-workload.ts: generated
// policies restricted to the rules that translate exactly to Cedar, N rules) and 1,000 actions
// from generateActions. Before timing, the Cedar oracle checks every action: Tollgate and Cedar
// must give the same decision and deciding rule; any disagreement makes the process exit 1.
//
// Engines, each timed per decision (process.hrtime.bigint() around every call, minus the
// timer's own cost), cycling through the same 1,000 actions, iterations capped by a time budget:
//   - Tollgate `evaluate` (includes encoding the action: the host reads the fields itself);
//   - Tollgate `evaluateBatch` of the 1,000 actions (amortised per decision);
//   - Cedar `isAuthorized`, parsing the policy set on every call (its stateless API);
//   - Cedar `preparsePolicySet` once + `statefulIsAuthorized` (contexts built beforehand: the
//     type-tagged encoding is the translation's, not Cedar's, so its cost is left out: this
//     favours Cedar);
//   - the reference interpreter (test/reference), a straightforward TypeScript tree walker.
// casbin and json-rules-engine are not run (see docs/peers.md). Load time, heap/external/RSS
// growth per loaded policy (median of a few loads, gc between) and wasm module sizes too.
// Writes bench/results/peers-latest.json, .md and .svg.

import { repoRoot } from "./paths.js";
import { statSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { createRequire } from "node:module";
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import * as vega from "vega";
import { compile } from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import { Policy } from "../src/index.js";
import { ReferencePolicy } from "../test/reference/index.js";
import { actionContext, translatePolicy } from "./cedar-translate.js";
import { CEDAR_REQUEST, cedarWorkload, formatDisagreement, runOracle } from "./cedar-workload.js";

const ROOT = repoRoot();
const log = (m: string) => process.stderr.write(`[peers] ${m}\n`);
const gc = (globalThis as { gc?: () => void }).gc;

interface Options { sizes: number[]; budgetMs: number; maxIterations: number; out: string }
function parseOptions(argv: string[]): Options {
  const o: Options = { sizes: [10, 100, 1000, 10000], budgetMs: 1500, maxIterations: 100_000, out: join(ROOT, "bench/results") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === "--sizes" && v) { o.sizes = v.split(",").map(Number); i++; }
    else if (a === "--budget" && v) { o.budgetMs = Number(v); i++; }
    else if (a === "--out" && v) { o.out = resolve(v); i++; }
    else if (a === "--quick") { o.budgetMs = 300; o.maxIterations = 20_000; }
    else { process.stderr.write(`unknown argument ${a}\n`); process.exit(2); }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Stats { p50: number; p99: number; p999: number; max: number; mean: number; samples: number; decisionsPerSec: number }

function stats(a: Float64Array, wallNs: number, decisionsPerSample = 1): Stats {
  const s = a.slice().sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  let sum = 0;
  for (const x of s) sum += x;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s[s.length - 1]!, mean: sum / s.length, samples: s.length, decisionsPerSec: (s.length * decisionsPerSample * 1e9) / wallNs };
}

function timerNs(): number {
  const a = new Float64Array(100_000);
  for (let i = 0; i < a.length; i++) {
    const t0 = process.hrtime.bigint();
    a[i] = Number(process.hrtime.bigint() - t0);
  }
  return stats(a, 1).p50;
}
let TIMER = 0;
let sink = 0;

/** Times every call of `call(i)` after a warm-up; as many calls as fit in the budget (≥ 10, ≤ max). */
function measure(call: (i: number) => void, budgetMs: number, maxIterations: number): Stats {
  const w0 = process.hrtime.bigint();
  let w = 0;
  while (w < 2 || (w < 5000 && Number(process.hrtime.bigint() - w0) < Math.min(300, budgetMs / 4) * 1e6)) call(w++);
  const est = Number(process.hrtime.bigint() - w0) / w;
  const n = Math.max(10, Math.min(maxIterations, Math.floor((budgetMs * 1e6) / est)));
  gc?.();
  const a = new Float64Array(n);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    call(i);
    a[i] = Math.max(0, Number(process.hrtime.bigint() - t0) - TIMER);
  }
  return stats(a, Number(process.hrtime.bigint() - start));
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
const msOf = (f: () => void) => { const t0 = process.hrtime.bigint(); f(); return Number(process.hrtime.bigint() - t0) / 1e6; };

interface Memory { heapBytes: number; externalBytes: number; rssBytes: number; copies: number }
/** Growth of heapUsed, external (incl. wasm memories) and RSS per loaded copy, objects kept alive. */
function memoryPerLoad(load: () => unknown, copies: number): Memory {
  gc?.(); gc?.();
  const m0 = process.memoryUsage();
  const keep: unknown[] = [];
  for (let i = 0; i < copies; i++) keep.push(load());
  gc?.(); gc?.();
  const m1 = process.memoryUsage();
  sink += keep.length;
  return { heapBytes: (m1.heapUsed - m0.heapUsed) / copies, externalBytes: (m1.external - m0.external) / copies, rssBytes: (m1.rss - m0.rss) / copies, copies };
}

// ---------------------------------------------------------------------------------------------

interface EngineResult { engine: string; loadMs: number | null; memory: Memory | null; latencyNs: Stats; note?: string }
interface SizeResult { rules: number; generatedRules: number; skippedRules: number; actions: number; oracle: { checked: number; excluded: number; disagreements: number }; cedarPolicyChars: number; engines: EngineResult[] }

let psetN = 0;

function runSize(n: number, o: Options): SizeResult {
  log(`${n} rules: generating the Cedar-subset workload`);
  const { subset, actions } = cedarWorkload(n, 1, 1000);
  const manifest = subset.manifest;
  const tr = translatePolicy(manifest);
  const policy = Policy.fromObject(manifest);

  // The oracle, on every action, before any timing.
  const oracle = runOracle(manifest, actions, policy);
  log(`${n} rules: oracle checked ${oracle.checked}, excluded ${oracle.excluded.length}, disagreements ${oracle.disagreements.length}`);
  for (const d of oracle.disagreements.slice(0, 10)) process.stderr.write(`${formatDisagreement(d, tr)}\n`);
  if (oracle.disagreements.length > 0) process.exitCode = 1;

  const usable = actions.filter((a) => !("error" in actionContext(a, tr.paths)));
  const contexts = usable.map((a) => actionContext(a, tr.paths) as Record<string, unknown>);
  const A = usable.length;
  const budget = o.budgetMs;
  const engines: EngineResult[] = [];
  const copies = n >= 10000 ? 2 : n >= 1000 ? 4 : 10;
  const loads = n >= 10000 ? 3 : 7;

  // Tollgate
  const tgLoad = median(Array.from({ length: loads }, () => msOf(() => { sink += Policy.fromObject(manifest).name.length; })));
  const tgMem = memoryPerLoad(() => Policy.fromObject(manifest), copies);
  log(`${n} rules: Tollgate evaluate`);
  engines.push({ engine: "Tollgate evaluate", loadMs: tgLoad, memory: tgMem, latencyNs: measure((i) => { sink += policy.evaluate(usable[i % A]).rule?.length ?? 0; }, budget, o.maxIterations) });
  {
    const samples: number[] = [];
    const t0 = process.hrtime.bigint();
    let total = 0;
    for (let k = 0; k < 1000 && (k < 10 || Number(process.hrtime.bigint() - t0) < budget * 1e6); k++) {
      const s = process.hrtime.bigint();
      sink += policy.evaluateBatch(usable).length;
      const d = Number(process.hrtime.bigint() - s);
      samples.push(d / A);
      total += d;
    }
    const st = stats(Float64Array.from(samples), total, A);
    engines.push({ engine: "Tollgate evaluateBatch", loadMs: tgLoad, memory: tgMem, latencyNs: st, note: "per decision = batch time / batch size (amortised)" });
  }

  // Cedar, stateless: parses the policy set on every call.
  const policies = { staticPolicies: tr.policies };
  log(`${n} rules: Cedar isAuthorized (parse per call)`);
  const parseMs = median(Array.from({ length: Math.min(loads, 3) }, () => msOf(() => { sink += cedar.checkParsePolicySet(policies).type.length; })));
  engines.push({
    engine: "Cedar isAuthorized (parses every call)", loadMs: null, memory: null,
    latencyNs: measure((i) => { sink += cedar.isAuthorized({ ...CEDAR_REQUEST, context: contexts[i % A] as never, policies, entities: [] }).type.length; }, budget, o.maxIterations),
    note: `checkParsePolicySet alone: ${parseMs.toFixed(2)} ms`,
  });

  // Cedar, pre-parsed.
  log(`${n} rules: Cedar preparsePolicySet + statefulIsAuthorized`);
  const cLoad = median(Array.from({ length: loads }, () => msOf(() => { sink += cedar.preparsePolicySet(`load-${n}`, policies).type.length; })));
  const cMem = memoryPerLoad(() => cedar.preparsePolicySet(`mem-${n}-${psetN++}`, policies), copies);
  const id = `bench-${n}`;
  cedar.preparsePolicySet(id, policies);
  engines.push({
    engine: "Cedar preparsed statefulIsAuthorized", loadMs: cLoad, memory: cMem,
    latencyNs: measure((i) => { sink += cedar.statefulIsAuthorized({ ...CEDAR_REQUEST, context: contexts[i % A] as never, preparsedPolicySetId: id, entities: [] }).type.length; }, budget, o.maxIterations),
    note: "contexts built beforehand",
  });

  // Reference interpreter.
  log(`${n} rules: reference interpreter`);
  const rLoad = median(Array.from({ length: loads }, () => msOf(() => { sink += new ReferencePolicy(manifest).rules.length; })));
  const rMem = memoryPerLoad(() => new ReferencePolicy(manifest), copies);
  const ref = new ReferencePolicy(manifest);
  engines.push({ engine: "reference interpreter (TypeScript)", loadMs: rLoad, memory: rMem, latencyNs: measure((i) => { sink += ref.evaluate(usable[i % A]).rule?.length ?? 0; }, budget, o.maxIterations) });

  return {
    rules: n, generatedRules: subset.generated, skippedRules: subset.skipped.length, actions: A,
    oracle: { checked: oracle.checked, excluded: oracle.excluded.length, disagreements: oracle.disagreements.length },
    cedarPolicyChars: tr.text.length, engines,
  };
}

// ---------------------------------------------------------------------------------------------
// Output

const fmtNs = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const fmtB = (b: number) => (Math.abs(b) >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`);

function markdown(results: SizeResult[], meta: Record<string, unknown>): string {
  const lines = [
    "# Peer benchmark (bench/peers.bench.ts)",
    "",
    `Node ${process.version}, ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} CPUs; ${String(meta.date)}. Policies: generated, restricted to the Cedar-translatable subset (bench/cedar-workload.ts). Latency per decision; decisions/s from the timed loop's wall time.`,
    "",
    `Module sizes: tollgate.wasm ${fmtB(meta.tollgateWasmBytes as number)}, cedar_wasm_bg.wasm ${fmtB(meta.cedarWasmBytes as number)}.`,
    "",
    "| rules | engine | p50 | p99 | p99.9 | max | decisions/s | load | heap / external / RSS per loaded policy |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of results) {
    for (const e of r.engines) {
      const m = e.memory ? `${fmtB(e.memory.heapBytes)} / ${fmtB(e.memory.externalBytes)} / ${fmtB(e.memory.rssBytes)}` : "";
      lines.push(`| ${r.rules} | ${e.engine} | ${fmtNs(e.latencyNs.p50)} | ${fmtNs(e.latencyNs.p99)} | ${fmtNs(e.latencyNs.p999)} | ${fmtNs(e.latencyNs.max)} | ${Math.round(e.latencyNs.decisionsPerSec).toLocaleString("en-US")} | ${e.loadMs === null ? "" : `${e.loadMs.toFixed(2)} ms`} | ${m} |`);
    }
  }
  lines.push("", "| rules | oracle: actions checked | excluded | disagreements | generated rules (skipped as untranslatable) | Cedar text |", "|---:|---:|---:|---:|---|---:|");
  for (const r of results) lines.push(`| ${r.rules} | ${r.oracle.checked} | ${r.oracle.excluded} | ${r.oracle.disagreements} | ${r.generatedRules} (${r.skippedRules}) | ${fmtB(r.cedarPolicyChars)} |`);
  return lines.join("\n") + "\n";
}

async function chart(results: SizeResult[], out: string): Promise<void> {
  const values = results.flatMap((r) => r.engines.flatMap((e) => [
    { rules: r.rules, engine: e.engine, percentile: "p50", us: Math.max(e.latencyNs.p50, 1) / 1000 },
    { rules: r.rules, engine: e.engine, percentile: "p99", us: Math.max(e.latencyNs.p99, 1) / 1000 },
  ]));
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Tollgate and peers: latency per decision (µs, log scale) by policy size",
    data: { values },
    facet: { column: { field: "percentile", type: "ordinal", sort: ["p50", "p99"], title: null } },
    spec: {
      width: 260, height: 260, mark: { type: "line", point: true },
      encoding: {
        x: { field: "rules", type: "ordinal", title: "rules in the policy" },
        y: { field: "us", type: "quantitative", scale: { type: "log" }, title: "µs per decision" },
        color: { field: "engine", type: "nominal", title: null },
      },
    },
    config: { legend: { orient: "bottom", columns: 2, labelLimit: 400 } },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  writeFileSync(out, await view.toSVG());
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (!gc) log("run with node --expose-gc for the memory figures (they are noisy without it)");
  TIMER = timerNs();
  const require = createRequire(import.meta.url);
  const cedarWasm = join(dirname(require.resolve("@cedar-policy/cedar-wasm/nodejs")), "cedar_wasm_bg.wasm");
  const meta = { date: new Date().toISOString(), node: process.version, cedar: cedar.getCedarVersion(), timerNs: TIMER, budgetMs: o.budgetMs, tollgateWasmBytes: statSync(join(ROOT, "build/tollgate.wasm")).size, cedarWasmBytes: statSync(cedarWasm).size };
  const results: SizeResult[] = [];
  for (const n of o.sizes) results.push(runSize(n, o));
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, "peers-latest.json"), JSON.stringify({ meta, results }, null, 2) + "\n");
  const md = markdown(results, meta);
  writeFileSync(join(o.out, "peers-latest.md"), md);
  await chart(results, join(o.out, "peers-latest.svg"));
  process.stdout.write(md);
  log(`wrote ${join(o.out, "peers-latest.{json,md,svg}")}${process.exitCode ? " — ORACLE DISAGREEMENTS, exit 1" : ""} (sink ${sink % 10})`);
}

main().catch((e) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
