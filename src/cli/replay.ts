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
import { EXIT_FAILED, EXIT_OK, EXIT_POLICY_ERROR, EXIT_USAGE, write, type CommandIo } from "./io.js";
import { loadPolicy } from "./load.js";

export const REPLAY_USAGE = "tollgate replay [--against CURRENT.yaml] [--format text|json] [--examples N] [--no-verify] CANDIDATE.yaml SOURCE...   (SOURCE: an audit directory or an actions .jsonl, - for stdin)";

export async function replayCommand(argv: string[], io: CommandIo): Promise<number> {
  const args: string[] = [];
  let against: string | null = null;
  let format = "text";
  let examples = 3;
  let verify = true;
  const usage = async (why: string): Promise<number> => {
    await write(io.stderr, `tollgate replay: ${why}\nusage: ${REPLAY_USAGE}\n`);
    return EXIT_USAGE;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--against" && i + 1 < argv.length) against = argv[++i]!;
    else if (a === "--format" && (argv[i + 1] === "text" || argv[i + 1] === "json")) format = argv[++i]!;
    else if (a === "--examples" && /^\d{1,4}$/.test(argv[i + 1] ?? "")) examples = Number(argv[++i]);
    else if (a === "--no-verify") verify = false;
    else if (a.startsWith("--")) return usage(`unknown or incomplete option '${a}'`);
    else args.push(a);
  }
  if (args.length < 2) return usage("a candidate policy and at least one source are needed");
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
      bar?.phase(path === "-" ? "reading stdin" : `verifying ${path}`);
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
