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
