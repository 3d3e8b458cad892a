// Segment files: `audit-<first seq, 20 digits>.jsonl`, in seq order by name.

import { readdir } from "node:fs/promises";

const SEGMENT = /^audit-(\d{20})\.jsonl$/;

export function segmentName(firstSeq: number): string {
  return `audit-${String(firstSeq).padStart(20, "0")}.jsonl`;
}

export interface SegmentFile {
  name: string;
  /** The seq its name says its first record has. */
  firstSeq: number;
}

/** The directory's segments, in order. Other files are ignored. */
export async function listSegments(dir: string): Promise<SegmentFile[]> {
  const out: SegmentFile[] = [];
  for (const name of await readdir(dir)) {
    const m = SEGMENT.exec(name);
    if (m) out.push({ name, firstSeq: Number(m[1]) });
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

/** Splits a segment's bytes into whole lines (without "\n") and the torn remainder, if any. */
export function splitLines(text: string): { lines: string[]; torn: string | null } {
  if (text.length === 0) return { lines: [], torn: null };
  const lines = text.split("\n");
  const last = lines.pop()!;
  return { lines, torn: last.length > 0 ? last : null };
}

/** A segment's whole lines as bytes (without "\n") and the torn remainder, if any. */
export function splitLineBytes(buf: Buffer): { lines: Buffer[]; torn: Buffer | null } {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
    lines.push(buf.subarray(start, nl));
    start = nl + 1;
  }
  return { lines, torn: start < buf.length ? buf.subarray(start) : null };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The text of one stored line, or null when its bytes are not valid UTF-8. Records are hashed
 * over the bytes as stored: a line must never be read with U+FFFD in place of bad bytes (then
 * two different byte strings would pass for one record).
 */
export function decodeLine(bytes: Buffer): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}
