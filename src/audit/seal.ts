// `tollgate audit seal`: continuing past damage as an explicit, recorded act (docs/audit.md).
// The seal record says what verify found and digests every segment as it stands, so the
// damage stays visible to every later verify and nothing before the seal can change unseen.

import { open } from "node:fs/promises";
import { userInfo } from "node:os";
import { join, relative } from "node:path";
import { readCheckpoint, signCheckpoint, writeCheckpoint } from "./checkpoint.js";
import type { Checkpoint } from "./checkpoint.js";
import { eventEntry, prefixDigest } from "./events.js";
import { encodeRecord, GENESIS } from "./format.js";
import { fsyncDir, writeAll } from "./fsutil.js";
import { loadOrCreateKeys } from "./keys.js";
import { acquireLock } from "./lock.js";
import { listSegments, segmentName, splitLineBytes } from "./segments.js";
import { verifyLog } from "./verify.js";
import type { VerifyOptions, VerifyResult } from "./verify.js";
import { deliverCheckpoint, readWitness } from "./witness.js";

export interface SealOptions extends Pick<VerifyOptions, "publicKey" | "witness"> {
  /** Why the damage is accepted (required: it is the record's point). */
  reason: string;
  /** Who seals (default: the OS user name). */
  by?: string;
  now?: () => Date;
}

export type SealResult =
  | { sealed: false; verify: Extract<VerifyResult, { ok: true }> }
  | { sealed: true; seq: number; hash: string; found: string; witnessError?: string };

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Verifies the log; if it does not verify, writes a seal record as the first line of a new
 * segment and a checkpoint covering it. The writer must be stopped (the lock is taken).
 */
export async function sealLog(dir: string, options: SealOptions): Promise<SealResult> {
  if (typeof options.reason !== "string" || options.reason.trim() === "") throw new TypeError("a seal needs a reason");
  const verified = await verifyLog(dir, { publicKey: options.publicKey, witness: options.witness });
  if (verified.ok) return { sealed: false, verify: verified };
  const found = `${relative(dir, verified.file) || "."}:${verified.line}: ${verified.message}`;
  const unlock = await acquireLock(dir);
  try {
    const keys = await loadOrCreateKeys(dir);
    const segments = await listSegments(dir);
    // No seq is used twice, even one of a deleted record: start past everything anyone saw.
    let maxSeq = 0;
    let prev = GENESIS;
    const digest = await prefixDigest(dir, segments, (seg, bytes) => {
      maxSeq = Math.max(maxSeq, seg.firstSeq); // past every segment's name, so the new one's is free
      const { lines } = splitLineBytes(bytes);
      for (const line of lines) {
        const r = readable(line);
        if (r !== null && Number.isSafeInteger(r.seq)) maxSeq = Math.max(maxSeq, r.seq as number);
      }
      const last = lines.length > 0 ? readable(lines[lines.length - 1]!) : null;
      if (lines.length > 0) prev = last !== null && typeof last.hash === "string" && HEX64.test(last.hash) ? last.hash : GENESIS;
    });
    const cpRead = await readCheckpoint(dir);
    const checkpoint: Checkpoint | null = "checkpoint" in cpRead ? cpRead.checkpoint : null;
    if (checkpoint !== null) maxSeq = Math.max(maxSeq, checkpoint.seq);
    let witness: Checkpoint | null = null;
    if (options.witness !== undefined) {
      const w = await readWitness(options.witness);
      if ("checkpoint" in w) {
        witness = w.checkpoint;
        maxSeq = Math.max(maxSeq, witness.seq);
      }
    }
    const seq = maxSeq + 1;
    const ts = (options.now?.() ?? new Date()).toISOString();
    const entry = eventEntry({ event: "seal", reason: options.reason, by: options.by ?? userInfo().username, found, prefix: digest, checkpoint, witness });
    const { hash, line } = encodeRecord(entry, seq, ts, prev);
    const fh = await open(join(dir, segmentName(seq)), "wx", 0o600); // a new segment: never an existing file
    try {
      await writeAll(fh, Buffer.from(line, "utf8"));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDir(dir);
    const cp = signCheckpoint({ seq, hash, key_id: keys.keyId, ts }, keys.privateKey);
    await writeCheckpoint(dir, cp);
    const result: SealResult = { sealed: true, seq, hash, found };
    if (options.witness !== undefined) {
      try {
        await deliverCheckpoint(options.witness, cp);
      } catch (err) {
        result.witnessError = (err as Error).message;
      }
    }
    return result;
  } finally {
    await unlock();
  }
}

function readable(line: Buffer): { seq?: unknown; hash?: unknown } | null {
  try {
    const v = JSON.parse(line.toString("utf8")) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as { seq?: unknown; hash?: unknown }) : null;
  } catch {
    return null;
  }
}
