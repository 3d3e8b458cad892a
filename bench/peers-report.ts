// Output of the peer benchmark (bench/peers.bench.ts): the JSON (every figure), the markdown
// table with the target ratios and where a peer wins, and the SVG chart (vega-lite + vega,
// headless): latency p50 / p99 per engine and policy size on a log scale, and throughput.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import { compile } from "vega-lite";
import type { TopLevelSpec } from "vega-lite";

export const ENGINES = {
  tgEval: "Tollgate evaluate",
  tgBatch: "Tollgate evaluateBatch",
  cedarStateless: "Cedar isAuthorized (parses every call)",
  cedarPreparsed: "Cedar preparsed statefulIsAuthorized",
  reference: "reference interpreter (TypeScript)",
  tgEvalCasbin: "Tollgate evaluate (casbin subset)",
  casbin: "casbin enforceSync",
  tgEvalJre: "Tollgate evaluate (json-rules-engine subset)",
  jre: "json-rules-engine run",
  pyEval: "Tollgate Python evaluate",
  pyBatch: "Tollgate Python evaluate_batch",
} as const;

export interface Stats { p50: number; p99: number; p999: number; max: number; mean: number; samples: number; decisionsPerSec: number; repeats: { p50: number; p99: number; decisionsPerSec: number }[] }
export interface Memory { heapBytes: number; externalBytes: number; rssBytes: number; copies: number }
export interface EngineResult { workload: string; engine: string; variant: string; rules: number; loadMs: number | null; memory: Memory | null; latencyNs: Stats; note?: string }
export interface VariantInfo {
  variant: string;
  rules: number;
  generatedRules?: number;
  skippedRules: number;
  actions: number;
  oracle: { peer: string; checked: number; excluded: number; disagreements: number };
  python?: { checked: number; mismatches: number };
}
export interface WorkloadResult { workload: string; kind: "generated" | "example"; size: number; variants: VariantInfo[]; engines: EngineResult[] }

