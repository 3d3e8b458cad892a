// Reading records for people: the last N (`audit tail`), the ones appended since (`audit tail
// -f`), and one by seq (`audit show`).

import { createReadStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { listSegments, splitLineBytes } from "./segments.js";

/** Where the whole lines read so far end: a segment's name and a byte offset in it. */
export interface LogPosition {
  segment: string | null;
  offset: number;
}

/** The last `n` whole lines of the log, oldest first (as written, without "\n"), and where they end. */
export async function tail(dir: string, n: number): Promise<{ lines: string[]; end: LogPosition }> {
  const segments = await listSegments(dir);
  const out: string[] = [];
  let end: LogPosition = { segment: null, offset: 0 };
  for (let s = segments.length - 1; s >= 0 && (out.length < n || end.segment === null); s--) {
    const bytes = await readFile(join(dir, segments[s]!.name));
    const { lines, torn } = splitLineBytes(bytes);
    if (end.segment === null) end = { segment: segments[s]!.name, offset: bytes.length - (torn?.length ?? 0) };
    const text = lines.map((l) => l.toString("utf8"));
    out.unshift(...text.slice(Math.max(0, text.length - (n - out.length))));
  }
  return { lines: out, end };
}

/** The last `n` whole lines of the log, oldest first (as written, without "\n"). */
export async function tailLines(dir: string, n: number): Promise<string[]> {
  return (await tail(dir, n)).lines;
}

/**
 * Follows a live log from `from` (as `tail -f`): every `pollMs`, the whole lines appended since,
 * given to `onLines` in order, across segment rotations; until `signal` aborts. A torn last line
 * is waited for until it is whole.
 */
export async function followLines(dir: string, from: LogPosition, onLines: (lines: string[]) => Promise<void>, { pollMs = 250, signal }: { pollMs?: number; signal: AbortSignal }): Promise<void> {
  let at = { ...from };
  while (!signal.aborted) {
    const segments = await listSegments(dir);
    let i = at.segment === null ? 0 : segments.findIndex((s) => s.name === at.segment);
    if (i < 0) i = segments.findIndex((s) => at.segment === null || s.name > at.segment); // gone (never, in a log): the next one
    let moved = false;
    for (; i >= 0 && i < segments.length; i++) {
      const name = segments[i]!.name;
      if (name !== at.segment) at = { segment: name, offset: 0 };
      const file = await open(join(dir, name), "r").catch(() => null);
      if (file === null) break;
      let bytes: Buffer;
      try {
        const size = (await file.stat()).size;
        bytes = Buffer.alloc(Math.max(0, size - at.offset));
        if (bytes.length > 0) await file.read(bytes, 0, bytes.length, at.offset);
      } finally {
        await file.close();
      }
      const { lines, torn } = splitLineBytes(bytes);
      if (lines.length > 0) {
        await onLines(lines.map((l) => l.toString("utf8")));
        at.offset += bytes.length - (torn?.length ?? 0);
        moved = true;
      }
      if (torn !== null) break; // the writer is still writing this line
    }
    if (!moved) await sleep(pollMs, undefined, { signal }).catch(() => undefined);
  }
}

/**
 * The line of the record with `seq`, found through the segment names; null if there is none.
 * The segment is read line by line (a segment may be 64 MiB; a server answers this too), and a
 * line is parsed only when it is where the record should be or mentions its seq.
 */
export async function findRecord(dir: string, seq: number): Promise<{ file: string; line: number; text: string } | null> {
  const segments = await listSegments(dir);
  let s = segments.length - 1;
  while (s >= 0 && segments[s]!.firstSeq > seq) s--;
  if (s < 0) return null;
  const file = join(dir, segments[s]!.name);
  const guess = seq - segments[s]!.firstSeq;
  const mention = `"seq":${seq}`;
  const stream = createReadStream(file, { encoding: "utf8" });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let i = 0;
  try {
    for await (const text of lines) {
      if (i === guess || text.includes(mention)) {
        try {
          if ((JSON.parse(text) as { seq?: unknown }).seq === seq) return { file, line: i + 1, text };
        } catch {
          // not a record (a torn last line): skip
        }
      }
      i++;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  return null;
}
