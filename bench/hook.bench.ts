// `tollgate hook claude-code`, measured as Claude Code pays for it: a new process per tool call,
// from spawn (the tool call on stdin) until the process has answered and exited. Against the
// floor of any Node hook in the same run: `node -e ""`. Configurations, interleaved round by
// round so that the machine's noise falls on all of them alike:
//   - node -e ""                          the baseline: starting and stopping Node
//   - stateless, cold / warm cache        examples/devops-agent.yaml, no audit log; cold = an
//                                         empty policy cache (YAML parsed), warm = the cached JSON
//   - audit + counters, cold / warm       examples/coding-agent.yaml with --audit DIR: lock,
//                                         open and verify the log's tail, counters from the
//                                         snapshot, decide, append (fsync), checkpoint, snapshot
//   - control plane                       --control-plane URL of a local `tollgate serve`
//                                         (1 worker) with the same policy: the thin client
//
// Run: npm run build:ts && node build/dist/bench/hook.bench.js [--rounds 40] [--quick]
// Writes bench/results/hook-latest.md and .json.

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "./paths.js";

const root = repoRoot();
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "40" },
    quick: { type: "boolean", default: false },
    out: { type: "string", default: join(root, "bench/results") },
  },
});
const rounds = values.quick ? 8 : Number(values.rounds);
const bin = join(root, "bin/tollgate.js");
const work = mkdtempSync(join(tmpdir(), "tollgate-hook-bench-"));
const AGENT_TOKEN = "example-agent-billing-bot"; // examples/tokens.yaml

const CALL = JSON.stringify({
  session_id: "bench-session",
  transcript_path: "/tmp/transcript.jsonl",
  cwd: work,
  permission_mode: "default",
  hook_event_name: "PreToolUse",
  tool_name: "Bash",
  tool_input: { command: "npm test", description: "Run the tests" },
  tool_use_id: "toolu_bench",
});

interface Config {
  name: string;
  /** Arguments of node, and the environment, for run number `i`. */
  argv: (i: number) => string[];
  env: (i: number) => Record<string, string>;
  stdin: string;
}

/** Spawn to exit, in ms; rejects if the answer is not a PreToolUse answer (or, for node, any output). */
function once(c: Config, i: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(process.execPath, c.argv(i), { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...c.env(i) } });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`${c.name}: exit ${code}: ${err}`));
      if (c.stdin !== "" && !out.includes('"hookEventName":"PreToolUse"')) return reject(new Error(`${c.name}: no answer: ${out} ${err}`));
      resolve(ms);
    });
    p.stdin.end(c.stdin);
  });
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

async function startServe(policy: string): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [bin, "serve", "--policy", policy, "--audit-dir", join(work, "serve-audit"), "--tokens", join(root, "examples/tokens.yaml"), "--port", "0", "--workers", "1", "--no-watch"], { stdio: ["ignore", "pipe", "pipe"] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error("tollgate serve did not start")), 30_000);
    proc.stdout!.on("data", (c) => {
      buf += c;
      for (const line of buf.split("\n")) {
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.msg === "listening" && j.port !== undefined) {
            clearTimeout(timer);
            resolve(j.port);
          }
        } catch {
          // not a whole JSON line yet
        }
      }
    });
    proc.on("exit", (code) => reject(new Error(`tollgate serve exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, proc };
}

async function main(): Promise<void> {
  const stateless = join(root, "examples/devops-agent.yaml");
  const stateful = join(root, "examples/coding-agent.yaml");
  const warmCache = join(work, "cache-warm");
  mkdirSync(warmCache, { mode: 0o700 });
  const cold = (name: string) => (i: number) => {
    const d = join(work, `cache-${name}-${i}`);
    return { TOLLGATE_CACHE_DIR: d };
  };
  const serve = await startServe(stateful);
  const configs: Config[] = [
    { name: 'node -e ""', argv: () => ["-e", ""], env: () => ({}), stdin: "" },
    { name: "hook, stateless policy, cold cache", argv: () => [bin, "hook", "claude-code", "--policy", stateless], env: cold("stateless"), stdin: CALL },
    { name: "hook, stateless policy, warm cache", argv: () => [bin, "hook", "claude-code", "--policy", stateless], env: () => ({ TOLLGATE_CACHE_DIR: warmCache }), stdin: CALL },
    { name: "hook, --audit + counters, cold cache", argv: () => [bin, "hook", "claude-code", "--policy", stateful, "--audit", join(work, "audit-cold")], env: cold("stateful"), stdin: CALL },
    { name: "hook, --audit + counters, warm cache", argv: () => [bin, "hook", "claude-code", "--policy", stateful, "--audit", join(work, "audit-warm")], env: () => ({ TOLLGATE_CACHE_DIR: warmCache }), stdin: CALL },
    { name: "hook, --control-plane (local serve)", argv: () => [bin, "hook", "claude-code", "--control-plane", serve.url], env: () => ({ TOLLGATE_TOKEN: AGENT_TOKEN }), stdin: CALL },
  ];
  try {
    // One untimed run of each: the warm cache filled, the logs created, the server's first request.
    for (const c of configs) await once(c, -1);
    const samples = new Map<string, number[]>(configs.map((c) => [c.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const c of configs) samples.get(c.name)!.push(await once(c, r));
    }
    const rows = configs.map((c) => {
      const s = [...samples.get(c.name)!].sort((a, b) => a - b);
      return { name: c.name, n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), min: s[0]!, max: s[s.length - 1]! };
    });
    const base = rows[0]!;
    const fmt = (x: number) => x.toFixed(1);
    const table = [
      "| invocation | n | p50 ms | p99 ms | min ms | max ms | p50 over node -e \"\" |",
      "|---|---|---|---|---|---|---|",
      ...rows.map((r) => `| ${r.name} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.min)} | ${fmt(r.max)} | ${r === base ? "—" : `+${fmt(r.p50 - base.p50)}`} |`),
    ].join("\n");
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}, load average at the end ${loadavg().map((x) => x.toFixed(2)).join(" / ")}`;
    const md = `# tollgate hook claude-code: spawn to answer\n\n${new Date().toISOString()} — ${machine}. ${rounds} rounds, the configurations interleaved (one of each per round), after one untimed run of each. Time from spawn() with the tool call on stdin until the process has answered and exited (what Claude Code waits for). p99 of ${rounds} samples is close to the maximum.\n\n${table}\n\n- cold cache: an empty TOLLGATE_CACHE_DIR (the YAML is parsed and the JSON cached); warm: the cached JSON, no YAML parser loaded.\n- --audit + counters: examples/coding-agent.yaml (3 counters), the hook lock, the audit log opened and its tail verified, the counters from the snapshot, one record appended and fsynced, a signed checkpoint, the snapshot written.\n- --control-plane: the decision, audit and counters in a local \`tollgate serve\` (1 worker); the hook loads neither the engine nor the log.\n`;
    mkdirSync(values.out!, { recursive: true });
    writeFileSync(join(values.out!, "hook-latest.md"), md);
    writeFileSync(join(values.out!, "hook-latest.json"), JSON.stringify({ date: new Date().toISOString(), machine, rounds, rows }, null, 2) + "\n");
    process.stdout.write(md);
  } finally {
    serve.proc.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
