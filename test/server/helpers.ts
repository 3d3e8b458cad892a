// Test helpers: a private JavaScript build of src/ (Node 20 cannot run TypeScript, and the
// shared build/dist may be mid-rebuild by someone else), and a real server on an ephemeral port.

import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import ts from "typescript";
import { afterAll, expect } from "vitest";
import { serveApprovalsArgs, usesStore } from "../approvals/helpers.js";
import type { StoreKind } from "../approvals/helpers.js";

export const root = join(import.meta.dirname, "../..");

/** Example tokens (examples/tokens.yaml). */
export const TOKENS = {
  agent: "example-agent-billing-bot",
  agent2: "example-agent-support-bot",
  approver: "example-approver-alice",
  admin: "example-admin-ops",
};
export const TOKENS_FILE = join(root, "examples/tokens.yaml");

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

let built: string | null = null;

/** Transpiles src/ into node_modules/.cache/tollgate-server-* (with the console's bundle), returns the CLI runner's path. */
export function buildCli(): string {
  if (built) return built;
  mkdirSync(join(root, "node_modules/.cache"), { recursive: true });
  const out = mkdtempSync(join(root, "node_modules/.cache/tollgate-server-"));
  for (const file of listTs(join(root, "src"))) {
    const js = ts.transpileModule(readFileSync(file, "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const dest = join(out, "build/dist", file.slice(root.length + 1).replace(/\.ts$/, ".js"));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  copyFileSync(join(root, "build/tollgate.wasm"), join(out, "build/tollgate.wasm"));
  // The web console's bundle, where src/server/console.ts looks for it (build/console/).
  execFileSync(process.execPath, [join(root, "scripts/build-console.mjs"), "--out", join(out, "build/console")], { stdio: "inherit" });
  writeFileSync(join(out, "package.json"), '{"type":"module"}');
  writeFileSync(
    join(out, "tollgate.mjs"),
    'import { main } from "./build/dist/src/cli/main.js";\nmain(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(e); process.exitCode = 70; });\n',
  );
  built = join(out, "tollgate.mjs");
  return built;
}

const temps: string[] = [];

export function cleanBuild(): void {
  if (built) rmSync(dirname(built), { recursive: true, force: true });
  built = null;
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
}
// Registered by every test file that imports these helpers (after its own afterAll hooks).
afterAll(cleanBuild);

export function tempDir(prefix = "tollgate-server-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

export interface Server {
  url: string;
  port: number;
  proc: ChildProcess;
  auditDir: string;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  stderr: string[];
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  policy?: string;
  auditDir?: string;
  workers?: number;
  tokens?: string;
  args?: string[];
  /**
   * RLIMIT_FSIZE of the server, in KiB (`ulimit -f`): a write past it fails with EFBIG (Node
   * ignores SIGXFSZ), as on a full disk — without one. Applies to every file it writes.
   */
  fileSizeLimitKiB?: number;
  /** Added to the server's environment. */
  env?: Record<string, string>;
}

/** Runs the CLI (not a server) and collects its output. */
export function runCli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const cli = buildCli();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (c) => (out += c));
    p.stderr.on("data", (c) => (err += c));
    p.on("close", (code) => resolve({ code, out, err })); // after stdout and stderr are read
  });
}

