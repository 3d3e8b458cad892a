// `tollgate audit verify`: every record, link, seq, segment and the signed checkpoint; the
// latest seal and what it accepted; the unsigned tail; the witness (docs/audit.md).

import type { KeyObject } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { CHECKPOINT_FILE, checkpointSignatureValid, readCheckpoint } from "./checkpoint.js";
import type { Checkpoint } from "./checkpoint.js";
import { isProblem, latestSeal, placeOf, walkChain } from "./chain.js";
import type { ChainStart } from "./chain.js";
import type { PrefixDigest, RecoverEvent, SealEvent } from "./events.js";
import { prefixDigest } from "./events.js";
import { GENESIS } from "./format.js";
import { keyId, parsePublicKey, PUBLIC_KEY_FILE } from "./keys.js";
import { listSegments, splitLineBytes } from "./segments.js";
import { readWitness } from "./witness.js";

export interface VerifyOptions {
  /** The public key checkpoints must be signed with (default: the directory's `audit.pub`). */
  publicKey?: KeyObject | string;
  /** Where the witness keeps the latest checkpoint: a file path or an http(s) URL (GET). */
  witness?: string;
  /** Accept records after the last signed checkpoint (reported in `unsignedTail`). */
  allowUnsignedTail?: boolean;
}

/** The latest seal, as verify reports it. */
export interface SealInfo {
  seq: number;
  ts: string;
  reason: string;
  by: string;
  found: string;
  prefix: PrefixDigest;
}

export type VerifyResult =
  | {
      ok: true;
      /** Records checked record by record (from the latest seal on, if there is one). */
      records: number;
      segments: number;
      checkpointSeq: number;
      /** Records after the last signed position (accepted only with `allowUnsignedTail`). */
      unsignedTail: number;
      /** The latest seal: what was before it is accepted as sealed. */
      seal?: SealInfo;
      /** Restarts that found unsigned records (`recover` records), in order. */
      recovered: { seq: number; first: number; last: number; count: number }[];
      /** The witness's checkpoint seq, when a witness was given. */
      witnessSeq?: number;
    }
  | { ok: false; file: string; line: number; message: string };

type Failure = Extract<VerifyResult, { ok: false }>;

