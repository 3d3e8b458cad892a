// Tollgate from Python (wasmtime) in the peer benchmark: a separate process of the same run, on
// the same workloads. bench/peers.bench.ts writes the workloads (manifest, actions, Node's
// decisions) to a temporary JSON file, runs `.venv/bin/python bench/python_bench.py --peers ...`
// and reads its figures back. Without .venv (created by `npm run test:python` or
// `npm run bench:python`, scripts/venv.mjs), the run goes on without Python and says so.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";

export interface PythonWorkload {
  workload: string;
  variant: string;
  rules: number;
  manifest: Record<string, unknown>;
  actions: unknown[];
  /** Node's [decision, rule] for every action. */
  expected: [string, string | null][];
}

export interface PythonStats { p50: number; p99: number; p999: number; max: number; mean: number; samples: number; decisionsPerSec: number; repeats: { p50: number; p99: number; decisionsPerSec: number }[] }

export interface PythonRow {
  workload: string;
  variant: string;
  rules: number;
  actions: number;
  loadMs: number;
  memory: { heapBytes: number; externalBytes: null; rssBytes: number; copies: number };
  evaluate: PythonStats;
  evaluateBatch: PythonStats;
  checked: number;
  mismatches: number;
  firstMismatches: unknown[];
}

export interface PythonResult {
  ok: boolean;
  /** Why Python is missing from the results, when it is. */
  note?: string;
  python?: string;
  wasmtime?: string;
  workloads: PythonRow[];
}

export function pythonExecutable(root: string): string {
  return process.platform === "win32" ? join(root, ".venv", "Scripts", "python.exe") : join(root, ".venv", "bin", "python");
}

export function runPythonPeers(root: string, workloads: PythonWorkload[], budgetMs: number, log: (m: string) => void): PythonResult {
  const python = pythonExecutable(root);
  if (!existsSync(python)) {
    const note = `no Python venv at ${python}: Python left out of this run (create it with \`npm run bench:python\` or \`npm run test:python\`)`;
    log(note);
    return { ok: false, note, workloads: [] };
  }
  const probe = spawnSync(python, ["-c", "import tollgate, wasmtime"], { cwd: root, env: { ...process.env, TOLLGATE_WASM: join(root, "build/tollgate.wasm") }, encoding: "utf8" });
  if (probe.status !== 0) {
    const note = `the venv's Python cannot import tollgate and wasmtime (${(probe.stderr || "").trim().split("\n").pop() ?? "?"}): Python left out of this run`;
    log(note);
    return { ok: false, note, workloads: [] };
  }
  const dir = mkdtempSync(join(os.tmpdir(), "tollgate-peers-"));
  try {
    const input = join(dir, "workloads.json");
    const output = join(dir, "python.json");
    writeFileSync(input, JSON.stringify({ workloads }));
    log(`Python (separate process): ${workloads.length} workloads`);
    const r = spawnSync(python, ["bench/python_bench.py", "--peers", input, "--peers-out", output, "--budget-ms", String(budgetMs)], {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, TOLLGATE_WASM: join(root, "build/tollgate.wasm") },
      timeout: 15 * 60_000,
    });
    if (r.status !== 0 || !existsSync(output)) {
      const note = `the Python benchmark failed (exit ${r.status ?? r.signal}): Python left out of this run`;
      log(note);
      return { ok: false, note, workloads: [] };
    }
    const parsed = JSON.parse(readFileSync(output, "utf8")) as { python: string; wasmtime: string; workloads: PythonRow[] };
    return { ok: true, python: parsed.python, wasmtime: parsed.wasmtime, workloads: parsed.workloads };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
