// `tollgate eval POLICY.yaml [ACTIONS.jsonl|-]`: one compact JSON decision per input line, in
// order. A line that is not JSON is decided as a deny with `error`, and the run goes on.
// `--explain` prints why instead: an indented tree per line (explain-format.ts), or with
// `--format json` one explanation per line (docs/semantics.md, "Explain").

import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { EXIT_OK, EXIT_POLICY_ERROR, EXIT_USAGE, write, type CommandIo } from "./io.js";
import { readLines } from "./lines.js";
import { loadPolicy } from "./load.js";
import { formatExplanation } from "./explain-format.js";
import type { Policy } from "../policy.js";
import type { Explanation } from "../explain.js";

const BATCH = 1024;

export const EVAL_USAGE = "tollgate eval [--explain [--format text|json]] POLICY.yaml [ACTIONS.jsonl|-]";

export async function evalCommand(argv: string[], io: CommandIo): Promise<number> {
  const args: string[] = [];
  let explain = false;
  let format = "text";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--explain") explain = true;
    else if (a === "--format" && (argv[i + 1] === "text" || argv[i + 1] === "json")) format = argv[++i]!;
    else if (a.startsWith("--")) {
      await write(io.stderr, `usage: ${EVAL_USAGE}\n`);
      return EXIT_USAGE;
    } else args.push(a);
  }
  if (args.length < 1 || args.length > 2) {
    await write(io.stderr, `usage: ${EVAL_USAGE}\n`);
    return EXIT_USAGE;
  }
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
  if (explain) {
    // A terminal gets colour; a pipe or a file plain text (NO_COLOR too).
    const colour = (io.stdout as { isTTY?: boolean }).isTTY === true && process.env.NO_COLOR === undefined;
    let first = true;
    for await (const line of readLines(input)) {
      const e = explainLine(policy, line);
      const out = format === "json" ? JSON.stringify(e) + "\n" : (first ? "" : "\n") + formatExplanation(e, colour);
      first = false;
      await write(io.stdout, out);
    }
    return EXIT_OK;
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

/** Explains one input line, then decides it as plain `eval` does (counters recorded), at the same
 *  time: the explanation's decision is the one `eval` prints. */
function explainLine(policy: Policy, line: string): Explanation {
  let action: unknown;
  try {
    action = JSON.parse(line) as unknown;
  } catch {
    return { decision: policy.evaluateLines([line])[0]!, rules: [], closest: [] };
  }
  const now = Date.now();
  const e = policy.explain(action, { now });
  if (policy.stateful) policy.step(action, { now });
  return e;
}
