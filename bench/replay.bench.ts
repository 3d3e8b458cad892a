// `tollgate replay` throughput: records/s over a generated audit log of 1,000,000 records (a day
// of a busy control plane: ~11.6 decisions/s around the clock, with its escalations' approval
// transitions) and over a JSONL of the same 1,000,000 actions. A program, not a test.
//
// Run: npm run build:ts && node build/dist/bench/replay.bench.js
//   [--records N]   records to generate (default 1000000)
//   [--dir DIR]     where the generated log and actions go (default $TMPDIR/tollgate-replay-bench-N);
//                   reused when present and complete (generating takes a while)
//   [--only TEXT]   only scenarios whose name contains TEXT; [--no-write] keeps bench/results alone
//   [--profile]     also runs the audit scenario without verify under --cpu-prof (profile in DIR)
//
// The recorded policy is bench/policies/generated-1000.yaml (1,000 rules) plus a counter of each
// agent's actions per minute and a deny rule over 300 of them (it never trips); the counted
// candidate lowers that to 8 a minute, so changes come from history only. Actions come from
// test/support/workload (generateActions, 100 seeds of 10,000). Each record's `ts` is its own
// (86.4 ms apart), so counters replay at record time. Every run is one `tollgate replay` process
// (bin/tollgate.js, stdout to /dev/null), timed from spawn to exit; records/s = actions replayed
// (from --format json) / wall seconds.

import { spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog } from "../src/audit/log.js";
import type { Appended } from "../src/audit/log.js";
import { auditRecordJson } from "../src/audit/record.js";
import type { Decision } from "../src/decision.js";
import { countedDecision } from "../src/pipeline/counted.js";
import { Policy } from "../src/policy.js";
import { generateActions, policyToYaml } from "../test/support/workload/generate.js";
import { repoRoot } from "./paths.js";
import { parse } from "yaml";

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const RECORDS = Number(argValue("--records") ?? 1_000_000);
const DIR = argValue("--dir") ?? join(tmpdir(), `tollgate-replay-bench-${RECORDS}`);
const ONLY = argValue("--only");
const WRITE = !process.argv.includes("--no-write");
const PROFILE = process.argv.includes("--profile");
const ROOT = repoRoot();
const T0 = Date.UTC(2025, 5, 1);
const STEP_MS = 86_400_000 / RECORDS;
const CHUNK = 10_000;
/** The recorded policy denies over 300 actions a minute per agent (never: ~8 are allowed, 16
 *  agents); the candidate over 8 (where history has more). */
const CANDIDATE_LIMIT = 8;

const base = parse(readFileSync(join(ROOT, "bench/policies/generated-1000.yaml"), "utf8")) as Record<string, unknown>;

/** generated-1000 with a per-agent counter of actions per minute and a deny rule over `limit`. */
function withRateLimit(limit: number): Record<string, unknown> {
  return {
    ...base,
    counters: { per_agent_minute: { per: ["agent.id"], window: "1m" } },
    rules: [{ id: "rate-limit", effect: "deny", reason: `more than ${limit} actions a minute`, when: { $per_agent_minute: { gt: limit } } }, ...(base.rules as unknown[])],
  };
}

const paths = {
  audit: join(DIR, "audit"),
  actions: join(DIR, "actions.jsonl"),
  recorded: join(DIR, "recorded.yaml"),
  counted: join(DIR, "candidate-counted.yaml"),
  stateless: join(ROOT, "bench/policies/generated-1000.yaml"),
  done: join(DIR, "complete.json"),
};

