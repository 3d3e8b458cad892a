// Lines of a file or a stream for `tollgate replay`, in batches, as the bytes arrive: an audit
// segment (64 MiB by default) or an actions file of any size is never held whole, and a huge
// line is held only up to a limit (then skipped, its bytes dropped as they come).
//
// A line ends at "\n", "\r\n" or a lone "\r", as `tollgate eval` splits (src/cli/lines.ts). The
// text after the last line break is a last line. A line whose bytes are not UTF-8 is yielded as
// null (JSON text is UTF-8: such a line cannot be read, and must not be read with U+FFFD in its
// place).

import { isUtf8 } from "node:buffer";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";

/** One line: its 1-based number, its text (null: not UTF-8), or `tooLong` with its length. */
export type Line =
  | { line: number; text: string; bytes: number }
  | { line: number; text: null; bytes: number; tooLong: boolean };

/** Lines longer than this are skipped (an audit record that large gets a segment of its own). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

const CHUNK = 4 * 1024 * 1024;
/** Lines per batch: large enough that the per-batch await costs nothing per line. */
const BATCH_LINES = 2048;

const LF = 0x0a;
const CR = 0x0d;

/** Splits chunks into lines; `push` returns the lines completed by a chunk. */
export class LineSplitter {
  private pieces: Buffer[] = [];
  private held = 0;
  /** Bytes of the current line so far, counted even when they are no longer held. */
  private length = 0;
  private dropping = false;
  private next = 1;

  constructor(private readonly maxLineBytes = MAX_LINE_BYTES) {}

  /** The last chunk ended with "\r": a "\n" first in the next belongs to it. */
  private afterCr = false;

  push(chunk: Buffer, out: Line[]): void {
    if (chunk.length === 0) return;
    let start = 0;
    if (this.afterCr) {
      this.afterCr = false;
      if (chunk[0] === LF) start = 1;
    }
    // The next "\n" and the next "\r", each found once (indexOf is fast; a file without "\r"
    // is searched for one once per chunk).
    let lf = chunk.indexOf(LF, start);
    let cr = chunk.indexOf(CR, start);
    while (lf !== -1 || cr !== -1) {
      const isCr = cr !== -1 && (lf === -1 || cr < lf);
      const at = isCr ? cr : lf;
      this.take(chunk, start, at);
      out.push(this.finish());
      start = at + 1;
      if (isCr) {
        if (start === chunk.length) this.afterCr = true;
        else if (chunk[start] === LF) start++;
        cr = chunk.indexOf(CR, start);
      }
      if (lf !== -1 && lf < start) lf = chunk.indexOf(LF, start);
    }
    if (start < chunk.length) this.take(chunk, start, chunk.length);
  }

  /** The last line (text after the last "\n"), if any. */
  end(out: Line[]): void {
    if (this.length > 0) out.push(this.finish());
  }

  private take(chunk: Buffer, from: number, to: number): void {
    this.length += to - from;
    if (this.dropping) return;
    if (this.length > this.maxLineBytes + 1) {
      // +1: a "\r" before the "\n" is not part of the line
      this.dropping = true;
      this.pieces = [];
      this.held = 0;
      return;
    }
    if (to > from) {
      // A subarray of a chunk the reader will not reuse (each read gets a new buffer).
      this.pieces.push(chunk.subarray(from, to));
      this.held += to - from;
    }
  }

  private finish(): Line {
    const line = this.next++;
    const length = this.length;
    const dropping = this.dropping;
    let bytes: Buffer | null = null;
    if (!dropping) bytes = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.held);
    this.pieces = [];
    this.held = 0;
    this.length = 0;
    this.dropping = false;
    if (bytes === null) return { line, text: null, bytes: length, tooLong: true };
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    if (end > this.maxLineBytes) return { line, text: null, bytes: length, tooLong: true };
    const body = end === bytes.length ? bytes : bytes.subarray(0, end);
    // Plain ASCII is the common case and needs no check; anything else must be UTF-8.
    if (!isUtf8(body)) return { line, text: null, bytes: length, tooLong: false };
    return { line, text: body.toString("utf8"), bytes: length };
  }
}

/** The lines of a file, in batches; `onBytes` hears how many bytes each read brought. */
export async function* fileLines(path: string, options: { maxLineBytes?: number; onBytes?: (n: number) => void } = {}): AsyncGenerator<Line[]> {
  const fh = await open(path, "r");
  try {
    const split = new LineSplitter(options.maxLineBytes);
    let batch: Line[] = [];
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      options.onBytes?.(bytesRead);
      split.push(buf.subarray(0, bytesRead), batch);
      if (batch.length >= BATCH_LINES) {
        yield batch;
        batch = [];
      }
    }
    split.end(batch);
    if (batch.length > 0) yield batch;
  } finally {
    await fh.close();
  }
}

/** The lines of a stream (stdin), in batches. */
export async function* streamLines(input: Readable, options: { maxLineBytes?: number; onBytes?: (n: number) => void } = {}): AsyncGenerator<Line[]> {
  const split = new LineSplitter(options.maxLineBytes);
  let batch: Line[] = [];
  for await (const raw of input as AsyncIterable<Buffer | string>) {
    const chunk = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
    options.onBytes?.(chunk.length);
    split.push(chunk, batch);
    if (batch.length >= BATCH_LINES) {
      yield batch;
      batch = [];
    }
  }
  split.end(batch);
  if (batch.length > 0) yield batch;
}
