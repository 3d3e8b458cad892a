// A policy file's bytes to text. A manifest is UTF-8 (YAML's encoding, and what every editor
// writes by default); a byte that is not UTF-8 is a policy error at its position, never a U+FFFD
// in its place: a Latin-1 "données" in a deny rule's operand would otherwise load, and the rule
// silently stop matching the real text (spec section 2: a typo must never weaken a policy).
// Every reader of a policy file goes through here (Policy.fromFile, the server, the hook, fmt,
// lint); the Python host does the same (tollgate.yaml_loader.read_policy_file).

import { readFileSync, statSync } from "node:fs";
import { Messages, MAX_MANIFEST_BYTES } from "./abi.generated.js";
import { PolicyError } from "./errors.js";

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Index of the lead byte of the first ill-formed UTF-8 sequence in `b` (RFC 3629), or -1: where
 *  Python's strict decoder says it fails (UnicodeDecodeError.start), so both hosts point there. */
function firstInvalid(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0; // no overlong forms
      if (c === 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f; // nothing past U+10FFFF
    } else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

/** The text of a policy's bytes; throws PolicyError at the first byte that is not UTF-8. */
export function policyText(bytes: Uint8Array, file: string): string {
  try {
    return strict.decode(bytes);
  } catch {
    const at = Math.max(0, firstInvalid(bytes));
    // Position as policy errors count (src/yaml.ts: a BOM is no column; lines end at LF, CRLF or
    // a lone CR; columns in UTF-16 units), on the text before it.
    let before = strict.decode(bytes.subarray(0, at));
    if (before.charCodeAt(0) === 0xfeff) before = before.slice(1);
    const lines = before.split(/\r\n|\r|\n/);
    const line = lines.length;
    const column = lines[lines.length - 1]!.length + 1;
    throw new PolicyError([{ file, line, column, message: Messages.notUtf8(bytes[at]!.toString(16).padStart(2, "0").toUpperCase()) }]);
  }
}

/** Reads a policy file (at most 16 MiB, UTF-8); throws PolicyError at 1:1 when it cannot. */
export function readPolicyFile(path: string): string {
  let bytes: Buffer;
  try {
    if (statSync(path).size > MAX_MANIFEST_BYTES) throw new PolicyError([{ file: path, line: 1, column: 1, message: Messages.manifestTooLarge }]);
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof PolicyError) throw err;
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? Messages.noSuchFile : (err as Error).message;
    throw new PolicyError([{ file: path, line: 1, column: 1, message: Messages.cannotReadPolicy(reason) }]);
  }
  return policyText(bytes, path);
}
