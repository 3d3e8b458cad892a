// Audit log throughput and append latency, with and without group commit.
// Run: npx tsc -p tsconfig.json && node build/dist/bench/audit.bench.js [--records N]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog } from "../src/audit/log.js";
import type { AuditLogOptions } from "../src/audit/log.js";
import type { AuditEntry } from "../src/audit/format.js";

const arg = process.argv.indexOf("--records");
const RECORDS = arg > 0 ? Number(process.argv[arg + 1]) : 200_000;

const decision = Object.freeze({ decision: "allow" as const, rule: "refunds", reason: null, undetermined: false, policy: "billing-agent" });
function entry(i: number): AuditEntry {
  return {
    decision,
    action: { tool: "payments.refund", args: { order_id: `o-${i}`, amount: (i % 900) + 0.5, currency: "EUR", card_number: "[redacted]" }, agent: { id: "billing-bot" } },
    policy: "billing-agent",
    policy_hash: "ab".repeat(32),
    eval_ns: 900 + (i % 300),
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function run(name: string, options: AuditLogOptions, records: number, concurrency: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-audit-bench-"));
  const log = await AuditLog.open(dir, { checkpointIntervalMs: 1000, ...options });
  const latencies = new Float64Array(records);
  let next = 0;
  const start = process.hrtime.bigint();
  async function producer(): Promise<void> {
    while (next < records) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      await log.append(entry(i));
      latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, producer));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  console.log(
    `${name.padEnd(44)} ${String(records).padStart(7)} records  ${Math.round(records / seconds).toLocaleString("en-US").padStart(9)} records/s` +
      `  append p50 ${pct(sorted, 0.5).toFixed(3)} ms  p99 ${pct(sorted, 0.99).toFixed(3)} ms`,
  );
}

await run("group commit (2 ms window), 1024 producers", {}, RECORDS, 1024);
await run("group commit (2 ms window), 1 producer", {}, Math.min(RECORDS, 2_000), 1);
await run("no group commit (1 fdatasync/record), 1024 producers", { groupCommit: false }, Math.min(RECORDS, 5_000), 1024);
await run("no group commit (1 fdatasync/record), 1 producer", { groupCommit: false }, Math.min(RECORDS, 2_000), 1);
