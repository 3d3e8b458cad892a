// Walking the hash chain: every record from a starting point to the end of the log, checked
// as stored (strict UTF-8, canonical, hash, seq, prev, segment names). Shared by `verifyLog`
// (from the start, or from the latest seal) and `AuditLog.open` (from the checkpoint).

import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { eventOf } from "./events.js";
import type { AuditEventKind } from "./events.js";
import { parseRecord } from "./format.js";
import type { AuditRecord } from "./format.js";
import { decodeLine, splitLineBytes } from "./segments.js";
import type { SegmentFile } from "./segments.js";

export interface ChainStart {
  /** Index in `segments` of the segment to start in. */
  segment: number;
  /** 0-based line of that segment to start at. */
  line: number;
  /** The seq the record at that line must have. */
  seq: number;
  /** The `prev` it must have; null: not checked (the caller vouches for what came before). */
  prev: string | null;
}

export interface Place {
  file: string;
  /** 1-based. */
  line: number;
}

export interface ChainProblem extends Place {
  message: string;
}

export interface EventSeen extends Place {
  kind: AuditEventKind;
  record: AuditRecord;
}

export interface ChainWalk {
  /** Records walked. */
  records: number;
  /** The last record's seq and hash (the start's seq - 1 and prev when none was walked). */
  lastSeq: number;
  lastHash: string | null;
  /** Where the last record walked is. */
  end: Place | null;
  /** The hash and place of each record whose seq was asked for. */
  at: Map<number, Place & { hash: string }>;
  /** Event records walked (`recover`, `seal`), in order. */
  events: EventSeen[];
  /** First seq of each segment walked and where it is, to place any seq. */
  segmentStarts: { firstSeq: number; file: string; firstLine: number }[];
  /**
   * Asked by open (`late`): the first record after `afterSeq` whose `ts` is more than `spanMs`
   * later than that of the first record after `afterSeq` (`firstAfter`).
   */
  lateRecord?: Place & { seq: number; ts: string };
  firstAfter?: { seq: number; ts: string };
}

/** Walks from `start` to the end; stops at the first problem. */
export async function walkChain(
  dir: string,
  segments: readonly SegmentFile[],
  start: ChainStart,
  want: ReadonlySet<number> = new Set(),
  /** Segments to read only so far (bytes by name): a torn end that is yet to be cut. */
  sizes: ReadonlyMap<string, number> = new Map(),
  /** Note the first record with seq > `afterSeq` whose `ts` runs more than `spanMs` past the first such record's. */
  late?: { afterSeq: number; spanMs: number },
): Promise<ChainWalk | ChainProblem> {
  let expectedSeq = start.seq;
  let prev = start.prev;
  const walk: ChainWalk = { records: 0, lastSeq: start.seq - 1, lastHash: prev, end: null, at: new Map(), events: [], segmentStarts: [] };
  for (let s = start.segment; s < segments.length; s++) {
    const seg = segments[s]!;
    const file = join(dir, seg.name);
    const first = s === start.segment ? start.line : 0;
    if (first === 0 && seg.firstSeq !== expectedSeq) {
      return { file, line: 1, message: `segment is named for seq ${seg.firstSeq} but the previous segment ends at seq ${expectedSeq - 1}` };
    }
    const data = await readFile(file);
    const { lines, torn } = splitLineBytes(data.subarray(0, sizes.get(seg.name) ?? data.length));
    if (lines.length === 0 && s < segments.length - 1) return { file, line: 1, message: "empty segment before the last one" };
    walk.segmentStarts.push({ firstSeq: expectedSeq, file, firstLine: first });
    for (let i = first; i < lines.length; i++) {
      const text = decodeLine(lines[i]!);
      if (text === null) return { file, line: i + 1, message: "line is not valid UTF-8" };
      const parsed = parseRecord(text);
      if ("error" in parsed) return { file, line: i + 1, message: parsed.error };
      const r = parsed.record;
      if (r.seq !== expectedSeq) {
        return { file, line: i + 1, message: i === 0 ? `first record of the segment has seq ${r.seq}; expected ${expectedSeq}` : `seq ${r.seq} follows seq ${expectedSeq - 1}` };
      }
      if (prev !== null && r.prev !== prev) {
        return {
          file,
          line: i + 1,
          message: i === 0 && s > 0 ? `prev does not link to the last record of ${segments[s - 1]!.name} (${prev})` : `prev ${r.prev} is not the previous record's hash ${prev}`,
        };
      }
      const kind = eventOf(r);
      if (kind !== null) {
        if (kind === "seal" && (i !== 0 || walk.records > 0)) return { file, line: i + 1, message: "a seal record that does not start the checked part of the log (it must be the first line of its segment, and the latest seal)" };
        walk.events.push({ kind, record: r, file, line: i + 1 });
      }
      if (want.has(r.seq)) walk.at.set(r.seq, { hash: r.hash, file, line: i + 1 });
      if (late !== undefined && walk.lateRecord === undefined && r.seq > late.afterSeq) {
        walk.firstAfter ??= { seq: r.seq, ts: r.ts };
        if (Date.parse(r.ts) > Date.parse(walk.firstAfter.ts) + late.spanMs) walk.lateRecord = { seq: r.seq, ts: r.ts, file, line: i + 1 };
      }
      prev = r.hash;
      expectedSeq++;
      walk.records++;
      walk.end = { file, line: i + 1 };
    }
    if (torn !== null) return { file, line: lines.length + 1, message: "incomplete last record (cut short by a crash; opening the log repairs it)" };
  }
  walk.lastSeq = expectedSeq - 1;
  walk.lastHash = prev;
  return walk;
}

export function isProblem(w: ChainWalk | ChainProblem): w is ChainProblem {
  return "message" in w;
}

/** Where record `seq` is, for a seq within a walk (its records are consecutive). */
export function placeOf(walk: ChainWalk, seq: number): Place | null {
  for (let k = walk.segmentStarts.length - 1; k >= 0; k--) {
    const st = walk.segmentStarts[k]!;
    if (st.firstSeq <= seq) return { file: st.file, line: st.firstLine + (seq - st.firstSeq) + 1 };
  }
  return null;
}

/** The first line of a file (without "\n"), read in chunks; null for an empty file. */
export async function readFirstLine(path: string): Promise<Buffer | null> {
  const fh = await open(path, "r");
  try {
    const chunks: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      const nl = chunk.indexOf(0x0a);
      if (nl !== -1) {
        chunks.push(chunk.subarray(0, nl));
        return Buffer.concat(chunks);
      }
      chunks.push(chunk);
      pos += bytesRead;
    }
    return chunks.length === 0 ? null : Buffer.concat(chunks);
  } finally {
    await fh.close();
  }
}

/** The latest segment that starts with a seal record, with that record; null if none. */
export async function latestSeal(dir: string, segments: readonly SegmentFile[]): Promise<{ index: number; record: AuditRecord } | null> {
  for (let s = segments.length - 1; s >= 0; s--) {
    const first = await readFirstLine(join(dir, segments[s]!.name));
    if (first === null) continue;
    const text = decodeLine(first);
    if (text === null) continue;
    const parsed = parseRecord(text);
    if ("error" in parsed) continue;
    if (eventOf(parsed.record) === "seal") return { index: s, record: parsed.record };
  }
  return null;
}
