// Engine benchmark (a program, not a test). Build and run:
//   npx tsc -p tsconfig.json && node --expose-gc build/dist/bench/engine.bench.js [options]
// Options:
//   --sizes 10,100,1000,10000   policy sizes (rules) to run (default: all four)
//   --iterations 200000         timed single-evaluate calls per size for the per-decision percentiles
//   --time 1000                 tinybench time budget per task, ms
//   --quick                     smaller budgets (a smoke run, numbers are rough)
//   --no-reference              skip the reference interpreter
//   --out bench/results         where engine-latest.json / .md go
//
// Workload: bench/policies/generated-<N>.yaml and generated-<N>.actions.jsonl (1,000 actions),
// written by bench/generate.ts (generated in memory by test/support/workload/generate.ts if a
// file is missing). For each size:
//   - load: Policy.fromYaml (median of a few loads), split into YAML parsing with positions,
//     canonical JSON and the core's compile; Policy.fromObject; the reference's constructor;
//   - single `evaluate` (action encoding, one core call, decision lookup): each call takes the next
//     action of the fixed array. Per-decision p50/p99/p99.9 come from a manual loop timing EVERY
//     call with process.hrtime.bigint(), minus the timer's own cost (median of back-to-back
//     hrtime.bigint() pairs, measured at start-up); a second loop timing blocks of 16 calls (each
//     sample = block time / 16) cross-checks it. decisions/s = calls / wall time of the block loop;
//   - `evaluateBatch` of the 1,000 actions: decisions/s = 1000 / mean batch time; per-decision
//     percentiles are batch percentiles / 1000 (amortised, not individual decisions);
//   - the reference interpreter (test/support/reference) `evaluate` on the same actions, same method as
//     single evaluate but time-boxed (it is slow on big policies);
//   - tinybench runs of the three (its latency stats are per task iteration: one decision for
//     evaluate and the reference, 1,000 for batch);
//   - a diagnostic split of batch time into host encoding / core `evaluate` / decision lookup,
//     reaching into Policy's private session (may break if src/policy.ts changes; then skipped).
// Progress goes to stderr; the table to stdout; results to <out>/engine-latest.json and .md.

import { repoRoot } from "./paths.js";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Bench } from "tinybench";
import type { Task } from "tinybench";
import { parse as parseYaml } from "yaml";
import { Policy } from "../src/index.js";
import type { Decision } from "../src/index.js";
import { canonicalJson } from "../src/canonical.js";
import { loadYaml, loadYamlExactly } from "../src/yaml.js";
import { generateActions, generatePolicy, policyToYaml } from "../test/support/workload/generate.js";

// ---------------------------------------------------------------------------------------------
// Options and set-up

interface Options {
  sizes: number[];
  iterations: number;
  time: number;
  quick: boolean;
  reference: boolean;
  out: string;
}


