// Child process of crash.test.ts: appends records as fast as it can, printing "ack SEQ HASH"
// once each append has resolved (stdout to a pipe is synchronous on Linux), until it is killed.

import { AuditLog } from "../../src/audit/log.js";
import type { AuditEntry } from "../../src/audit/format.js";

const [dir, segmentBytes, inFlight] = process.argv.slice(2);
const log = await AuditLog.open(dir!, { segmentBytes: Number(segmentBytes), batchWindowMs: 1, checkpointIntervalMs: 5 });
for (const w of log.warnings) process.stdout.write(`warning ${w.code}\n`);
process.stdout.write(`ready ${log.lastSeq}\n`);

const decision = Object.freeze({ decision: "allow" as const, rule: "r", reason: null, undetermined: false, policy: "crash" });
let n = 0;
function entry(): AuditEntry {
  n++;
  return { decision, action: { tool: "t", args: { n, pad: "x".repeat(n % 200) } }, policy: "crash", policy_hash: "0".repeat(64), eval_ns: n };
}
async function worker(): Promise<void> {
  for (;;) {
    const { seq, hash } = await log.append(entry());
    process.stdout.write(`ack ${seq} ${hash}\n`);
  }
}
await Promise.all(Array.from({ length: Number(inFlight) }, worker));
