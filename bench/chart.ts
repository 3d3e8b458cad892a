// Renders bench/results/engine-latest.json as an SVG chart (vega-lite + vega, headless, no
// browser): per-decision latency percentiles by engine and policy size, on a log scale.
//   npx tsc -p tsconfig.json && node build/dist/bench/chart.js [results.json] [out.svg]

import { readFileSync, writeFileSync } from "node:fs";
import * as vega from "vega";
import { compile } from "vega-lite";
import type { TopLevelSpec } from "vega-lite";

interface Percentiles { p50: number; p99: number; p999: number }
interface SizeResult {
  rules: number;
  single: { perCall: Percentiles };
  batch: { perDecisionP50Ns: number; perDecisionP99Ns: number; perDecisionP999Ns: number };
  reference?: { perCall: Percentiles };
}

/** (rules, engine, percentile, µs) points from engine-latest.json (bench/engine.bench.ts). */
function pointsOf(results: { results: SizeResult[] }): { rules: number; engine: string; percentile: string; us: number }[] {
  const points: { rules: number; engine: string; percentile: string; us: number }[] = [];
  const add = (rules: number, engine: string, p: Percentiles) => {
    points.push({ rules, engine, percentile: "p50", us: p.p50 / 1000 });
    points.push({ rules, engine, percentile: "p99", us: p.p99 / 1000 });
    points.push({ rules, engine, percentile: "p99.9", us: p.p999 / 1000 });
  };
  for (const r of results.results) {
    add(r.rules, "Tollgate evaluate", r.single.perCall);
    add(r.rules, "Tollgate evaluateBatch (per decision)", { p50: r.batch.perDecisionP50Ns, p99: r.batch.perDecisionP99Ns, p999: r.batch.perDecisionP999Ns });
    if (r.reference) add(r.rules, "reference interpreter (TypeScript)", r.reference.perCall);
  }
  return points;
}

/** A vega-lite spec rendered to SVG, headless (no browser). */
export async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  return view.toSVG();
}

export async function renderChart(resultsPath: string, outPath: string): Promise<void> {
  const values = pointsOf(JSON.parse(readFileSync(resultsPath, "utf8")));
  if (values.length === 0) throw new Error(`no results in ${resultsPath}`);
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Tollgate: latency per decision (µs, log scale) by policy size",
    data: { values },
    facet: { column: { field: "percentile", type: "ordinal", sort: ["p50", "p99", "p99.9"], title: null } },
    spec: {
      width: 220,
      height: 240,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "rules", type: "ordinal", title: "rules in the policy" },
        y: { field: "us", type: "quantitative", scale: { type: "log" }, title: "µs per decision" },
        color: { field: "engine", type: "nominal", title: null },
      },
    },
    config: { legend: { orient: "bottom", columns: 3, labelLimit: 400 } },
  };
  writeFileSync(outPath, await svgOf(spec));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  const input = process.argv[2] ?? "bench/results/engine-latest.json";
  const output = process.argv[3] ?? input.replace(/\.json$/, ".svg");
  renderChart(input, output).then(
    () => console.error(`[chart] wrote ${output}`),
    (err) => { console.error(`[chart] ${err instanceof Error ? err.message : err}`); process.exitCode = 1; },
  );
}
