// The control-plane part of the counters benchmark (bench/counters.bench.ts): `tollgate serve`
// with and without counters, and `tollgate serve --state redis://...` with 1, 2, 3 instances
// sharing one Redis. Each instance is a child process (bench/server.bench.ts's way: audit on,
// approvals on) on loopback, with one token per agent (the server sets `agent.id` from the
// token: 1,000 agents need 1,000 tokens); autocannon drives it from this process.

import { execFileSync } from "node:child_process";
import { hash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { startListening } from "../test/support/server-child.js";
import type { ListeningChild } from "../test/support/server-child.js";
import { agentId, AGENTS } from "./counters-workload.js";
import type { ActionStream } from "./counters-workload.js";

export interface ServeRun {
  label: string;
  instances: number;
  workers: number;
  connections: number;
  seconds: number;
  decisions: number;
  decisions_per_s: number;
  /** Per instance, decisions/s. */
  per_instance: number[];
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  errors: number;
  non2xx: number;
  /** CPU time of the server's processes per decision, µs (see `ServerCpu`); absent where /proc is not. */
  cpu_us_per_decision?: { primary: number; workers: number[] };
}

/**
 * CPU time (user + system) of a server's primary and its workers, read from /proc (Linux): the
 * server's own work per decision, without the time it waited for a CPU that the load generator or
 * another process held (what decisions/s on a shared 2-core machine mixes in); and the workers'
 * split shows when one worker took most of the connections (SCHED_NONE: whichever accepts first).
 */
export class ServerCpu {
  private constructor(
    private readonly pids: number[],
    private readonly start: number[],
  ) {}

  /** Starts counting for `primary` and its child processes; null where /proc cannot be read. */
  static start(primary: number): ServerCpu | null {
    try {
      const children = execFileSync("pgrep", ["-P", String(primary)], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
      const pids = [primary, ...children];
      return new ServerCpu(pids, pids.map(cpuMs));
    } catch {
      return null;
    }
  }

  /** µs of CPU per decision since `start`, for the primary and each worker. */
  perDecision(decisions: number): { primary: number; workers: number[] } | undefined {
    try {
      const used = this.pids.map((pid, i) => ((cpuMs(pid) - this.start[i]!) * 1000) / Math.max(1, decisions));
      const round = (x: number) => Math.round(x * 10) / 10;
      return { primary: round(used[0]!), workers: used.slice(1).map(round) };
    } catch {
      return undefined; // a process exited meanwhile
    }
  }
}

/** utime + stime of `pid` in ms (fields 14 and 15 of /proc/PID/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A directory with tokens for AGENTS agents and the policies. */
export class ServeEnv {
  readonly dir: string;
  readonly tokens: string[] = [];
  private next = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "tollgate-bench-counters-"));
    let yaml = "tokens:\n";
    for (let k = 0; k < AGENTS; k++) {
      const t = `bench-${agentId(k)}-${Math.random().toString(36).slice(2)}`;
      this.tokens.push(t);
      yaml += `  ${hash("sha256", t, "hex")}: { identity: ${agentId(k)}, role: agent }\n`;
    }
    writeFileSync(join(this.dir, "tokens.yaml"), yaml);
  }

  policyFile(name: string, text: string): string {
    const f = join(this.dir, `${name}.yaml`);
    writeFileSync(f, text);
    return f;
  }

  async start(cli: string, policy: string, workers: number, state?: string): Promise<ListeningChild> {
    const audit = join(this.dir, `audit-${this.next++}`);
    mkdirSync(audit, { recursive: true });
    const args = [cli, "serve", "--policy", policy, "--audit-dir", audit, "--tokens", join(this.dir, "tokens.yaml"), "--port", "0", "--workers", String(workers), "--log-level", "warn", "--no-watch"];
    if (state !== undefined) args.push("--state", state);
    return startListening(args);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Request bodies: the stream's actions, each sent with the token of its agent (the server puts
 * the token's identity in `agent.id`). An anonymous template is sent with the first agent's token.
 */
export function decideRequests(env: ServeEnv, stream: ActionStream, count: number, offset: number): { body: string; token: string }[] {
  const out: { body: string; token: string }[] = [];
  for (let i = 0; i < count; i++) {
    const a = stream.action(offset + i);
    out.push({ body: JSON.stringify({ action: a }), token: env.tokens[stream.agents[(offset + i) % stream.length]!]! });
  }
  return out;
}

/** `seconds` of POST /v1/decide with `connections` connections per instance, all instances at once. */
export async function drive(urls: string[], requests: { body: string; token: string }[], connections: number, seconds: number, label: string, workers: number): Promise<ServeRun> {
  let next = 0;
  const one = (url: string): Promise<autocannon.Result> => new Promise((resolve, reject) => {
    autocannon({
      url,
      connections,
      duration: seconds,
      pipelining: 1,
      timeout: 30,
      workers: 0,
      requests: [{
        method: "POST",
        path: "/v1/decide",
        setupRequest: (req: autocannon.Request) => {
          const r = requests[next++ % requests.length]!;
          return { ...req, body: r.body, headers: { "content-type": "application/json", authorization: `Bearer ${r.token}` } };
        },
      }],
    } as autocannon.Options, (err, res) => (err ? reject(err) : resolve(res)));
  });
  const t0 = performance.now();
  const results = await Promise.all(urls.map(one));
  const elapsed = (performance.now() - t0) / 1000;
  const ok = results.map((r) => r["2xx"]);
  const total = ok.reduce((a, b) => a + b, 0);
  // Latency: the instances' figures weighted by their requests (autocannon's per-run histogram).
  const w = (f: (r: autocannon.Result) => number) => Math.round(100 * results.reduce((a, r, k) => a + f(r) * ok[k]!, 0) / Math.max(1, total)) / 100;
  return {
    label,
    instances: urls.length,
    workers,
    connections: connections * urls.length,
    seconds: Math.round(elapsed * 10) / 10,
    decisions: total,
    decisions_per_s: Math.round(total / elapsed),
    per_instance: ok.map((n) => Math.round(n / elapsed)),
    latency_ms: { p50: w((r) => r.latency.p50), p90: w((r) => r.latency.p90), p99: w((r) => r.latency.p99), max: Math.max(...results.map((r) => r.latency.max)) },
    errors: results.reduce((a, r) => a + r.errors + r.timeouts, 0),
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
  };
}
