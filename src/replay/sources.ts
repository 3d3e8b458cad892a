// What `tollgate replay` reads: an audit directory (decisions as recorded, with the approval
// transitions that settled escalations) or an actions JSONL (actions only), as batches of items
// in order. An audit directory is verified first (`verifyLog`: chain, hashes, signed
// checkpoint), and read only up to the end that was verified; while reading, every record must
// follow the one before (seq + 1, `prev`), so a log that changed since is refused too.

import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { latestSeal } from "../audit/chain.js";
import { eventOf } from "../audit/events.js";
import type { AuditRecord } from "../audit/format.js";
import { NOT_JSON } from "../audit/format.js";
import { listSegments } from "../audit/segments.js";
import { verifyLog } from "../audit/verify.js";
import { REDACTED } from "../redact.js";
import { fileLines, streamLines } from "./lines.js";
import type { Line } from "./lines.js";

/** Where an item came from: an audit record (its seq, file and line) or a line of an actions file. */
export interface Place {
  source: string;
  /** The audit record's seq (audit directories only). */
  seq?: number;
  /** The file and its 1-based line. */
  file: string;
  line: number;
}

/** A decision as recorded (or as the current policy takes it): the effect and the deciding rule. */
export interface Outcome {
  decision: "allow" | "deny" | "escalate";
  rule: string | null;
}

export type ReplayItem =
  | {
      kind: "action";
      at: Place;
      action: unknown;
      /** The decision's time (ms): `counted.at` if it counted, else the record's `ts`; the run's start for an actions file. */
      now: number;
      /** The recorded decision (null for an actions file). */
      recorded: Outcome | null;
      /** The record's hash, by which approval transitions name it (null for an actions file). */
      hash: string | null;
      /** The recorded policy's name and hash ("" for an actions file). */
      policy: string;
      policyHash: string;
      /** Whether the line holds "[redacted]" anywhere (then redact.ts looks closer). */
      mayBeRedacted: boolean;
    }
  | {
      /** An approval's transition (approved, denied, expired) of the escalation recorded as `decisionHash`. */
      kind: "transition";
      at: Place;
      decisionHash: string;
      state: string;
      now: number;
    }
  /** Not a decision: an audit event (recover, seal). */
  | { kind: "event"; at: Place }
  /** What cannot be replayed: an action the log recorded as "[not JSON]", a line that is not JSON. */
  | { kind: "skipped"; at: Place; reason: string };

/** Input that cannot be replayed at all: a log that does not verify, a file that cannot be read. */
export class ReplayInputError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
  }
}

export interface SourceOptions {
  /** Skip `verifyLog` (the chain is still followed record by record while reading). */
  verify?: boolean;
  /** Lines longer than this are skipped (default: lines.ts MAX_LINE_BYTES). */
  maxLineBytes?: number;
  /** Hears every read's byte count (the progress bar). */
  onBytes?: (n: number) => void;
}

export interface Source {
  name: string;
  kind: "audit" | "actions";
  /** Bytes to read, when known (for the progress bar). */
  bytes: number | null;
  /** Notes about the input (a seal, an unsigned tail), for the report. */
  notes: string[];
  items(): AsyncGenerator<ReplayItem[]>;
}

/** An audit directory or an actions file ("-": stdin), by what the path is. */
export async function openSource(path: string, stdin: Readable, now: number, options: SourceOptions = {}): Promise<Source> {
  if (path === "-") return actionsSource(path, null, stdin, now, options);
  let isDir: boolean;
  let size: number;
  try {
    const st = await stat(path);
    isDir = st.isDirectory();
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ReplayInputError(path, 1, code === "ENOENT" ? "no such file or directory" : `cannot read: ${(err as Error).message}`);
  }
  return isDir ? auditSource(path, options) : actionsSource(path, size, stdin, now, options);
}

const recordedDecision = (d: unknown): Outcome | null => {
  const o = d as { decision?: unknown; rule?: unknown };
  if (o.decision !== "allow" && o.decision !== "deny" && o.decision !== "escalate") return null;
  return { decision: o.decision, rule: typeof o.rule === "string" ? o.rule : null };
};

