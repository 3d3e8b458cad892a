// AuditLog: durability API, rotation links, recovery of a torn tail, keys, options.

import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import type { AuditWarning } from "../../src/audit/recover.js";
import { verifyLog } from "../../src/audit/verify.js";
import { entry, fakeClock, tempDir } from "./helpers.js";

function segs(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith("audit-")).sort();
}

describe("AuditLog", () => {
  it("assigns seq in call order and links each new segment to the last hash of the one before", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { now: fakeClock(), segmentBytes: 1200 });
    const acks = await Promise.all(Array.from({ length: 12 }, (_, i) => log.append(entry(i))));
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    await log.close();
    const files = segs(dir);
    expect(files.length).toBeGreaterThan(2);
    for (let s = 1; s < files.length; s++) {
      const prevLast = readFileSync(join(dir, files[s - 1]!), "utf8").trim().split("\n").at(-1)!;
      const first = readFileSync(join(dir, files[s]!), "utf8").split("\n")[0]!;
      expect(JSON.parse(first).prev).toBe(JSON.parse(prevLast).hash);
      expect(files[s]).toBe(`audit-${String(JSON.parse(first).seq).padStart(20, "0")}.jsonl`);
    }
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 12 });
  });

  it("works without group commit (one sync per record) and continues the chain on reopen", async () => {
    const dir = tempDir();
    let log = await AuditLog.open(dir, { now: fakeClock(), groupCommit: false });
    await Promise.all([0, 1, 2].map((i) => log.append(entry(i))));
    await log.close();
    log = await AuditLog.open(dir, { now: fakeClock() });
    expect(log.lastSeq).toBe(3);
    expect((await log.append(entry(3))).seq).toBe(4);
    await log.close();
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 4, segments: 1 });
  });

  it("batchWindowMs 0: the records of one event-loop turn share one sync; later ones wait for the next", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { now: fakeClock(), batchWindowMs: 0, checkpointIntervalMs: 60_000 });
    // Spy on the private batch writer: one call per write+fdatasync, with the batch's records.
    const spied = log as unknown as { writeBatch: (batch: unknown[], data: Buffer) => Promise<void> };
    const writeBatch = spied.writeBatch.bind(log);
    const syncs: number[] = [];
    spied.writeBatch = (batch, data) => {
      syncs.push(batch.length);
      return writeBatch(batch, data);
    };
    const first = Array.from({ length: 100 }, (_, i) => log.append(entry(i)));
    // Appended in a later turn, while the first batch is being written: the next batch.
    const later = new Promise<unknown>((resolve) => setImmediate(() => resolve(Promise.all([log.append(entry(100)), log.append(entry(101))]))));
    await Promise.all([...first, later]);
    expect(syncs).toEqual([100, 2]);
    await log.close();
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 102 });
  });

  it("appendMany writes the bytes of one-by-one appends, with one promise: the first seq and every hash", async () => {
    const fixed = () => new Date(Date.UTC(2025, 0, 1));
    const [dirA, dirB] = [tempDir("one-by-one"), tempDir("many")];
    const a = await AuditLog.open(dirA, { now: fixed });
    const b = await AuditLog.open(dirB, { now: fixed });
    const es = Array.from({ length: 60 }, (_, i) => entry(i));
    const singles = await Promise.all(es.slice(0, 25).map((e) => a.append(e)));
    expect(await b.appendMany(es.slice(0, 25))).toEqual({ seq: 1, hashes: singles.map((x) => x.hash) });
    // Groups and single appends interleave in call order.
    const p1 = b.appendMany(es.slice(25, 40));
    const p2 = b.append(es[40]!);
    const p3 = b.appendMany(es.slice(41));
    await Promise.all(es.slice(25).map((e) => a.append(e)));
    expect((await p1).seq).toBe(26);
    expect((await p2).seq).toBe(41);
    expect((await p3).seq).toBe(42);
    expect(await b.appendMany([])).toEqual({ seq: 61, hashes: [] });
    await a.close();
    await b.close();
    expect(readFileSync(join(dirB, segs(dirB)[0]!), "utf8")).toBe(readFileSync(join(dirA, segs(dirA)[0]!), "utf8"));
    expect(await verifyLog(dirB)).toMatchObject({ ok: true, records: 60 });
  });

  it("appendMany is all or nothing: a bad entry throws and the chain goes on as if it had not been called", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { now: fakeClock() });
    await log.append(entry(0));
    expect(() => log.appendMany([entry(1), entry(2), { ...entry(3), eval_ns: -1 }])).toThrow(/eval_ns/);
    expect(log.lastSeq).toBe(1);
    expect((await log.appendMany([entry(1), entry(2)])).seq).toBe(2);
    await log.close();
    await expect(log.appendMany([entry(3)])).rejects.toThrow(/closed/);
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 3 });
  });

  it("flush() resolves once everything appended is durable; append after close rejects", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { now: fakeClock(), batchWindowMs: 50 });
    void log.append(entry(0));
    void log.append(entry(1));
    await log.flush();
    expect(readFileSync(join(dir, segs(dir)[0]!), "utf8").split("\n").length).toBe(3);
    await log.close();
    await expect(log.append(entry(2))).rejects.toThrow(/closed/);
  });

  it("cuts a torn last record back, warns, and continues the chain", async () => {
    const dir = tempDir();
    let log = await AuditLog.open(dir, { now: fakeClock() });
    for (let i = 0; i < 5; i++) await log.append(entry(i));
    await log.close();
    const seg = join(dir, segs(dir)[0]!);
    appendFileSync(seg, '{"action":{"tool":"pay');
    expect(await verifyLog(dir)).toMatchObject({ ok: false, file: seg, line: 6, message: expect.stringMatching(/incomplete last record/) });
    const seen: AuditWarning[] = [];
    log = await AuditLog.open(dir, { now: fakeClock(), onWarning: (w) => seen.push(w) });
    expect(log.warnings).toEqual([expect.objectContaining({ code: "torn-record", file: seg, line: 6, bytes: 22 })]);
    expect(seen).toEqual(log.warnings);
    expect((await log.append(entry(5))).seq).toBe(6);
    await log.close();
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 6 });
  });

  it("cuts trailing lines that a crash left unwritten (zeros)", async () => {
    const dir = tempDir();
    let log = await AuditLog.open(dir, { now: fakeClock() });
    await log.append(entry(0));
    await log.close();
    const seg = join(dir, segs(dir)[0]!);
    appendFileSync(seg, Buffer.concat([Buffer.alloc(100), Buffer.from("\n"), Buffer.alloc(10)]));
    log = await AuditLog.open(dir, { now: fakeClock() });
    expect(log.warnings[0]).toMatchObject({ code: "torn-record", line: 2, bytes: 111 });
    await log.close();
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 1 });
  });

  it("refuses to open when the last whole record does not verify", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir, { now: fakeClock() });
    await log.append(entry(0));
    await log.close();
    const seg = join(dir, segs(dir)[0]!);
    writeFileSync(seg, readFileSync(seg, "utf8").replace('"o-0"', '"o-9"'));
    await expect(AuditLog.open(dir)).rejects.toThrow(/does not verify/);
  });

  it("recovers an empty last segment (a crash right after rotation)", async () => {
    const dir = tempDir();
    let log = await AuditLog.open(dir, { now: fakeClock() });
    await log.append(entry(0));
    await log.append(entry(1));
    await log.close();
    writeFileSync(join(dir, "audit-00000000000000000003.jsonl"), "");
    log = await AuditLog.open(dir, { now: fakeClock() });
    expect((await log.append(entry(2))).seq).toBe(3);
    await log.close();
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 3, segments: 2 });
  });

  it("stores the private key with mode 0600 and exports the public key", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir);
    expect(statSync(join(dir, "audit.key")).mode & 0o777).toBe(0o600);
    expect(log.publicKeyPem).toBe(readFileSync(join(dir, "audit.pub"), "utf8"));
    expect(log.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    await log.close();
  });

  it("allows one writer per directory", async () => {
    const dir = tempDir();
    const log = await AuditLog.open(dir);
    await expect(AuditLog.open(dir)).rejects.toThrow(/already open/);
    await log.close();
    await (await AuditLog.open(dir)).close();
  });

  it("verifies an empty log", async () => {
    const dir = tempDir();
    await (await AuditLog.open(dir)).close();
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 0, segments: 1 });
  });
});
