// `tollgate mcp`: the MCP gateway (docs/mcp.md). In stdio mode stdout is the MCP channel:
// everything else, logs and errors included, goes to stderr.

import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { ApprovalError } from "../approvals/approval.js";
import { AuditError } from "../audit/recover.js";
import { PolicyError } from "../errors.js";
import { MCP_HELP, MCP_USAGE, McpConfigError, parseMcpArgs } from "../mcp/config.js";
import type { McpConfig } from "../mcp/config.js";
import { Gateway, NoUpstreamError } from "../mcp/gateway.js";
import { listenHttp } from "../mcp/http.js";
import { answerBatches } from "../mcp/stdio-batches.js";
import { McpLog } from "../mcp/log.js";
import { EXIT_FAILED, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";

export { MCP_USAGE };

/** Resolves on SIGTERM/SIGINT (and removes its handlers once one came). */
function signalled(): { done: Promise<string>; dispose(): void } {
  let dispose = () => {};
  const done = new Promise<string>((resolve) => {
    const on = (s: NodeJS.Signals) => () => resolve(s);
    const term = on("SIGTERM");
    const int = on("SIGINT");
    process.once("SIGTERM", term);
    process.once("SIGINT", int);
    dispose = () => {
      process.off("SIGTERM", term);
      process.off("SIGINT", int);
    };
  });
  return { done, dispose: () => dispose() };
}

async function start(config: McpConfig, log: McpLog, io: CommandIo): Promise<Gateway | number> {
  try {
    return await Gateway.start(config, log);
  } catch (err) {
    if (err instanceof PolicyError) {
      await write(io.stderr, `${err.format()}\n`);
      return EXIT_POLICY_ERROR;
    }
    if (err instanceof NoUpstreamError) {
      await write(io.stderr, `tollgate mcp: ${err.message}\n`);
      return EXIT_FAILED;
    }
    const e = err as NodeJS.ErrnoException;
    if (err instanceof AuditError || err instanceof ApprovalError || e.code === "ENOENT" || e.code === "EACCES" || e.code === "ENOSPC" || e.code === "EROFS" || e.code === "SQLITE_CANTOPEN") {
      await write(io.stderr, `tollgate mcp: ${e.message}\n`);
      return EXIT_POLICY_ERROR;
    }
    throw err;
  }
}

export async function mcpCommand(args: string[], io: CommandIo): Promise<number> {
  let config: McpConfig | "help";
  try {
    config = parseMcpArgs(args);
  } catch (err) {
    if (!(err instanceof McpConfigError)) throw err;
    const lines = err.problems.map((p) => (typeof p === "string" ? `tollgate mcp: ${p}` : `${p.file}:${p.line}:${p.column}: error: ${p.message}`));
    await write(io.stderr, `${lines.join("\n")}\nrun 'tollgate mcp --help' for usage and examples\n`);
    return EXIT_POLICY_ERROR;
  }
  if (config === "help") {
    await write(io.stdout, MCP_HELP);
    return 0;
  }
  const log = new McpLog(config.logLevel, io.stderr);
  const signals = signalled();
  const started = await start(config, log, io);
  if (typeof started === "number") {
    signals.dispose();
    return started;
  }
  const gateway = started;
  const mode = config.decisions.mode === "embedded" ? { mode: "embedded", policy: config.decisions.policy, audit: config.decisions.auditDir } : { mode: "control-plane", url: config.decisions.url };
  try {
    if (config.listen !== null) {
      let listener;
      try {
        listener = await listenHttp(gateway, config.listen, config.maxMessageBytes, log);
      } catch (err) {
        await write(io.stderr, `tollgate mcp: cannot listen on ${config.listen.host}:${config.listen.port}: ${(err as Error).message}\n`);
        return EXIT_POLICY_ERROR;
      }
      log.info("listening", { url: listener.url, upstreams: [...gateway.upstreams.keys()], ...mode });
      await signals.done;
      await listener.close();
    } else {
      const transport = new StdioServerTransport(answerBatches(io.stdin, io.stdout, config.maxMessageBytes), io.stdout, { maxBufferSize: config.maxMessageBytes });
      transport.onerror = (err) => log.warn("agent sent an unreadable message", { error: err.message });
      const server = gateway.newServer();
      const ended = new Promise<string>((resolve) => {
        io.stdin.once("end", () => resolve("stdin closed"));
        io.stdin.once("close", () => resolve("stdin closed"));
      });
      await server.connect(transport);
      log.info("serving on stdio", { upstreams: [...gateway.upstreams.keys()], ...mode });
      const why = await Promise.race([signals.done, ended]);
      log.info("stopping", { why });
    }
    return 0;
  } finally {
    signals.dispose();
    await gateway.close();
    // The real command line exits even if an upstream left a handle open; never in-process callers.
    if (io.stdin === process.stdin) setTimeout(() => process.exit(), 3000).unref();
  }
}
