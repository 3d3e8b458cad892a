// Small output helpers shared by the commands: write and wait, so exit codes follow the output.

import type { Writable } from "node:stream";

export function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_POLICY_ERROR = 2;
export const EXIT_USAGE = 64;