const ROOT = repoRoot();

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        sizes: { type: "string" }, iterations: { type: "string" }, time: { type: "string" }, out: { type: "string" },
        quick: { type: "boolean" }, "no-reference": { type: "boolean" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const o: Options = {
    sizes: values.sizes ? values.sizes.split(",").map(Number) : [10, 100, 1000, 10000],
    iterations: values.iterations ? Number(values.iterations) : 200_000,
    time: values.time ? Number(values.time) : 1000,
    quick: values.quick === true,
    reference: values["no-reference"] !== true,
    out: values.out ? resolve(values.out) : join(ROOT, "bench/results"),
  };
  if (o.quick) { o.iterations = Math.min(o.iterations, 30_000); o.time = Math.min(o.time, 250); }
  return o;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface ReferenceLike { evaluate(action: unknown): { decision: string; rule: string | null; undetermined: boolean } }
type ReferenceCtor = new (manifest: unknown) => ReferenceLike;

async function loadReference(): Promise<{ ctor: ReferenceCtor | null; note: string }> {
  try {
    const mod = (await import("../test/support/reference/index.js")) as { ReferencePolicy?: ReferenceCtor };
    if (typeof mod.ReferencePolicy !== "function") return { ctor: null, note: "test/support/reference/index.ts does not export ReferencePolicy" };
    return { ctor: mod.ReferencePolicy, note: "ok" };
  } catch (err) {
    return { ctor: null, note: `reference interpreter not available (${(err as Error).message.split("\n")[0]}); build test/support/reference/index.ts to compare` };
  }
}

interface Workload { yaml: string; manifest: Record<string, unknown>; actions: Record<string, unknown>[]; source: string }

function loadWorkload(n: number): Workload {
  const yamlPath = join(ROOT, `bench/policies/generated-${n}.yaml`);
  const actionsPath = join(ROOT, `bench/policies/generated-${n}.actions.jsonl`);
  if (existsSync(yamlPath) && existsSync(actionsPath)) {
    const yaml = readFileSync(yamlPath, "utf8");
    const actions = readFileSync(actionsPath, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
    return { yaml, manifest: parseYaml(yaml) as Record<string, unknown>, actions, source: `bench/policies/generated-${n}.yaml` };
  }
  const manifest = generatePolicy(n, 1);
  return { yaml: policyToYaml(manifest), manifest, actions: generateActions(manifest, 1000, 1), source: "generated in memory (seed 1)" };
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

interface Percentiles { p50: number; p99: number; p999: number; mean: number; max: number; samples: number }

function percentiles(a: Float64Array): Percentiles {
  const s = a.slice().sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), mean: sum / s.length, max: s[s.length - 1]!, samples: s.length };
}

/** Median cost of one process.hrtime.bigint() reading, in ns (what a back-to-back pair measures). */
function timerOverheadNs(): number {
  const n = 200_000;
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const t1 = process.hrtime.bigint();
    a[i] = Number(t1 - t0);
  }
  return percentiles(a).p50;
}

let TIMER_NS = 0;
let sink = 0; // keeps results alive so nothing is optimised away

interface SingleStats {
  perCall: Percentiles; // ns per decision, timer overhead subtracted
  perCallRaw: Percentiles; // ns, as measured
  block16: Percentiles; // ns per decision (block of 16 / 16), timer overhead subtracted
  decisionsPerSec: number; // from the block loop's wall time
  iterations: number;
  /** CPU time of this process / wall time over both loops: well under 1 means other processes took the CPU. */
  cpuShare: number;
}

/**
 * Times `call(i)` (i = 0, 1, 2...) per call and in blocks of 16, after a warm-up. If `budgetMs`
 * is set, iterations are reduced so that each loop takes about that long.
 */
