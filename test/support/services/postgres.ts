// A real PostgreSQL server for tests (docs/approvals.md, "PostgreSQL"): one per test run, started
// from the Debian package's binaries (initdb, postgres) by the first test file that asks for it,
// in a temporary directory on a free port, with durability off (fsync=off: a test server), and
// stopped and removed by the global setup's teardown (test/support/services/global-setup.ts).
// Each test file gets a database of its own (`postgresDatabase()`: CREATE DATABASE).
//
// initdb and postgres refuse to run as root: as root they run as an unprivileged user (the
// package's `postgres`, else `nobody`) that owns the data directory. When the binaries are absent,
// `postgresServer(what)` says so and the tests skip (listed in the end-of-run banner) — or, with
// TOLLGATE_REQUIRE_SERVICES=1 (CI), it throws, failing the file with the reason.

import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { freePort, unavailable } from "./redis.js";

/** Where the run's server is described (set by the global setup; else one per test process). */
export const POSTGRES_RUN_DIR_ENV = "TOLLGATE_POSTGRES_RUN_DIR";

export interface PostgresAvailability {
  available: boolean;
  /** Why not, when not. */
  reason: string;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

interface ServerInfo {
  port: number;
  pid: number;
  data: string;
}

/** The directory with initdb and postgres: $TOLLGATE_PG_BIN, else the newest /usr/lib/postgresql/N/bin, else the PATH's. */
function binaries(): Binaries | null {
  const dirs: string[] = [];
  if (process.env.TOLLGATE_PG_BIN) dirs.push(process.env.TOLLGATE_PG_BIN);
  try {
    const versions = readdirSync("/usr/lib/postgresql").filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) dirs.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    // not the Debian layout
  }
  for (const d of dirs) {
    if (existsSync(join(d, "initdb")) && existsSync(join(d, "postgres"))) return { initdb: join(d, "initdb"), postgres: join(d, "postgres") };
  }
  const which = spawnSync("sh", ["-c", "command -v initdb && command -v postgres"], { encoding: "utf8" });
  const [initdb, postgres] = which.status === 0 ? which.stdout.trim().split("\n") : [];
  return initdb && postgres ? { initdb, postgres } : null;
}

/** As root: the unprivileged user initdb and postgres run as (its uid and gid). */
function runAs(): { uid: number; gid: number; name: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = readFileSync("/etc/passwd", "utf8").split("\n").map((l) => l.split(":"));
  for (const name of ["postgres", "nobody"]) {
    const row = passwd.find((r) => r[0] === name);
    if (row) return { name, uid: Number(row[2]), gid: Number(row[3]) };
  }
  throw new Error("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as (initdb refuses root)");
}

let probed: PostgresAvailability | null = null;

/** Whether PostgreSQL can run here. With TOLLGATE_REQUIRE_SERVICES=1, throws when it cannot;
 *  else records the skip of `what` (a test file) for the banner. */
export function postgresServer(what: string): PostgresAvailability {
  if (probed === null) {
    const bins = binaries();
    let reason = "";
    if (bins === null) reason = "PostgreSQL's initdb and postgres were not found (/usr/lib/postgresql/N/bin, $TOLLGATE_PG_BIN or the PATH); install them with: apt-get install postgresql";
    else {
      try {
        runAs();
      } catch (err) {
        reason = (err as Error).message;
      }
    }
    probed = { available: reason === "", reason };
  }
  if (!probed.available) unavailable(what, probed.reason);
  return probed;
}

/** Real time even under a test's fake timers (they replace the global setTimeout, not this one). */
const sleep = (ms: number) => delay(ms);

function adminUrl(port: number, db = "postgres"): string {
  return `postgres://tollgate@127.0.0.1:${port}/${db}`;
}

