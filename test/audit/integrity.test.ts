// Issue 11's audit findings, each as an attacker or a crash would do it: a restart must not
// re-sign a tampered log, an idle log is still covered by a signature, verify reports unsigned
// records, bad bytes and a log cut back to an older checkpoint (with a witness), and a seal
// continues past damage visibly.

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../../src/canonical.js";
import { AuditLog } from "../../src/audit/log.js";
import type { AuditWarning } from "../../src/audit/recover.js";
import { auditRecord } from "../../src/audit/record.js";
import { sealLog } from "../../src/audit/seal.js";
import { verifyLog } from "../../src/audit/verify.js";
import { ROOT, runCli } from "../cli-helpers.js";
import { entry, fakeClock, policy, tempDir } from "./helpers.js";

const dirs: string[] = [];
function newDir(name: string): string {
  const d = tempDir(name);
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function segments(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith("audit-")).sort();
}
function lines(dir: string, seg: string): string[] {
  return readFileSync(join(dir, seg), "utf8").split("\n").slice(0, -1);
}
function writeLines(dir: string, seg: string, ls: string[]): void {
  writeFileSync(join(dir, seg), ls.map((l) => l + "\n").join(""));
}
/** Re-hashes a record the way a forger without the key would. */
function rehash(r: Record<string, unknown>): string {
  const { hash: _old, ...rest } = r;
  return canonicalJson({ ...rest, hash: sha256Hex(canonicalJson(rest)) });
}
/** Edits record `at` (0-based line of the only segment) and re-chains everything after it. */
function editAndRechain(dir: string, at: number, extra = 0): void {
  const seg = segments(dir)[0]!;
  const ls = lines(dir, seg);
  let prev: string | null = null;
  const out = ls.map((l, i) => {
    if (i < at) return l;
    const r = JSON.parse(l) as Record<string, unknown>;
    if (i === at) (r.action as { args: { amount: number } }).args.amount = 1;
    if (prev !== null) r.prev = prev;
    const text = rehash(r);
    prev = (JSON.parse(text) as { hash: string }).hash;
    return text;
  });
  for (let k = 0; k < extra; k++) {
    const r = JSON.parse(out.at(-1)!) as Record<string, unknown>;
    r.seq = (r.seq as number) + 1;
    r.prev = r.hash;
    out.push(rehash(r));
  }
  writeLines(dir, seg, out);
}

async function writeLog(dir: string, n: number, options = {}): Promise<void> {
  const log = await AuditLog.open(dir, { now: fakeClock(), ...options });
  await Promise.all(Array.from({ length: n }, (_, i) => log.append(entry(i))));
  await log.close();
}

