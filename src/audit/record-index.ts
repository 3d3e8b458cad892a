// Finding records by seq again and again in a log that keeps growing (the server's and the local
// console's GET /v1/approvals/{id}/records): each segment's line starts are learned once, by one
// pass over the bytes not seen yet, then a record is one positioned read. Without it every
// lookup streams its segment (up to 64 MiB) to the record's line, and any approver could make
// the primary do that at will. Segments are append-only, so what was learned stays true; a
// segment that shrank (a damaged log) is learned again. A line that does not hold the seq it
// should (a damaged log) falls back to findRecord's search.

import { open } from "node:fs/promises";
import { join } from "node:path";
import { findRecord } from "./read.js";
import { listSegments } from "./segments.js";

/** How many segments' line starts are kept (the most recently used). */
const MAX_SEGMENTS = 8;
const CHUNK = 1 << 20;

interface Learned {
  /** Byte offset of each whole line's start, in order, then where the next line begins. */
  starts: number[];
  /** Bytes scanned so far (up to the end of the last whole line seen). */
  scanned: number;
}

/** One index per audit directory, shared by everything in this process that looks records up. */
const byDir = new Map<string, RecordIndex>();

export function recordIndexOf(dir: string): RecordIndex {
  let i = byDir.get(dir);
  if (i === undefined) byDir.set(dir, (i = new RecordIndex(dir)));
  return i;
}

export class RecordIndex {
  private readonly segments = new Map<string, Learned>();

  constructor(private readonly dir: string) {}

  /** The record with `seq` (parsed) if it is there and has `hash` (the one an approval names), else null. */
  async withHash(seq: number, hash: string): Promise<{ hash?: unknown } | null> {
    const found = await this.find(seq);
    if (found === null) return null;
    try {
      const record = JSON.parse(found.text) as { hash?: unknown };
      return record.hash === hash ? record : null;
    } catch {
      return null;
    }
  }

  /** The line of the record with `seq`, as findRecord answers, or null. */
  async find(seq: number): Promise<{ file: string; line: number; text: string } | null> {
    const list = await listSegments(this.dir);
    let s = list.length - 1;
    while (s >= 0 && list[s]!.firstSeq > seq) s--;
    if (s < 0) return null;
    const name = list[s]!.name;
    const file = join(this.dir, name);
    const at = seq - list[s]!.firstSeq;
    const fh = await open(file, "r");
    try {
      const learned = await this.learn(name, fh);
      // `starts` ends with where the next line (not written yet, or torn) begins: not a record.
      if (at >= learned.starts.length - 1) return s === list.length - 1 ? null : findRecord(this.dir, seq);
      const start = learned.starts[at]!;
      const end = learned.starts[at + 1]! - 1; // without its "\n"
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      const text = buf.toString("utf8");
      try {
        if ((JSON.parse(text) as { seq?: unknown }).seq === seq) return { file, line: at + 1, text };
      } catch {
        // not a record where one should be: a damaged log
      }
      return findRecord(this.dir, seq);
    } finally {
      await fh.close();
    }
  }

  /** The segment's line starts, extended over what was appended since the last look. */
  private async learn(name: string, fh: Awaited<ReturnType<typeof open>>): Promise<Learned> {
    let learned = this.segments.get(name);
    const size = (await fh.stat()).size;
    if (learned === undefined || size < learned.scanned) learned = { starts: [0], scanned: 0 };
    this.segments.delete(name); // re-inserted last: the most recently used
    this.segments.set(name, learned);
    while (this.segments.size > MAX_SEGMENTS) this.segments.delete(this.segments.keys().next().value!);
    const buf = Buffer.alloc(CHUNK);
    let pos = learned.scanned;
    while (pos < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - pos), pos);
      if (bytesRead === 0) break;
      const view = buf.subarray(0, bytesRead);
      for (let i = view.indexOf(0x0a, 0); i !== -1; i = view.indexOf(0x0a, i + 1)) {
        learned.starts.push(pos + i + 1);
        learned.scanned = pos + i + 1;
      }
      pos += bytesRead;
    }
    return learned;
  }
}
