// `tollgate eval POLICY.yaml [ACTIONS.jsonl|-]`: one compact JSON decision per input line, in
// order. A line that is not JSON is decided as a deny with `error`, and the run goes on.

import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { readLines } from "./lines.js";
import { loadPolicy } from "./load.js";

const BATCH = 1024;

export async function evalCommand(args: string[], io: CommandIo): Promise<number> {
  const policy = await loadPolicy(args[0]!, io.stderr);
  if (!policy) return EXIT_POLICY_ERROR;
  const source = args[1] ?? "-";
  const input: Readable = source === "-" ? io.stdin : createReadStream(source);
  const opened = new Promise<void>((resolve, reject) => {
    if (source === "-") resolve();
    input.once("open", () => resolve());
    input.once("error", reject);
  });
  try {
    await opened;
  } catch (err) {
    await write(io.stderr, `tollgate: cannot read ${source}: ${(err as Error).message}\n`);
    return EXIT_POLICY_ERROR;
  }
  let pending: string[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const decisions = policy.evaluateLines(pending);
    pending = [];
    await write(io.stdout, decisions.map((d) => JSON.stringify(d)).join("\n") + "\n");
  };
  for await (const line of readLines(input)) {
    // Every line is decided, a blank one too (it is not valid JSON: a deny with error), so
    // that output line N is the decision for input line N. A final newline ends the last
    // line; it does not start another.
    pending.push(line);
    if (pending.length >= BATCH) await flush();
  }
  await flush();
  return EXIT_OK;
}
