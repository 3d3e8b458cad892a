// What the commands share: their streams (CommandIo), write and wait (so exit codes follow the
// output), and the exit codes. Imports no command, so the commands and main.ts never form a cycle.

import type { Readable, Writable } from "node:stream";

/** The streams a command reads and writes (process.stdin/stdout/stderr, or captured in tests). */
export interface CommandIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_POLICY_ERROR = 2;
export const EXIT_USAGE = 64;
