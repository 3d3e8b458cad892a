// Audit events: records about the log itself (`recover`, `seal`), not decisions (docs/audit.md).

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Decision } from "../decision.js";
import type { AuditEntry, AuditRecord } from "./format.js";
import type { SegmentFile } from "./segments.js";

export type AuditEventKind = "recover" | "seal";

/** What a `recover` record says: records after the checkpoint that a restart found unsigned. */
export interface RecoverEvent {
  event: "recover";
  unsigned: { first: number; last: number; count: number };
  checkpoint: { seq: number; hash: string };
}

/** What a `seal` record says: damage an operator accepted, and a digest of what was accepted. */
export interface SealEvent {
  event: "seal";
  reason: string;
  by: string;
  found: string;
  prefix: PrefixDigest;
  checkpoint: unknown;
  witness: unknown;
}

export interface PrefixDigest {
  segments: number;
  bytes: number;
  sha256: string;
}

/** An event record's entry: `{"event":KIND}` as the action, no policy, nothing evaluated. */
export function eventEntry(details: RecoverEvent | SealEvent): AuditEntry {
  return { decision: details as unknown as Decision, action: { event: details.event }, policy: "", policy_hash: "", eval_ns: 0 };
}

/**
 * The event a parsed record is, if it is one. A decision record can never pass for one: a
 * policy's name is never empty, and the engine's decisions have no `event` key.
 */
export function eventOf(r: AuditRecord): AuditEventKind | null {
  if (r.policy !== "" || r.policy_hash !== "") return null;
  const a = r.action as { event?: unknown } | null;
  const d = r.decision as unknown as { event?: unknown };
  if (a === null || typeof a !== "object" || Array.isArray(a) || Object.keys(a).length !== 1) return null;
  if ((a.event === "recover" || a.event === "seal") && d.event === a.event) return a.event;
  return null;
}

/**
 * SHA-256 over every segment in `segments`, in order: `<name>\n<size>\n<bytes>` each. What a
 * seal accepted; any later change before the seal changes it.
 */
export async function prefixDigest(dir: string, segments: readonly SegmentFile[], onBytes?: (seg: SegmentFile, bytes: Buffer) => void): Promise<PrefixDigest> {
  const h = createHash("sha256");
  let bytes = 0;
  for (const seg of segments) {
    const data = await readFile(join(dir, seg.name));
    h.update(`${seg.name}\n${data.length}\n`, "utf8");
    h.update(data);
    bytes += data.length;
    onBytes?.(seg, data);
  }
  return { segments: segments.length, bytes, sha256: h.digest("hex") };
}
