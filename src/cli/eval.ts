// `tollgate eval POLICY.yaml [ACTIONS.jsonl|-]`: one compact JSON decision per input line, in
// order. A line that is not JSON is decided as a deny with `error`, and the run goes on.
// `--explain` prints why instead: an indented tree per line (explain-format.ts), or with
// `--format json` one explanation per line (docs/semantics.md, "Explain").

import { createReadStream, statSync } from "node:fs";
import type { Readable } from "node:stream";
import type { CommandSpec } from "../argv.js";
import { EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { readLineBatches, readLines } from "./lines.js";
import { loadPolicy } from "./load.js";
import { formatExplanation } from "./explain-format.js";
import type { Policy } from "../policy.js";
import type { Explanation } from "../explain.js";
import { parseOrUsage, usageError } from "./usage.js";

/** Lines decided in one call at most (lines that arrived together are decided together). */
const BATCH = 1024;

export const EVAL = {
  name: "eval",
  summary: "Decide actions with a policy. Reads one JSON action per line (from a file, or stdin) and prints one compact JSON decision per line, in order; a line that is not JSON is a deny with `error`.",
  args: "POLICY.yaml [ACTIONS.jsonl|-]",
  options: {
    explain: { type: "boolean", description: "print why instead: every rule evaluated for the tool, each test with the value it saw, the deciding rule, and the closest allow rules" },
    format: { type: "string", choices: ["text", "json"], description: "with --explain: an indented tree per action (text, the default), or one JSON explanation per line" },
  },
  examples: ["tollgate eval examples/billing-agent.yaml examples/actions.jsonl", "echo '{\"tool\":\"payments.refund\",\"args\":{\"amount\":20}}' | tollgate eval --explain examples/billing-agent.yaml"],
} as const satisfies CommandSpec;

export async function evalCommand(argv: string[], io: CommandIo): Promise<number> {
  const parsed = await parseOrUsage(EVAL, argv, io);
  if (typeof parsed === "number") return parsed;
  const args = parsed.positionals;
  const explain = parsed.values.explain === true;
  // Decisions are JSON lines already: a --format without --explain would silently do nothing.
  if (parsed.values.format !== undefined && !explain) return usageError(EVAL, "--format goes with --explain (decisions are printed as JSON lines)", io);
  const format = parsed.values.format ?? "text";
  const policy = await loadPolicy(args[0]!, io.stderr);
  if (!policy) return EXIT_POLICY_ERROR;
  const source = args[1] ?? "-";
  if (source !== "-" && isDirectory(source)) {
    // (Opening a directory succeeds; the first read fails: say so before deciding anything.)
    await write(io.stderr, `tollgate: cannot read ${source}: it is a directory\n`);
    return EXIT_POLICY_ERROR;
  }
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
  // Every line is decided, a blank one too (it is not valid JSON: a deny with error), so that
  // output line N is the decision for input line N. A final newline ends the last line; it does
  // not start another. Lines are decided as they arrive, at that time (spec section 8: counters
  // see each line at the current time), and their decisions printed before more input is awaited:
  // a program that writes an action and waits for its decision gets it.
  for await (const lines of readLineBatches(input)) {
    for (let i = 0; i < lines.length; i += BATCH) {
      const decisions = policy.evaluateLines(i === 0 && lines.length <= BATCH ? lines : lines.slice(i, i + BATCH));
      await write(io.stdout, decisions.map((d) => JSON.stringify(d)).join("\n") + "\n");
    }
  }
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

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // missing or unreadable: the open below says why
  }
}
