// `tollgate serve`: the control plane server (docs/server.md).

import { PolicyError } from "../errors.js";
import { wantsHelp } from "../argv.js";
import { ConfigError, parseServeArgs, SERVE, SERVE_HELP, SERVE_USAGE, ServeUsageError } from "../server/config.js";
import { Log } from "../server/log.js";
import { outlive } from "../server/log-output.js";
import { runPrimary } from "../server/primary.js";
import { hashToken, TokenError } from "../server/tokens.js";
import { EXIT_USAGE, write, type CommandIo } from "./io.js";

export { SERVE, SERVE_USAGE };

/** Exit status for a configuration that cannot be used (a bad or missing option value, policy, tokens file). */
const EXIT_CONFIG = 2;

export async function serveCommand(args: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(SERVE, args)) {
    await write(io.stdout, SERVE_HELP);
    return 0;
  }
  let parsed;
  try {
    parsed = parseServeArgs(args);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    await write(io.stderr, `tollgate serve: ${err.message}\nusage: ${SERVE_USAGE}\nrun 'tollgate serve --help' for the options\n`);
    // A command line that does not parse is a usage error (64); one that parses but cannot be
    // used (a required option missing, a bad value, a bad --config file) a configuration error (2).
    return err instanceof ServeUsageError ? EXIT_USAGE : EXIT_CONFIG;
  }
  if ("hashToken" in parsed) {
    await write(io.stdout, `${hashToken(parsed.hashToken)}\n`);
    return 0;
  }
  const config = parsed.config;
  // The primary outlives its stdout (log-output.ts): bin/tollgate.js does not exit on its EPIPE.
  const log = new Log(config.logLevel, { pid: process.pid, role: "primary" }, outlive(io.stdout).write);
  outlive(io.stderr);
  try {
    const server = await runPrimary(config, log);
    return await server.done;
  } catch (err) {
    if (err instanceof PolicyError) {
      await write(io.stderr, `${err.format()}\n`);
      return EXIT_CONFIG;
    }
    if (err instanceof TokenError) {
      await write(io.stderr, `tollgate serve: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT" || e.code === "EACCES" || e.name === "AuditError") {
      await write(io.stderr, `tollgate serve: ${e.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
}