async function auditSource(dir: string, options: SourceOptions): Promise<Source> {
  const notes: string[] = [];
  const segments = await listSegments(dir);
  if (segments.length === 0) throw new ReplayInputError(dir, 1, "not an audit log: no audit-*.jsonl segments here (an actions file is a file, not a directory)");
  let lastSeq = Number.POSITIVE_INFINITY;
  if (options.verify !== false) {
    const v = await verifyLog(dir, { allowUnsignedTail: true });
    if (!v.ok) throw new ReplayInputError(v.file, v.line, `the audit log does not verify, refusing to replay it: ${v.message} (see tollgate audit verify; --no-verify replays it anyway)`);
    lastSeq = (v.seal?.seq ?? 1) + v.records - 1;
    if (v.seal !== undefined) notes.push(`${dir}: sealed at seq ${v.seal.seq} (${v.seal.reason}): records before it are replayed as they are, unverified`);
    if (v.unsignedTail > 0) notes.push(`${dir}: the last ${v.unsignedTail} records are not covered by a signed checkpoint yet`);
  }
  const seal = await latestSeal(dir, segments);
  let bytes = 0;
  for (const s of segments) bytes += (await stat(join(dir, s.name))).size;

  async function* items(): AsyncGenerator<ReplayItem[]> {
    let expectedSeq = seal === null ? 1 : seal.record.seq;
    let prev: string | null = seal === null ? "0".repeat(64) : null;
    for (let s = 0; s < segments.length; s++) {
      const seg = segments[s]!;
      const file = join(dir, seg.name);
      // Before the latest seal: accepted as it was when sealed; replay what reads as a record.
      const sealed = seal !== null && s < seal.index;
      if (!sealed && seg.firstSeq !== expectedSeq) {
        throw new ReplayInputError(file, 1, `segment is named for seq ${seg.firstSeq} but the previous segment ends at seq ${expectedSeq - 1}`);
      }
      for await (const batch of fileLines(file, options)) {
        const out: ReplayItem[] = [];
        for (const l of batch) {
          const at: Place = { source: dir, file, line: l.line };
          const r = readRecord(l, file);
          if (typeof r === "string") {
            if (sealed) {
              out.push({ kind: "skipped", at, reason: `not a record (before the seal): ${r}` });
              continue;
            }
            throw new ReplayInputError(file, l.line, r);
          }
          at.seq = r.seq;
          if (!sealed) {
            if (r.seq > lastSeq) {
              // appended after the log was verified: not replayed
              if (out.length > 0) yield out;
              return;
            }
            if (r.seq !== expectedSeq) throw new ReplayInputError(file, l.line, `seq ${r.seq} follows seq ${expectedSeq - 1}: the log changed (verify it)`);
            if (prev !== null && r.prev !== prev) throw new ReplayInputError(file, l.line, `prev ${r.prev} is not the previous record's hash ${prev}: the log changed (verify it)`);
            prev = r.hash;
            expectedSeq++;
          }
          out.push(itemOf(r, at, l));
        }
        if (out.length > 0) yield out;
      }
    }
  }
  return { name: dir, kind: "audit", bytes, notes, items };
}

/** A line as a record (its shape only: verify checked hashes), or why it is not one. */
function readRecord(l: Line, _file: string): AuditRecord | string {
  if (l.text === null) return "tooLong" in l && l.tooLong ? `record longer than the replay's line limit (${l.bytes} bytes)` : "line is not valid UTF-8";
  let r = canonicalRecord(l.text);
  if (r === null) {
    try {
      r = JSON.parse(l.text) as AuditRecord;
    } catch {
      return "not a JSON line";
    }
  }
  if (r === null || typeof r !== "object" || typeof r.seq !== "number" || typeof r.ts !== "string" || typeof r.hash !== "string" || typeof r.prev !== "string" || r.decision === null || typeof r.decision !== "object") {
    return "not an audit record (seq, ts, decision, prev, hash)";
  }
  return r;
}

/**
 * A record in its canonical layout (docs/audit.md: keys sorted, no whitespace), read without
 * parsing all of it: only the action and the decision are JSON-parsed; seq, ts, prev, hash and
 * the policy are cut from the fixed tail, found from the end of the line (after the decision no
 * text is the caller's but the policy name, a JSON string, which cannot hold an unescaped quote).
 * Parsing the whole line was most of a replay's time (the tail's three hashes and its keys are
 * 40% of a typical record). Null when the line is not laid out so (then it is parsed whole).
 */