const fmtNs = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const fmtB = (b: number) => (!Number.isFinite(b) ? "–" : Math.abs(b) >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
const fmtRate = (r: number) => (r >= 100 ? Math.round(r).toLocaleString("en-US") : r.toFixed(1));
const spread = (s: Stats) => {
  if (!s.repeats || s.repeats.length < 2) return "";
  const p = s.repeats.map((r) => r.p50);
  return `${fmtNs(Math.min(...p))}–${fmtNs(Math.max(...p))}`;
};
const ratio = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
const x = (r: number) => (r >= 100 ? `${Math.round(r)}×` : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(1)}×`);

function find(results: WorkloadResult[], workload: string, engine: string): EngineResult | undefined {
  return results.find((r) => r.workload === workload)?.engines.find((e) => e.engine === engine);
}

function engineTable(rows: { w: WorkloadResult; e: EngineResult }[]): string[] {
  const lines = [
    "| workload | rules | engine | p50 | p99 | p99.9 | max | p50 over 3 repeats | decisions/s | samples | load | heap / external / RSS per loaded policy |",
    "|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
  ];
  for (const { w, e } of rows) {
    const m = e.memory ? `${fmtB(e.memory.heapBytes)} / ${fmtB(e.memory.externalBytes)} / ${fmtB(e.memory.rssBytes)}` : "";
    lines.push(`| ${w.workload} | ${e.rules} | ${e.engine} | ${fmtNs(e.latencyNs.p50)} | ${fmtNs(e.latencyNs.p99)} | ${fmtNs(e.latencyNs.p999)} | ${fmtNs(e.latencyNs.max)} | ${spread(e.latencyNs)} | ${fmtRate(e.latencyNs.decisionsPerSec)} | ${e.latencyNs.samples} | ${e.loadMs === null ? "" : `${e.loadMs.toFixed(2)} ms`} | ${m} |`);
  }
  return lines;
}

/** Target ratios and growth, as markdown lines. */
function targets(results: WorkloadResult[]): string[] {
  const out: string[] = ["## Targets (from this run)", ""];
  const tg = find(results, "generated-100", ENGINES.tgEval);
  const cp = find(results, "generated-100", ENGINES.cedarPreparsed);
  const ref = find(results, "generated-100", ENGINES.reference);
  if (tg && cp && ref) {
    const c50 = ratio(cp.latencyNs.p50, tg.latencyNs.p50), c99 = ratio(cp.latencyNs.p99, tg.latencyNs.p99);
    const r50 = ratio(ref.latencyNs.p50, tg.latencyNs.p50), r99 = ratio(ref.latencyNs.p99, tg.latencyNs.p99);
    out.push(
      "| 100 rules: Tollgate `evaluate` vs | p50 | p99 | target | met |",
      "|---|---:|---:|---:|---|",
      `| Cedar pre-parsed (statefulIsAuthorized) | ${x(c50)} (${fmtNs(tg.latencyNs.p50)} vs ${fmtNs(cp.latencyNs.p50)}) | ${x(c99)} (${fmtNs(tg.latencyNs.p99)} vs ${fmtNs(cp.latencyNs.p99)}) | ≥ 10× | ${c50 >= 10 && c99 >= 10 ? "yes" : "**no**"} |`,
      `| reference interpreter | ${x(r50)} (${fmtNs(ref.latencyNs.p50)}) | ${x(r99)} (${fmtNs(ref.latencyNs.p99)}) | ≥ 3× | ${r50 >= 3 && r99 >= 3 ? "yes" : "**no**"} |`,
    );
    for (const [engine, label] of [[ENGINES.casbin, "casbin (on its subset, vs Tollgate on the same subset)"], [ENGINES.jre, "json-rules-engine (on its subset, vs Tollgate on the same subset)"]] as const) {
      const peer = find(results, "generated-100", engine);
      const own = find(results, "generated-100", engine === ENGINES.casbin ? ENGINES.tgEvalCasbin : ENGINES.tgEvalJre);
      if (peer && own) out.push(`| ${label} | ${x(ratio(peer.latencyNs.p50, own.latencyNs.p50))} | ${x(ratio(peer.latencyNs.p99, own.latencyNs.p99))} | – | – |`);
    }
    out.push("");
  }
  const growth: string[] = [];
  for (const e of [ENGINES.tgEval, ENGINES.tgBatch, ENGINES.cedarPreparsed, ENGINES.reference, ENGINES.tgEvalCasbin, ENGINES.casbin, ENGINES.tgEvalJre, ENGINES.jre, ENGINES.pyEval]) {
    const a = find(results, "generated-100", e);
    const b = find(results, "generated-10000", e);
    if (a && b) growth.push(`| ${e} | ${fmtNs(a.latencyNs.p50)} → ${fmtNs(b.latencyNs.p50)} | ${x(ratio(b.latencyNs.p50, a.latencyNs.p50))} | ${x(ratio(b.latencyNs.p99, a.latencyNs.p99))} |`);
  }
  if (growth.length > 0) {
    out.push("Cost of the 10,000-rule policy relative to the 100-rule one (target for Tollgate: within 3×; 100× more rules):", "", "| engine | p50, 100 → 10,000 rules | p50 ratio | p99 ratio |", "|---|---:|---:|---:|", ...growth, "");
  }
  return out;
}

/** Where a peer beats Tollgate (on the same variant), stated plainly: one line per peer and criterion. */
function peerWins(results: WorkloadResult[]): string[] {
  const tgFor = (v: string) => (v === "cedar" ? ENGINES.tgEval : v === "casbin" ? ENGINES.tgEvalCasbin : ENGINES.tgEvalJre);
  const mem = (m: Memory | null | undefined) => (m ? m.heapBytes + (Number.isFinite(m.externalBytes) ? m.externalBytes : 0) : Number.NaN);
  const wins = new Map<string, string[]>();
  const add = (key: string, what: string) => { if (!wins.has(key)) wins.set(key, []); wins.get(key)!.push(what); };
  for (const w of results) {
    const tgCedar = w.engines.find((e) => e.engine === ENGINES.tgEval);
    for (const e of w.engines) {
      if (e.engine.startsWith("Tollgate")) continue;
      const tg = w.engines.find((t) => t.engine === tgFor(e.variant));
      if (!tg) continue;
      if (e.latencyNs.p50 < tg.latencyNs.p50) add(`**${e.engine}** is faster per decision (p50)`, `${w.workload}: ${fmtNs(e.latencyNs.p50)} vs ${fmtNs(tg.latencyNs.p50)}`);
      if (e.loadMs !== null && tg.loadMs !== null && e.loadMs < tg.loadMs) add(`**${e.engine}** loads the policy faster`, `${w.workload}: ${e.loadMs < 1 ? e.loadMs.toFixed(2) : e.loadMs.toFixed(0)} ms vs ${tg.loadMs.toFixed(0)} ms`);
      const tgMem = mem(tg.memory ?? tgCedar?.memory);
      if (e.memory && Number.isFinite(tgMem) && mem(e.memory) < tgMem) add(`**${e.engine}** holds less memory per loaded policy (heap + external${tg.memory ? "" : "; Tollgate's figure is for its Cedar-subset policy"})`, `${w.workload}: ${fmtB(mem(e.memory))} vs ${fmtB(tgMem)}`);
    }
  }
  if (wins.size === 0) return ["No peer beats Tollgate on latency, load time or memory in this run."];
  const lines = [...wins].map(([k, v]) => `- ${k}: ${v.join("; ")}.`);
  if (![...wins.keys()].some((k) => k.includes("faster per decision"))) lines.unshift("- No peer is faster than Tollgate per decision (p50) on any workload.");
  return lines;
}

export function markdown(meta: Record<string, unknown>, results: WorkloadResult[]): string {
  const v = meta.versions as Record<string, string>;
  const sz = meta.sizes as Record<string, number>;
  const py = meta.python as { python?: string; wasmtime?: string; missing?: string };
  const lines = [
    "# Peer benchmark (bench/peers.bench.ts)",
    "",
    `${String(meta.date)}; Node ${String(meta.node)}, ${String(meta.platform)}, ${String(meta.cpu)}, ${String(meta.cpus)} CPUs. Tollgate ${v.tollgate}, Cedar ${v.cedar} (@cedar-policy/cedar-wasm ${v.cedarWasm}), casbin ${v.casbin}, json-rules-engine ${v.jsonRulesEngine}, ${py.python ? `Python ${py.python} + wasmtime ${py.wasmtime}` : `Python: ${py.missing}`}. Run time ${Math.round(meta.elapsedSeconds as number)} s.`,
    "",
    `Latency per decision (one timed call at a time; batch rows: batch time / batch size), pooled over ${String(meta.repeats)} repeats sharing a ${String(meta.budgetMs)} ms budget per engine and workload; "p50 over 3 repeats" is the min–max of the repeats' p50. decisions/s from the timed loops' wall time. Slow engines get few samples at 10,000 rules (see the samples column): their p99.9 is then the max. The machine is shared (2 CPUs): compare ratios within this run, not absolute numbers across runs.`,
    "",
    `Sizes: tollgate.wasm ${fmtB(sz.tollgateWasmBytes!)}, cedar_wasm_bg.wasm ${fmtB(sz.cedarWasmBytes!)}, casbin package ${fmtB(sz.casbinPackageBytes!)} (plus its dependencies), json-rules-engine package ${fmtB(sz.jsonRulesEnginePackageBytes!)} (plus its dependencies).`,
    "",
    "Memory: growth of V8 heap / external (WebAssembly memories) / RSS per loaded copy of the policy, copies kept alive. Cedar's external figure is the growth of cedar-wasm's one linear memory (it never shrinks and re-uses freed space: approximate); Python's heap is tracemalloc's, its RSS includes the wasmtime instance. Load: median of several loads from the manifest object (translations not counted).",
    "",
    "Each workload has three variants, the rules each peer can express (docs/peers.md): the Cedar subset (Tollgate, Cedar, the reference, Python), the casbin subset and the json-rules-engine subset (each with Tollgate measured on the same rules and actions).",
    "",
    ...targets(results),
    "## Generated policies",
    "",
    ...engineTable(results.filter((w) => w.kind === "generated").flatMap((w) => w.engines.map((e) => ({ w, e })))),
    "",
    "## Example policies (examples/*.yaml: 20 sample actions + 980 generated)",
    "",
    ...engineTable(results.filter((w) => w.kind === "example").flatMap((w) => w.engines.map((e) => ({ w, e })))),
    "",
    "## Oracles",
    "",
    "| workload | variant | rules (skipped as untranslatable) | actions | oracle | checked | excluded | disagreements | Python vs Node |",
    "|---|---|---|---:|---|---:|---:|---:|---|",
  ];
  for (const w of results) {
    for (const vr of w.variants) {
      const gen = vr.generatedRules === undefined ? `${vr.rules} of ${w.size} (${vr.skippedRules})` : `${vr.rules} (${vr.skippedRules} of ${vr.generatedRules} generated)`;
      lines.push(`| ${w.workload} | ${vr.variant} | ${gen} | ${vr.actions} | ${vr.oracle.peer}${vr.oracle.peer === "casbin" ? " (allowed or not)" : " (decision and rule)"} | ${vr.oracle.checked} | ${vr.oracle.excluded} | ${vr.oracle.disagreements} | ${vr.python ? `${vr.python.checked} checked, ${vr.python.mismatches} mismatches` : ""} |`);
    }
  }
  lines.push("", "## Where a peer wins", "", ...peerWins(results), "");
  return lines.join("\n") + "\n";
}

const CHART_ENGINES: string[] = [ENGINES.tgEval, ENGINES.tgBatch, ENGINES.pyEval, ENGINES.pyBatch, ENGINES.reference, ENGINES.cedarPreparsed, ENGINES.cedarStateless, ENGINES.casbin, ENGINES.jre];

export async function chartSvg(results: WorkloadResult[]): Promise<string> {
  const gen = results.filter((w) => w.kind === "generated");
  const values = gen.flatMap((w) => w.engines.filter((e) => CHART_ENGINES.includes(e.engine)).flatMap((e) => [
    { rules: w.size, engine: e.engine, percentile: "p50", us: Math.max(e.latencyNs.p50, 1) / 1000, rate: e.latencyNs.decisionsPerSec },
    { rules: w.size, engine: e.engine, percentile: "p99", us: Math.max(e.latencyNs.p99, 1) / 1000, rate: e.latencyNs.decisionsPerSec },
  ]));
  const color = { field: "engine", type: "nominal" as const, title: null, sort: CHART_ENGINES };
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Tollgate and peers, generated policies (each peer on the rules it can express)", subtitle: "latency per decision (µs, log scale) and throughput (decisions/s, log scale)" },
    data: { values },
    vconcat: [
      {
        facet: { column: { field: "percentile", type: "ordinal", sort: ["p50", "p99"], title: null } },
        spec: {
          width: 280, height: 260, mark: { type: "line", point: true },
          encoding: {
            x: { field: "rules", type: "ordinal", title: "rules in the policy", axis: { labelAngle: 0 } },
            y: { field: "us", type: "quantitative", scale: { type: "log" }, title: "µs per decision" },
            color,
          },
        },
      },
      {
        width: 600, height: 220, mark: { type: "line", point: true },
        transform: [{ filter: "datum.percentile == 'p50'" }],
        encoding: {
          x: { field: "rules", type: "ordinal", title: "rules in the policy", axis: { labelAngle: 0 } },
          y: { field: "rate", type: "quantitative", scale: { type: "log" }, title: "decisions/s" },
          color,
        },
      },
    ],
    config: { legend: { orient: "bottom", columns: 3, labelLimit: 400 } },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  return view.toSVG();
}

/** Writes <out>/<name>.json, .md and .svg; returns the markdown. */
export async function writeReport(out: string, name: string, meta: Record<string, unknown>, results: WorkloadResult[]): Promise<string> {
  writeFileSync(join(out, `${name}.json`), JSON.stringify({ meta, results }, null, 2) + "\n");
  const md = markdown(meta, results);
  writeFileSync(join(out, `${name}.md`), md);
  writeFileSync(join(out, `${name}.svg`), await chartSvg(results));
  return md;
}