function measureSingle(call: (i: number) => void, iterations: number, budgetMs?: number): SingleStats {
  // Warm-up: at least 300 ms or 20,000 calls, whichever comes first (and at least 20 calls).
  const warmStart = process.hrtime.bigint();
  let w = 0;
  while (w < 20 || (w < 20_000 && Number(process.hrtime.bigint() - warmStart) < 300e6)) call(w++);
  const estNs = Number(process.hrtime.bigint() - warmStart) / w;
  let n = iterations;
  if (budgetMs !== undefined) n = Math.max(64, Math.min(iterations, Math.floor((budgetMs * 1e6) / estNs)));
  n = Math.ceil(n / 16) * 16;

  gc();
  const cpu0 = process.cpuUsage();
  const wallStart = process.hrtime.bigint();
  const raw = new Float64Array(n);
  const sub = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    call(i);
    const t1 = process.hrtime.bigint();
    const d = Number(t1 - t0);
    raw[i] = d;
    sub[i] = Math.max(0, d - TIMER_NS);
  }
  gc();
  const blocks = n / 16;
  const blk = new Float64Array(blocks);
  const wall0 = process.hrtime.bigint();
  for (let b = 0, i = 0; b < blocks; b++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 16; k++, i++) call(i);
    const t1 = process.hrtime.bigint();
    blk[b] = Math.max(0, Number(t1 - t0) - TIMER_NS) / 16;
  }
  const end = process.hrtime.bigint();
  const wallNs = Number(end - wall0);
  const cpu = process.cpuUsage(cpu0);
  const cpuShare = ((cpu.user + cpu.system) * 1000) / Number(end - wallStart);
  return { perCall: percentiles(sub), perCallRaw: percentiles(raw), block16: percentiles(blk), decisionsPerSec: (n / wallNs) * 1e9, iterations: n, cpuShare };
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeMs(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Per-size run

interface LoadStats { fromYamlMs: number; yamlParseMs: number; yamlExactMs: number; canonicalMs: number; coreCompileMs: number; fromObjectMs: number; referenceCtorMs: number | null; yamlBytes: number; reps: number }
interface BatchStats { decisionsPerSec: number; perDecisionP50Ns: number; perDecisionP99Ns: number; perDecisionP999Ns: number; batchMeanMs: number; samples: number }
interface TinyStats { name: string; meanNs: number; p50Ns: number; p99Ns: number; p999Ns: number; opsPerSec: number; decisionsPerSec: number; samples: number }
interface Breakdown { encodeNsPerDecision: number; coreNsPerDecision: number; decodeNsPerDecision: number; singleEncodeNs: number; singleCoreNs: number; note: string }
interface SizeResult {
  rules: number;
  source: string;
  tools: number;
  fields: number;
  actions: number;
  mix: Record<string, number>;
  referenceMismatches: { checked: number; mismatched: number; examples: unknown[] } | null;
  load: LoadStats;
  single: SingleStats;
  /** Per action: the minimum of 30 back-to-back evaluations (hot caches, no preemption), distribution over the actions, ns. */
  hot: Percentiles;
  batch: BatchStats;
  reference: SingleStats | null;
  tinybench: TinyStats[];
  breakdown: Breakdown | null;
}

function decisionKey(d: { decision: string; rule: string | null; undetermined: boolean; error?: string }): string {
  if (d.error) return "error";
  if (d.rule === null) return `${d.decision} (default)`;
  return d.undetermined ? `${d.decision} (undetermined)` : d.decision;
}

function measureLoad(w: Workload, n: number, Ref: ReferenceCtor | null): LoadStats {
  const reps = n >= 10000 ? 2 : n >= 1000 ? 4 : 9;
  const full: number[] = [], yamlT: number[] = [], exactT: number[] = [], canonT: number[] = [], objT: number[] = [], refT: number[] = [];
  for (let r = 0; r < reps; r++) {
    gc();
    let loaded: ReturnType<typeof loadYaml> | undefined;
    yamlT.push(timeMs(() => { loaded = loadYaml(w.yaml, "bench.yaml"); }));
    if (!loaded || !loaded.ok) throw new Error("generated policy does not parse");
    // The yaml package's reading (positions kept): every load's path before issue 18.
    if (r < 2) exactT.push(timeMs(() => { sink += loadYamlExactly(w.yaml, "bench.yaml").ok ? 1 : 0; }));
    const value = loaded.yaml.value;
    canonT.push(timeMs(() => { sink += canonicalJson(value).length; }));
    gc();
    full.push(timeMs(() => { sink += Policy.fromYaml(w.yaml, { filename: "bench.yaml" }).rules.length; }));
    if (r < 1 || n < 10000) {
      gc();
      objT.push(timeMs(() => { sink += Policy.fromObject(w.manifest).rules.length; }));
    }
    if (Ref) refT.push(timeMs(() => { sink += new Ref(w.manifest) ? 1 : 0; }));
  }
  const fromYamlMs = median(full), yamlParseMs = median(yamlT), canonicalMs = median(canonT);
  return {
    fromYamlMs, yamlParseMs, yamlExactMs: median(exactT), canonicalMs,
    coreCompileMs: Math.max(0, fromYamlMs - yamlParseMs - canonicalMs), // includes instantiation, hashing and the report
    fromObjectMs: median(objT),
    referenceCtorMs: Ref ? median(refT) : null,
    yamlBytes: Buffer.byteLength(w.yaml),
    reps,
  };
}

/** Encoding / core / decision-lookup split of a batch, through Policy's private session. */
function measureBreakdown(policy: Policy, actions: readonly unknown[], reps: number): Breakdown | null {
  try {
    const s = (policy as unknown as { session: {
      core: { evaluate(count: number): number };
      encoder: { encode(a: unknown, pos: number, end: number): number };
      inputStart: number; inputEnd: number; resultCapacity: number;
    } }).session;
    if (!s || typeof s.core?.evaluate !== "function" || typeof s.encoder?.encode !== "function") return null;
    const count = Math.min(actions.length, s.resultCapacity);
    const encodeAll = (): number => {
      let pos = s.inputStart;
      let k = 0;
      for (; k < count; k++) {
        const next = s.encoder.encode(actions[k], pos, s.inputEnd);
        if (next < 0) break;
        pos = next;
      }
      return k;
    };
    let fitted = encodeAll();
    for (let r = 0; r < 20; r++) fitted = encodeAll(); // warm-up
    const enc: number[] = [], core: number[] = [], full: number[] = [];
    for (let r = 0; r < reps; r++) {
      enc.push(timeMs(encodeAll));
      core.push(timeMs(() => { sink += s.core.evaluate(fitted); }));
      full.push(timeMs(() => { sink += policy.evaluateBatch(actions.slice(0, fitted)).length; }));
    }
    // Minimums, not medians: on a shared machine the minimum is the best estimate of the work itself.
    const e = (Math.min(...enc) * 1e6) / fitted, c = (Math.min(...core) * 1e6) / fitted, f = (Math.min(...full) * 1e6) / fitted;
    // Single: encode one action, then one core call on it.
    const single = actions.slice(0, 256);
    const se: number[] = [], sc: number[] = [];
    for (let r = 0; r < Math.max(5, reps); r++) {
      se.push(timeMs(() => { for (const a of single) sink += s.encoder.encode(a, s.inputStart, s.inputEnd); }));
      sc.push(timeMs(() => { for (let i = 0; i < single.length; i++) { s.encoder.encode(single[i], s.inputStart, s.inputEnd); sink += s.core.evaluate(1); } }));
    }
    const singleEncodeNs = (Math.min(...se) * 1e6) / single.length;
    const singleCoreNs = Math.max(0, (Math.min(...sc) * 1e6) / single.length - singleEncodeNs);
    return { encodeNsPerDecision: e, coreNsPerDecision: c, decodeNsPerDecision: Math.max(0, f - e - c), singleEncodeNs, singleCoreNs, note: `batch of ${fitted}; minimum over repetitions; decode = evaluateBatch - encode - core (result decoding, array allocation, call overhead)` };
  } catch (err) {
    log(`breakdown skipped: ${(err as Error).message}`);
    return null;
  }
}

async function runTinybench(policy: Policy, actions: Record<string, unknown>[], ref: ReferenceLike | null, n: number, opts: Options): Promise<TinyStats[]> {
  const bench = new Bench({ name: `rules=${n}`, time: opts.time, warmupTime: Math.min(250, opts.time / 2), iterations: 10 });
  let i = 0, j = 0;
  const len = actions.length;
  bench.add(`evaluate`, () => { sink += policy.evaluate(actions[i++ % len]).decision.length; });
  bench.add(`evaluateBatch(${len})`, () => { sink += policy.evaluateBatch(actions).length; });
  if (ref) bench.add(`reference.evaluate`, () => { sink += ref.evaluate(actions[j++ % len]).decision.length; });
  bench.addEventListener("cycle", (e) => {
    const t = (e as unknown as { task?: Task }).task;
    if (t) log(`  tinybench ${t.name}: ${t.runs} iterations`);
  });
  await bench.run();
  const out: TinyStats[] = [];
  for (const t of bench.tasks) {
    const r = t.result;
    if (r.state !== "completed") { log(`  tinybench ${t.name}: ${r.state}`); continue; }
    const perIter = t.name.startsWith("evaluateBatch") ? len : 1;
    out.push({
      name: t.name,
      meanNs: r.latency.mean * 1e6, p50Ns: r.latency.p50 * 1e6, p99Ns: r.latency.p99 * 1e6, p999Ns: r.latency.p999 * 1e6,
      opsPerSec: 1000 / r.latency.mean,
      decisionsPerSec: (1000 / r.latency.mean) * perIter,
      samples: r.latency.samplesCount,
    });
  }
  return out;
}

async function runSize(n: number, opts: Options, Ref: ReferenceCtor | null): Promise<SizeResult> {
  log(`rules=${n}: loading workload`);
  const w = loadWorkload(n);
  const actions = w.actions;
  const len = actions.length;

  log(`rules=${n}: load/compile time`);
  const load = measureLoad(w, n, Ref);
  const policy = Policy.fromYaml(w.yaml, { filename: w.source });
  const ref = Ref ? new Ref(w.manifest) : null;

  // Decision mix, and agreement with the reference (time-boxed on big policies).
  const decisions = policy.evaluateBatch(actions);
  const mix: Record<string, number> = {};
  for (const d of decisions) mix[decisionKey(d)] = (mix[decisionKey(d)] ?? 0) + 1;
  let referenceMismatches: SizeResult["referenceMismatches"] = null;
  if (ref) {
    log(`rules=${n}: comparing with the reference`);
    const t0 = Date.now();
    let checked = 0, mismatched = 0;
    const examples: unknown[] = [];
    for (; checked < len && (checked < 50 || Date.now() - t0 < 4000); checked++) {
      const a = decisions[checked]!, b = ref.evaluate(actions[checked]);
      if (a.decision !== b.decision || a.rule !== b.rule || a.undetermined !== b.undetermined) {
        mismatched++;
        if (examples.length < 3) examples.push({ index: checked, tool: actions[checked]!.tool, tollgate: decisionKey(a) + " " + a.rule, reference: decisionKey(b) + " " + b.rule });
      }
    }
    referenceMismatches = { checked, mismatched, examples };
    if (mismatched > 0) log(`rules=${n}: WARNING ${mismatched}/${checked} decisions differ from the reference (e.g. ${JSON.stringify(examples[0])})`);
  }

  log(`rules=${n}: single evaluate, ${opts.iterations} timed calls per loop`);
  const single = measureSingle((k) => { sink += (policy.evaluate(actions[k % len]) as Decision).decision.length; }, opts.iterations);

  log(`rules=${n}: hot per-action cost (min of 30 repeats per action)`);
  const hotArr = new Float64Array(len);
  for (let k = 0; k < len; k++) {
    let best = Infinity;
    for (let r = 0; r < 30; r++) {
      const t0 = process.hrtime.bigint();
      sink += policy.evaluate(actions[k]).decision.length;
      const d = Number(process.hrtime.bigint() - t0) - TIMER_NS;
      if (d < best) best = d;
    }
    hotArr[k] = Math.max(0, best);
  }
  const hot = percentiles(hotArr);

  log(`rules=${n}: evaluateBatch(${len})`);
  for (let r = 0; r < 20; r++) sink += policy.evaluateBatch(actions).length;
  gc();
  const batchReps = Math.max(30, Math.min(2000, Math.round((opts.quick ? 300 : 1500) / Math.max(0.05, timeMs(() => policy.evaluateBatch(actions))))));
  const bt = new Float64Array(batchReps);
  for (let r = 0; r < batchReps; r++) {
    const t0 = process.hrtime.bigint();
    sink += policy.evaluateBatch(actions).length;
    bt[r] = Number(process.hrtime.bigint() - t0) - TIMER_NS;
  }
  const bp = percentiles(bt);
  const batch: BatchStats = { decisionsPerSec: (len / bp.mean) * 1e9, perDecisionP50Ns: bp.p50 / len, perDecisionP99Ns: bp.p99 / len, perDecisionP999Ns: bp.p999 / len, batchMeanMs: bp.mean / 1e6, samples: batchReps };

  let reference: SingleStats | null = null;
  if (ref) {
    log(`rules=${n}: reference evaluate (time-boxed)`);
    reference = measureSingle((k) => { sink += ref.evaluate(actions[k % len]).decision.length; }, opts.iterations, opts.quick ? 400 : 2000);
  }

  log(`rules=${n}: breakdown (encode / core / decode)`);
  const breakdown = measureBreakdown(policy, actions, opts.quick ? 10 : 40);

  log(`rules=${n}: tinybench`);
  const tiny = await runTinybench(policy, actions, ref, n, opts);

  const tools = new Set(actions.map((a) => a.tool));
  return { rules: n, source: w.source, tools: tools.size, fields: policy.fields.length, actions: len, mix, referenceMismatches, load, single, hot, batch, reference, tinybench: tiny, breakdown };
}

// ---------------------------------------------------------------------------------------------
// Report

const us = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 2 : ns < 100_000 ? 1 : 0);
const rate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

