// Vitest global setup (vitest.config.ts): tests that need a service this machine lacks
// (test/support/services/redis.ts, postgres.ts, chromium.ts) skip — and this prints, LOUDLY and at
// the very end of the run, which ones and why, so that a green run without them is not mistaken
// for a full one. It also stops the run's PostgreSQL server, if a test file started it.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SKIPPED_SERVICES_ENV } from "./redis.js";
import { POSTGRES_RUN_DIR_ENV, stopRunServer } from "./postgres.js";

export default function setup(): () => Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-skipped-"));
  const file = join(dir, "skipped.tsv");
  // Test workers are forked after this runs, so they inherit these.
  process.env[SKIPPED_SERVICES_ENV] = file;
  process.env[POSTGRES_RUN_DIR_ENV] = dir;
  return async () => {
    await stopRunServer(dir).catch((err: Error) => console.error(`stopping the tests' PostgreSQL failed: ${err.message}`));
    let lines: string[] = [];
    try {
      lines = [...new Set(readFileSync(file, "utf8").split("\n").filter(Boolean))];
    } catch {
      // nothing skipped
    }
    rmSync(dir, { recursive: true, force: true });
    if (lines.length === 0) return;
    const bar = "!".repeat(78);
    const out = [bar, "!!! SKIPPED: tests that need a service or program this machine does not have", bar];
    for (const line of lines) {
      const [what, why] = line.split("\t");
      out.push(`!!!   ${what}`, `!!!     ${why}`);
    }
    out.push("!!! These tests did NOT run. CI sets TOLLGATE_REQUIRE_SERVICES=1 to make this a failure.", bar);
    console.log(`\n${out.join("\n")}\n`);
  };
}
