// Running the real `tollgate hook` process: bin/tollgate.js copied into the private build of src/
// (test/server/helpers.ts: the shared build/dist may be mid-rebuild), so its
// `../build/dist/src/cli/hook.js` is this tree's code, reached exactly as an installed bin does.

import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { buildCli, root, tempDir } from "../server/helpers.js";

export { root, tempDir };

let bin: string | null = null;

/** The path of bin/tollgate.js inside the private build. */
export function hookBin(): string {
  if (bin !== null) return bin;
  const out = dirname(buildCli());
  mkdirSync(join(out, "bin"), { recursive: true });
  copyFileSync(join(root, "bin/tollgate.js"), join(out, "bin/tollgate.js"));
  bin = join(out, "bin/tollgate.js");
  return bin;
}

export interface HookRun {
  code: number | null;
  out: string;
  err: string;
  /** stdout parsed (undefined when it is not one JSON value). */
  answer: { hookSpecificOutput: { hookEventName: string; permissionDecision: string; permissionDecisionReason: string } } | undefined;
}

/** Claude Code's PreToolUse input for a tool call. */
export function toolCall(tool_name: string, tool_input: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    session_id: "sess-1",
    transcript_path: "/tmp/transcript.jsonl",
    cwd: "/tmp",
    permission_mode: "default",
    hook_event_name: "PreToolUse",
    tool_name,
    tool_input,
    tool_use_id: "toolu_01",
    ...extra,
  });
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** Leave stdin open (never end it). */
  keepStdinOpen?: boolean;
}

/** Runs `tollgate hook ARGS` with `stdin`, as Claude Code does: a process per tool call. */
export function runHook(args: string[], stdin: string | Buffer, options: RunOptions = {}): Promise<HookRun> {
  const env: Record<string, string | undefined> = { ...process.env, TOLLGATE_CACHE_DIR: "", ...options.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [hookBin(), "hook", ...args], { stdio: ["pipe", "pipe", "pipe"], env });
    let out = "";
    let err = "";
    p.stdout.on("data", (c) => (out += c));
    p.stderr.on("data", (c) => (err += c));
    p.stdin.on("error", () => undefined); // the hook may answer before reading all of a huge input
    p.on("error", reject);
    p.on("close", (code) => {
      let answer: HookRun["answer"];
      try {
        answer = JSON.parse(out);
      } catch {
        answer = undefined;
      }
      resolve({ code, out, err, answer });
    });
    if (options.keepStdinOpen) p.stdin.write(stdin);
    else p.stdin.end(stdin);
  });
}

/** A policy file in a fresh temp directory. */
export function policyFile(text: string, name = "policy.yaml"): string {
  const path = join(tempDir("tollgate-hook-test-"), name);
  writeFileSync(path, text);
  return path;
}
