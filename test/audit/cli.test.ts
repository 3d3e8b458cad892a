// `tollgate audit verify|tail|show`: output, the FILE:LINE: error format, exit codes.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
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

  it("rejects bad usage", async () => {
    expect((await run(["audit", "frob", dir])).code).toBe(64);
    expect((await run(["audit", "show", dir])).code).toBe(64);
    expect((await run(["audit", "tail", dir, "-n", "x"])).code).toBe(64);
  });
});
