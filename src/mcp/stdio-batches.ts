// JSON-RPC batches over stdio (an array of requests on one line). MCP 2025-03-26 allowed them;
// later revisions removed them, and the SDK's stdio transport cannot read one: it logged the line
// and answered nothing, so the agent waited for its own timeout. Each request of a batch is now
// answered at once with an error (-32600) saying to send one message per line; nothing in it is
// decided or forwarded. Every other line passes through untouched, byte for byte, without being
// held (a 10 MiB argument streams as before). Over HTTP (`--listen`) batches are served.

import { Transform } from "node:stream";
import type { Readable, Writable } from "node:stream";

const NEWLINE = 0x0a;
const OPEN_BRACKET = 0x5b;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d;
}

/** `input` with batch lines taken out and answered on `output`. */
export function answerBatches(input: Readable, output: Writable, maxLineBytes: number): Readable {
  let mode: "start" | "pass" | "batch" = "start";
  let batch: Buffer[] = [];
  let batchBytes = 0;
  const answer = (line: Buffer, push: (b: Buffer) => void): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.toString("utf8"));
    } catch {
      push(line); // not JSON: the transport reports it as it does any unreadable line
      return;
    }
    if (!Array.isArray(parsed)) {
      push(line);
      return;
    }
    for (const m of parsed) {
      const id = (m as { id?: unknown } | null)?.id;
      if (typeof id !== "string" && typeof id !== "number") continue; // a notification: no answer
      const error = { code: -32600, message: "JSON-RPC batches are not supported over stdio: send one message per line (nothing in the batch was run)" };
      output.write(`${JSON.stringify({ jsonrpc: "2.0", id, error })}\n`);
    }
  };
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      let from = 0;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (mode === "start") {
          if (isSpace(b)) continue;
          if (b === OPEN_BRACKET) {
            if (i > from) this.push(chunk.subarray(from, i));
            from = i;
            mode = "batch";
          } else if (b !== NEWLINE) mode = "pass";
        }
        if (b !== NEWLINE) continue;
        if (mode === "batch") {
          const part = chunk.subarray(from, i + 1);
          batch.push(part);
          batchBytes += part.length;
          answer(Buffer.concat(batch), (x) => this.push(x));
          batch = [];
          batchBytes = 0;
          from = i + 1;
        }
        mode = "start";
      }
      if (mode === "batch") {
        const part = chunk.subarray(from);
        batch.push(part);
        batchBytes += part.length;
        if (batchBytes > maxLineBytes) {
          // Too long to answer: passed on, for the transport to refuse as it refuses any such line.
          for (const p of batch) this.push(p);
          batch = [];
          batchBytes = 0;
          mode = "pass";
        }
      } else if (from < chunk.length) this.push(chunk.subarray(from));
      done();
    },
    flush(done) {
      for (const p of batch) this.push(p);
      done();
    },
  });
  return input.pipe(t);
}