async function generate(): Promise<void> {
  const want = JSON.stringify({ records: RECORDS, version: 1 });
  if (existsSync(paths.done) && readFileSync(paths.done, "utf8") === want) {
    console.log(`reusing ${DIR}`);
    return;
  }
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  writeFileSync(paths.recorded, policyToYaml(withRateLimit(300)));
  const policy = Policy.fromFile(paths.recorded);
  let clock = T0;
  const log = await AuditLog.open(paths.audit, { now: () => new Date(Math.floor(clock)) });
  const actionsOut = createWriteStream(paths.actions);
  const started = Date.now();
  let written = 0;
  let seed = 1;
  // Escalations of the previous chunk, approved (or denied, every third) in the next one.
  let escalated: { at: Promise<Appended>; action: unknown; decision: Decision }[] = [];
  while (written < RECORDS) {
    const resolve = escalated;
    escalated = [];
    const last: Promise<Appended>[] = [];
    for (const [k, e] of resolve.entries()) {
      if (written >= RECORDS) break;
      const { seq, hash } = await e.at;
      clock = T0 + written * STEP_MS;
      const { approver: _a, timeout_ms: _t, on_timeout: _o, ...rest } = e.decision as Decision & Record<string, unknown>;
      const state = k % 3 === 2 ? "denied" : "approved";
      const decision = { ...rest, decision: state === "approved" ? "allow" : "deny", approval: { id: `a-${seq}`, state, by: "oncall", note: null, decision_seq: seq, decision_hash: hash } } as unknown as Decision;
      last.push(log.append({ ...auditRecordJson(policy, e.action, decision, 0), eval_ns: 0 }));
      written++;
    }
    const actions = generateActions(base, CHUNK, seed++);
    const lines: string[] = [];
    for (const action of actions) {
      if (written >= RECORDS) break;
      const now = T0 + written * STEP_MS;
      clock = now;
      const step = policy.step(action, { now: Math.floor(now) });
      const d = countedDecision(step.decision, policy, step.entries, Math.floor(now), step.pending, log.countedSeal);
      const at = log.append(auditRecordJson(policy, action, d, 1000));
      if (step.decision.decision === "escalate") escalated.push({ at, action, decision: d });
      last.push(at);
      lines.push(JSON.stringify(action));
      written++;
    }
    await Promise.all(last);
    if (!actionsOut.write(lines.join("\n") + "\n")) await new Promise<void>((r) => actionsOut.once("drain", () => r()));
    if (written % 100_000 < CHUNK) console.log(`generated ${written.toLocaleString("en-US")} records (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  await log.close();
  await new Promise<void>((r) => actionsOut.end(() => r()));
  writeFileSync(paths.done, want);
}

interface Run {
  name: string;
  what: string;
  args: string[];
}

function runReplay(run: Run, extraNode: string[] = []): { seconds: number; actions: number; changed: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [...extraNode, join(ROOT, "bin/tollgate.js"), ...run.args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, cwd: DIR });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${run.name}: exit ${r.status}: ${r.stderr}`);
  const out = run.args[0] === "audit" ? null : (JSON.parse(r.stdout) as { totals: { actions: number; changed: number } });
  return { seconds, actions: out?.totals.actions ?? RECORDS, changed: out?.totals.changed ?? 0 };
}

async function mainBench(): Promise<void> {
  await generate();
  writeFileSync(paths.counted, policyToYaml(withRateLimit(CANDIDATE_LIMIT)));
  const json = ["--format", "json"];
  const runs: Run[] = [
    { name: "verify", what: "`tollgate audit verify` alone (what replay runs first)", args: ["audit", "verify", paths.audit] },
    { name: "audit-same", what: "audit log, the recorded policy as candidate (counters), verified first", args: ["replay", ...json, paths.recorded, paths.audit] },
    { name: "audit-counted", what: "audit log, candidate with a tighter rate limit (counters), verified first", args: ["replay", ...json, paths.counted, paths.audit] },
    { name: "audit-counted-noverify", what: "the same, --no-verify (chain followed, hashes not checked)", args: ["replay", ...json, "--no-verify", paths.counted, paths.audit] },
    { name: "audit-stateless-noverify", what: "audit log, stateless candidate (generated-1000, no counters), --no-verify", args: ["replay", ...json, "--no-verify", paths.stateless, paths.audit] },
    { name: "actions-against", what: "actions JSONL, --against the recorded policy, candidate with the tighter limit (both with counters)", args: ["replay", ...json, "--against", paths.recorded, paths.counted, paths.actions] },
    { name: "actions-stateless", what: "actions JSONL, --against and candidate stateless (generated-1000 both)", args: ["replay", ...json, "--against", paths.stateless, paths.stateless, paths.actions] },
  ];
  const results: { name: string; what: string; seconds: number; actions: number; changed: number; perSecond: number }[] = [];
  for (const run of runs) {
    if (ONLY !== undefined && !run.name.includes(ONLY)) continue;
    const r = runReplay(run);
    const perSecond = Math.round(r.actions / r.seconds);
    results.push({ name: run.name, what: run.what, seconds: r.seconds, actions: r.actions, changed: r.changed, perSecond });
    console.log(`${run.name}: ${r.actions.toLocaleString("en-US")} in ${r.seconds.toFixed(1)} s = ${perSecond.toLocaleString("en-US")} records/s (${r.changed.toLocaleString("en-US")} changed)`);
  }
  if (PROFILE) {
    runReplay({ name: "profile", what: "", args: ["replay", ...json, "--no-verify", paths.counted, paths.audit] }, ["--cpu-prof", "--cpu-prof-dir", join(DIR, "profile")]);
    console.log(`profile in ${join(DIR, "profile")}`);
  }
  if (!WRITE) return;
  // --only reruns some scenarios: keep the others' latest results.
  const latest = join(ROOT, "bench/results/replay-latest.json");
  if (ONLY !== undefined && existsSync(latest)) {
    const before = (JSON.parse(readFileSync(latest, "utf8")) as { results: typeof results }).results;
    const order = runs.map((r) => r.name);
    for (const r of before) if (!results.some((x) => x.name === r.name)) results.push(r);
    results.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "?"}, load ${loadavg().map((x) => x.toFixed(2)).join(" ")}, Node ${process.version}`;
  const md = [
    "# tollgate replay throughput",
    "",
    `Generated by bench/replay.bench.ts on ${new Date().toISOString().slice(0, 10)} (${machine}).`,
    `${RECORDS.toLocaleString("en-US")} records: a day of decisions of bench/policies/generated-1000.yaml with a per-agent counter, ${STEP_MS.toFixed(1)} ms apart, with approval transitions; the same actions as JSONL. One process per run, spawn to exit.`,
    "",
    "records/s counts actions replayed (approval transitions, ~6% of the records, are read and applied but not counted); `verify` counts records.",
    "",
    "| scenario | what | actions | changed | seconds | records/s |",
    "|---|---|---:|---:|---:|---:|",
    ...results.map((r) => `| ${r.name} | ${r.what} | ${r.actions.toLocaleString("en-US")} | ${r.changed.toLocaleString("en-US")} | ${r.seconds.toFixed(1)} | ${r.perSecond.toLocaleString("en-US")} |`),
    "",
  ].join("\n");
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/replay-latest.md"), md);
  writeFileSync(join(ROOT, "bench/results/replay-latest.json"), JSON.stringify({ records: RECORDS, machine, results }, null, 2) + "\n");
  console.log("wrote bench/results/replay-latest.md");
}

await mainBench();
