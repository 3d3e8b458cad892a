// Lines of an ACTIONS.jsonl stream for `tollgate eval`, split on bytes and decoded strictly.
//
// A line ends at "\n", "\r\n" or a lone "\r" (as node:readline splits). Each line is decoded as
// UTF-8 with `fatal: true`: JSON text is UTF-8 (RFC 8259 section 8.1), so a line with invalid
// bytes cannot be read as JSON (spec section 1) and is yielded as NOT_UTF8, which is not JSON
// either — a deny with error — instead of being evaluated with U+FFFD in place of its bytes. A
// byte-order mark is kept (and so refused as not JSON, as before).

import type { Readable } from "node:stream";

/** Yielded for a line whose bytes are not UTF-8; any text that is not JSON would do. */
export const NOT_UTF8 = "\uFFFD";

const LF = 0x0a;
const CR = 0x0d;

/** The lines of `input`, one by one. */
export async function* readLines(input: Readable): AsyncGenerator<string> {
  for await (const lines of readLineBatches(input)) yield* lines;
}

/**
 * The lines of `input`, as each chunk read completes them: a reader that acts on a line as soon
 * as it has arrived (`tollgate eval` decides it then, at that time, and prints its decision before
 * waiting for more), while lines that arrived together are handled together.
 */
export async function* readLineBatches(input: Readable): AsyncGenerator<string[]> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const decode = (bytes: Uint8Array): string => {
    try {
      return decoder.decode(bytes);
    } catch {
      return NOT_UTF8;
    }
  };
  let pieces: Buffer[] = []; // the current line's bytes so far, across chunks
  let afterCr = false; // the last chunk ended with "\r": a "\n" first in the next belongs to it
  for await (const raw of input as AsyncIterable<Buffer | string>) {
    const chunk = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
    const lines: string[] = [];
    let start = 0;
    if (afterCr) {
      afterCr = false;
      if (chunk.length > 0 && chunk[0] === LF) start = 1;
    }
    for (let i = start; i < chunk.length; i++) {
      const b = chunk[i];
      if (b !== LF && b !== CR) continue;
      pieces.push(chunk.subarray(start, i));
      lines.push(decode(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)));
      pieces = [];
      if (b === CR) {
        if (i + 1 === chunk.length) afterCr = true;
        else if (chunk[i + 1] === LF) i++;
      }
      start = i + 1;
    }
    if (start < chunk.length) pieces.push(chunk.subarray(start));
    if (lines.length > 0) yield lines;
  }
  // Text after the last line break is a last line; nothing after a final break is not a line.
  if (pieces.length > 0) yield [decode(Buffer.concat(pieces))];
}
