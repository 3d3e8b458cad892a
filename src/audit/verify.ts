// `tollgate audit verify`: every record, link, seq, segment and the signed checkpoint.

import type { KeyObject } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { CHECKPOINT_FILE, checkpointSignatureValid, readCheckpoint } from "./checkpoint.js";
import { GENESIS, parseRecord } from "./format.js";
import { keyId, parsePublicKey, PUBLIC_KEY_FILE } from "./keys.js";
import { listSegments, splitLines } from "./segments.js";

export interface VerifyOptions {
  /** The public key checkpoints must be signed with (default: the directory's `audit.pub`). */
  publicKey?: KeyObject | string;
}

export type VerifyResult =
  | { ok: true; records: number; segments: number; checkpointSeq: number }
  | { ok: false; file: string; line: number; message: string };

/** Verifies the log in `dir`; stops at the first problem. Reads only. */
export async function verifyLog(dir: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const fail = (file: string, line: number, message: string): VerifyResult => ({ ok: false, file, line, message });
  try {
    if (!(await stat(dir)).isDirectory()) return fail(dir, 1, "not a directory");
  } catch {
    return fail(dir, 1, "no such directory");
  }
  const segments = await listSegments(dir);
  let expectedSeq = 1;
  let prev = GENESIS;
  let records = 0;
  let endFile = join(dir, CHECKPOINT_FILE);
  let endLine = 1;
  const hashes = new Map<number, { hash: string; file: string; line: number }>();
  const cpRead = await readCheckpoint(dir);
  const cpPath = join(dir, CHECKPOINT_FILE);
  if ("error" in cpRead) return fail(cpPath, 1, cpRead.error);
  const cp = cpRead.checkpoint;
  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s]!;
    const file = join(dir, seg.name);
    if (seg.firstSeq !== expectedSeq) {
      return fail(file, 1, `segment is named for seq ${seg.firstSeq} but the previous segment ends at seq ${expectedSeq - 1}`);
    }
    const { lines, torn } = splitLines(await readFile(file, "utf8"));
    if (lines.length === 0 && s < segments.length - 1) return fail(file, 1, "empty segment before the last one");
    for (let i = 0; i < lines.length; i++) {
      const parsed = parseRecord(lines[i]!);
      if ("error" in parsed) return fail(file, i + 1, parsed.error);
      const r = parsed.record;
      if (r.seq !== expectedSeq) {
        return fail(file, i + 1, i === 0 ? `first record of the segment has seq ${r.seq}; expected ${expectedSeq}` : `seq ${r.seq} follows seq ${expectedSeq - 1}`);
      }
      if (r.prev !== prev) {
        return fail(file, i + 1, i === 0 && s > 0
          ? `prev does not link to the last record of ${segments[s - 1]!.name} (${prev})`
          : `prev ${r.prev} is not the previous record's hash ${prev}`);
      }
      if (cp !== null && r.seq === cp.seq) hashes.set(r.seq, { hash: r.hash, file, line: i + 1 });
      prev = r.hash;
      expectedSeq++;
      records++;
      endFile = file;
      endLine = i + 1;
    }
    if (torn !== null) return fail(file, lines.length + 1, "incomplete last record (cut short by a crash; opening the log repairs it)");
  }
  // The checkpoint: signed by the right key, and not ahead of the log.
  if (cp === null) return segments.length === 0 ? fail(dir, 1, "no audit log here (no segments, no checkpoint)") : fail(cpPath, 1, "checkpoint.json is missing");
  let publicKey: KeyObject;
  try {
    if (options.publicKey !== undefined) {
      publicKey = typeof options.publicKey === "string" ? parsePublicKey(options.publicKey) : options.publicKey;
    } else {
      publicKey = parsePublicKey(await readFile(join(dir, PUBLIC_KEY_FILE)));
    }
  } catch (err) {
    return fail(options.publicKey === undefined ? join(dir, PUBLIC_KEY_FILE) : "<public key>", 1, `cannot read the public key: ${(err as Error).message}`);
  }
  if (cp.key_id !== keyId(publicKey)) return fail(cpPath, 1, `checkpoint was signed by key ${cp.key_id}, not by the given public key (${keyId(publicKey)})`);
  if (!checkpointSignatureValid(cp, publicKey)) return fail(cpPath, 1, "checkpoint signature does not verify");
  if (cp.seq > records) {
    return fail(cpPath, 1, `the log ends at seq ${records}${records > 0 ? ` (${endFile}:${endLine})` : ""} but the checkpoint covers seq ${cp.seq}: records were deleted`);
  }
  if (cp.seq === 0) {
    if (cp.hash !== GENESIS) return fail(cpPath, 1, "checkpoint at seq 0 does not hold the genesis hash");
  } else {
    const at = hashes.get(cp.seq)!;
    if (at.hash !== cp.hash) return fail(at.file, at.line, `record ${cp.seq} has hash ${at.hash} but the checkpoint says ${cp.hash}`);
  }
  return { ok: true, records, segments: segments.length, checkpointSeq: cp.seq };
}
