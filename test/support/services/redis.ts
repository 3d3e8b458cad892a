// A real redis-server for tests (docs/redis.md): started on a free port in a temporary
// directory with persistence off, stopped and removed afterwards. Tests that need one call
// `redisServer()` when the file is collected: when redis-server is not installed it says so,
// and the tests skip (recorded for the banner of test/support/services/global-setup.ts) — or,
// with TOLLGATE_REQUIRE_SERVICES=1 (CI), it throws, failing the file with the reason.

import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The binary: $TOLLGATE_REDIS_SERVER, else `redis-server` on the PATH. */
export const REDIS_SERVER = process.env.TOLLGATE_REDIS_SERVER ?? "redis-server";

/** Where skipped tests are listed for the end-of-run banner (set by the global setup). */
export const SKIPPED_SERVICES_ENV = "TOLLGATE_SKIPPED_SERVICES_FILE";

export interface RedisService {
  port: number;
  /** redis://127.0.0.1:port */
  url: string;
  stop(): Promise<void>;
}

export interface RedisAvailability {
  available: boolean;
  /** Why not, when not. */
  reason: string;
}

/**
 * A service `what` (a test file) needs is missing: with TOLLGATE_REQUIRE_SERVICES=1 (CI) that
 * fails the file with `reason`; else the skip is recorded for the end-of-run banner.
 */
export function unavailable(what: string, reason: string): void {
  if (process.env.TOLLGATE_REQUIRE_SERVICES === "1") throw new Error(`TOLLGATE_REQUIRE_SERVICES=1 and ${reason}`);
  const file = process.env[SKIPPED_SERVICES_ENV];
  if (file) appendFileSync(file, `${what}\t${reason}\n`);
}

let probed: RedisAvailability | null = null;

/** Whether redis-server can run here. With TOLLGATE_REQUIRE_SERVICES=1, throws when it cannot;
 *  else records the skip of `what` (a test file) for the banner. */
export function redisServer(what: string): RedisAvailability {
  if (probed === null) {
    const r = spawnSync(REDIS_SERVER, ["--version"], { encoding: "utf8" });
    probed =
      r.status === 0
        ? { available: true, reason: "" }
        : { available: false, reason: `${REDIS_SERVER} is not installed (${r.error?.message ?? `exit ${r.status}`}); install it with: apt-get install redis-server` };
  }
  if (!probed.available) unavailable(what, probed.reason);
  return probed;
}

/** A port free on 127.0.0.1 now (for a service a test starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let data = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("error", () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      data += d.toString("latin1");
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
  });
}

function exited(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once("exit", () => resolve());
  });
}

/** Starts a redis-server; resolves once it answers PING. */
export async function startRedis(): Promise<RedisService> {
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-redis-"));
    const port = await freePort();
    const log = join(dir, "redis.log");
    const proc = spawn(REDIS_SERVER, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", log], {
      stdio: "ignore",
    });
    let spawnError: Error | null = null;
    proc.once("error", (e) => (spawnError = e));
    const stop = async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const killer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
        await exited(proc);
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && spawnError === null && proc.exitCode === null) {
      if (await ping(port)) return { port, url: `redis://127.0.0.1:${port}`, stop };
      await new Promise((r) => setTimeout(r, 50));
    }
    let text = "";
    try {
      text = readFileSync(log, "utf8").trim().split("\n").slice(-3).join(" | ");
    } catch {
      // no log written
    }
    lastError = `${spawnError !== null ? (spawnError as Error).message : proc.exitCode !== null ? `exited ${proc.exitCode}` : "no PONG within 10 s"}${text ? `: ${text}` : ""}`;
    await stop();
  }
  throw new Error(`could not start ${REDIS_SERVER}: ${lastError}`);
}
