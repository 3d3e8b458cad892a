// Peer benchmark: Tollgate against Cedar (cedar-wasm), casbin (node-casbin), json-rules-engine,
// the TypeScript reference interpreter, and Tollgate from Python (wasmtime, separate process),
// in one run, on the same actions. Build and run:
//   npx tsc -p tsconfig.json && node --expose-gc build/dist/bench/peers.bench.js
//       [--sizes 10,100,1000,10000] [--budget 1500] [--no-examples] [--no-python] [--quick]
// (`npm run bench:peers`.)
//
// Workloads: generated policies of 10, 100, 1,000 and 10,000 rules (test/support/workload/generate.ts) and the
// three example policies (examples/*.yaml, with examples/actions.jsonl plus generated actions).
// Every peer expresses only part of Tollgate's language, so each workload comes in variants,
// each the rules a peer can express (docs/peers.md):
//   cedar   — the Cedar-translatable rules (test/support/peers/cedar-translate.ts): Tollgate evaluate and
//             evaluateBatch, Cedar isAuthorized (parses every call) and pre-parsed
//             statefulIsAuthorized, the reference interpreter, Tollgate from Python;
//   casbin  — the casbin-translatable rules (test/support/peers/casbin-translate.ts): Tollgate evaluate, casbin;
//   json-rules-engine — its rules (test/support/peers/rules-engine-translate.ts): Tollgate evaluate, the engine.
// A generated variant has exactly N rules (generated bigger and cut, test/support/peers/peers-workload.ts) and
// its own 1,000 generated actions; an example's variants share the example's actions.
//
// Oracles, before any timing: Cedar (decision and rule), json-rules-engine (decision and rule)
// and casbin (allowed or not) must agree with Tollgate on every action they are timed on (all
// 1,000, or as many as fit in --oracle-ms (15 s) for the slow peers, at least 20: the
// timing then cycles through the checked actions only). Python's decisions are checked against
// Node's. Any disagreement is printed and makes the process exit 1.
//
// Timing: process.hrtime.bigint() around every call (minus the timer's own cost), after a
// warm-up, in 3 repeats that share the budget (at least 4 calls each); the figures are of the
// pooled samples, the spread is the min–max of the repeats' p50. Peers get their requests built
// beforehand (Cedar contexts, casbin/json-rules-engine flat records: the encodings are the
// translation's); Tollgate's `evaluate` reads and encodes the action itself. Load time (median
// of a few loads), heap/external/RSS growth per loaded policy (copies kept alive, gc between),
// module and package sizes. Writes bench/results/peers-latest.{json,md,svg}.

import { repoRoot } from "./paths.js";
import { readdirSync, readFileSync, statSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createRequire } from "node:module";
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { parse as parseYaml } from "yaml";
import { Policy } from "../src/index.js";
import { ReferencePolicy } from "../test/support/reference/index.js";
import { actionContext, translatableSubset, translatePolicy } from "../test/support/peers/cedar-translate.js";
import { CEDAR_REQUEST, formatDisagreement, generateCedarSubsetPolicy, runOracle } from "../test/support/peers/cedar-workload.js";
import { casbinEnforcer, casbinSubset, translateCasbin } from "../test/support/peers/casbin-translate.js";
import { rulesEngine, rulesEngineSubset, runRulesEngine, translateRulesEngine, decisionFromRulesEngine, rulesEngineOrder } from "../test/support/peers/rules-engine-translate.js";
import { flatRequest, isRequestError } from "../test/support/peers/peers-context.js";
import { formatPeerDisagreement, generateCasbinSubsetPolicy, generateRulesEngineSubsetPolicy, runCasbinOracle, runRulesEngineOracle, type PeerOracleResult } from "../test/support/peers/peers-workload.js";
import { generateActions } from "../test/support/workload/generate.js";
import { runPythonPeers, type PythonResult, type PythonWorkload } from "./peers-python.js";
import { ENGINES, writeReport, type EngineResult, type Memory, type Stats, type VariantInfo, type WorkloadResult } from "./peers-report.js";

const ROOT = repoRoot();
const log = (m: string) => process.stderr.write(`[peers] ${m}\n`);
const gc = (globalThis as { gc?: () => void }).gc;
const REPEATS = 3;

