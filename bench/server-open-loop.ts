// The open-loop part of `npm run bench:server` (issue 19): for one policy, a fresh `tollgate serve`
// (audit durable, approvals on, the pause log on: src/server/pauses.ts), the open-loop generator
// (bench/open-loop.ts) in its own process offering a constant rate over many connections, then
// the server's garbage-collection pauses and event-loop delays inside the generator's window.

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startListening } from "../test/support/server-child.js";
import type { OpenLoopConfig, OpenLoopResult } from "./open-loop.js";
import type { PauseLine } from "../src/server/pauses.js";

export interface PauseSummary {
  /** Processes that wrote a pause log (primary, workers). */
  processes: { role: string; pid: number; gc_pauses: number; gc_max_ms: number; gc_total_ms: number; eld_max_ms: number; eld_p999_max_ms: number }[];
  gc_max_ms: number;
  gc_pauses: number;
  /** The largest per-second event-loop delay p99.9 of any process in the window (an upper bound
   *  of the window's p99.9: per-second histograms cannot be merged exactly). */
  eld_p999_ms: number;
  eld_max_ms: number;
}

export interface OpenLoopRun {
  label: string;
  policy: string;
  result: OpenLoopResult;
  pauses: PauseSummary;
  server_exit_code: number | null;
}

export interface OpenLoopSetup {
  cli: string;
  label: string;
  policyFile: string;
  /** Shown in the report. */
  policyName: string;
  tokensFile: string;
  tokens: string[];
  actionsFile: string;
  workers: string;
  maxBatch: number;
  rate: number;
  connections: number;
  seconds: number;
}

/** Reads the pause logs of `dir` for the window [start, end] (epoch ms). */
export function summarizePauses(dir: string, start: number, end: number): PauseSummary {
  const processes: PauseSummary["processes"] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".jsonl"))) {
    const lines = readFileSync(join(dir, f), "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as PauseLine);
    const inWindow = lines.filter((l) => l.t >= start && l.t - 1000 <= end);
    if (lines.length === 0) continue;
    const gcs = inWindow.flatMap((l) => l.gc).filter(([t]) => t >= start && t <= end);
    const elds = inWindow.map((l) => l.eld).filter((e) => e !== null);
    processes.push({
      role: lines[0]!.role,
      pid: lines[0]!.pid,
      gc_pauses: gcs.length,
      gc_max_ms: Math.max(0, ...gcs.map(([, d]) => d)),
      gc_total_ms: Math.round(gcs.reduce((a, [, d]) => a + d, 0) * 10) / 10,
      eld_max_ms: Math.max(0, ...elds.map((e) => e.max)),
      eld_p999_max_ms: Math.max(0, ...elds.map((e) => e.p999)),
    });
  }
  processes.sort((a, b) => a.role.localeCompare(b.role));
  return {
    processes,
    gc_max_ms: Math.max(0, ...processes.map((p) => p.gc_max_ms)),
    gc_pauses: processes.reduce((a, p) => a + p.gc_pauses, 0),
    eld_p999_ms: Math.max(0, ...processes.map((p) => p.eld_p999_max_ms)),
    eld_max_ms: Math.max(0, ...processes.map((p) => p.eld_max_ms)),
  };
}

function generator(config: OpenLoopConfig): Promise<OpenLoopResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, "open-loop.js"), JSON.stringify(config)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (c: string) => (out += c));
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`open-loop generator exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()!) as OpenLoopResult);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

export async function openLoopRun(s: OpenLoopSetup): Promise<OpenLoopRun> {
  const pauseDir = mkdtempSync(join(tmpdir(), "tollgate-bench-pauses-"));
  const auditDir = mkdtempSync(join(tmpdir(), "tollgate-bench-open-audit-"));
  const server = await startListening(
    [s.cli, "serve", "--policy", s.policyFile, "--audit-dir", auditDir, "--tokens", s.tokensFile, "--port", "0", "--workers", s.workers, "--log-level", "warn", "--no-watch", "--max-batch", String(s.maxBatch)],
    { env: { ...process.env, TOLLGATE_PAUSE_LOG: pauseDir } },
  );
  console.error(`open loop [${s.label}]: server on ${server.url}, ${s.rate}/s over ${s.connections} connections for ${s.seconds} s`);
  let result: OpenLoopResult;
  try {
    result = await generator({ url: server.url, path: "/v1/decide", rate: s.rate, connections: s.connections, seconds: s.seconds, actionsFile: s.actionsFile, tokens: s.tokens, group: 1000, rampMs: 250 });
  } catch (e) {
    await server.stop();
    throw e;
  }
  const exit = await server.stop();
  const pauses = summarizePauses(pauseDir, result.window.start, result.window.end);
  rmSync(pauseDir, { recursive: true, force: true });
  rmSync(auditDir, { recursive: true, force: true });
  return { label: s.label, policy: s.policyName, result, pauses, server_exit_code: exit.code };
}
