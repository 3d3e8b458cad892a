// RecordIndex (src/audit/record-index.ts): the same answers as findRecord, for every seq of a log
// of many segments, while the log grows, when a line is damaged and when a segment shrinks.

import { appendFileSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/log.js";
import { findRecord } from "../../src/audit/read.js";
import { RecordIndex } from "../../src/audit/record-index.js";
import { entry, fakeClock, tempDir } from "./helpers.js";

async function logOf(n: number, dir = tempDir("record-index")): Promise<string> {
  const log = await AuditLog.open(dir, { now: fakeClock(), segmentBytes: 1500 });
  for (let i = 0; i < n; i++) await log.append(entry(i));
  await log.close();
  return dir;
}

describe("RecordIndex", () => {
  it("finds every record of a log of many segments as findRecord does, and nothing beyond", async () => {
    const dir = await logOf(40);
    expect(readdirSync(dir).filter((f) => f.endsWith(".jsonl")).length).toBeGreaterThan(4);
    const index = new RecordIndex(dir);
    for (let seq = 1; seq <= 40; seq++) {
      const found = await index.find(seq);
      expect(found, `seq ${seq}`).toEqual(await findRecord(dir, seq));
      expect(JSON.parse(found!.text).seq).toBe(seq);
    }
    expect(await index.find(41)).toBeNull();
    expect(await index.find(0)).toBeNull();
  });

  it("learns what was appended since its last look", async () => {
    const dir = tempDir("record-index-grow");
    const log = await AuditLog.open(dir, { now: fakeClock() });
    const index = new RecordIndex(dir);
    await log.append(entry(0));
    expect(JSON.parse((await index.find(1))!.text).seq).toBe(1);
    expect(await index.find(2)).toBeNull();
    for (let i = 1; i < 5; i++) await log.append(entry(i));
    expect(JSON.parse((await index.find(5))!.text).seq).toBe(5);
    await log.close();
  });

  it("a torn last line is not a record, until it is whole", async () => {
    const dir = await logOf(3, tempDir("record-index-torn"));
    const segment = join(dir, readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort().at(-1)!);
    const index = new RecordIndex(dir);
    const whole = JSON.stringify({ ...JSON.parse((await index.find(3))!.text), seq: 4 });
    appendFileSync(segment, whole.slice(0, 20));
    expect(await index.find(4)).toBeNull();
    appendFileSync(segment, `${whole.slice(20)}\n`);
    expect((await index.find(4))!.text).toBe(whole);
  });

  it("a damaged log: a line that is not its seq falls back to the search; a shrunk segment is learned again", async () => {
    const dir = await logOf(6, tempDir("record-index-damaged"));
    const segment = join(dir, readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort()[0]!);
    const lines = readFileSync(segment, "utf8").split("\n").filter(Boolean);
    const index = new RecordIndex(dir);
    expect(JSON.parse((await index.find(3))!.text).seq).toBe(3);
    // Drop the second line: seq 3 is now where seq 2 was.
    writeFileSync(segment, [lines[0], ...lines.slice(2)].join("\n") + "\n");
    const found = await index.find(3);
    expect(found).toEqual(await findRecord(dir, 3));
    expect(JSON.parse(found!.text).seq).toBe(3);
    truncateSync(segment, Buffer.byteLength(lines[0]!) + 1);
    expect(await index.find(3)).toEqual(await findRecord(dir, 3));
    expect(JSON.parse((await index.find(1))!.text).seq).toBe(1);
  });
});
