// The witness: a copy of every checkpoint kept outside the audit directory (docs/audit.md), so
// that cutting the log back to an older checkpoint, or re-signing it with a stolen key, shows.

import { readFile } from "node:fs/promises";
import { canonicalJson } from "../canonical.js";
import { parseCheckpoint } from "./checkpoint.js";
import type { Checkpoint } from "./checkpoint.js";
import { replaceFile } from "./fsutil.js";

/** How long a webhook witness may take to take a checkpoint, or to give the latest back. */
export const WITNESS_TIMEOUT_MS = 5000;

/** Whether a witness is a webhook (an http(s) URL) rather than a file path. */
export function isWitnessUrl(witness: string): boolean {
  return /^https?:\/\//i.test(witness);
}

/** Sends one checkpoint: a file is replaced atomically, a URL gets a POST of the JSON line. */
export async function deliverCheckpoint(witness: string, cp: Checkpoint): Promise<void> {
  const line = canonicalJson(cp) + "\n";
  if (!isWitnessUrl(witness)) {
    await replaceFile(witness, line, 0o644);
    return;
  }
  const res = await fetch(witness, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: line,
    signal: AbortSignal.timeout(WITNESS_TIMEOUT_MS),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`the witness ${witness} answered ${res.status}`);
}

/** The latest checkpoint the witness holds: the file's text, or a GET of the URL. */
/** `absent`: the witness holds nothing yet (no file; a URL answering 404), i.e. first use. */
export async function readWitness(witness: string): Promise<{ checkpoint: Checkpoint } | { error: string; absent?: true }> {
  let text: string;
  try {
    if (isWitnessUrl(witness)) {
      const res = await fetch(witness, { signal: AbortSignal.timeout(WITNESS_TIMEOUT_MS) });
      text = await res.text();
      if (!res.ok) return { error: `the witness ${witness} answered ${res.status}`, ...(res.status === 404 && { absent: true as const }) };
    } else {
      text = await readFile(witness, "utf8");
    }
  } catch (err) {
    const absent = (err as NodeJS.ErrnoException).code === "ENOENT";
    return { error: `cannot read the witness ${witness}: ${(err as Error).message}`, ...(absent && { absent: true as const }) };
  }
  const parsed = parseCheckpoint(text);
  return "error" in parsed ? { error: `the witness ${witness}: ${parsed.error}` } : parsed;
}