describe("a restart never re-signs a tampered log (finding 2)", () => {
  it("refuses to open when 1,000 records and the checkpoint were deleted; verify with the original key fails too", async () => {
    const dir = newDir("drop");
    await writeLog(dir, 1200);
    const original = readFileSync(join(dir, "audit.pub"), "utf8");
    const seg = segments(dir)[0]!;
    writeLines(dir, seg, lines(dir, seg).slice(0, 200));
    unlinkSync(join(dir, "checkpoint.json"));
    await expect(AuditLog.open(dir)).rejects.toThrow(/checkpoint\.json is missing but the log holds records up to seq 200.*tollgate audit seal/);
    expect(readdirSync(dir)).not.toContain("checkpoint.json"); // nothing was written
    expect((await verifyLog(dir, { publicKey: original })).ok).toBe(false);
  });

  it("refuses to open an edited, re-chained log whose checkpoint was deleted", async () => {
    const dir = newDir("rechain");
    await writeLog(dir, 50);
    editAndRechain(dir, 10);
    unlinkSync(join(dir, "checkpoint.json"));
    await expect(AuditLog.open(dir)).rejects.toThrow(/checkpoint\.json is missing/);
  });

  it("refuses to open an edited, re-chained log with a forged record appended and the checkpoint kept", async () => {
    const dir = newDir("forge");
    await writeLog(dir, 50);
    editAndRechain(dir, 10, 1);
    const err = await AuditLog.open(dir).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/record 50 has hash [0-9a-f]{64} but the checkpoint says/);
    expect((err as Error).message).toContain(`${segments(dir)[0]}:50`);
  });

  it("refuses to open when a record after the checkpoint does not verify (not only the last one)", async () => {
    const dir = newDir("after");
    await writeLog(dir, 20);
    const seg = segments(dir)[0]!;
    copyFileSync(join(dir, "checkpoint.json"), join(dir, "cp-20"));
    await writeLog(dir, 5);
    copyFileSync(join(dir, "cp-20"), join(dir, "checkpoint.json"));
    const ls = lines(dir, seg);
    ls[21] = ls[21]!.replace('"eval_ns":', '"eval_ns":9'); // seq 22: hash no longer matches
    writeLines(dir, seg, ls);
    await expect(AuditLog.open(dir)).rejects.toThrow(new RegExp(`${seg}:22: .*hash mismatch`));
  });

  it("refuses an unsigned tail longer than a crash leaves: an older checkpoint restored to make signed records editable", async () => {
    const dir = newDir("rollback");
    const t0 = Date.UTC(2026, 0, 1);
    await writeLog(dir, 10, { now: fakeClock(t0) });
    const old = readFileSync(join(dir, "checkpoint.json"));
    await writeLog(dir, 5, { now: fakeClock(t0 + 1_000) }); // the log goes on, signed as it goes...
    await writeLog(dir, 5, { now: fakeClock(t0 + 121_000) }); // ...for two minutes
    writeFileSync(join(dir, "checkpoint.json"), old); // the attacker restores the old checkpoint...
    editAndRechain(dir, 14); // ...and edits a record it no longer covers
    const seg = segments(dir)[0]!;
    const before = readFileSync(join(dir, seg));
    await expect(AuditLog.open(dir)).rejects.toThrow(
      new RegExp(`${seg}:16: the records after the checkpoint \\(seq 10\\) run from 2026-01-01T00:00:01.000Z \\(seq 11\\) to 2026-01-01T00:02:01.000Z \\(seq 16\\), 120 s: more than a crash leaves unsigned`),
    );
    expect(readFileSync(join(dir, seg)).equals(before)).toBe(true);
  });

  it("keeps a crash's unsigned tail after a long idle spell (the tail's own span counts, not the checkpoint's age)", async () => {
    const dir = newDir("idle-crash");
    const t0 = Date.UTC(2026, 0, 1);
    await writeLog(dir, 5, { now: fakeClock(t0) });
    const log = await AuditLog.open(dir, { now: fakeClock(t0 + 3_600_000), checkpointIntervalMs: 60_000 }); // an hour later
    for (let i = 0; i < 3; i++) await log.append(entry(20 + i));
    const copy = newDir("idle-crash-copy"); // the crash, before the timer signed them
    for (const f of readdirSync(dir)) if (f !== "audit.lock") copyFileSync(join(dir, f), join(copy, f));
    await log.close();
    const reopened = await AuditLog.open(copy);
    await reopened.close();
    expect(await verifyLog(copy)).toMatchObject({ ok: true, records: 9, recovered: [{ seq: 9, first: 6, last: 8, count: 3 }] });
  });

  it("writes nothing to a log it refuses: no torn end cut, no new key pair", async () => {
    const dir = newDir("nowrite");
    await writeLog(dir, 30);
    editAndRechain(dir, 5, 1);
    const seg = segments(dir)[0]!;
    writeFileSync(join(dir, seg), Buffer.concat([readFileSync(join(dir, seg)), Buffer.from('{"torn":')]));
    const before = readFileSync(join(dir, seg));
    await expect(AuditLog.open(dir)).rejects.toThrow(/checkpoint says/);
    expect(readFileSync(join(dir, seg)).equals(before)).toBe(true);

    const keyless = newDir("nokey");
    await writeLog(keyless, 5);
    const pub = readFileSync(join(keyless, "audit.pub"), "utf8");
    unlinkSync(join(keyless, "audit.key"));
    await expect(AuditLog.open(keyless)).rejects.toThrow(/audit\.key is missing but the log holds records up to seq 5/);
    expect(readdirSync(keyless)).not.toContain("audit.key");
    expect(readFileSync(join(keyless, "audit.pub"), "utf8")).toBe(pub);
  });

  it("tollgate serve refuses to start on such a log, with the reason, and writes nothing", async () => {
    const { startServer } = await import("../server/helpers.js");
    const dir = newDir("serve");
    await writeLog(dir, 300);
    const seg = segments(dir)[0]!;
    writeLines(dir, seg, lines(dir, seg).slice(0, 100));
    unlinkSync(join(dir, "checkpoint.json"));
    const before = readFileSync(join(dir, seg));
    await expect(startServer({ auditDir: dir })).rejects.toThrow(/checkpoint\.json is missing/);
    expect(readFileSync(join(dir, seg)).equals(before)).toBe(true);
    expect(readdirSync(dir)).not.toContain("checkpoint.json");
  }, 30_000);
});