export function canonicalRecord(text: string): AuditRecord | null {
  const n = text.length;
  if (!text.startsWith('{"action":') || n < 200) return null;
  const tsAt = n - 33; // ,"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ"}
  if (!text.startsWith(',"ts":"', tsAt) || text.charCodeAt(n - 1) !== 125 || text.charCodeAt(n - 2) !== 34) return null;
  const seqAt = text.lastIndexOf(',"seq":', tsAt);
  const prevAt = seqAt - 74; // ,"prev":"<64 hex>"
  if (seqAt < 0 || !text.startsWith(',"prev":"', prevAt)) return null;
  const phAt = text.lastIndexOf(',"policy_hash":"', prevAt);
  const pAt = phAt < 0 ? -1 : text.lastIndexOf(',"policy":"', phAt);
  const hAt = pAt - 74; // ,"hash":"<64 hex>"
  if (pAt < 0 || !text.startsWith(',"hash":"', hAt)) return null;
  const eAt = text.lastIndexOf(',"eval_ns":', hAt);
  if (eAt < 0 || text.charCodeAt(eAt - 1) !== 125) return null;
  // The decision object ends at eAt: its opening brace, scanning back over strings whole.
  let depth = 0;
  let i = eAt - 1;
  for (; i > 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // a closing quote (outside strings there are no escapes): back to the unescaped opening one
      let j = i - 1;
      for (;;) {
        j = text.lastIndexOf('"', j);
        if (j < 0) return null;
        let k = j - 1;
        while (text.charCodeAt(k) === 92) k--;
        if ((j - 1 - k) % 2 === 0) break;
        j--;
      }
      i = j;
    } else if (c === 125 || c === 93) {
      depth++;
    } else if (c === 123 || c === 91) {
      if (--depth === 0) break;
    }
  }
  if (i <= 0 || !text.startsWith(',"decision":', i - 12)) return null;
  try {
    const policyText = text.slice(pAt + 10, phAt);
    return {
      action: JSON.parse(text.slice(10, i - 12)) as unknown,
      decision: JSON.parse(text.slice(i, eAt)) as AuditRecord["decision"],
      eval_ns: 0, // not read by replay
      hash: text.slice(hAt + 9, hAt + 73),
      policy: policyText.includes("\\") ? (JSON.parse(policyText) as string) : policyText.slice(1, -1),
      policy_hash: text.slice(phAt + 16, prevAt - 1),
      prev: text.slice(prevAt + 9, prevAt + 73),
      seq: Number(text.slice(seqAt + 7, tsAt)),
      ts: text.slice(tsAt + 7, n - 2),
    };
  } catch {
    return null;
  }
}

function itemOf(r: AuditRecord, at: Place, l: Line): ReplayItem {
  if (eventOf(r) !== null) return { kind: "event", at };
  // A decision that counted carries the time it was decided at (`counted.at`), a few ms before
  // its record's `ts` (written when appended): its counters are replayed at that time, as a gate
  // rebuilds them (src/pipeline/counted.ts), so an entry near a window's edge is in or out of the
  // window as it was live.
  const counted = (r.decision as { counted?: { at?: unknown } }).counted;
  const now = typeof counted?.at === "number" && Number.isFinite(counted.at) ? counted.at : Date.parse(r.ts);
  const approval = (r.decision as { approval?: { decision_hash?: unknown; state?: unknown } }).approval;
  if (approval !== undefined && approval !== null && typeof approval.decision_hash === "string") {
    return { kind: "transition", at, decisionHash: approval.decision_hash, state: String(approval.state), now };
  }
  if (r.action === NOT_JSON) return { kind: "skipped", at, reason: "the action was recorded as \"[not JSON]\" (it was not a JSON value)" };
  const recorded = recordedDecision(r.decision);
  if (recorded === null) return { kind: "skipped", at, reason: "the record holds no decision (allow, deny, escalate)" };
  return {
    kind: "action",
    at,
    action: r.action,
    now,
    recorded,
    hash: r.hash,
    policy: r.policy,
    policyHash: r.policy_hash,
    mayBeRedacted: l.text!.includes(REDACTED_TEXT),
  };
}

const REDACTED_TEXT = JSON.stringify(REDACTED);

function actionsSource(path: string, size: number | null, stdin: Readable, now: number, options: SourceOptions): Source {
  const name = path === "-" ? "<stdin>" : path;
  async function* items(): AsyncGenerator<ReplayItem[]> {
    const lines = path === "-" ? streamLines(stdin, options) : fileLines(path, options);
    for await (const batch of lines) {
      const out: ReplayItem[] = new Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const l = batch[i]!;
        const at: Place = { source: name, file: name, line: l.line };
        if (l.text === null) {
          out[i] = { kind: "skipped", at, reason: "tooLong" in l && l.tooLong ? "line too long" : "line is not valid UTF-8" };
          continue;
        }
        let action: unknown;
        try {
          action = JSON.parse(l.text);
        } catch {
          out[i] = { kind: "skipped", at, reason: l.text.trim() === "" ? "empty line" : "line is not JSON" };
          continue;
        }
        out[i] = { kind: "action", at, action, now, recorded: null, hash: null, policy: "", policyHash: "", mayBeRedacted: l.text.includes(REDACTED_TEXT) };
      }
      yield out;
    }
  }
  return { name, kind: "actions", bytes: size, notes: [], items };
}
