// What OpenTelemetry traces cost the control plane (`npm run bench:otel`; src/server/tracing.ts):
// `tollgate serve` (2 workers, audit on) decided under autocannon with traces off (the default)
// and on (a span per request, batched and exported over OTLP http/json to a collector in this
// process), interleaved off/on/off/on in one run so the noisy machine touches both alike.
// The off path is also timed alone: what every request pays when traces are off.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { noteDecision } from "../src/server/tracing.js";
import { repoRoot } from "./paths.js";
import { startListening } from "../test/support/server-child.js";

const root = repoRoot();
const { values: opts } = parseArgs({ options: { quick: { type: "boolean", default: false }, out: { type: "string", default: join(root, "bench/results") } } });
const SECONDS = opts.quick ? 3 : 8;
const AGENT = "example-agent-billing-bot"; // examples/tokens.yaml

/** ns per call of the decision note when traces are off (req.span === null). */
function offPathNs(): number {
  const req = { span: null } as unknown as Parameters<typeof noteDecision>[0];
  const d = { decision: "allow", rule: "r", reason: null, undetermined: false, policy: "p" } as const;
  const n = 20_000_000;
  let best = Infinity;
  for (let k = 0; k < 5; k++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) noteDecision(req, d, "h", "a", i, null);
    best = Math.min(best, Number(process.hrtime.bigint() - t) / n);
  }
  return best;
}

async function main(): Promise<void> {
  let spans = 0;
  const collector = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      spans += (body.match(/"spanId"/g) ?? []).length;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  const otlp = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

  const action = { tool: "payments.refund", agent: { id: "bot-1" }, args: { order_id: "ord_4821abcd", amount: 20, currency: "EUR" } };
  const rows: { variant: string; rps: number; p50: number; p99: number; p999: number; errors: number }[] = [];
  for (const variant of ["off", "on", "off", "on"]) {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-otel-bench-"));
    const env = variant === "on" ? { OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" } : {};
    Object.assign(process.env, env);
    const server = await startListening([join(root, "bin/tollgate.js"), "serve", "--policy", join(root, "test/fixtures/billing-agent-stateless.yaml"), "--audit-dir", join(dir, "audit"), "--tokens", join(root, "examples/tokens.yaml"), "--port", "0", "--workers", "2", "--log-level", "warn"]);
    for (const k of Object.keys(env)) delete process.env[k];
    const r = await autocannon({ url: `${server.url}/v1/decide`, method: "POST", connections: 32, duration: SECONDS, headers: { authorization: `Bearer ${AGENT}`, "content-type": "application/json" }, body: JSON.stringify({ action }) });
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    rows.push({ variant, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, p999: r.latency.p99_9, errors: r.errors + r.non2xx });
    process.stderr.write(`${variant}: ${Math.round(r.requests.average)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms\n`);
  }
  collector.close();
  const mean = (v: string, k: "rps" | "p50" | "p99" | "p999") => rows.filter((r) => r.variant === v).reduce((s, r) => s + r[k], 0) / 2;
  const off = offPathNs();
  const md = [
    `# OpenTelemetry cost (\`npm run bench:otel\`), ${new Date().toISOString()}, load average ${loadavg().map((x) => x.toFixed(1)).join(" / ")}`,
    "",
    "`tollgate serve`, 2 workers, audit on, `/v1/decide` at 32 connections, interleaved off/on/off/on, " + `${SECONDS} s each; means of the two runs of each.`,
    "",
    "| traces | requests/s | p50 | p99 | p99.9 |",
    "|---|---:|---:|---:|---:|",
    ...["off", "on"].map((v) => `| ${v} | ${Math.round(mean(v, "rps"))} | ${mean(v, "p50").toFixed(1)} ms | ${mean(v, "p99").toFixed(1)} ms | ${mean(v, "p999").toFixed(1)} ms |`),
    "",
    `On / off throughput: ${((mean("on", "rps") / mean("off", "rps")) * 100).toFixed(1)}%; spans received by the collector: ${spans}; failed requests: ${rows.reduce((s, r) => s + r.errors, 0)}.`,
    `Off, a request pays one null check: ${off.toFixed(1)} ns per decide request (the decision note with no span), and no OpenTelemetry module is loaded.`,
    "",
  ].join("\n");
  mkdirSync(opts.out!, { recursive: true });
  writeFileSync(join(opts.out!, "otel-latest.md"), md);
  writeFileSync(join(opts.out!, "otel-latest.json"), JSON.stringify({ rows, spans, offPathNs: off, loadavg: loadavg() }, null, 2) + "\n");
  process.stdout.write(md);
}

await main();