describe("sealing: continuing past damage is an explicit act that stays visible", () => {
  it("seals a damaged log, which then opens and verifies with a note; editing the sealed part later fails verify", async () => {
    const dir = newDir("seal");
    await writeLog(dir, 1200, { segmentBytes: 100_000 });
    const segs = segments(dir);
    expect(segs.length).toBeGreaterThan(2);
    unlinkSync(join(dir, segs.at(-1)!)); // the last segment goes...
    unlinkSync(join(dir, "checkpoint.json")); // ...with the checkpoint
    const failed = await runCli(["audit", "verify", dir]);
    expect(failed.code).toBe(1);
    expect((await runCli(["audit", "seal", dir])).code).toBe(64); // a reason is required

    const sealed = await runCli(["audit", "seal", dir, "--reason", "INC-42: the last segment was lost with the disk"]);
    expect(sealed.code).toBe(0);
    const seq = Number(/^sealed at seq (\d+): checkpoint\.json:1: checkpoint\.json is missing/.exec(sealed.out)?.[1]);
    expect(seq).toBeGreaterThan(1);

    const log = await AuditLog.open(dir);
    await log.append(entry(7));
    await log.close();
    const ok = await runCli(["audit", "verify", dir]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^ok: 2 records in \d+ segments\nnote: sealed at seq \d+ .* INC-42: the last segment was lost with the disk — it accepted \d+ earlier segments/);
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 2, seal: { seq, reason: "INC-42: the last segment was lost with the disk" } });
    expect((await sealLog(dir, { reason: "again" })).sealed).toBe(false); // nothing to seal now

    // The sealed part cannot change unseen: drop one more record from before the seal.
    const first = segments(dir)[0]!;
    writeLines(dir, first, lines(dir, first).slice(0, -1));
    const r = await verifyLog(dir);
    expect(r).toMatchObject({ ok: false, line: 1, message: expect.stringMatching(/segments before the seal at seq \d+ are not those it sealed/) });
  });

  it("seals a log whose last segment is empty (a crash right after rotation)", async () => {
    const dir = newDir("seal-empty");
    await writeLog(dir, 40, { segmentBytes: 4000 });
    const segs = segments(dir);
    const lastSeq = Number(/audit-(\d+)/.exec(segs.at(-1)!)![1]) + lines(dir, segs.at(-1)!).length;
    writeFileSync(join(dir, `audit-${String(lastSeq).padStart(20, "0")}.jsonl`), ""); // a rotation with nothing written
    unlinkSync(join(dir, segs.at(-1)!)); // and damage: a whole segment gone
    const r = await sealLog(dir, { reason: "lost a segment" });
    expect(r).toMatchObject({ sealed: true, seq: lastSeq + 1 });
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 1 });
  });

  it("a seal forged after the checkpoint (without the key) is refused by open and by verify", async () => {
    const dir = newDir("fakeseal");
    await writeLog(dir, 10);
    const cp = readFileSync(join(dir, "checkpoint.json"));
    editAndRechain(dir, 3);
    expect((await sealLog(dir, { reason: "cover it" })).sealed).toBe(true);
    writeFileSync(join(dir, "checkpoint.json"), cp); // the attacker cannot sign: old checkpoint back
    expect((await verifyLog(dir)).ok).toBe(false);
    await expect(AuditLog.open(dir)).rejects.toThrow(/does not verify|hash|seal/);
  });
});

describe("an idle log is covered by a checkpoint within the interval (finding 3)", () => {
  it("signs a burst of 300 records within the interval though nothing else is appended", async () => {
    const dir = newDir("idle");
    const log = await AuditLog.open(dir, { checkpointIntervalMs: 300 });
    for (let i = 0; i < 300; i += 30) await Promise.all(Array.from({ length: 30 }, (_, k) => log.append(entry(i + k))));
    await new Promise((r) => setTimeout(r, 900));
    const cp = JSON.parse(readFileSync(join(dir, "checkpoint.json"), "utf8")) as { seq: number };
    expect(cp.seq).toBe(300);
    // a crash now (no close) loses nothing that a verify would not notice
    const copy = newDir("idle-copy");
    for (const f of readdirSync(dir)) if (f !== "audit.lock") copyFileSync(join(dir, f), join(copy, f));
    const seg = segments(copy)[0]!;
    writeLines(copy, seg, lines(copy, seg).slice(0, 1));
    expect(await verifyLog(copy)).toMatchObject({ ok: false, message: expect.stringMatching(/the log ends at seq 1 .*checkpoint covers seq 300/) });
    await log.close();
  });
});