async function answers(port: number): Promise<boolean> {
  const c = new pg.Client({ connectionString: adminUrl(port), connectionTimeoutMillis: 1000 });
  c.on("error", () => undefined);
  try {
    await c.connect();
    await c.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** initdb, then postgres on a free port; resolves once it answers. */
async function start(runDir: string): Promise<ServerInfo> {
  const bins = binaries();
  if (bins === null) throw new Error("PostgreSQL binaries not found");
  const user = runAs();
  const data = mkdtempSync(join(tmpdir(), "tollgate-pg-"));
  if (user) chownSync(data, user.uid, user.gid);
  const ids = user ? { uid: user.uid, gid: user.gid } : {};
  const env = { ...process.env, LC_ALL: "C", LANG: "C" };
  const init = spawnSync(bins.initdb, ["-D", join(data, "db"), "-U", "tollgate", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], { ...ids, env, encoding: "utf8" });
  if (init.status !== 0) throw new Error(`initdb failed (${init.error?.message ?? `exit ${init.status}`}): ${(init.stderr || init.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const logFile = join(data, `postgres-${port}.log`);
    const out = openSync(logFile, "a");
    if (user) chownSync(logFile, user.uid, user.gid);
    // Detached: it outlives the test process that started it; the global teardown stops it.
    const proc = spawn(
      bins.postgres,
      ["-D", join(data, "db"), "-p", String(port), "-k", data, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off", "-c", "max_connections=400", "-c", "shared_buffers=32MB"],
      { ...ids, env, detached: true, stdio: ["ignore", out, out] },
    );
    proc.unref();
    let spawnError: Error | null = null;
    proc.once("error", (e) => (spawnError = e));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && spawnError === null && proc.exitCode === null) {
      if (await answers(port)) return { port, pid: proc.pid!, data };
      await sleep(100);
    }
    let text = "";
    try {
      text = readFileSync(logFile, "utf8").trim().split("\n").slice(-3).join(" | ");
    } catch {
      // no log
    }
    lastError = `${spawnError !== null ? (spawnError as Error).message : proc.exitCode !== null ? `exited ${proc.exitCode}` : "no answer within 30 s"}${text ? `: ${text}` : ""}`;
    if (proc.exitCode === null && proc.pid) await stopServer({ port, pid: proc.pid, data: "" });
  }
  rmSync(data, { recursive: true, force: true });
  void runDir;
  throw new Error(`could not start PostgreSQL: ${lastError}`);
}

/** Stops a server (fast shutdown, then SIGKILL after 10 s) and removes its directory. */
export async function stopServer(info: ServerInfo): Promise<void> {
  if (alive(info.pid)) {
    try {
      process.kill(info.pid, "SIGINT");
    } catch {
      // gone
    }
    const deadline = Date.now() + 10_000;
    while (alive(info.pid) && Date.now() < deadline) await sleep(50);
    if (alive(info.pid)) process.kill(info.pid, "SIGKILL");
  }
  if (info.data) rmSync(info.data, { recursive: true, force: true });
}

/** Stops the run's server, if a test started one (the global teardown). */
export async function stopRunServer(runDir: string): Promise<void> {
  const file = join(runDir, "server.json");
  if (!existsSync(file)) return;
  await stopServer(JSON.parse(readFileSync(file, "utf8")) as ServerInfo);
}

let local: Promise<ServerInfo> | null = null;

/** The run's server: started by the first caller of the run (a lock directory), waited for by the others. */
function server(): Promise<ServerInfo> {
  if (local !== null) return local;
  let runDir = process.env[POSTGRES_RUN_DIR_ENV];
  let ownsRun = false;
  if (!runDir) {
    // Not under the global setup: a server for this process alone, stopped when it exits.
    runDir = mkdtempSync(join(tmpdir(), "tollgate-pg-run-"));
    ownsRun = true;
  }
  const dir = runDir;
  local = (async () => {
    const file = join(dir, "server.json");
    const failed = join(dir, "failed.txt");
    let starter = false;
    try {
      mkdirSync(join(dir, "lock"));
      starter = true;
    } catch {
      // another test process is starting it
    }
    if (starter) {
      try {
        const info = await start(dir);
        writeFileSync(`${file}.tmp`, JSON.stringify(info));
        renameSync(`${file}.tmp`, file);
        if (ownsRun) {
          process.once("exit", () => {
            try {
              process.kill(info.pid, "SIGINT");
            } catch {
              // gone
            }
          });
        }
        return info;
      } catch (err) {
        writeFileSync(failed, (err as Error).message);
        throw err;
      }
    }
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as ServerInfo;
      if (existsSync(failed)) throw new Error(readFileSync(failed, "utf8"));
      await sleep(100);
    }
    throw new Error("timed out waiting for another test process to start PostgreSQL");
  })();
  return local;
}

let databases = 0;

/**
 * A new, empty database on the run's server (one per test file, or per call): its URL,
 * `postgres://tollgate@127.0.0.1:PORT/NAME`.
 */
export async function postgresDatabase(): Promise<string> {
  const { port } = await server();
  const name = `t_${process.pid}_${Date.now().toString(36)}_${databases++}`;
  const c = new pg.Client({ connectionString: adminUrl(port) });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
  return adminUrl(port, name);
}