/** Verifies the log in `dir`; stops at the first problem. Reads only. */
export async function verifyLog(dir: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const fail = (file: string, line: number, message: string): Failure => ({ ok: false, file, line, message });
  try {
    if (!(await stat(dir)).isDirectory()) return fail(dir, 1, "not a directory");
  } catch {
    return fail(dir, 1, "no such directory");
  }
  const segments = await listSegments(dir);
  const cpPath = join(dir, CHECKPOINT_FILE);
  const cpRead = await readCheckpoint(dir);
  if ("error" in cpRead) return fail(cpPath, 1, cpRead.error);
  const cp = cpRead.checkpoint;

  let publicKey: KeyObject;
  try {
    if (options.publicKey !== undefined) {
      publicKey = typeof options.publicKey === "string" ? parsePublicKey(options.publicKey) : options.publicKey;
    } else if (cp === null && segments.length === 0) {
      return fail(dir, 1, "no audit log here (no segments, no checkpoint)");
    } else {
      publicKey = parsePublicKey(await readFile(join(dir, PUBLIC_KEY_FILE)));
    }
  } catch (err) {
    return fail(options.publicKey === undefined ? join(dir, PUBLIC_KEY_FILE) : "<public key>", 1, `cannot read the public key: ${(err as Error).message}`);
  }

  let witness: Checkpoint | undefined;
  if (options.witness !== undefined) {
    const w = await readWitness(options.witness);
    if ("error" in w) return fail(options.witness, 1, w.error);
    witness = w.checkpoint;
    const signed = signatureProblem(witness, publicKey, "the witness's checkpoint");
    if (signed) return fail(options.witness, 1, signed);
  }

  // A sealed log is checked from its latest seal; the segments before it must be as sealed.
  const seal = await latestSeal(dir, segments);
  let start: ChainStart = { segment: 0, line: 0, seq: 1, prev: GENESIS };
  let sealInfo: SealInfo | undefined;
  let witnessInPrefix: { hash: string } | null = null;
  if (seal !== null) {
    const ev = seal.record.decision as unknown as SealEvent;
    const sealFile = join(dir, segments[seal.index]!.name);
    const before = segments.slice(0, seal.index);
    const wantSeq = witness !== undefined && witness.seq < seal.record.seq ? witness.seq : -1;
    const digest = await prefixDigest(dir, before, (_seg, bytes) => {
      if (wantSeq < 1 || witnessInPrefix !== null) return;
      for (const line of splitLineBytes(bytes).lines) {
        try {
          const r = JSON.parse(line.toString("utf8")) as { seq?: unknown; hash?: unknown };
          if (r.seq === wantSeq && typeof r.hash === "string") witnessInPrefix = { hash: r.hash };
        } catch {
          // not a record: the seal accepted it
        }
      }
    });
    const sealed = ev.prefix;
    if (sealed === null || typeof sealed !== "object" || digest.sha256 !== sealed.sha256 || digest.segments !== sealed.segments || digest.bytes !== sealed.bytes) {
      return fail(sealFile, 1, `the ${before.length} segments before the seal at seq ${seal.record.seq} are not those it sealed (${digest.segments} segments, ${digest.bytes} bytes, sha256 ${digest.sha256}; sealed: ${JSON.stringify(sealed)}): they were changed after the seal`);
    }
    sealInfo = { seq: seal.record.seq, ts: seal.record.ts, reason: String(ev.reason), by: String(ev.by), found: String(ev.found), prefix: sealed };
    start = { segment: seal.index, line: 0, seq: seal.record.seq, prev: null };
  }

  const want = new Set<number>();
  if (cp !== null) want.add(cp.seq);
  if (witness !== undefined) want.add(witness.seq);
  const walk = await walkChain(dir, segments, start, want);
  if (isProblem(walk)) return fail(walk.file, walk.line, walk.message);
  const lastSeq = walk.lastSeq;
  const endAt = walk.end !== null ? ` (${walk.end.file}:${walk.end.line})` : "";

  // The checkpoint: signed by the right key, not ahead of the log, covering the latest seal.
  if (cp === null) return fail(cpPath, 1, "checkpoint.json is missing");
  const signed = signatureProblem(cp, publicKey, "checkpoint");
  if (signed) return fail(cpPath, 1, signed);
  if (cp.seq > lastSeq) {
    return fail(cpPath, 1, `the log ends at seq ${lastSeq}${endAt} but the checkpoint covers seq ${cp.seq}: records were deleted`);
  }
  if (sealInfo !== undefined && cp.seq < sealInfo.seq) {
    return fail(cpPath, 1, `the checkpoint covers seq ${cp.seq}, before the seal at seq ${sealInfo.seq}: the seal is not signed`);
  }
  if (cp.seq === 0) {
    if (cp.hash !== GENESIS) return fail(cpPath, 1, "checkpoint at seq 0 does not hold the genesis hash");
  } else {
    const at = walk.at.get(cp.seq)!;
    if (at.hash !== cp.hash) return fail(at.file, at.line, `record ${cp.seq} has hash ${at.hash} but the checkpoint says ${cp.hash}`);
  }

  // The witness: the log must still hold what it saw.
  let signedUpTo = cp.seq;
  if (witness !== undefined) {
    const wPath = options.witness!;
    if (witness.seq > lastSeq) {
      return fail(wPath, 1, `the log ends at seq ${lastSeq}${endAt} but the witness holds a checkpoint at seq ${witness.seq}: records were deleted (or the log was cut back to an older checkpoint)`);
    }
    if (sealInfo !== undefined && witness.seq < sealInfo.seq) {
      const found = witnessInPrefix as { hash: string } | null;
      if (witness.seq > 0 && (found === null || found.hash !== witness.hash)) {
        return fail(wPath, 1, `the witness holds record ${witness.seq} with hash ${witness.hash}, but the sealed part of the log before seq ${sealInfo.seq} ${found === null ? "does not hold it" : `holds it with hash ${found.hash}`}`);
      }
    } else if (witness.seq === 0) {
      if (witness.hash !== GENESIS) return fail(wPath, 1, "the witness's checkpoint at seq 0 does not hold the genesis hash");
    } else {
      const at = walk.at.get(witness.seq)!;
      if (at.hash !== witness.hash) return fail(at.file, at.line, `record ${witness.seq} has hash ${at.hash} but the witness says ${witness.hash}`);
      signedUpTo = Math.max(signedUpTo, witness.seq);
    }
  }

  // Records after every signature: reported, and a failure unless allowed.
  const unsignedTail = lastSeq - signedUpTo;
  if (unsignedTail > 0 && options.allowUnsignedTail !== true) {
    const at = placeOf(walk, signedUpTo + 1) ?? { file: cpPath, line: 1 };
    return fail(at.file, at.line, `${unsignedTail} record${unsignedTail === 1 ? " is" : "s are"} not covered by a signature: seq ${signedUpTo + 1}..${lastSeq}, after the last signed checkpoint (seq ${signedUpTo}); written in the writer's last checkpoint interval, or forged without the key (--allow-unsigned-tail accepts them)`);
  }

  const recovered = walk.events
    .filter((e) => e.kind === "recover")
    .map((e) => {
      const u = (e.record.decision as unknown as RecoverEvent).unsigned;
      return { seq: e.record.seq, first: u.first, last: u.last, count: u.count };
    });
  const result: VerifyResult = { ok: true, records: walk.records, segments: segments.length, checkpointSeq: cp.seq, unsignedTail, recovered };
  if (sealInfo !== undefined) result.seal = sealInfo;
  if (witness !== undefined) result.witnessSeq = witness.seq;
  return result;
}

function signatureProblem(c: Checkpoint, publicKey: KeyObject, what: string): string | null {
  const id = keyId(publicKey);
  if (c.key_id !== id) return `${what} was signed by key ${c.key_id}, not by the given public key (${id})`;
  if (!checkpointSignatureValid(c, publicKey)) return `${what} signature does not verify`;
  return null;
}

/** The lines `tollgate audit verify` prints for a passing log. */
export function verifyReport(r: Extract<VerifyResult, { ok: true }>): string {
  const out = [`ok: ${r.records} records in ${r.segments} segments`];
  if (r.seal !== undefined) {
    const s = r.seal;
    out.push(`note: sealed at seq ${s.seq} (${s.ts}) by ${s.by}: ${s.reason} — it accepted ${s.prefix.segments} earlier segments (${s.prefix.bytes} bytes) as they were, where verify had found: ${s.found}`);
  }
  for (const rc of r.recovered) out.push(`note: record ${rc.seq}: a restart accepted ${rc.count} unsigned record${rc.count === 1 ? "" : "s"} (seq ${rc.first}..${rc.last}) left after the last checkpoint`);
  if (r.unsignedTail > 0) out.push(`note: ${r.unsignedTail} record${r.unsignedTail === 1 ? " is" : "s are"} not covered by a signature yet (allowed by --allow-unsigned-tail)`);
  if (r.witnessSeq !== undefined) out.push(`note: the witness's checkpoint (seq ${r.witnessSeq}) matches the log`);
  return out.join("\n") + "\n";
}
