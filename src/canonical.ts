// RFC 8785 canonical JSON (the `canonicalize` package) and the policy hash built on it.

import { createHash } from "node:crypto";
import canonicalizeImpl from "canonicalize";

export function canonicalJson(value: unknown): string {
  const text = canonicalizeImpl(value);
  if (text === undefined) throw new TypeError("value cannot be represented as JSON");
  return text;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
