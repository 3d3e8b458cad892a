// The `tollgate` command line (spec section 6): one file per command.

import { APPROVALS_USAGE, approvalsCommand } from "./approvals.js";
import { AUDIT_USAGE, auditCommand } from "./audit.js";
import { check } from "./check.js";
import { EVAL_USAGE, evalCommand } from "./eval.js";
import { fmtCommand, FMT_USAGE } from "./fmt.js";
import { initCommand, INIT_USAGE } from "./init.js";
import { EXIT_USAGE, write, type CommandIo } from "./io.js";
import { mcpCommand, MCP_USAGE } from "./mcp.js";
import { serveCommand, SERVE_USAGE } from "./serve.js";
import { testCommand } from "./test.js";

export type { CommandIo } from "./io.js";

type Command = (args: string[], io: CommandIo) => Promise<number>;

const COMMANDS: Record<string, { run: Command; usage: string; minArgs: number; maxArgs: number }> = {
  init: { run: initCommand, usage: INIT_USAGE, minArgs: 0, maxArgs: 3 },
  check: { run: check, usage: "tollgate check POLICY.yaml", minArgs: 1, maxArgs: 1 },
  eval: { run: evalCommand, usage: EVAL_USAGE, minArgs: 1, maxArgs: 5 },
  test: { run: testCommand, usage: "tollgate test [--coverage] [--format text|json] POLICY.yaml", minArgs: 1, maxArgs: 4 },
  fmt: { run: fmtCommand, usage: FMT_USAGE, minArgs: 1, maxArgs: Number.POSITIVE_INFINITY },
  lint: { run: (args, io) => import("./lint.js").then((m) => m.lintCommand(args, io)), usage: "tollgate lint POLICY.yaml...", minArgs: 1, maxArgs: Number.POSITIVE_INFINITY },
  audit: { run: auditCommand, usage: AUDIT_USAGE, minArgs: 2, maxArgs: 10 },
  approvals: { run: approvalsCommand, usage: APPROVALS_USAGE, minArgs: 1, maxArgs: Number.POSITIVE_INFINITY },
  serve: { run: serveCommand, usage: SERVE_USAGE, minArgs: 1, maxArgs: 64 },
  hook: { run: (args, io) => import("./hook.js").then((m) => m.hookCommand(args, io)), usage: "tollgate hook claude-code --policy FILE [--audit DIR] [...]   (tollgate hook --help)", minArgs: 0, maxArgs: 64 },
  mcp: { run: mcpCommand, usage: MCP_USAGE, minArgs: 1, maxArgs: Number.POSITIVE_INFINITY },
  replay: { run: (args, io) => import("./replay.js").then((m) => m.replayCommand(args, io)), usage: "tollgate replay [--against CURRENT.yaml] [--format text|json] CANDIDATE.yaml SOURCE...   (SOURCE: an audit directory or actions .jsonl)", minArgs: 2, maxArgs: Number.POSITIVE_INFINITY },
};

const USAGE = `usage:
  ${Object.values(COMMANDS).map((c) => c.usage).join("\n  ")}
`;

export async function main(argv: string[], io: CommandIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    await write(name === undefined ? io.stderr : io.stdout, USAGE);
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    await write(io.stderr, `tollgate: unknown command '${name}'\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (args.length < command.minArgs || args.length > command.maxArgs) {
    await write(io.stderr, `usage: ${command.usage}\n`);
    return EXIT_USAGE;
  }
  return command.run(args, io);
}
