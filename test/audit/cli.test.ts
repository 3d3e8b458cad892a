// `tollgate audit verify|tail|show`: output, the FILE:LINE: error format, exit codes.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { auditCommand } from "../../src/cli/audit.js";
import { runCli as run } from "../cli-helpers.js";
import { entry, fakeClock, tempDir } from "./helpers.js";

let dir: string;
beforeAll(async () => {
  dir = tempDir("audit-cli");
  const log = await AuditLog.open(dir, { now: fakeClock(), segmentBytes: 2000 });
  for (let i = 0; i < 8; i++) await log.append(entry(i));
  await log.close();
});

describe("tollgate audit", () => {
  it("verify prints ok with the counts", async () => {
    expect(await run(["audit", "verify", dir])).toEqual({ code: 0, out: "ok: 8 records in 3 segments\n", err: "" });
    const pub = join(dir, "audit.pub");
    expect((await run(["audit", "verify", dir, "--public-key", pub])).code).toBe(0);
  });

  it("verify prints the first problem as FILE:LINE: error: and exits 1", async () => {
    const bad = tempDir("audit-cli-bad");
    for (const f of readdirSync(dir)) writeFileSync(join(bad, f), readFileSync(join(dir, f)));
    const seg = join(bad, "audit-00000000000000000004.jsonl");
    writeFileSync(seg, readFileSync(seg, "utf8").replace('"o-4"', '"o-X"'));
    const r = await run(["audit", "verify", bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^${seg}:2: error: hash mismatch`));
    expect(r.out).toBe("");
  });

  it("tail prints the last N records as written", async () => {
    const r = await run(["audit", "tail", dir, "-n", "3"]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n").map((l) => JSON.parse(l).seq)).toEqual([6, 7, 8]);
    expect((await run(["audit", "tail", dir])).out.trim().split("\n")).toHaveLength(8);
  });

  it("show prints one record by seq", async () => {
    const r = await run(["audit", "show", dir, "--seq", "5"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^# .*audit-00000000000000000004\.jsonl:2\n/);
    expect(JSON.parse(r.out.split("\n").slice(1).join("\n"))).toMatchObject({ seq: 5, action: { args: { card_number: "[redacted]" } } });
    expect((await run(["audit", "show", dir, "--seq", "99"])).code).toBe(1);
  });

  it("tail -f prints the last records, then each one appended, across segments, until stopped", async () => {
    const live = tempDir("audit-cli-follow");
    const log = await AuditLog.open(live, { now: fakeClock(), segmentBytes: 2000 });
    for (let i = 0; i < 3; i++) await log.append(entry(i));
    let out = "";
    const stdout = new PassThrough().on("data", (d) => (out += d));
    const stop = new AbortController();
    const seqs = () => out.trim().split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as { seq: number }).seq);
    const until = async (n: number) => {
      for (let t = 0; t < 400 && seqs().length < n; t++) await new Promise((r) => setTimeout(r, 25));
    };
    const running = auditCommand(["tail", live, "-n", "2", "-f"], { stdin: Readable.from([]), stdout, stderr: new PassThrough() }, stop.signal);
    await until(2);
    expect(seqs()).toEqual([2, 3]);
    for (let i = 3; i < 9; i++) await log.append(entry(i)); // past a segment rotation (2000 bytes)
    await until(8);
    expect(readdirSync(live).filter((f) => f.endsWith(".jsonl")).length).toBeGreaterThan(1);
    expect(seqs()).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    stop.abort();
    expect(await running).toBe(0);
    await log.close();
    const none = join(live, "none");
    expect(await run(["audit", "tail", none, "-f"])).toEqual({ code: 1, out: "", err: `tollgate: no audit log at ${none}\n` });
  });

  it("rejects bad usage", async () => {
    expect((await run(["audit", "frob", dir])).code).toBe(64);
    expect((await run(["audit", "show", dir])).code).toBe(64);
    expect((await run(["audit", "tail", dir, "-n", "x"])).code).toBe(64);
  });
});
