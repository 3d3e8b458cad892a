// Reading records for people: the last N (`audit tail`) and one by seq (`audit show`).

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { listSegments, splitLines } from "./segments.js";

/** The last `n` whole lines of the log, oldest first (as written, without "\n"). */
export async function tailLines(dir: string, n: number): Promise<string[]> {
  const segments = await listSegments(dir);
  const out: string[] = [];
  for (let s = segments.length - 1; s >= 0 && out.length < n; s--) {
    const { lines } = splitLines(await readFile(join(dir, segments[s]!.name), "utf8"));
    out.unshift(...lines.slice(Math.max(0, lines.length - (n - out.length))));
  }
  return out;
}

/** The line of the record with `seq`, found through the segment names; null if there is none. */
export async function findRecord(dir: string, seq: number): Promise<{ file: string; line: number; text: string } | null> {
  const segments = await listSegments(dir);
  let s = segments.length - 1;
  while (s >= 0 && segments[s]!.firstSeq > seq) s--;
  if (s < 0) return null;
  const file = join(dir, segments[s]!.name);
  const { lines } = splitLines(await readFile(file, "utf8"));
  const guess = seq - segments[s]!.firstSeq;
  const candidates = guess < lines.length ? [guess, ...lines.keys()] : [...lines.keys()];
  for (const i of candidates) {
    try {
      if ((JSON.parse(lines[i]!) as { seq?: unknown }).seq === seq) return { file, line: i + 1, text: lines[i]! };
    } catch {
      // not a record: skip
    }
  }
  return null;
}
