// The `tollgate` command line (spec section 6): one file per command, each declaring its options
// and arguments (src/argv.ts) beside its logic. This file only dispatches: a command's module is
// loaded when it runs (`tollgate check` does not load the server), and `--help` / `tollgate help`
// print what the declarations say.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { columns, formatHelp, subcommand, suggest, usageLines, wantsHelp, type CommandSpec } from "../argv.js";
import { EXIT_OK, EXIT_USAGE, write, type CommandIo } from "./io.js";

export type { CommandIo } from "./io.js";

type Run = (args: string[], io: CommandIo) => Promise<number>;

/** Each command: its declaration, and what runs it (both loaded on demand). */
const COMMANDS: Record<string, { spec: () => Promise<CommandSpec>; run: () => Promise<Run> }> = {
  init: { spec: () => import("./init.js").then((m) => m.INIT), run: () => import("./init.js").then((m) => m.initCommand) },
  check: { spec: () => import("./check.js").then((m) => m.CHECK), run: () => import("./check.js").then((m) => m.check) },
  eval: { spec: () => import("./eval.js").then((m) => m.EVAL), run: () => import("./eval.js").then((m) => m.evalCommand) },
  test: { spec: () => import("./test.js").then((m) => m.TEST), run: () => import("./test.js").then((m) => m.testCommand) },
  fmt: { spec: () => import("./fmt.js").then((m) => m.FMT), run: () => import("./fmt.js").then((m) => m.fmtCommand) },
  lint: { spec: () => import("./lint.js").then((m) => m.LINT), run: () => import("./lint.js").then((m) => m.lintCommand) },
  replay: { spec: () => import("./replay.js").then((m) => m.REPLAY), run: () => import("./replay.js").then((m) => m.replayCommand) },
  audit: { spec: () => import("./audit.js").then((m) => m.AUDIT), run: () => import("./audit.js").then((m) => m.auditCommand) },
  approvals: { spec: () => import("./approvals.js").then((m) => m.APPROVALS), run: () => import("./approvals.js").then((m) => m.approvalsCommand) },
  serve: { spec: () => import("../server/config.js").then((m) => m.SERVE), run: () => import("./serve.js").then((m) => m.serveCommand) },
  mcp: { spec: () => import("../mcp/config.js").then((m) => m.MCP), run: () => import("./mcp.js").then((m) => m.mcpCommand) },
  hook: { spec: () => import("../hook/options.js").then((m) => m.HOOK), run: () => import("./hook.js").then((m) => (args, io) => m.hookCommand(args, io)) },
};

/** Every command's declaration, by name (what --help prints; tests hold the docs to them). */
export async function commandSpecs(): Promise<Record<string, CommandSpec>> {
  const entries = await Promise.all(Object.entries(COMMANDS).map(async ([name, c]) => [name, await c.spec()] as const));
  return Object.fromEntries(entries);
}

/** The package's version (package.json, found above this file in the source tree and the build). */
export function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "tollgate" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not here: look further up
    }
    const up = dirname(dir);
    if (up === dir) return "unknown";
    dir = up;
  }
}

/** The first sentence of a summary. */
function brief(summary: string): string {
  return /^(.*?\.)(\s|$)/.exec(summary)?.[1] ?? summary;
}

/** `tollgate --help`: the commands, and (in full) the usage of each. */
async function overview(full = true): Promise<string> {
  const all = await commandSpecs();
  const names = Object.keys(all);
  const specs = Object.values(all);
  return (
    `${full ? `Tollgate ${version()}: a policy engine and control plane for AI agents.\n\n` : ""}` +
    `usage: tollgate COMMAND [ARGS...]\n       tollgate help [COMMAND]   (or tollgate COMMAND --help)\n       tollgate --version\n\n` +
    `commands:\n${columns(specs.map((s, i) => [names[i]!, brief(s.summary)]), 2, 10)}` +
    (full ? `\nusage of each:\n${specs.flatMap(usageLines).map((l) => `  tollgate ${l}\n`).join("")}` : "")
  );
}

async function unknownCommand(name: string, io: CommandIo): Promise<number> {
  const close = suggest(name, Object.keys(COMMANDS));
  await write(io.stderr, `tollgate: unknown command '${name}'${close !== undefined ? ` (did you mean '${close}'?)` : ""}\n${await overview(false)}`);
  return EXIT_USAGE;
}

/** `tollgate help [COMMAND [SUBCOMMAND]]`. */
async function help(words: string[], io: CommandIo): Promise<number> {
  if (words.length === 0) {
    await write(io.stdout, await overview());
    return EXIT_OK;
  }
  const [name, ...rest] = words as [string, ...string[]];
  // `tollgate help help`, `tollgate help --help`: help about help is the overview.
  if (name === "help" || name === "--help" || name === "-h") return help(rest.filter((w) => w !== "--help" && w !== "-h" && w !== "help"), io);
  const command = COMMANDS[name];
  if (!command) return unknownCommand(name, io);
  const { spec, args } = subcommand(await command.spec(), rest);
  if (args.length > 0 && spec.subcommands) {
    await write(io.stderr, `tollgate: '${name}' has no command '${args[0]}'\n${formatHelp(spec)}`);
    return EXIT_USAGE;
  }
  await write(io.stdout, formatHelp(spec));
  return EXIT_OK;
}

export async function main(argv: string[], io: CommandIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    await write(io.stderr, await overview());
    return EXIT_USAGE;
  }
  if (name === "--version" || name === "-V") {
    await write(io.stdout, `${version()}\n`);
    return EXIT_OK;
  }
  if (name === "help" || name === "--help" || name === "-h") return help(name === "help" ? args : [], io);
  const command = COMMANDS[name];
  if (!command) return unknownCommand(name, io);
  const top = await command.spec();
  // `tollgate approvals help [list]` as git does; `tollgate X ... --help` for any command.
  if (top.subcommands && args[0] === "help") return help([name, ...args.slice(1)], io);
  const { spec, args: rest } = subcommand(top, args);
  if (wantsHelp(spec, rest)) {
    await write(io.stdout, formatHelp(spec));
    return EXIT_OK;
  }
  return (await command.run())(args, io);
}