function mdTable(rows: string[][]): string {
  return [`| ${rows[0]!.join(" | ")} |`, `|${rows[0]!.map((_, c) => (c === 0 ? "---" : "---:")).join("|")}|`, ...rows.slice(1).map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

interface Target { name: string; target: string; measured: string; ratio: string; pass: boolean | null }

function targets(results: SizeResult[]): Target[] {
  const by = (n: number) => results.find((r) => r.rules === n);
  const out: Target[] = [];
  const r100 = by(100), r10k = by(10000);
  if (r100) {
    const p99 = r100.single.perCall.p99;
    out.push({ name: "100 rules: single evaluate p99", target: "<= 2 µs", measured: `${us(p99)} µs`, ratio: `${(p99 / 2000).toFixed(2)}x of budget`, pass: p99 <= 2000 });
    const bps = r100.batch.decisionsPerSec;
    out.push({ name: "100 rules: evaluateBatch throughput", target: ">= 1,000,000 decisions/s", measured: `${rate(bps)}/s`, ratio: `${(bps / 1e6).toFixed(2)}x of target`, pass: bps >= 1e6 });
    if (r100.reference) {
      const sp = r100.single.decisionsPerSec / r100.reference.decisionsPerSec;
      out.push({ name: "100 rules: single evaluate vs reference", target: ">= 3x", measured: `${rate(r100.single.decisionsPerSec)}/s vs ${rate(r100.reference.decisionsPerSec)}/s`, ratio: `${sp.toFixed(1)}x`, pass: sp >= 3 });
      const bp = r100.batch.decisionsPerSec / r100.reference.decisionsPerSec;
      out.push({ name: "100 rules: evaluateBatch vs reference", target: ">= 3x", measured: `${rate(r100.batch.decisionsPerSec)}/s vs ${rate(r100.reference.decisionsPerSec)}/s`, ratio: `${bp.toFixed(1)}x`, pass: bp >= 3 });
    } else {
      out.push({ name: "100 rules: vs reference", target: ">= 3x", measured: "reference not run", ratio: "-", pass: null });
    }
  }
  if (r100 && r10k) {
    // Issue 18 (big policies): latency of 10,000 rules against 100, in this run.
    const p50 = r10k.single.perCall.p50 / r100.single.perCall.p50;
    out.push({ name: "10,000 vs 100 rules: single evaluate p50", target: "<= 1.5x", measured: `${us(r10k.single.perCall.p50)} µs vs ${us(r100.single.perCall.p50)} µs`, ratio: `${p50.toFixed(2)}x`, pass: p50 <= 1.5 });
    const p = r10k.single.perCall.p99 / r100.single.perCall.p99;
    out.push({ name: "10,000 vs 100 rules: single evaluate p99", target: "<= 2x", measured: `${us(r10k.single.perCall.p99)} µs vs ${us(r100.single.perCall.p99)} µs`, ratio: `${p.toFixed(2)}x`, pass: p <= 2 });
    const hp = r10k.hot.p99 / r100.hot.p99;
    out.push({ name: "10,000 vs 100 rules: hot p99 (min of 30 per action; robust to a busy machine)", target: "<= 2x", measured: `${us(r10k.hot.p99)} µs vs ${us(r100.hot.p99)} µs`, ratio: `${hp.toFixed(2)}x`, pass: hp <= 2 });
    const b = r10k.batch.decisionsPerSec / r100.batch.decisionsPerSec;
    out.push({ name: "10,000 vs 100 rules: evaluateBatch rate", target: ">= 50%", measured: `${rate(r10k.batch.decisionsPerSec)}/s vs ${rate(r100.batch.decisionsPerSec)}/s`, ratio: `${(100 * b).toFixed(0)}%`, pass: b >= 0.5 });
    const l = r10k.load;
    out.push({ name: "10,000 rules: load (fromYaml, YAML text to a policy ready to decide)", target: "<= 500 ms", measured: `${l.fromYamlMs.toFixed(0)} ms`, ratio: `${(l.fromYamlMs / 500).toFixed(2)}x of budget`, pass: l.fromYamlMs <= 500 });
    const before = l.yamlExactMs + l.canonicalMs + l.coreCompileMs;
    out.push({ name: "10,000 rules: load vs reading with the yaml package (the path before issue 18)", target: "<= 1/4", measured: `${l.fromYamlMs.toFixed(0)} ms vs ${before.toFixed(0)} ms`, ratio: `${(l.fromYamlMs / before).toFixed(2)}`, pass: l.fromYamlMs <= before / 4 });
  }
  for (const r of results) {
    if (r.rules === 100 || !r.reference) continue;
    const sp = r.single.decisionsPerSec / r.reference.decisionsPerSec;
    out.push({ name: `${r.rules} rules: single evaluate vs reference`, target: ">= 3x", measured: `${rate(r.single.decisionsPerSec)}/s vs ${rate(r.reference.decisionsPerSec)}/s`, ratio: `${sp.toFixed(1)}x`, pass: sp >= 3 });
  }
  return out;
}

function report(results: SizeResult[], env: Record<string, unknown>, refNote: string): { text: string; md: string; targets: Target[] } {
  const head = ["rules", "engine", "p50 µs", "p99 µs", "p99.9 µs", "decisions/s", "method"];
  const rows: string[][] = [head];
  for (const r of results) {
    const s = r.single;
    rows.push([String(r.rules), "evaluate", us(s.perCall.p50), us(s.perCall.p99), us(s.perCall.p999), rate(s.decisionsPerSec), `per call, -${TIMER_NS.toFixed(0)} ns timer, n=${s.iterations}, cpu ${(s.cpuShare * 100).toFixed(0)}%`]);
    rows.push([String(r.rules), "evaluate (blocks of 16)", us(s.block16.p50), us(s.block16.p99), us(s.block16.p999), rate(s.decisionsPerSec), `block/16, n=${s.block16.samples}`]);
    rows.push([String(r.rules), "evaluate (hot: min of 30/action)", us(r.hot.p50), us(r.hot.p99), us(r.hot.p999), rate(1e9 / r.hot.mean), `over ${r.hot.samples} actions`]);
    rows.push([String(r.rules), `evaluateBatch(${r.actions})`, us(r.batch.perDecisionP50Ns), us(r.batch.perDecisionP99Ns), us(r.batch.perDecisionP999Ns), rate(r.batch.decisionsPerSec), `batch time/${r.actions}, n=${r.batch.samples}`]);
    if (r.reference) {
      const x = r.reference;
      rows.push([String(r.rules), "reference.evaluate", us(x.perCall.p50), us(x.perCall.p99), us(x.perCall.p999), rate(x.decisionsPerSec), `per call, n=${x.iterations}, cpu ${(x.cpuShare * 100).toFixed(0)}%`]);
    }
  }
  const tinyRows: string[][] = [["rules", "tinybench task", "mean µs/iter", "p50 µs/iter", "p99 µs/iter", "decisions/s", "samples"]];
  for (const r of results) for (const t of r.tinybench) tinyRows.push([String(r.rules), t.name, us(t.meanNs), us(t.p50Ns), us(t.p99Ns), rate(t.decisionsPerSec), String(t.samples)]);

  const loadRows: string[][] = [["rules", "YAML KiB", "fromYaml ms", "YAML parse ms", "YAML parse by the yaml package ms", "canonical ms", "core compile ms", "fromObject ms", "reference ctor ms"]];
  for (const r of results) {
    const l = r.load;
    loadRows.push([String(r.rules), (l.yamlBytes / 1024).toFixed(0), l.fromYamlMs.toFixed(1), l.yamlParseMs.toFixed(1), l.yamlExactMs.toFixed(1), l.canonicalMs.toFixed(1), l.coreCompileMs.toFixed(1), l.fromObjectMs.toFixed(1), l.referenceCtorMs === null ? "-" : l.referenceCtorMs.toFixed(1)]);
  }
  const bdRows: string[][] = [["rules", "batch: encode ns/dec", "core ns/dec", "decode+rest ns/dec", "single: encode ns", "core call ns", "rest (p50 - both) ns"]];
  for (const r of results) {
    const b = r.breakdown;
    if (!b) continue;
    const rest = Math.max(0, r.single.perCall.p50 - b.singleEncodeNs - b.singleCoreNs);
    bdRows.push([String(r.rules), b.encodeNsPerDecision.toFixed(0), b.coreNsPerDecision.toFixed(0), b.decodeNsPerDecision.toFixed(0), b.singleEncodeNs.toFixed(0), b.singleCoreNs.toFixed(0), rest.toFixed(0)]);
  }
  const mixRows: string[][] = [["rules", "fields", "distinct tools", "decision mix (of the actions)", "vs reference"]];
  for (const r of results) {
    const mix = Object.entries(r.mix).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
    const vs = r.referenceMismatches ? `${r.referenceMismatches.mismatched} differ of ${r.referenceMismatches.checked}` : "-";
    mixRows.push([String(r.rules), String(r.fields), String(r.tools), mix, vs]);
  }
  const tg = targets(results);
  const tgRows: string[][] = [["target", "wanted", "measured", "ratio", "result"]];
  for (const t of tg) tgRows.push([t.name, t.target, t.measured, t.ratio, t.pass === null ? "n/a" : t.pass ? "PASS" : "MISS"]);

  const envLine = `node ${env.node}, ${env.cpu} x${env.cpus}, ${env.platform}; load average ${(env.loadavgBefore as number[])[0]} before, ${(env.loadavgAfter as number[])[0]} after; timer overhead ${TIMER_NS.toFixed(0)} ns (median of back-to-back process.hrtime.bigint()); reference: ${refNote}`;
  const method = "'cpu N%' is this process's CPU time / wall time during the loop: well below 100% means other processes competed for the CPU and tails are inflated. Single evaluate: every call timed with process.hrtime.bigint(), the median timer overhead subtracted from each sample; 'blocks of 16' times 16 consecutive calls and divides (cross-check). Batch: per-decision figures are batch time / batch size (amortised). Each evaluate call takes the next action of a fixed array of 1,000 actions. 'hot' = for each action the fastest of 30 back-to-back evaluations (caches warm for that action, no preemption): a lower bound showing the intrinsic cost spread across actions, robust to a busy machine.";
  const text = [
    `Tollgate engine benchmark — ${env.date}`, envLine, "",
    table(rows), "", table(tinyRows), "", table(loadRows), "", table(bdRows), "", table(mixRows), "", table(tgRows), "", method,
  ].join("\n");
  const md = [
    `# Tollgate engine benchmark`, "", `${env.date} — ${envLine}`, "", method, "",
    "## Per-decision latency and throughput", "", mdTable(rows), "",
    "## tinybench (per task iteration)", "", mdTable(tinyRows), "",
    "## Load / compile", "", "core compile = fromYaml - YAML parse - canonical JSON (includes instantiation, hashing, the report, the image a fresh instance loads). YAML parse is the fast path (src/yaml-fast.ts); the yaml package's reading (positions kept, the only path before issue 18) is timed beside it.", "", mdTable(loadRows), "",
    "## Where evaluate time goes (diagnostic, through Policy's private session)", "", mdTable(bdRows), "",
    "## Workload", "", mdTable(mixRows), "",
    "## Targets", "", mdTable(tgRows), "",
  ].join("\n");
  return { text, md, targets: tg };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (!(globalThis as { gc?: unknown }).gc) log("note: run with --expose-gc for steadier numbers");
  const started = Date.now();
  const loadBefore = os.loadavg();
  TIMER_NS = timerOverheadNs();
  log(`timer overhead: ${TIMER_NS.toFixed(0)} ns per process.hrtime.bigint() pair`);
  const { ctor: Ref, note: refNote } = opts.reference ? await loadReference() : { ctor: null, note: "skipped (--no-reference)" };
  if (!Ref) log(`reference: ${refNote}`);
  const results: SizeResult[] = [];
  for (const n of opts.sizes) {
    results.push(await runSize(n, opts, Ref));
    gc();
  }
  const cpus = os.cpus();
  const env = { date: new Date().toISOString(), node: process.version, v8: process.versions.v8, platform: `${os.platform()} ${os.arch()}`, cpu: cpus[0]?.model ?? "unknown", cpus: cpus.length, quick: opts.quick, iterations: opts.iterations, tinybenchTimeMs: opts.time, timerOverheadNs: TIMER_NS, loadavgBefore: loadBefore.map((x) => +x.toFixed(2)), loadavgAfter: os.loadavg().map((x) => +x.toFixed(2)) };
  const { text, md, targets: tg } = report(results, env, refNote);
  process.stdout.write(`${text}\n`);
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(join(opts.out, "engine-latest.json"), JSON.stringify({ env, reference: refNote, targets: tg, results }, null, 2) + "\n");
  writeFileSync(join(opts.out, "engine-latest.md"), md);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote ${join(opts.out, "engine-latest.json")} and .md (sink ${sink % 7})`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
