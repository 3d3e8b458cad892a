// What every command does with its declaration (src/argv.ts): parse its arguments, or print why
// not with its usage (exit 64), or its help (exit 0).

import { formatHelp, formatUsage, parseCommand, UsageError, type CommandSpec, type OptionSpecs, type Parsed } from "../argv.js";
import { EXIT_OK, EXIT_USAGE, write, type CommandIo } from "./io.js";

/** `tollgate NAME: WHY`, the usage (of `shown`: the group, for a subcommand), exit 64. */
export async function usageError(spec: CommandSpec, why: string | undefined, io: CommandIo, shown: CommandSpec = spec): Promise<number> {
  await write(io.stderr, `${why !== undefined ? `tollgate ${spec.name}: ${why}\n` : ""}${formatUsage(shown)}run 'tollgate ${spec.name} --help' for the options\n`);
  return EXIT_USAGE;
}

/** The parsed arguments; or, having printed the help (exit 0) or a usage error (64), the exit code. */
export async function parseOrUsage<T extends OptionSpecs>(spec: CommandSpec & { readonly options: T }, args: readonly string[], io: CommandIo, group?: CommandSpec): Promise<Parsed<T> | number> {
  let parsed: Parsed<T>;
  try {
    parsed = parseCommand(spec, args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return usageError(spec, err.message, io, group);
  }
  if (parsed.help) {
    await write(io.stdout, formatHelp(spec));
    return EXIT_OK;
  }
  return parsed;
}
