// The pause log (src/server/pauses.ts): with TOLLGATE_PAUSE_LOG, the primary and every worker of
// `tollgate serve` write one line a second with their GC pauses and event-loop delay; without it,
// nothing is written. bench/server-open-loop.ts reads these files.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startPauseLog } from "../../src/server/pauses.js";
import type { PauseLine } from "../../src/server/pauses.js";
import { http, REFUND_SMALL, root, startServer } from "./helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tollgate-pauses-"));
  dirs.push(d);
  return d;
}

const read = (file: string) => readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as PauseLine);

describe("pause log", () => {
  it("records every GC pause and each second's event-loop delay of a process", () => {
    const dir = tempDir();
    const script = `
      import { startPauseLog } from ${JSON.stringify(join(root, "build/dist/src/server/pauses.js"))};
      startPauseLog("probe");
      const keep = [];
      const end = Date.now() + 2300;
      const spin = () => {
        for (let i = 0; i < 20000; i++) keep.push({ i, s: "x".repeat(20) });
        if (keep.length > 200000) keep.length = 0;
        global.gc();
        if (Date.now() < end) setTimeout(spin, 5); else setTimeout(() => process.exit(0), 50);
      };
      spin();`;
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { env: { ...process.env, TOLLGATE_PAUSE_LOG: dir }, encoding: "utf8", cwd: root });
    expect(r.status, r.stderr).toBe(0);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^probe-\d+\.jsonl$/);
    const lines = read(join(dir, files[0]!));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const gcs = lines.flatMap((l) => l.gc);
    expect(gcs.length).toBeGreaterThan(10); // global.gc() every few ms
    for (const [start, ms, kind] of gcs) {
      expect(start).toBeGreaterThan(Date.now() - 60_000);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(["major", "minor", "incremental", "weakcb", "other"]).toContain(kind);
    }
    expect(gcs.some(([, , kind]) => kind === "major")).toBe(true);
    const eld = lines.map((l) => l.eld).filter((e) => e !== null);
    expect(eld.length).toBeGreaterThan(0);
    for (const e of eld) {
      expect(e.max).toBeGreaterThanOrEqual(e.p99);
      expect(e.p99).toBeGreaterThanOrEqual(e.p50);
    }
  });

  it("is off without TOLLGATE_PAUSE_LOG", () => {
    expect(startPauseLog("x", {})).toBe(false);
    expect(startPauseLog("x", { TOLLGATE_PAUSE_LOG: "" })).toBe(false);
  });

  it("is written by the primary and every worker of a server", async () => {
    const dir = tempDir();
    const s = await startServer({ workers: 2, env: { TOLLGATE_PAUSE_LOG: dir } });
    try {
      expect((await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      await s.stop();
    }
    const roles = readdirSync(dir).map((f) => f.replace(/-\d+\.jsonl$/, "")).sort();
    expect(roles).toEqual(["primary", "worker-1", "worker-2"]);
    for (const f of readdirSync(dir)) expect(read(join(dir, f)).length).toBeGreaterThan(0);
  });
});
