// Tamper evidence: every edit, deletion, reordering, insertion, truncation or swap is found
// by verify, with its file and line.

import { generateKeyPairSync } from "node:crypto";
import { copyFileSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../../src/canonical.js";
import { signCheckpoint, writeCheckpoint } from "../../src/audit/checkpoint.js";
import { keyId } from "../../src/audit/keys.js";
import { AuditLog } from "../../src/audit/log.js";
import { verifyLog } from "../../src/audit/verify.js";
import { entry, fakeClock, tempDir } from "./helpers.js";

const RECORDS = 30;
let dir: string;

function segments(): string[] {
  return readdirSync(dir).filter((f) => f.startsWith("audit-")).sort();
}
function lines(seg: string): string[] {
  return readFileSync(join(dir, seg), "utf8").split("\n").slice(0, -1);
}
function writeLines(seg: string, ls: string[]): void {
  writeFileSync(join(dir, seg), ls.map((l) => l + "\n").join(""));
}
/** Re-hashes a record object the way a forger would. */
function rehash(r: Record<string, unknown>): string {
  const { hash: _old, ...rest } = r;
  const hash = sha256Hex(canonicalJson(rest));
  return canonicalJson({ ...rest, hash });
}

async function expectProblem(file: string, line: number, message: RegExp, options = {}): Promise<void> {
  const r = await verifyLog(dir, options);
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(`${r.file}:${r.line}`).toBe(`${join(dir, file)}:${line}`);
  expect(r.message).toMatch(message);
}

beforeEach(async () => {
  dir = tempDir("tamper");
  const log = await AuditLog.open(dir, { now: fakeClock(), segmentBytes: 2000 });
  await Promise.all(Array.from({ length: RECORDS }, (_, i) => log.append(entry(i))));
  await log.close();
  return () => rmSync(dir, { recursive: true, force: true });
});

describe("audit verify", () => {
  it("accepts an intact log spread over several segments", async () => {
    const r = await verifyLog(dir);
    expect(r).toEqual({ ok: true, records: RECORDS, unsignedTail: 0, recovered: [], segments: segments().length, checkpointSeq: RECORDS });
    expect(segments().length).toBeGreaterThan(3);
  });

  it("detects an edited record", async () => {
    const seg = segments()[1]!;
    const ls = lines(seg);
    ls[1] = ls[1]!.replace('"order":"o-', '"order":"x-');
    writeLines(seg, ls);
    await expectProblem(seg, 2, /hash mismatch/);
  });

  it("detects an edited record whose hash was recomputed (the next link breaks)", async () => {
    const seg = segments()[1]!;
    const ls = lines(seg);
    const r = JSON.parse(ls[0]!) as Record<string, unknown>;
    (r.decision as Record<string, unknown>).decision = "deny";
    ls[0] = rehash(r);
    writeLines(seg, ls);
    await expectProblem(seg, 2, /prev .* is not the previous record's hash/);
  });

  it("detects a record in non-canonical form even when its hash matches", async () => {
    const seg = segments()[0]!;
    const ls = lines(seg);
    ls[0] = JSON.stringify(JSON.parse(ls[0]!), null, 1).replace(/\n/g, "");
    writeLines(seg, ls);
    await expectProblem(seg, 1, /canonical form/);
  });

  it("detects a deleted record", async () => {
    const seg = segments()[2]!;
    const ls = lines(seg);
    ls.splice(0, 1);
    writeLines(seg, ls);
    await expectProblem(seg, 1, /first record of the segment has seq \d+; expected \d+/);
  });

  it("detects a deleted record inside a segment", async () => {
    const seg = segments()[0]!;
    const ls = lines(seg);
    writeLines(seg, [ls[0]!, ...ls.slice(2)]);
    await expectProblem(seg, 2, /seq 3 follows seq 1/);
  });

  it("detects reordered records", async () => {
    const seg = segments()[0]!;
    const ls = lines(seg);
    [ls[0], ls[1]] = [ls[1]!, ls[0]!];
    writeLines(seg, ls);
    await expectProblem(seg, 1, /first record of the segment has seq 2; expected 1/);
  });

  it("detects an inserted record (a copy of another)", async () => {
    const seg = segments()[1]!;
    const ls = lines(seg);
    ls.splice(2, 0, ls[0]!);
    writeLines(seg, ls);
    await expectProblem(seg, 3, /follows/);
  });

  it("detects an inserted forged record with a valid hash and link", async () => {
    const seg = segments()[1]!;
    const ls = lines(seg);
    const before = JSON.parse(ls[0]!) as Record<string, unknown>;
    const forged = { ...before, seq: (before.seq as number) + 1, prev: before.hash };
    ls.splice(1, 0, rehash(forged));
    writeLines(seg, ls);
    await expectProblem(seg, 3, /seq|prev/);
  });

  it("detects a deleted tail (the log is shorter than the checkpoint)", async () => {
    const segs = segments();
    const last = segs[segs.length - 1]!;
    const ls = lines(last);
    writeLines(last, ls.slice(0, ls.length - 1));
    await expectProblem("checkpoint.json", 1, new RegExp(`ends at seq ${RECORDS - 1} .* checkpoint covers seq ${RECORDS}: records were deleted`));
  });

  it("detects a deleted last segment", async () => {
    const segs = segments();
    unlinkSync(join(dir, segs[segs.length - 1]!));
    await expectProblem("checkpoint.json", 1, /records were deleted/);
  });

  it("detects a deleted segment in the middle", async () => {
    const segs = segments();
    unlinkSync(join(dir, segs[1]!));
    await expectProblem(segs[2]!, 1, /named for seq \d+ but the previous segment ends at seq \d+/);
  });

  it("detects swapped segments", async () => {
    const segs = segments();
    const a = readFileSync(join(dir, segs[1]!));
    const b = readFileSync(join(dir, segs[2]!));
    writeFileSync(join(dir, segs[1]!), b);
    writeFileSync(join(dir, segs[2]!), a);
    await expectProblem(segs[1]!, 1, /first record of the segment has seq/);
  });

  it("detects a consistently re-hashed tail through the checkpoint", async () => {
    // Edit record 25 and re-chain everything after it: only the signed checkpoint catches it.
    const segs = segments();
    let prev: string | null = null;
    for (const seg of segs) {
      const ls = lines(seg).map((l) => {
        const r = JSON.parse(l) as Record<string, unknown>;
        if ((r.seq as number) < 25) return l;
        if (r.seq === 25) r.eval_ns = 1;
        if (prev !== null) r.prev = prev;
        const text = rehash(r);
        prev = (JSON.parse(text) as { hash: string }).hash;
        return text;
      });
      writeLines(seg, ls);
    }
    const r = await verifyLog(dir);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/checkpoint says/);
  });

  it("reports records after an older checkpoint as unsigned, and accepts them only when told to", async () => {
    copyFileSync(join(dir, "checkpoint.json"), join(dir, "old-checkpoint"));
    const log = await AuditLog.open(dir, { now: fakeClock() });
    await log.append(entry(99));
    await log.close();
    copyFileSync(join(dir, "old-checkpoint"), join(dir, "checkpoint.json"));
    const last = segments().at(-1)!;
    await expectProblem(last, lines(last).length, /1 record is not covered by a signature: seq 31\.\.31/);
    expect(await verifyLog(dir, { allowUnsignedTail: true })).toMatchObject({ ok: true, records: RECORDS + 1, checkpointSeq: RECORDS, unsignedTail: 1 });
  });

  it("detects a deleted checkpoint", async () => {
    unlinkSync(join(dir, "checkpoint.json"));
    await expectProblem("checkpoint.json", 1, /missing/);
  });

  it("detects a checkpoint with a bad signature", async () => {
    const cp = JSON.parse(readFileSync(join(dir, "checkpoint.json"), "utf8")) as Record<string, unknown>;
    cp.seq = 3;
    writeFileSync(join(dir, "checkpoint.json"), JSON.stringify(cp));
    await expectProblem("checkpoint.json", 1, /signature does not verify/);
  });

  it("detects a re-keyed log when verified with the external public key", async () => {
    const external = readFileSync(join(dir, "audit.pub"), "utf8");
    // The attacker truncates the log and re-signs with a new key pair stored in the directory.
    const segs = segments();
    unlinkSync(join(dir, segs[segs.length - 1]!));
    const last = lines(segs[segs.length - 2]!).at(-1)!;
    const { seq, hash } = JSON.parse(last) as { seq: number; hash: string };
    const pair = generateKeyPairSync("ed25519");
    await writeCheckpoint(dir, signCheckpoint({ seq, hash, key_id: keyId(pair.publicKey), ts: "2025-01-02T00:00:00.000Z" }, pair.privateKey));
    writeFileSync(join(dir, "audit.pub"), pair.publicKey.export({ type: "spki", format: "pem" }));
    expect((await verifyLog(dir)).ok).toBe(true); // the directory's own key is no defence
    await expectProblem("checkpoint.json", 1, /signed by key/, { publicKey: external });
  });

  it("refuses to open (and so to overwrite the evidence) when the tail was deleted", async () => {
    const segs = segments();
    const last = segs[segs.length - 1]!;
    writeLines(last, lines(last).slice(0, -1));
    await expect(AuditLog.open(dir)).rejects.toThrow(/records were deleted/);
    await expectProblem("checkpoint.json", 1, /records were deleted/);
  });
});
