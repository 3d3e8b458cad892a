// Crash safety: a writer is killed with SIGKILL at seeded random moments; every record whose
// append had resolved must survive, and the chain must verify after recovery.

import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { verifyLog } from "../../src/audit/verify.js";
import { ROOT, transpileForChild } from "../cli-helpers.js";
import { tempDir } from "./helpers.js";

let out: string;

/** Node 20 cannot run TypeScript: transpile the writer and what it imports (inside the repo, so
 *  that `canonicalize` resolves from node_modules). */
beforeAll(() => {
  const sources = ["src/canonical.ts", "test/audit/crash-writer.ts", ...readdirSync(join(ROOT, "src/audit")).map((f) => `src/audit/${f}`)];
  out = transpileForChild("tollgate-audit-crash-", sources);
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** mulberry32: the kill moments are random but the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Round {
  acked: Map<number, string>;
  startSeq: number;
}

/** Runs the writer until `afterAcks` acknowledgements plus `delayMs`, then SIGKILLs it. */
function crashRound(dir: string, afterAcks: number, delayMs: number, inFlight: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(out, "test/audit/crash-writer.js"), dir, "3000", String(inFlight)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const acked = new Map<number, string>();
    let startSeq = -1;
    let buffered = "";
    let killScheduled = false;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const [kind, a, b] = line.split(" ");
        if (kind === "ready") startSeq = Number(a);
        if (kind === "ack") acked.set(Number(a), b!);
      }
      if (!killScheduled && acked.size >= afterAcks) {
        killScheduled = true;
        setTimeout(() => child.kill("SIGKILL"), delayMs);
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => { // after stdout is read: every acknowledgement it printed
      if (signal !== "SIGKILL") return reject(new Error(`writer exited with ${code ?? signal} before it was killed`));
      resolve({ acked, startSeq });
    });
  });
}

describe("crash safety", () => {
  it("keeps every acknowledged record through 20 SIGKILLs, and the chain verifies", async () => {
    const dir = tempDir("crash");
    const random = rng(20250101);
    let total = 0;
    for (let round = 0; round < 20; round++) {
      const afterAcks = Math.floor(random() * 400);
      const delayMs = Math.floor(random() * 15);
      const inFlight = 1 + Math.floor(random() * 64);
      const { acked, startSeq } = await crashRound(dir, afterAcks, delayMs, inFlight);
      expect(startSeq).toBe(total); // the restarted writer continued where the last one was durable
      const log = await AuditLog.open(dir);
      expect(log.lastSeq).toBeGreaterThanOrEqual(Math.max(startSeq, ...acked.keys()));
      await log.close();
      total = log.lastSeq;
      const verified = await verifyLog(dir);
      expect(verified).toMatchObject({ ok: true, records: total });
      // Every acknowledged record is there, with the hash that was acknowledged.
      const hashes = new Map<number, string>();
      for (const f of readdirSync(dir).filter((f) => f.startsWith("audit-"))) {
        for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
          if (line) {
            const r = JSON.parse(line) as { seq: number; hash: string };
            hashes.set(r.seq, r.hash);
          }
        }
      }
      for (const [seq, hash] of acked) expect(hashes.get(seq), `record ${seq} (round ${round})`).toBe(hash);
    }
    expect(total).toBeGreaterThan(20);
  });
});
