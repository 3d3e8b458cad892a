// The audit record format (docs/audit.md): one canonical JSON line per decision, chained by hash.

import { hash as oneShotHash } from "node:crypto";
import { canonicalJson, canonicalJsonParsed, fastCanonicalOrNull, sha256Hex } from "../canonical.js";
import type { Decision } from "../decision.js";

/** `prev` of the very first record of a log. */
export const GENESIS = "0".repeat(64);

/**
 * What a host supplies for one record (see `auditRecord` and `auditRecordJson`); the log adds
 * seq, ts, prev, hash.
 */
export interface AuditEntry {
  decision: Decision;
  /**
   * The action with the policy's `audit.redact` paths replaced by "[redacted]". Ignored when
   * `actionJson` is given (then it may be left out).
   */
  action?: unknown;
  /**
   * Optional: the RFC 8785 canonical JSON of the (already redacted) action, e.g. made by
   * `auditRecordJson` in a worker thread. When present it is written verbatim in place of
   * `action`, which the writer then neither validates nor canonicalizes: it must be exactly
   * what `canonicalAction(redactedAction)` returns, or the record will not verify.
   */
  actionJson?: string;
  /** Optional, like `actionJson`: the canonical JSON of `decision`, written verbatim. */
  decisionJson?: string;
  policy: string;
  policy_hash: string;
  eval_ns: number;
}

/** One record as written (a JSON line). */
export interface AuditRecord extends Omit<AuditEntry, "action" | "actionJson" | "decisionJson"> {
  action: unknown;
  seq: number;
  ts: string;
  prev: string;
  hash: string;
}

/** Written in place of an action that is not a JSON value (a function, a BigInt, a cycle...). */
export const NOT_JSON = "[not JSON]";

const HEX64 = /^[0-9a-f]{64}$/;
const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const decisionText = new WeakMap<object, string>();

/** Canonical JSON of a decision; frozen decisions (the engine's are shared) are cached. A
 *  decision with counters (or what it counted) is made for one decision only, from plain values
 *  (src/policy.ts, pipeline/counted.ts): not cached, and written by the fast key-sorted path
 *  (RFC 8785's text for such values; the exact one where it might not be). */
export function canonicalDecision(decision: Decision): string {
  const d = decision as { counters?: unknown; counted?: unknown };
  if (d.counters !== undefined || d.counted !== undefined) return canonicalJsonParsed(decision);
  const frozen = Object.isFrozen(decision);
  if (frozen) {
    const cached = decisionText.get(decision);
    if (cached !== undefined) return cached;
  }
  const text = canonicalJson(decision);
  if (frozen) decisionText.set(decision, text);
  return text;
}

/** Canonical JSON of an action, or of NOT_JSON when it is not a JSON value. */
export function canonicalAction(action: unknown): string {
  if (!isJsonValue(action, 0)) return JSON.stringify(NOT_JSON);
  try {
    return canonicalJson(action);
  } catch {
    return JSON.stringify(NOT_JSON); // lone surrogates, NaN, cycles
  }
}

/**
 * `canonicalAction` for an action straight from `JSON.parse` (after `redact`, which only copies
 * plain objects): the same text, 2-3x faster (`canonicalJsonParsed`). The server's workers use
 * it on every request body.
 */
export function canonicalParsedAction(action: unknown): string {
  return fastCanonicalOrNull(action) ?? canonicalAction(action);
}

