// Sealed counter values (docs/semantics.md, "Counters on redacted fields"). A record that counted
// carries each contribution's key and amount (`counted`, src/pipeline/counted.ts), so that the log
// can rebuild the counts after a restart. When a counter is keyed by, or sums, a field that
// `audit.redact` removes, those values must not be in the record (spec section 2): the record
// holds them sealed instead — `{"sealed": base64(nonce ‖ AES-256-GCM ciphertext ‖ tag)}` of their
// JSON text — under a key derived (HKDF-SHA256) from the log's private key, `audit.key`. Whoever
// holds the log and its public key can verify it but not read them; the process that owns the
// log opens them when it rebuilds its counters. The Python host seals and opens the same way
// (python/tollgate/audit/counted_seal.py): either host rebuilds from the other's records.

import { createCipheriv, createDecipheriv, createPrivateKey, hkdfSync, randomBytes } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PRIVATE_KEY_FILE } from "./keys.js";

/** A sealed value, as a record holds it. */
export interface Sealed {
  sealed: string;
}

const INFO = Buffer.from("tollgate counted seal v1", "utf8");
/** Authenticated with every sealed value: a value sealed for something else does not open. */
const AAD = Buffer.from("tollgate counted", "utf8");
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function isSealed(v: unknown): v is Sealed {
  return typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as Sealed).sealed === "string" && Object.keys(v).length === 1;
}

/** JSON text of a key or an amount; an overflowed sum's ±Infinity as ±1e999 (JSON has no infinity). */
function textOf(value: unknown): string {
  if (typeof value === "number" && !Number.isFinite(value)) {
    if (Number.isNaN(value)) throw new Error("a counter amount is NaN");
    return value > 0 ? "1e999" : "-1e999";
  }
  return JSON.stringify(value);
}

export class CountedSeal {
  private constructor(private readonly key: Buffer) {}

  /** The seal of the log whose Ed25519 private key is `privateKey`. */
  static of(privateKey: KeyObject): CountedSeal {
    const d = (privateKey.export({ format: "jwk" }) as { d?: string }).d;
    if (d === undefined) throw new Error("the audit key has no private part");
    return new CountedSeal(Buffer.from(hkdfSync("sha256", Buffer.from(d, "base64url"), Buffer.alloc(0), INFO, 32)));
  }

  /** The seal of the log in `dir`, from its `audit.key` (which must exist: the log's owner made it). */
  static async load(dir: string): Promise<CountedSeal> {
    return CountedSeal.of(createPrivateKey(await readFile(join(dir, PRIVATE_KEY_FILE), "utf8")));
  }

  seal(value: unknown): Sealed {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, nonce);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(textOf(value), "utf8"), cipher.final()]);
    return { sealed: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64") };
  }

  /** The value `s` sealed; throws if it was not sealed by this log's key or was altered. */
  open(s: Sealed): unknown {
    const raw = Buffer.from(s.sealed, "base64");
    if (raw.length < NONCE_BYTES + TAG_BYTES) throw new Error("a sealed counter value is too short");
    const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(AAD);
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    let text: string;
    try {
      text = Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      throw new Error("a sealed counter value does not open with this log's key (audit.key): it was sealed by another key or altered");
    }
    return JSON.parse(text) as unknown;
  }
}