export async function startServer(opts: StartOptions = {}): Promise<Server> {
  const cli = buildCli();
  const auditDir = opts.auditDir ?? join(tempDir(), "audit");
  const args = [
    cli,
    "serve",
    "--policy", opts.policy ?? join(root, "test/fixtures/billing-agent-stateless.yaml"),
    "--audit-dir", auditDir,
    "--tokens", opts.tokens ?? TOKENS_FILE,
    "--port", "0",
    "--workers", String(opts.workers ?? 1),
    ...(opts.args ?? []),
  ];
  const proc = opts.fileSizeLimitKiB === undefined
    ? spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } })
    : spawn("/bin/bash", ["-c", `ulimit -f ${opts.fileSizeLimitKiB} && exec "$0" "$@"`, process.execPath, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
  const lines: string[] = [];
  const stderr: string[] = [];
  let buf = "";
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr.join("")}`)), 20_000);
    proc.stdout!.setEncoding("utf8");
    proc.stdout!.on("data", (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.msg === "listening" && j.port !== undefined) {
            clearTimeout(timer);
            resolve(j.port);
          }
        } catch {
          // not JSON
        }
      }
    });
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (c: string) => stderr.push(c));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr.join("")}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    auditDir,
    lines,
    stderr,
    exited,
    stop: async () => {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
}

/**
 * A server on the policy `yaml` (written to a new directory, with `files` beside it: name →
 * text, e.g. tokens.yaml) whose approvals are in a new store of `kind`, checked to be there.
 */
export async function startOnStore(kind: StoreKind, yaml: string, opts: StartOptions & { files?: Record<string, string> } = {}): Promise<Server> {
  const dir = tempDir();
  writeFileSync(join(dir, "policy.yaml"), yaml);
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text);
  const { files, ...rest } = opts;
  const tokens = files?.["tokens.yaml"] !== undefined ? join(dir, "tokens.yaml") : rest.tokens;
  const s = await startServer({ ...rest, policy: join(dir, "policy.yaml"), ...(tokens !== undefined && { tokens }), args: [...(rest.args ?? []), ...(await serveApprovalsArgs(kind))] });
  expect(usesStore(kind, s.auditDir)).toBe(true);
  return s;
}

export interface Res {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

/** One HTTP request; `token` is a key of TOKENS or a raw token; body objects are sent as JSON. */
export async function http(server: Server | string, method: string, path: string, opts: { token?: keyof typeof TOKENS | null; raw?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const base = typeof server === "string" ? server : server.url;
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${TOKENS[opts.token]}`;
  if (opts.raw !== undefined) headers.authorization = opts.raw;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const r = await fetch(base + path, { method, headers, body });
  const text = await r.text();
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: r.status, headers: r.headers, body: parsed, text };
}

/**
 * The approvals tests' policy (approvals, stream and console tests): three approvers —
 * finance-oncall, a short-lived `quick` one and other-team — and an escalate rule for each
 * (refunds over 200, tool `quick`, tool `other`). `extra` is appended as it is (e.g. an audit section).
 */
export function approvalsPolicy(name: string, quick: { timeout: string; onTimeout: "allow" | "deny"; reason: string }, extra = ""): string {
  return `tollgate: 1
name: ${name}
default: deny
approvers:
  finance-oncall: { timeout: 15m, on_timeout: deny }
  quick: { timeout: ${quick.timeout}, on_timeout: ${quick.onTimeout} }
  other-team: { timeout: 15m }
rules:
  - id: big-refund
    effect: escalate
    approver: finance-oncall
    reason: Refunds over 200 need finance
    when: { tool: payments.refund, args.amount: { gt: 200 } }
  - id: quick
    effect: escalate
    approver: quick
    reason: ${quick.reason}
    when: { tool: quick }
  - id: other
    effect: escalate
    approver: other-team
    reason: Another team's
    when: { tool: other }
${extra}`;
}

export const REFUND_SMALL = { tool: "payments.refund", args: { order_id: "ord_4821abcd", amount: 49.9, currency: "EUR" } };
export const REFUND_ESCALATE = { tool: "payments.refund", args: { order_id: "ord_4821abcd", amount: 350, currency: "USD" } };

/** The audit records of a log directory, in order. */
export function auditRecords(dir: string): { seq: number; hash: string; decision: { decision: string; approval?: unknown; redemption?: { check: string | null } }; policy_hash: string; action: any }[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const files = readdirSync(dir).filter((f) => /^audit-\d+\.jsonl$/.test(f)).sort();
  const out = [];
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) if (line) out.push(JSON.parse(line));
  }
  return out;
}