function isJsonValue(v: unknown, depth: number): boolean {
  if (v === null) return true;
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v);
    case "object": {
      if (depth > 512) return false;
      if (Array.isArray(v)) {
        for (const e of v) if (e !== undefined && !isJsonValue(e, depth + 1)) return false;
        return true;
      }
      if (typeof (v as { toJSON?: unknown }).toJSON === "function") return false;
      for (const k in v) {
        if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
        const e = (v as Record<string, unknown>)[k];
        if (e !== undefined && typeof e !== "symbol" && !isJsonValue(e, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * The record's two texts: `body` is the RFC 8785 canonical JSON of the record without `hash`
 * (what is hashed), `line` the canonical JSON of the whole record plus "\n" (what is written).
 * The top-level keys are fixed, so the object is assembled in canonical key order by hand:
 * action, decision, eval_ns, [hash], policy, policy_hash, prev, seq, ts.
 */
export function encodeRecord(entry: AuditEntry, seq: number, ts: string, prev: string): { hash: string; line: string } {
  const { head, tail } = recordParts(entry, seq, ts, prev);
  const hash = oneShotHash("sha256", head + tail, "hex"); // = sha256Hex, without a Hash object
  return { hash, line: `${head}${HASH_KEY}${hash}"${tail}\n` };
}

/** What goes between `head` and `tail` in the written line, before the 64 hex digits. */
export const HASH_KEY = ',"hash":"';

/**
 * The canonical JSON of the record without `hash`, as `head + tail`: `head` ends after the
 * `eval_ns` value, where the line has `,"hash":"<hash>"` (see `encodeRecord`). Throws a
 * TypeError for a bad entry (nothing is written then).
 */
export function recordParts(entry: AuditEntry, seq: number, ts: string, prev: string): { head: string; tail: string } {
  if (!Number.isSafeInteger(entry.eval_ns) || entry.eval_ns < 0) throw new TypeError("eval_ns must be a non-negative integer");
  const action = entry.actionJson !== undefined ? checkedJson(entry.actionJson, "actionJson") : canonicalAction(entry.action);
  const decision = entry.decisionJson !== undefined ? checkedJson(entry.decisionJson, "decisionJson") : canonicalDecision(entry.decision);
  return {
    head: `{"action":${action},"decision":${decision},"eval_ns":${entry.eval_ns}`,
    tail: `${policyFields(entry.policy, entry.policy_hash)}"${prev}","seq":${seq},"ts":"${ts}"}`,
  };
}

/**
 * A pre-canonicalized text is trusted (re-checking it would cost what it saves), but it must
 * at least be a string that cannot break the line format.
 */
function checkedJson(text: unknown, field: string): string {
  if (typeof text !== "string" || text.length === 0 || text.includes("\n")) throw new TypeError(`${field} must be canonical JSON text (one line)`);
  return text;
}

let lastPolicy: string | undefined;
let lastPolicyHash: string | undefined;
let lastPolicyText = "";

/** `,"policy":P,"policy_hash":H,"prev":` — the same for every record of a policy, so kept. */
function policyFields(policy: string, policyHash: string): string {
  if (policy !== lastPolicy || policyHash !== lastPolicyHash) {
    const text = `,"policy":${canonicalJson(policy)},"policy_hash":${canonicalJson(policyHash)},"prev":`;
    lastPolicy = policy;
    lastPolicyHash = policyHash;
    lastPolicyText = text;
  }
  return lastPolicyText;
}

/** Checks one written line (without its "\n"); returns the record or what is wrong with it. */
export function parseRecord(line: string): { record: AuditRecord } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: "not a JSON line" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { error: "record is not a JSON object" };
  const r = value as Record<string, unknown>;
  const keys = Object.keys(r).sort().join(",");
  if (keys !== "action,decision,eval_ns,hash,policy,policy_hash,prev,seq,ts") return { error: `record has keys ${keys}; expected action, decision, eval_ns, hash, policy, policy_hash, prev, seq, ts` };
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return { error: "seq is not a positive integer" };
  if (typeof r.ts !== "string" || !TS.test(r.ts)) return { error: "ts is not an RFC 3339 UTC time with milliseconds" };
  if (typeof r.prev !== "string" || !HEX64.test(r.prev)) return { error: "prev is not a SHA-256 hex digest" };
  if (typeof r.hash !== "string" || !HEX64.test(r.hash)) return { error: "hash is not a SHA-256 hex digest" };
  if (r.decision === null || typeof r.decision !== "object" || Array.isArray(r.decision)) return { error: "decision is not an object" };
  if (typeof r.policy !== "string" || typeof r.policy_hash !== "string") return { error: "policy and policy_hash must be strings" };
  if (!Number.isSafeInteger(r.eval_ns) || (r.eval_ns as number) < 0) return { error: "eval_ns is not a non-negative integer" };
  let canonical: string;
  try {
    canonical = canonicalJsonParsed(r);
  } catch {
    return { error: "record cannot be canonicalized" };
  }
  if (canonical !== line) return { error: "record is not in canonical form (RFC 8785)" };
  const { hash, ...rest } = r;
  const expected = sha256Hex(canonicalJsonParsed(rest));
  if (expected !== hash) return { error: `hash mismatch: the record hashes to ${expected}, not ${hash as string}` };
  return { record: r as unknown as AuditRecord };
}
