// The signed checkpoint (`checkpoint.json`): the last seq and hash the writer had made durable.

import { sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { canonicalJson } from "../canonical.js";
import { replaceFile } from "./fsutil.js";

export const CHECKPOINT_FILE = "checkpoint.json";
export const CHECKPOINT_FORMAT = "tollgate-audit-checkpoint/1";

export interface Checkpoint {
  format: string;
  /** Last durable record's seq (0: no records yet). */
  seq: number;
  /** Its hash (GENESIS when seq is 0). */
  hash: string;
  /** SHA-256 (hex) of the signing public key's SPKI DER. */
  key_id: string;
  ts: string;
  /** Base64 Ed25519 signature over the canonical JSON of the other fields. */
  sig: string;
}

/** The bytes signed: RFC 8785 canonical JSON of the checkpoint without `sig`, UTF-8. */
export function signingInput(c: Omit<Checkpoint, "sig">): Buffer {
  const { format, seq, hash, key_id, ts } = c;
  return Buffer.from(canonicalJson({ format, seq, hash, key_id, ts }), "utf8");
}

export function signCheckpoint(fields: Omit<Checkpoint, "sig" | "format">, privateKey: KeyObject): Checkpoint {
  const unsigned = { format: CHECKPOINT_FORMAT, ...fields };
  return { ...unsigned, sig: sign(null, signingInput(unsigned), privateKey).toString("base64") };
}

export async function writeCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  await replaceFile(join(dir, CHECKPOINT_FILE), canonicalJson(c) + "\n");
}

/** The checkpoint, `null` if there is none, or what is wrong with the file. */
export async function readCheckpoint(dir: string): Promise<{ checkpoint: Checkpoint | null } | { error: string }> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINT_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { checkpoint: null };
    throw err;
  }
  return parseCheckpoint(text);
}

/** A checkpoint's text (checkpoint.json, or what a witness holds) read and shape-checked. */
export function parseCheckpoint(text: string): { checkpoint: Checkpoint } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { error: "checkpoint is not JSON" };
  }
  const c = v as Partial<Checkpoint> | null;
  if (
    c === null || typeof c !== "object" || c.format !== CHECKPOINT_FORMAT || !Number.isSafeInteger(c.seq) || (c.seq as number) < 0 ||
    typeof c.hash !== "string" || typeof c.key_id !== "string" || typeof c.ts !== "string" || typeof c.sig !== "string"
  ) {
    return { error: `checkpoint is not a ${CHECKPOINT_FORMAT} object` };
  }
  return { checkpoint: c as Checkpoint };
}

export function checkpointSignatureValid(c: Checkpoint, publicKey: KeyObject): boolean {
  try {
    return verify(null, signingInput(c), publicKey, Buffer.from(c.sig, "base64"));
  } catch {
    return false;
  }
}
