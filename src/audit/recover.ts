// Opening after a crash: cut a torn tail back to the last whole record, find where the chain ends.

import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { GENESIS, parseRecord } from "./format.js";
import { decodeLine, listSegments, segmentName, splitLineBytes } from "./segments.js";
import type { SegmentFile } from "./segments.js";

/** A structured warning from opening a log (also passed to `onWarning`). */
export interface AuditWarning {
  code: "torn-record" | "key-permissions" | "unsigned-tail" | "witness";
  message: string;
  file: string;
  /** 1-based line of the first byte cut, for `torn-record`. */
  line?: number;
  /** Bytes cut, for `torn-record`. */
  bytes?: number;
}

/** What to do about a log that does not verify: said the same way wherever open refuses one. */
export const OPEN_ADVICE =
  "nothing was written; run `tollgate audit verify DIR` to see the damage, and `tollgate audit seal DIR --reason TEXT` to continue past it deliberately";

export class AuditError extends Error {
  constructor(message: string, readonly file?: string, readonly line?: number) {
    super(file !== undefined ? `${file}${line !== undefined ? `:${line}` : ""}: ${message}` : message);
    this.name = "AuditError";
  }
}

export interface TailState {
  /** The segment appends go to (exists on disk). */
  segment: string;
  segmentBytes: number;
  lastSeq: number;
  lastHash: string;
  /** Whether the segment had to be created (the directory then needs an fsync). */
  created: boolean;
  /**
   * A torn end to cut from the last segment (`cutTornTail` does it), found but not yet cut:
   * nothing is written to a log before it is known to verify.
   */
  cut?: { path: string; name: string; size: number; warning: AuditWarning };
}

/**
 * Finds the end of the chain (writing nothing). Only the last segment may end badly: bytes after its last "\n"
 * (a record whose write was cut short) and whole trailing lines that are not JSON (blocks a
 * crash left unwritten) are cut off, and each cut is reported. Such a record was never
 * acknowledged: `append` resolves only after its bytes were synced. A last record that is JSON
 * but does not verify is not cut: that is tampering, and opening fails.
 */
export async function recoverTail(dir: string): Promise<TailState> {
  const segments = await listSegments(dir);
  if (segments.length === 0) {
    return { segment: segmentName(1), segmentBytes: 0, lastSeq: 0, lastHash: GENESIS, created: true };
  }
  const last = segments[segments.length - 1]!;
  const path = join(dir, last.name);
  const data = await readFile(path);
  const { lines, torn } = splitLineBytes(data);
  let keep = lines.length;
  let cut = torn !== null ? torn.length : 0;
  while (keep > 0 && !looksLikeJson(lines[keep - 1]!)) {
    keep--;
    cut += lines[keep]!.length + 1;
  }
  const size = data.length - cut;
  let planned: TailState["cut"];
  if (cut > 0) {
    planned = {
      path,
      name: last.name,
      size,
      warning: {
        code: "torn-record",
        file: path,
        line: keep + 1,
        bytes: cut,
        message: `${path}:${keep + 1}: cut ${cut} bytes of an incomplete record left by a crash; the log continues after line ${keep}`,
      },
    };
  }
  if (keep > 0) {
    const rec = lastRecord(path, lines, keep);
    return { segment: last.name, segmentBytes: size, lastSeq: rec.seq, lastHash: rec.hash, created: false, ...(planned && { cut: planned }) };
  }
  // An empty last segment: the chain ends in the segment before it.
  const prev = await previousEnd(dir, segments.slice(0, -1), last);
  return { segment: last.name, segmentBytes: 0, lastSeq: prev.seq, lastHash: prev.hash, created: false, ...(planned && { cut: planned }) };
}

/** Cuts the torn end `recoverTail` found (truncate and fsync), and reports it. */
export async function cutTornTail(tail: TailState, warn: (w: AuditWarning) => void): Promise<void> {
  if (tail.cut === undefined) return;
  const fh = await open(tail.cut.path, "r+");
  try {
    await fh.truncate(tail.cut.size);
    await fh.sync();
  } finally {
    await fh.close();
  }
  warn(tail.cut.warning);
}

/**
 * A crash leaves text cut short or blocks of zeros, never a JSON line: only those are cut. A
 * JSON line with bad bytes in it (read here with U+FFFD) is kept, and then fails to verify.
 */
function looksLikeJson(line: Buffer): boolean {
  try {
    JSON.parse(line.toString("utf8"));
    return true;
  } catch {
    return false;
  }
}

function lastRecord(path: string, lines: Buffer[], count: number): { seq: number; hash: string } {
  const text = decodeLine(lines[count - 1]!);
  const parsed = text === null ? { error: "line is not valid UTF-8" } : parseRecord(text);
  if ("error" in parsed) throw new AuditError(`the last record does not verify (${parsed.error}); ${OPEN_ADVICE}`, path, count);
  return parsed.record;
}

async function previousEnd(dir: string, before: SegmentFile[], empty: SegmentFile): Promise<{ seq: number; hash: string }> {
  if (before.length === 0) {
    if (empty.firstSeq !== 1) throw new AuditError("the only segment is empty but is not named for seq 1", join(dir, empty.name));
    return { seq: 0, hash: GENESIS };
  }
  const prevSeg = before[before.length - 1]!;
  const path = join(dir, prevSeg.name);
  const { lines, torn } = splitLineBytes(await readFile(path));
  if (torn !== null || lines.length === 0) throw new AuditError("a segment before the last is empty or ends in an incomplete record", path);
  const rec = lastRecord(path, lines, lines.length);
  if (rec.seq + 1 !== empty.firstSeq) throw new AuditError(`the empty last segment is named for seq ${empty.firstSeq} but the chain ends at ${rec.seq}`, join(dir, empty.name));
  return rec;
}
