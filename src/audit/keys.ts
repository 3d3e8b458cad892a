// The log's Ed25519 key pair: `audit.key` (PKCS#8 PEM, 0600) and `audit.pub` (SPKI PEM).

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir, replaceFile, writeAll } from "./fsutil.js";

export const PRIVATE_KEY_FILE = "audit.key";
export const PUBLIC_KEY_FILE = "audit.pub";

export interface AuditKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM of the public key: what `--public-key FILE` expects. */
  publicKeyPem: string;
  /** SHA-256 (hex) of the public key's SPKI DER. */
  keyId: string;
  /** Set when the private key file is readable by others than its owner. */
  insecureMode?: number;
}

export function keyId(publicKey: KeyObject): string {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex");
}

/** Reads a PEM public key (SPKI) for verification; throws if it is not Ed25519. */
export function parsePublicKey(pem: string | Buffer): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`not an Ed25519 public key (${key.asymmetricKeyType ?? "unknown"})`);
  return key;
}

/** Loads the key pair, generating it (first open) if there is none. */
export async function loadOrCreateKeys(dir: string): Promise<AuditKeys> {
  const keyPath = join(dir, PRIVATE_KEY_FILE);
  let pem: string;
  let insecureMode: number | undefined;
  try {
    pem = await readFile(keyPath, "utf8");
    const mode = (await stat(keyPath)).mode & 0o777;
    if ((mode & 0o077) !== 0) insecureMode = mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const pair = generateKeyPairSync("ed25519");
    pem = pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const fh = await open(keyPath, "wx", 0o600); // exclusive: never overwrite a key
    try {
      await fh.chmod(0o600); // whatever the umask
      await writeAll(fh, Buffer.from(pem, "utf8"));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDir(dir);
  }
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`${keyPath} is not an Ed25519 private key`);
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }) as string;
  const pubPath = join(dir, PUBLIC_KEY_FILE);
  let existing: string | null = null;
  try {
    existing = await readFile(pubPath, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (existing !== publicKeyPem) await replaceFile(pubPath, publicKeyPem, 0o644);
  const keys: AuditKeys = { privateKey, publicKey, publicKeyPem, keyId: keyId(publicKey) };
  if (insecureMode !== undefined) keys.insecureMode = insecureMode;
  return keys;
}