describe("verify (finding 4)", () => {
  it("reports forged records with a valid chain after the last checkpoint, with their count", async () => {
    const dir = newDir("tail");
    await writeLog(dir, 20);
    const seg = segments(dir)[0]!;
    const ls = lines(dir, seg);
    for (let k = 0; k < 3; k++) {
      const r = JSON.parse(ls.at(-1)!) as Record<string, unknown>;
      r.seq = (r.seq as number) + 1;
      r.prev = r.hash;
      ls.push(rehash(r));
    }
    writeLines(dir, seg, ls);
    expect(await verifyLog(dir)).toMatchObject({ ok: false, line: 21, message: expect.stringMatching(/^3 records are not covered by a signature: seq 21\.\.23/) });
    expect(await verifyLog(dir, { allowUnsignedTail: true })).toMatchObject({ ok: true, records: 23, unsignedTail: 3 });
    const cli = await runCli(["audit", "verify", dir, "--allow-unsigned-tail"]);
    expect(cli.out).toContain("note: 3 records are not covered by a signature yet");
  });

  it("hashes the bytes as stored: EF BF BD replaced by a lone FF is invalid UTF-8", async () => {
    const dir = newDir("utf8");
    const log = await AuditLog.open(dir, { now: fakeClock() });
    const action = { tool: "payments.refund", args: { amount: 5, memo: "bad byte: \uFFFD" } };
    await log.append(auditRecord(policy, action, policy.evaluate(action), 1));
    await log.append(entry(1));
    await log.close();
    const seg = segments(dir)[0]!;
    const bytes = readFileSync(join(dir, seg));
    const at = bytes.indexOf(Buffer.from([0xef, 0xbf, 0xbd]));
    writeFileSync(join(dir, seg), Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at + 3)]));
    expect(await verifyLog(dir)).toMatchObject({ ok: false, line: 1, message: "line is not valid UTF-8" });
  });

  it("refuses to open a log whose last record has bad bytes (it is not a torn write)", async () => {
    const dir = newDir("utf8-last");
    const log = await AuditLog.open(dir, { now: fakeClock() });
    const action = { tool: "payments.refund", args: { amount: 5, memo: "\uFFFD" } };
    await log.append(auditRecord(policy, action, policy.evaluate(action), 1));
    await log.close();
    const seg = segments(dir)[0]!;
    const bytes = readFileSync(join(dir, seg));
    const at = bytes.indexOf(Buffer.from([0xef, 0xbf, 0xbd]));
    writeFileSync(join(dir, seg), Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at + 3)]));
    await expect(AuditLog.open(dir)).rejects.toThrow(/not valid UTF-8/);
  });

  /** 10 records, a saved checkpoint, 10 more; then the older checkpoint restored and the log cut to it. */
  async function cutBack(dir: string, witness: string): Promise<void> {
    await writeLog(dir, 10, { witness });
    copyFileSync(join(dir, "checkpoint.json"), join(dir, "..", `${dir.split("/").pop()}-cp10`));
    await writeLog(dir, 10, { witness });
    const seg = segments(dir)[0]!;
    writeLines(dir, seg, lines(dir, seg).slice(0, 10));
    copyFileSync(join(dir, "..", `${dir.split("/").pop()}-cp10`), join(dir, "checkpoint.json"));
    unlinkSync(join(dir, "..", `${dir.split("/").pop()}-cp10`));
  }

  it("a log cut back to an older signed checkpoint passes alone, and fails against a witness file", async () => {
    const dir = newDir("witness");
    const witnessDir = newDir("witness-file");
    const witness = join(witnessDir, "latest.json");
    await cutBack(dir, witness);
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 10 });
    expect(await verifyLog(dir, { witness })).toMatchObject({ ok: false, file: witness, message: expect.stringMatching(/witness holds a checkpoint at seq 20: records were deleted/) });
    const cli = await runCli(["audit", "verify", dir, "--witness", witness]);
    expect(cli.code).toBe(1);
    expect(cli.err).toContain("witness holds a checkpoint at seq 20");
  });

  it("a writer never continues a log cut back behind its witness (which it would overwrite)", async () => {
    const dir = newDir("witness-open");
    const witness = join(newDir("witness-open-file"), "latest.json");
    await cutBack(dir, witness);
    const held = readFileSync(witness, "utf8");
    await expect(AuditLog.open(dir, { witness })).rejects.toThrow(/the log ends at seq 10 but the witness holds a checkpoint at seq 20/);
    expect(readFileSync(witness, "utf8")).toBe(held);
  });

  it("a webhook witness gets every checkpoint by POST, and verify --witness URL reads the latest back", async () => {
    let latest = "";
    let posts = 0;
    const server = createServer((req, res) => {
      if (req.method === "POST") {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
          latest = body;
          posts++;
          res.writeHead(204).end();
        });
        return;
      }
      res.writeHead(latest ? 200 : 404, { "content-type": "application/json" }).end(latest);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tollgate/checkpoint`;
    try {
      const dir = newDir("webhook");
      await cutBack(dir, url);
      expect(posts).toBeGreaterThanOrEqual(2); // each writer's close at least (deliveries under way coalesce to the newest)
      expect(JSON.parse(latest)).toMatchObject({ seq: 20 });
      expect(await verifyLog(dir, { witness: url })).toMatchObject({ ok: false, message: expect.stringMatching(/witness holds a checkpoint at seq 20/) });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("a witness that cannot be read refuses the start (else the writer would overwrite it); one that fails later is a warning", async () => {
    let up = false;
    const server = createServer((req, res) => {
      req.resume();
      // GET: nothing delivered yet (first use) while up; POST: refused, a delivery failure
      res.writeHead(req.method === "GET" ? (up ? 404 : 503) : 503).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/w`;
    try {
      const dir = newDir("witness-down");
      await expect(AuditLog.open(dir, { witness: url })).rejects.toThrow(/answered 503; the log cannot be checked against its witness at open/);
      expect(readdirSync(dir).filter((f) => f.startsWith("audit-") || f === "checkpoint.json")).toEqual([]); // no log started
      up = true;
      const warnings: AuditWarning[] = [];
      const log = await AuditLog.open(dir, { witness: url, onWarning: (w) => warnings.push(w) });
      await log.append(entry(1));
      await log.close();
      expect(warnings.length).toBeGreaterThan(0);
      expect(warnings.every((w) => w.code === "witness" && /could not be delivered to the witness/.test(w.message))).toBe(true);
      expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 1 });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe("a crash leaves unsigned records: the restart keeps them and says so", () => {
  it("appends a recover record naming them, and verify reports it", async () => {
    const dir = newDir("recover");
    await writeLog(dir, 5, { now: () => new Date() }); // the crash's records come from the same clock
    const log = await AuditLog.open(dir, { checkpointIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) await log.append(entry(10 + i));
    // a crash now: the directory as the disk holds it, without the lock
    const copy = newDir("recover-copy");
    for (const f of readdirSync(dir)) if (f !== "audit.lock") copyFileSync(join(dir, f), join(copy, f));
    await log.close();
    const warnings: AuditWarning[] = [];
    const reopened = await AuditLog.open(copy, { onWarning: (w) => warnings.push(w) });
    await reopened.close();
    expect(warnings.map((w) => w.code)).toContain("unsigned-tail");
    const last = JSON.parse(lines(copy, segments(copy)[0]!).at(-1)!) as Record<string, unknown>;
    expect(last).toMatchObject({ seq: 9, action: { event: "recover" }, policy: "", policy_hash: "", eval_ns: 0, decision: { event: "recover", unsigned: { first: 6, last: 8, count: 3 }, checkpoint: { seq: 5 } } });
    expect(await verifyLog(copy)).toMatchObject({ ok: true, records: 9, recovered: [{ seq: 9, first: 6, last: 8, count: 3 }] });
    expect((await runCli(["audit", "verify", copy])).out).toContain("note: record 9: a restart accepted 3 unsigned records (seq 6..8)");
  });
});

describe("audit tail into a closed pipe", () => {
  it("stops quietly, without an EPIPE stack trace", () => {
    const dir = newDir("epipe");
    mkdirSync(dir, { recursive: true });
    // enough lines that the writer is still writing when `head` has gone
    const big = { tool: "x", args: { pad: "y".repeat(2000) } };
    const recs = Array.from({ length: 2000 }, () => JSON.stringify(big)).join("\n") + "\n";
    writeFileSync(join(dir, "audit-00000000000000000001.jsonl"), recs);
    const r = spawnSync("sh", ["-c", `node ${join(ROOT, "bin/tollgate.js")} audit tail ${dir} -n 2000 | head -c 10 >/dev/null`], { encoding: "utf8" });
    expect(r.stderr).not.toMatch(/EPIPE|internal error/);
  });
});
