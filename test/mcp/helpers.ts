// Gateway test helpers: the real `tollgate` command line (bin/tollgate.js over a private build of
// src/, as test/server does: Node 20 cannot run TypeScript and build/dist may be mid-rebuild),
// the stdio upstream as a child process, and SDK clients connected to the gateway over stdio
// (the client spawns it) or Streamable HTTP.

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll } from "vitest";
import { transpileForChild } from "../cli-helpers.js";
import { buildCli, root, tempDir } from "../server/helpers.js";
import type { SeenCall } from "./upstream-server.js";

export { root, tempDir };

let bin: string | null = null;
let upstreamDir: string | null = null;

/** bin/tollgate.js of a private build (the launcher imports ../build/dist/src/cli/main.js). */
export function tollgateBin(): string {
  if (bin) return bin;
  const out = dirname(buildCli());
  mkdirSync(join(out, "bin"), { recursive: true });
  copyFileSync(join(root, "bin/tollgate.js"), join(out, "bin/tollgate.js"));
  bin = join(out, "bin/tollgate.js");
  return bin;
}

/** The command that runs the stdio upstream `name`, logging its calls to `log`. */
export function upstreamCommand(name = "local"): string[] {
  upstreamDir ??= transpileForChild("tollgate-mcp-upstream-", ["test/mcp/upstream-server.ts"]);
  return [process.execPath, join(upstreamDir, "test/mcp/upstream-server.js"), "--stdio", name];
}

afterAll(() => {
  if (upstreamDir) rmSync(upstreamDir, { recursive: true, force: true });
  upstreamDir = null;
  bin = null;
});

/** The calls the stdio upstream received (its MCP_CALL_LOG file). */
export function seenCalls(log: string): SeenCall[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as SeenCall);
}

export const POLICY = `tollgate: 1
name: mcp-test
default: deny
approvers:
  ops: { timeout: 60s, on_timeout: deny }
  quick: { timeout: 1500ms, on_timeout: deny }
counters:
  limited_calls:
    per: [session.id]
    window: 1h
    when: { tool: local.limited }
rules:
  - id: no-secrets
    effect: deny
    reason: Reading secrets is not allowed
    when: { tool: [local.read_secret, remote.read_secret] }
  - id: no-rm
    effect: deny
    reason: rm -rf is never allowed
    when: { tool: [local.echo, remote.echo], args.text: { contains: "rm -rf" } }
  - id: rate-limit
    effect: deny
    reason: At most 3 limited calls per session
    when: { tool: local.limited, $limited_calls: { gt: 3 } }
  - id: needs-ops
    effect: escalate
    approver: ops
    reason: Deploys need ops
    when: { tool: [local.deploy, remote.deploy] }
  - id: quick-approval
    effect: escalate
    approver: quick
    reason: Nobody answers in time
    when: { tool: local.quick }
  - id: local-tools
    effect: allow
    when: { tool: { prefix: "local." } }
  - id: remote-tools
    effect: allow
    when: { tool: { prefix: "remote." } }
`;

export interface Gw {
  client: Client;
  dir: string;
  auditDir: string;
  approvalsDb: string;
  callLog: string;
  stderr: () => string;
  close(): Promise<void>;
}

/** A policy file and directories for one gateway. */
export function workspace(policy = POLICY): { dir: string; policy: string; auditDir: string; approvalsDb: string; callLog: string } {
  const dir = tempDir("tollgate-mcp-test-");
  writeFileSync(join(dir, "policy.yaml"), policy);
  return { dir, policy: join(dir, "policy.yaml"), auditDir: join(dir, "audit"), approvalsDb: join(dir, "audit/approvals.db"), callLog: join(dir, "calls.jsonl") };
}

/** Starts `tollgate mcp ARGS` with the SDK's stdio client transport and connects a Client. */
export async function connectStdio(args: string[], ws: ReturnType<typeof workspace>, env: Record<string, string> = {}): Promise<Gw> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [tollgateBin(), "mcp", ...args],
    env: { ...(process.env as Record<string, string>), MCP_CALL_LOG: ws.callLog, ...env },
    stderr: "pipe",
    maxBufferSize: 64 * 1024 * 1024,
  });
  let err = "";
  transport.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  const client = new Client({ name: "test-agent", version: "1.0.0" });
  try {
    await client.connect(transport, { timeout: 60_000 });
  } catch (e) {
    throw new Error(`gateway did not start: ${(e as Error).message}\n${err}`);
  }
  return { client, ...ws, stderr: () => err, close: () => client.close() };
}

export interface Spawned {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** Starts `tollgate mcp ARGS --listen 127.0.0.1:0` and waits for its "listening" log line. */
export async function spawnHttpGateway(args: string[], env: Record<string, string> = {}): Promise<Spawned> {
  const proc = spawn(process.execPath, [tollgateBin(), "mcp", ...args, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let err = "";
  const exited = new Promise<number | null>((r) => proc.on("exit", (c) => r(c)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not listen: ${err}`)), 60_000);
    proc.stderr!.on("data", (c: Buffer) => {
      err += c.toString();
      const m = /"msg":"listening","url":"([^"]+)"/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}: ${err}`));
    });
  });
  return {
    proc,
    url,
    stderr: () => err,
    stop: async () => {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
}

export async function connectHttp(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: "test-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), token ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : undefined), { timeout: 60_000 });
  return client;
}

/** The text of a tool result. */
export function text(r: unknown): string {
  return ((r as CallToolResult).content as { type: string; text: string }[]).map((c) => c.text).join("");
}

export const decisionMeta = (r: unknown): Record<string, unknown> | undefined => ((r as CallToolResult)._meta as Record<string, Record<string, unknown>> | undefined)?.["tollgate/decision"];

/** Runs `tollgate ARGS` (the same build) to the end. */
export function runTollgate(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [tollgateBin(), ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    p.stdout.on("data", (c) => (out += c));
    p.stderr.on("data", (c) => (err += c));
    p.on("close", (code) => resolve({ code, out, err })); // after stdout and stderr are read
  });
}
