// A server started as a child process that reports it is ready with a JSON log line on stdout,
// `{"msg":"listening","port":N,...}` (as `tollgate serve` does, and bench/server-ceiling.ts).
// Shared by bench/server.bench.ts (the Tollgate server and the ceiling peers) and its tests.

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ListeningChild {
  proc: ChildProcess;
  port: number;
  /** http://127.0.0.1:port */
  url: string;
  /** The "listening" line, parsed. */
  info: Record<string, unknown>;
  /** Settles when the process exits, whenever that is (before `stop()` too). */
  exited: Promise<Exit>;
  /** Whether the process had exited before `stop()` was called. */
  exitedEarly(): boolean;
  /** SIGTERM (unless it has exited already); resolves with how it exited. */
  stop(): Promise<Exit>;
}

/**
 * Runs `node args...` and resolves once it prints the "listening" line. Its stdout lines of
 * level warn and above, and any that are not JSON, are copied to this process's stderr; its
 * stderr is inherited. Rejects if the process exits first or does not listen within timeoutMs.
 */
export function startListening(args: string[], { timeoutMs = 60_000, env }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ListeningChild> {
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], env: env ?? process.env });
  let exit: Exit | null = null;
  let stopping = false;
  const exited = new Promise<Exit>((resolve) => proc.on("exit", (code, signal) => resolve((exit = { code, signal }))));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${args.join(" ")}: not listening after ${timeoutMs} ms`));
    }, timeoutMs);
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")}: exited (code ${e.code}, signal ${e.signal}) before listening`));
    });
    let buf = "";
    proc.stdout!.setEncoding("utf8");
    proc.stdout!.on("data", (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let j: { msg?: unknown; port?: unknown; level?: unknown };
        try {
          j = JSON.parse(line) as typeof j;
        } catch {
          process.stderr.write(line + "\n");
          continue;
        }
        if (j.msg === "listening" && typeof j.port === "number" && j.port > 0) {
          clearTimeout(timer);
          const port = j.port;
          resolve({
            proc,
            port,
            url: `http://127.0.0.1:${port}`,
            info: j as Record<string, unknown>,
            exited,
            exitedEarly: () => exit !== null && !stopping,
            stop: () => {
              if (exit === null) {
                stopping = true;
                proc.kill("SIGTERM");
              }
              return exited;
            },
          });
        } else if (typeof j.level === "number" && j.level >= 40) {
          process.stderr.write(line + "\n");
        }
      }
    });
  });
}