interface Options { sizes: number[]; budgetMs: number; maxIterations: number; oracleMs: number; examples: boolean; python: boolean; out: string }
function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        sizes: { type: "string" }, budget: { type: "string" }, "oracle-ms": { type: "string" }, out: { type: "string" },
        "no-examples": { type: "boolean" }, "no-python": { type: "boolean" }, quick: { type: "boolean" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const quick = values.quick === true;
  return {
    sizes: values.sizes ? values.sizes.split(",").map(Number) : [10, 100, 1000, 10000],
    // --quick lowers the defaults; --budget and --oracle-ms given explicitly still apply.
    budgetMs: values.budget ? Number(values.budget) : quick ? 300 : 1500,
    maxIterations: quick ? 20_000 : 100_000,
    oracleMs: values["oracle-ms"] ? Number(values["oracle-ms"]) : quick ? 3000 : 15_000,
    examples: values["no-examples"] !== true,
    python: values["no-python"] !== true,
    out: values.out ? resolve(values.out) : join(ROOT, "bench/results"),
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement

function stats(a: Float64Array, wallNs: number, decisionsPerSample = 1): Omit<Stats, "repeats"> {
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
const now = () => process.hrtime.bigint();

function pooled(rounds: { samples: Float64Array; wallNs: number }[], decisionsPerSample = 1): Stats {
  const all = new Float64Array(rounds.reduce((n, r) => n + r.samples.length, 0));
  let off = 0;
  for (const r of rounds) { all.set(r.samples, off); off += r.samples.length; }
  const wall = rounds.reduce((n, r) => n + r.wallNs, 0);
  const repeats = rounds.map((r) => { const s = stats(r.samples, r.wallNs, decisionsPerSample); return { p50: s.p50, p99: s.p99, decisionsPerSec: s.decisionsPerSec }; });
  return { ...stats(all, wall, decisionsPerSample), repeats };
}

/** Times every call of `call(i)` after a warm-up, in REPEATS rounds sharing the budget. */
function measure(call: (i: number) => void, budgetMs: number, maxIterations: number): Stats {
  const w0 = now();
  let w = 0;
  while (w < 1 || (w < 2 && Number(now() - w0) < 2e8) || (w < 5000 && Number(now() - w0) < Math.min(300, budgetMs / 4) * 1e6)) call(w++);
  const est = Number(now() - w0) / w;
  // Calls slower than 200 ms (Cedar's stateless path, json-rules-engine at 10,000 rules): 2 per repeat, 1 above 1 s.
  const per = Math.max(est > 1e9 ? 1 : est > 2e8 ? 2 : 4, Math.min(Math.floor(maxIterations / REPEATS), Math.floor((budgetMs * 1e6) / REPEATS / est)));
  const rounds: { samples: Float64Array; wallNs: number }[] = [];
  let i = 0;
  for (let r = 0; r < REPEATS; r++) {
    gc?.();
    const a = new Float64Array(per);
    const start = now();
    for (let k = 0; k < per; k++, i++) {
      const t0 = now();
      call(i);
      a[k] = Math.max(0, Number(now() - t0) - TIMER);
    }
    rounds.push({ samples: a, wallNs: Number(now() - start) });
  }
  return pooled(rounds);
}

async function measureAsync(call: (i: number) => Promise<void>, budgetMs: number, maxIterations: number): Promise<Stats> {
  const w0 = now();
  let w = 0;
  while (w < 1 || (w < 2 && Number(now() - w0) < 2e8) || (w < 2000 && Number(now() - w0) < Math.min(300, budgetMs / 4) * 1e6)) await call(w++);
  const est = Number(now() - w0) / w;
  const per = Math.max(est > 1e9 ? 1 : est > 2e8 ? 2 : 4, Math.min(Math.floor(maxIterations / REPEATS), Math.floor((budgetMs * 1e6) / REPEATS / est)));
  const rounds: { samples: Float64Array; wallNs: number }[] = [];
  let i = 0;
  for (let r = 0; r < REPEATS; r++) {
    gc?.();
    const a = new Float64Array(per);
    const start = now();
    for (let k = 0; k < per; k++, i++) {
      const t0 = now();
      await call(i);
      a[k] = Math.max(0, Number(now() - t0) - TIMER);
    }
    rounds.push({ samples: a, wallNs: Number(now() - start) });
  }
  return pooled(rounds);
}

/** evaluateBatch of all the actions, per decision (batch time / batch size), in REPEATS rounds. */
function measureBatch(policy: Policy, actions: unknown[], budgetMs: number): Stats {
  sink += policy.evaluateBatch(actions).length;
  const rounds: { samples: Float64Array; wallNs: number }[] = [];
  for (let r = 0; r < REPEATS; r++) {
    gc?.();
    const samples: number[] = [];
    const start = now();
    for (let k = 0; k < 1000 && (k < 4 || Number(now() - start) < (budgetMs / REPEATS) * 1e6); k++) {
      const s = now();
      sink += policy.evaluateBatch(actions).length;
      samples.push(Number(now() - s) / actions.length);
    }
    rounds.push({ samples: Float64Array.from(samples), wallNs: Number(now() - start) });
  }
  return pooled(rounds, actions.length);
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
const msOf = (f: () => void) => { const t0 = now(); f(); return Number(now() - t0) / 1e6; };
async function msOfAsync(f: () => Promise<void>): Promise<number> { const t0 = now(); await f(); return Number(now() - t0) / 1e6; }

/** Growth of heapUsed, external (incl. wasm memories) and RSS per loaded copy, objects kept alive. */
async function memoryPerLoad(load: () => unknown, copies: number, times: number[] = []): Promise<Memory> {
  gc?.(); gc?.();
  const m0 = process.memoryUsage();
  const keep: unknown[] = [];
  for (let i = 0; i < copies; i++) {
    const t0 = now();
    keep.push(await load());
    times.push(Number(now() - t0) / 1e6); // the copies' load times count as load samples too
  }
  gc?.(); gc?.();
  const m1 = process.memoryUsage();
  sink += keep.length;
  return { heapBytes: (m1.heapUsed - m0.heapUsed) / copies, externalBytes: (m1.external - m0.external) / copies, rssBytes: (m1.rss - m0.rss) / copies, copies };
}

/** Runs an oracle on chunks of actions until all are checked or the time cap is reached (at least `min`). */
async function cappedOracle(actions: unknown[], run: (chunk: unknown[]) => Promise<PeerOracleResult> | PeerOracleResult, capMs: number, min = 20): Promise<{ result: PeerOracleResult; covered: number }> {
  const result: PeerOracleResult = { checked: 0, excluded: [], disagreements: [] };
  const t0 = now();
  let i = 0;
  while (i < actions.length && (i < min || Number(now() - t0) < capMs * 1e6)) {
    const chunk = actions.slice(i, i + 10);
    const r = await run(chunk);
    result.checked += r.checked;
    result.excluded.push(...r.excluded);
    result.disagreements.push(...r.disagreements);
    i += chunk.length;
  }
  return { result, covered: i };
}

// ---------------------------------------------------------------------------------------------
// Workloads

type Manifest = Record<string, unknown>;
interface Variant { manifest: Manifest; actions: Record<string, unknown>[]; generatedRules?: number; skippedRules: number }
interface Workload { name: string; kind: "generated" | "example"; size: number; cedar: Variant; casbin: Variant; jre: Variant }

function countRules(items: unknown[]): number {
  let n = 0;
  for (const it of items as Record<string, unknown>[]) n += "group" in it ? countRules(it.rules as unknown[]) : 1;
  return n;
}

function generatedWorkload(n: number): Workload {
  const c = generateCedarSubsetPolicy(n, 1);
  const k = generateCasbinSubsetPolicy(n, 1);
  const j = generateRulesEngineSubsetPolicy(n, 1);
  const v = (s: { manifest: Manifest; skipped: unknown[]; generated: number }): Variant => ({ manifest: s.manifest, actions: generateActions(s.manifest, 1000, 1), generatedRules: s.generated, skippedRules: s.skipped.length });
  return { name: `generated-${n}`, kind: "generated", size: n, cedar: v(c), casbin: v(k), jre: v(j) };
}

function exampleWorkloads(): Workload[] {
  const dir = join(ROOT, "examples");
  const sample: Record<string, unknown>[] = [];
  for (const line of readFileSync(join(dir, "actions.jsonl"), "utf8").split("\n")) {
    try { const a = JSON.parse(line) as unknown; if (a && typeof a === "object" && !Array.isArray(a)) sample.push(a as Record<string, unknown>); } catch { /* the file ends with a deliberately bad line */ }
  }
  const out: Workload[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".yaml")).sort()) {
    const full = parseYaml(readFileSync(join(dir, f), "utf8")) as Manifest;
    if (!full || full.tollgate === undefined || !Array.isArray(full.rules)) continue; // not a policy (e.g. tokens.yaml)
    delete full.tests;
    const actions = [...sample, ...generateActions(full, 1000 - sample.length, 1)];
    const v = (s: { manifest: Manifest; skipped: unknown[] }): Variant => ({ manifest: s.manifest, actions, skippedRules: s.skipped.length });
    out.push({ name: `example ${f.replace(/\.yaml$/, "")}`, kind: "example", size: countRules(full.rules as unknown[]), cedar: v(translatableSubset(full)), casbin: v(casbinSubset(full)), jre: v(rulesEngineSubset(full)) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// One workload

async function runWorkload(w: Workload, o: Options, python: PythonWorkload[]): Promise<WorkloadResult> {
  const big = w.kind === "generated" && w.size >= 10000;
  const copies = big ? 2 : w.size >= 1000 && w.kind === "generated" ? 4 : 10;
  const loads = big ? 1 : 5; // plus the memory copies' loads
  const budget = o.budgetMs;
  const engines: EngineResult[] = [];
  const variants: VariantInfo[] = [];
  const push = (e: Omit<EngineResult, "workload">) => { engines.push({ workload: w.name, ...e }); const s = e.latencyNs; log(`  ${e.engine}: p50 ${(s.p50 / 1000).toFixed(2)} µs, p99 ${(s.p99 / 1000).toFixed(2)} µs, ${Math.round(s.decisionsPerSec)}/s`); };

  // ---- cedar variant: Tollgate, Cedar, reference, Python
  {
    const { manifest, actions } = w.cedar;
    const rules = countRules(manifest.rules as unknown[]);
    log(`${w.name}, Cedar subset (${rules} rules)`);
    const tr = translatePolicy(manifest);
    const policy = Policy.fromObject(manifest);
    // Fixed ids, re-used by every workload: Cedar replaces (and frees) a policy set pre-parsed
    // under an id already in use; fresh ids would pile up in cedar-wasm's memory for the whole run.
    const id = "bench";
    const parsed = cedar.preparsePolicySet(id, { staticPolicies: tr.policies });
    if (parsed.type !== "success") throw new Error(`Cedar rejects the translation of ${w.name}: ${JSON.stringify(parsed.errors)}`);
    const encodable = actions.filter((a) => !("error" in actionContext(a, tr.paths)));
    const { result: oracle, covered } = await cappedOracle(encodable, (chunk) => {
      const r = runOracle(manifest, chunk, policy, { preparsedId: id });
      return { checked: r.checked, excluded: r.excluded, disagreements: r.disagreements as never[] };
    }, o.oracleMs);
    log(`  Cedar oracle: checked ${oracle.checked}, disagreements ${oracle.disagreements.length}`);
    for (const d of oracle.disagreements.slice(0, 10)) process.stderr.write(`${formatDisagreement(d as never, tr)}\n`);
    if (oracle.disagreements.length > 0) process.exitCode = 1;
    const all = encodable; // Tollgate and the reference: every action
    const checked = encodable.slice(0, covered); // Cedar: only the checked actions
    const contexts = checked.map((a) => actionContext(a, tr.paths) as Record<string, unknown>);
    variants.push({ variant: "cedar", rules, generatedRules: w.cedar.generatedRules, skippedRules: w.cedar.skippedRules, actions: all.length, oracle: { peer: "Cedar", checked: oracle.checked, excluded: actions.length - encodable.length, disagreements: oracle.disagreements.length } });

    const A = all.length;
    const tgTimes = Array.from({ length: loads }, () => msOf(() => { sink += Policy.fromObject(manifest).name.length; }));
    const tgMem = await memoryPerLoad(() => Policy.fromObject(manifest), copies, tgTimes);
    const tgLoad = median(tgTimes);
    push({ engine: ENGINES.tgEval, variant: "cedar", rules, loadMs: tgLoad, memory: tgMem, latencyNs: measure((i) => { sink += policy.evaluate(all[i % A]).rule?.length ?? 0; }, budget, o.maxIterations) });
    push({ engine: ENGINES.tgBatch, variant: "cedar", rules, loadMs: tgLoad, memory: tgMem, latencyNs: measureBatch(policy, all, budget), note: "per decision = batch time / batch size (amortised)" });

    const C = contexts.length;
    const policies = { staticPolicies: tr.policies };
    const parseMs = median(Array.from({ length: big ? 1 : 3 }, () => msOf(() => { sink += cedar.checkParsePolicySet(policies).type.length; })));
    push({
      engine: ENGINES.cedarStateless, variant: "cedar", rules, loadMs: null, memory: null,
      latencyNs: measure((i) => { sink += cedar.isAuthorized({ ...CEDAR_REQUEST, context: contexts[i % C] as never, policies, entities: [] }).type.length; }, budget, o.maxIterations),
      note: `checkParsePolicySet alone: ${parseMs.toFixed(2)} ms`,
    });
    const cTimes = Array.from({ length: loads }, () => msOf(() => { sink += cedar.preparsePolicySet("load", policies).type.length; }));
    let copy = 0;
    const cMem = await memoryPerLoad(() => cedar.preparsePolicySet(`mem-${copy++}`, policies), copies, cTimes);
    const cLoad = median(cTimes);
    push({
      engine: ENGINES.cedarPreparsed, variant: "cedar", rules, loadMs: cLoad, memory: cMem,
      latencyNs: measure((i) => { sink += cedar.statefulIsAuthorized({ ...CEDAR_REQUEST, context: contexts[i % C] as never, preparsedPolicySetId: id, entities: [] }).type.length; }, budget, o.maxIterations),
      note: `contexts built beforehand; ${C} checked actions`,
    });

    const rTimes = Array.from({ length: loads }, () => msOf(() => { sink += new ReferencePolicy(manifest).rules.length; }));
    const rMem = await memoryPerLoad(() => new ReferencePolicy(manifest), copies, rTimes);
    const rLoad = median(rTimes);
    const ref = new ReferencePolicy(manifest);
    push({ engine: ENGINES.reference, variant: "cedar", rules, loadMs: rLoad, memory: rMem, latencyNs: measure((i) => { sink += ref.evaluate(all[i % A]).rule?.length ?? 0; }, budget, o.maxIterations) });

    python.push({ workload: w.name, variant: "cedar", rules: w.kind === "generated" ? w.size : rules, manifest, actions: all, expected: policy.evaluateBatch(all).map((d) => [d.decision, d.rule] as [string, string | null]) });
  }

  // ---- casbin variant
  {
    const { manifest, actions } = w.casbin;
    const rules = countRules(manifest.rules as unknown[]);
    log(`${w.name}, casbin subset (${rules} rules)`);
    const tr = translateCasbin(manifest);
    const policy = Policy.fromObject(manifest);
    const tgLoad = median(Array.from({ length: big ? 1 : 3 }, () => msOf(() => { sink += Policy.fromObject(manifest).name.length; })));
    const enforcer = await casbinEnforcer(tr);
    const encodable = actions.filter((a) => !isRequestError(flatRequest(a, tr.paths)));
    const { result: oracle, covered } = await cappedOracle(encodable, (chunk) => runCasbinOracle(manifest, chunk, policy, { tr, enforcer }), o.oracleMs);
    log(`  casbin oracle: checked ${oracle.checked}, disagreements ${oracle.disagreements.length}`);
    const lines = Object.fromEntries(tr.ids.map((id, i) => [id, tr.lines[i]![0]]));
    for (const d of oracle.disagreements.slice(0, 10)) process.stderr.write(`${formatPeerDisagreement(d, lines)}\n`);
    if (oracle.disagreements.length > 0) process.exitCode = 1;
    variants.push({ variant: "casbin", rules, generatedRules: w.casbin.generatedRules, skippedRules: w.casbin.skippedRules, actions: encodable.length, oracle: { peer: "casbin", checked: oracle.checked, excluded: actions.length - encodable.length, disagreements: oracle.disagreements.length } });
    const A = encodable.length;
    push({ engine: ENGINES.tgEvalCasbin, variant: "casbin", rules, loadMs: tgLoad, memory: null, latencyNs: measure((i) => { sink += policy.evaluate(encodable[i % A]).rule?.length ?? 0; }, budget, o.maxIterations) });
    const reqs = encodable.slice(0, covered).map((a) => flatRequest(a, tr.paths) as Record<string, unknown>);
    const R = reqs.length;
    const kLoads: number[] = [];
    for (let i = 0; i < loads; i++) kLoads.push(await msOfAsync(async () => { sink += (await casbinEnforcer(tr)) ? 1 : 0; }));
    // casbin compiles each matcher on first use: the memory figure is of an enforcer that has decided 20 requests.
    const kMem = await memoryPerLoad(async () => { const e = await casbinEnforcer(tr); for (const r of reqs.slice(0, 20)) sink += e.enforceSync(r) ? 1 : 0; return e; }, copies);
    push({ engine: ENGINES.casbin, variant: "casbin", rules, loadMs: median(kLoads), memory: kMem, latencyNs: measure((i) => { sink += enforcer.enforceSync(reqs[i % R]) ? 1 : 0; }, budget, o.maxIterations), note: `requests built beforehand; matchers compile lazily (warm-up); ${R} checked actions` });
  }

  // ---- json-rules-engine variant
  {
    const { manifest, actions } = w.jre;
    const rules = countRules(manifest.rules as unknown[]);
    log(`${w.name}, json-rules-engine subset (${rules} rules)`);
    const tr = translateRulesEngine(manifest);
    const policy = Policy.fromObject(manifest);
    const tgLoad = median(Array.from({ length: big ? 1 : 3 }, () => msOf(() => { sink += Policy.fromObject(manifest).name.length; })));
    const engine = rulesEngine(tr);
    const order = rulesEngineOrder(tr);
    const encodable = actions.filter((a) => !isRequestError(flatRequest(a, tr.paths)));
    const { result: oracle, covered } = await cappedOracle(encodable, (chunk) => runRulesEngineOracle(manifest, chunk, policy, { tr, engine }), o.oracleMs);
    log(`  json-rules-engine oracle: checked ${oracle.checked}, disagreements ${oracle.disagreements.length}`);
    const byId = Object.fromEntries(tr.rules.map((r) => [String(r.name), JSON.stringify(r.conditions)]));
    for (const d of oracle.disagreements.slice(0, 10)) process.stderr.write(`${formatPeerDisagreement(d, byId)}\n`);
    if (oracle.disagreements.length > 0) process.exitCode = 1;
    variants.push({ variant: "json-rules-engine", rules, generatedRules: w.jre.generatedRules, skippedRules: w.jre.skippedRules, actions: encodable.length, oracle: { peer: "json-rules-engine", checked: oracle.checked, excluded: actions.length - encodable.length, disagreements: oracle.disagreements.length } });
    const A = encodable.length;
    push({ engine: ENGINES.tgEvalJre, variant: "json-rules-engine", rules, loadMs: tgLoad, memory: null, latencyNs: measure((i) => { sink += policy.evaluate(encodable[i % A]).rule?.length ?? 0; }, budget, o.maxIterations) });
    const reqs = encodable.slice(0, covered).map((a) => flatRequest(a, tr.paths) as Record<string, unknown>);
    const R = reqs.length;
    const jTimes = Array.from({ length: loads }, () => msOf(() => { sink += rulesEngine(tr) ? 1 : 0; }));
    const jMem = await memoryPerLoad(() => rulesEngine(tr), copies, jTimes);
    const jLoad = median(jTimes);
    push({
      engine: ENGINES.jre, variant: "json-rules-engine", rules, loadMs: jLoad, memory: jMem,
      latencyNs: await measureAsync(async (i) => { sink += decisionFromRulesEngine(await runRulesEngine(engine, reqs[i % R]!), tr, order).decision.length; }, budget, o.maxIterations),
      note: `facts built beforehand; one Promise per decision; ${R} checked actions`,
    });
  }
  return { workload: w.name, kind: w.kind, size: w.size, variants, engines };
}

// ---------------------------------------------------------------------------------------------

function packageBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== "node_modules") n += packageBytes(p); }
    else n += statSync(p).size;
  }
  return n;
}

function mergePython(results: WorkloadResult[], py: PythonResult): void {
  for (const row of py.workloads) {
    const w = results.find((r) => r.workload === row.workload);
    if (!w) continue;
    const memory = { heapBytes: row.memory.heapBytes, externalBytes: Number.NaN, rssBytes: row.memory.rssBytes, copies: row.memory.copies };
    const rules = w.variants.find((v) => v.variant === "cedar")!.rules;
    w.engines.push({ workload: w.workload, engine: ENGINES.pyEval, variant: "cedar", rules, loadMs: row.loadMs, memory, latencyNs: row.evaluate, note: `Python ${py.python}, wasmtime ${py.wasmtime}; heap = tracemalloc` });
    w.engines.push({ workload: w.workload, engine: ENGINES.pyBatch, variant: "cedar", rules, loadMs: row.loadMs, memory, latencyNs: row.evaluateBatch, note: "per decision = batch time / batch size (amortised)" });
    w.variants.find((v) => v.variant === "cedar")!.python = { checked: row.checked, mismatches: row.mismatches };
    if (row.mismatches > 0) {
      process.exitCode = 1;
      log(`PYTHON DISAGREES WITH NODE on ${row.mismatches} actions of ${row.workload}: ${JSON.stringify(row.firstMismatches)}`);
    }
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (!gc) log("run with node --expose-gc for the memory figures (they are noisy without it)");
  const started = Date.now();
  TIMER = timerNs();
  const require = createRequire(import.meta.url);
  const cedarWasm = join(dirname(require.resolve("@cedar-policy/cedar-wasm/nodejs")), "cedar_wasm_bg.wasm");
  const pkg = (name: string) => JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string };
  const meta: Record<string, unknown> = {
    date: new Date().toISOString(), node: process.version, platform: `${os.type()} ${os.release()} ${os.arch()}`, cpu: os.cpus()[0]?.model ?? "?", cpus: os.cpus().length, totalMemBytes: os.totalmem(),
    versions: { tollgate: (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version, cedar: cedar.getCedarVersion(), cedarWasm: pkg("@cedar-policy/cedar-wasm").version, casbin: pkg("casbin").version, jsonRulesEngine: pkg("json-rules-engine").version },
    timerNs: TIMER, budgetMs: o.budgetMs, repeats: REPEATS, oracleMs: o.oracleMs,
    sizes: { tollgateWasmBytes: statSync(join(ROOT, "build/tollgate.wasm")).size, cedarWasmBytes: statSync(cedarWasm).size, casbinPackageBytes: packageBytes(join(ROOT, "node_modules/casbin")), jsonRulesEnginePackageBytes: packageBytes(join(ROOT, "node_modules/json-rules-engine")) },
  };
  const results: WorkloadResult[] = [];
  const python: PythonWorkload[] = [];
  const workloads: (() => Workload)[] = [];
  if (o.examples) for (const w of exampleWorkloads()) workloads.push(() => w);
  for (const n of o.sizes) workloads.push(() => generatedWorkload(n));
  for (const make of workloads) {
    const t0 = Date.now();
    const w = make();
    results.push(await runWorkload(w, o, python));
    log(`${w.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  let py: PythonResult = { ok: false, note: "Python not requested (--no-python)", workloads: [] };
  if (o.python) py = runPythonPeers(ROOT, python, o.budgetMs, log);
  mergePython(results, py);
  meta.python = py.ok ? { python: py.python, wasmtime: py.wasmtime } : { missing: py.note };
  meta.elapsedSeconds = (Date.now() - started) / 1000;
  mkdirSync(o.out, { recursive: true });
  const md = await writeReport(o.out, "peers-latest", meta, results);
  process.stdout.write(md);
  log(`wrote ${join(o.out, "peers-latest.{json,md,svg}")} in ${(meta.elapsedSeconds as number).toFixed(0)} s${process.exitCode ? " — DISAGREEMENTS, exit 1" : ""} (sink ${sink % 10})`);
}

main().catch((e) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
