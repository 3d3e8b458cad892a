// `tollgate hook claude-code ...`: a coding agent's hook (src/hook/, docs/hooks.md). Unlike the
// other commands, a misuse is answered too: Claude Code runs this command before every tool call
// and lets the call go ahead when a hook exits with anything but 0 or 2, so a usage error is a
// deny on stdout with exit 2 (which blocks by itself), and a failure to write the answer is exit 2.

import { wantsHelp } from "../argv.js";
import { HOOK, hookHelp, parseHookOptions, UsageError } from "../hook/options.js";
import { failureAnswer } from "../hook/protocol.js";
import { runHook } from "../hook/run.js";
import { write, type CommandIo } from "./io.js";

export { HOOK, HOOK_USAGE } from "../hook/options.js";

/** Exit code 2: Claude Code blocks the tool call and shows stderr. */
export const EXIT_HOOK_BLOCK = 2;

const HOOKS = ["claude-code"];

export async function hookCommand(args: string[], io: CommandIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (args[0] === "help" || wantsHelp(HOOK, args)) {
    await write(io.stdout, hookHelp());
    return 0;
  }
  let options;
  try {
    if (args[0] === undefined || !HOOKS.includes(args[0])) throw new UsageError(`expected a hook name (${HOOKS.join(", ")}), got ${args[0] === undefined ? "nothing" : `'${args[0]}'`}`);
    options = parseHookOptions(args.slice(1));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const message = `tollgate hook: ${err.message} (see tollgate hook --help)`;
    await write(io.stdout, JSON.stringify(failureAnswer(message)) + "\n").catch(() => undefined);
    await write(io.stderr, message + "\n").catch(() => undefined);
    return EXIT_HOOK_BLOCK;
  }
  const result = await runHook(options, io.stdin, env);
  if (result.error !== undefined) await write(io.stderr, `tollgate hook: ${result.error}\n`).catch(() => undefined);
  if (result.answer === null) return 0;
  try {
    await write(io.stdout, JSON.stringify(result.answer) + "\n");
  } catch (err) {
    await write(io.stderr, `tollgate hook: cannot write the answer (${(err as Error).message}); blocking the tool call\n`).catch(() => undefined);
    return EXIT_HOOK_BLOCK;
  }
  return 0;
}

/**
 * The process entry of `tollgate hook` (bin/tollgate.js calls it without loading the other
 * commands): runs the command, exits as soon as the answer is written (nothing left running may
 * hold Claude Code up), and turns anything unexpected into exit 2 (blocking).
 */
export async function hookMain(args: string[]): Promise<void> {
  const die = (err: unknown) => {
    try {
      process.stderr.write(`tollgate hook: internal error: ${err instanceof Error ? err.stack : String(err)}; blocking the tool call\n`);
    } finally {
      process.exit(EXIT_HOOK_BLOCK);
    }
  };
  process.on("uncaughtException", die);
  process.on("unhandledRejection", die);
  let code: number;
  try {
    code = await hookCommand(args, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  } catch (err) {
    die(err);
    return;
  }
  process.exit(code);
}
