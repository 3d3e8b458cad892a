// `tollgate replay CANDIDATE.yaml SOURCE...`: what a policy change would have changed. Every
// action of every source (an audit directory, or an actions JSONL; "-" for stdin) is decided
// under the candidate, counters replayed at record time, and compared with the decisions recorded
// in the log or with `--against CURRENT.yaml`'s (docs/change-safety.md, "Replay"). Exit 0 when
// nothing changes, 1 when something does, 2 for a bad policy or input.

import type { Writable } from "node:stream";
import { formatJson, formatText } from "../replay/format.js";
import { Progress } from "../replay/progress.js";
import { replay } from "../replay/replay.js";
import type { ReplayPolicy } from "../replay/replay.js";
import { openSource, ReplayInputError } from "../replay/sources.js";
import type { Source } from "../replay/sources.js";
import type { CommandSpec } from "../argv.js";
import { EXIT_FAILED, EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { loadPolicy } from "./load.js";
import { parseOrUsage, usageError } from "./usage.js";

export const REPLAY = {
  name: "replay",
  summary: "Show what a policy change would have changed. Decides every action of every SOURCE (an audit directory, or an actions .jsonl; - for stdin) under the candidate, counters replayed at record time, and compares with the recorded decisions or with --against's. Exit 0 when nothing changes, 1 when something does.",
  args: "CANDIDATE.yaml SOURCE...",
  options: {
    against: { type: "string", arg: "CURRENT.yaml", description: "compare with this policy's decisions (both decide every action) instead of the recorded ones; needed for an actions .jsonl" },
    format: { type: "string", choices: ["text", "json"], default: "text", description: "json: the report as one JSON document" },
    examples: { type: "string", arg: "N", default: "3", description: "how many examples of each change to show (0-9999)" },
    "no-verify": { type: "boolean", description: "read an audit directory without verifying its hash chain and signatures first" },
  },
  examples: [
    "tollgate replay candidate.yaml ./audit",
    "tollgate replay candidate.yaml examples/actions.jsonl --against examples/billing-agent.yaml",
    "tollgate replay --format json candidate.yaml ./audit > report.json",
  ],
} as const satisfies CommandSpec;

export async function replayCommand(argv: string[], io: CommandIo): Promise<number> {
  const parsed = await parseOrUsage(REPLAY, argv, io);
  if (typeof parsed === "number") return parsed;
  const usage = (why: string): Promise<number> => usageError(REPLAY, why, io);
  const args = parsed.positionals;
  const against = parsed.values.against ?? null;
  const format = parsed.values.format ?? "text";
  if (parsed.values.examples !== undefined && !/^\d{1,4}$/.test(parsed.values.examples)) return usage(`--examples takes a number from 0 to 9999, not '${parsed.values.examples}'`);
  const examples = parsed.values.examples === undefined ? 3 : Number(parsed.values.examples);
  const verify = parsed.values["no-verify"] !== true;
  const [candidateFile, ...sourcePaths] = args as [string, ...string[]];
  if (sourcePaths.filter((s) => s === "-").length > 1) return usage("stdin (-) can be read only once");

  const candidate = await loadPolicy(candidateFile, io.stderr);
  if (!candidate) return EXIT_POLICY_ERROR;
  let current: ReplayPolicy | null = null;
  if (against !== null) {
    const p = await loadPolicy(against, io.stderr);
    if (!p) return EXIT_POLICY_ERROR;
    current = { policy: p, file: against };
  }

  // On a terminal: "opening" (an audit log is verified first), then bytes read of the total.
  const bar = Progress.on(io.stderr, null);
  const start = Date.now();
  const sources: Source[] = [];
  try {
    for (const path of sourcePaths) {
      bar?.phase(path === "-" ? "reading stdin" : `opening ${path}`); // an audit log is verified as it opens
      const source = await openSource(path, io.stdin, start, { verify, onBytes: (n) => bar?.addBytes(n) });
      if (source.kind === "actions" && current === null) {
        bar?.done();
        await write(io.stderr, `tollgate replay: ${source.name} is an actions file: it holds no recorded decisions to compare with; give the current policy with --against CURRENT.yaml\n`);
        return EXIT_POLICY_ERROR;
      }
      sources.push(source);
    }
  } catch (err) {
    bar?.done();
    return inputError(io.stderr, err);
  }
  bar?.start(sources.every((s) => s.bytes !== null) ? sources.reduce((a, s) => a + s.bytes!, 0) : null);
  let result;
  try {
    result = await replay({ policy: candidate, file: candidateFile }, current, sources, {
      examples,
      onActions: (n) => bar?.setActions(n),
    });
  } catch (err) {
    bar?.done();
    return inputError(io.stderr, err);
  }
  bar?.done();
  await write(io.stdout, format === "json" ? formatJson(result) : formatText(result));
  return result.totals.changed === 0 ? EXIT_OK : EXIT_FAILED;
}

async function inputError(stderr: Writable, err: unknown): Promise<number> {
  if (err instanceof ReplayInputError) {
    await write(stderr, `tollgate replay: ${err.message}\n`);
    return EXIT_POLICY_ERROR;
  }
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === "string" && typeof e.path === "string") {
    await write(stderr, `tollgate replay: cannot read ${e.path}: ${e.message}\n`);
    return EXIT_POLICY_ERROR;
  }
  throw err;
}
