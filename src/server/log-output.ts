// Where the server's log lines go: standard output, while it is there. A supervisor whose log
// reader went away closes the pipe, and the next write fails with EPIPE — which, unhandled,
// would take the process down (the primary, or a worker in a restart loop). Logging must never
// take the server down: once its output is gone, lines are dropped (and counted), and the
// server keeps serving. Its decisions are in the audit log, not in these lines.

import type { Writable } from "node:stream";

/** Streams whose loss the process outlives (bin/tollgate.js asks before it exits on EPIPE). */
const survivors = new WeakSet<Writable>();

/** True when the process keeps running after `stream` is closed (it logs there, and drops lines then). */
export function survivesClosed(stream: Writable): boolean {
  return survivors.has(stream);
}

export class LogOutput {
  /** The stream failed (EPIPE, EBADF...): nothing more is written to it. */
  gone = false;
  /** Lines dropped since. */
  dropped = 0;

  constructor(private readonly stream: Writable = process.stdout) {
    survivors.add(stream);
    // An 'error' listener makes a failed write an event instead of an uncaught exception.
    stream.on("error", () => {
      this.gone = true;
    });
  }

  /** Writes one line (with its newline), or drops it once the stream is gone. Never throws. */
  readonly write = (line: string): void => {
    if (this.gone || this.stream.destroyed || this.stream.writableEnded) {
      this.gone = true;
      this.dropped++;
      return;
    }
    try {
      this.stream.write(line);
    } catch {
      this.gone = true;
      this.dropped++;
    }
  };
}

/** Makes the process outlive the loss of `stream` (its writes then drop): a LogOutput over it. */
export function outlive(stream: Writable): LogOutput {
  return new LogOutput(stream);
}

let stdoutOutput: LogOutput | undefined;
let stderrOutput: LogOutput | undefined;

/** The process's standard output as a LogOutput (one per process), and standard error guarded alike. */
export function stdoutLog(): LogOutput {
  stderrOutput ??= outlive(process.stderr);
  return (stdoutOutput ??= outlive(process.stdout));
}
