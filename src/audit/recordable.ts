// Whether an action can be written to the audit log as it is (issue 11, finding 1). The record
// holds the RFC 8785 canonical JSON of the (redacted) action; an action that has none — a lone
// surrogate in a key or a string, nesting deeper than 512, a value that is not JSON — would be
// recorded as "[not JSON]" (format.ts, NOT_JSON), and the log would not say what was decided.
// Such an action is never evaluated: the hosts decide it as a deny with `error` (and record
// that deny), whatever the policy says.

import { canonicalJson, fastCanonicalOrNull } from "../canonical.js";
import type { Decision } from "../decision.js";

/** Containers may nest this deep below the action (the action itself is depth 0): as format.ts's `canonicalAction`. */
export const MAX_RECORD_DEPTH = 512;

/** The `reason` and `error` of the deny given to an action that cannot be recorded faithfully. */
export const UNRECORDABLE_TEXT =
  "action cannot be recorded faithfully in the audit log (a lone surrogate, nesting deeper than 512, or a value that is not JSON)";

/**
 * Why `action` cannot be recorded faithfully as RFC 8785 canonical JSON, or null when it can.
 * Recordable: null, booleans, finite numbers, strings without lone surrogates, arrays (no holes
 * or `undefined` elements) and plain objects (prototype Object.prototype or null; keys without
 * lone surrogates; a property that is `undefined` counts as absent, as in JSON.stringify and the
 * engine), nested at most MAX_RECORD_DEPTH deep, without cycles. Anything else — functions,
 * symbols, BigInt, NaN, Infinity, objects with `toJSON` (Date), Maps, class instances — is not
 * JSON. Walks the whole value: on a hot path, try `recordableParsedText` first.
 */
export function unrecordableReason(action: unknown): string | null {
  return check(action, 0, [], new Set());
}

/**
 * The canonical JSON of a recordable action, or null when `unrecordableReason` is not null
 * (one walk for the check, one for the text).
 */
export function recordableText(action: unknown): string | null {
  if (check(action, 0, [], new Set()) !== null) return null;
  return canonicalJson(action);
}

/**
 * `recordableText` for an action straight from `JSON.parse` (plain objects, arrays, strings,
 * numbers, booleans, null; `redact` keeps it so): the fast key-sorted text of
 * `fastCanonicalOrNull` when it is certainly canonical (then the action is recordable: no lone
 * surrogate, at most 64 deep, only JSON values), else the full check. The server calls it on
 * every request body.
 */
export function recordableParsedText(action: unknown): string | null {
  return fastCanonicalOrNull(action) ?? recordableText(action);
}

const denials = new Map<string, Decision>();

/**
 * The decision for an action that cannot be recorded faithfully, under policy `policy`:
 * `{"decision":"deny","rule":null,"reason":TEXT,"undetermined":false,"error":TEXT,"policy":NAME}`,
 * frozen and shared like the engine's decisions.
 */
export function unrecordableDecision(policy: string): Decision {
  let d = denials.get(policy);
  if (d === undefined) {
    if (denials.size >= 256) denials.clear();
    d = Object.freeze({ decision: "deny", rule: null, reason: UNRECORDABLE_TEXT, undetermined: false, error: UNRECORDABLE_TEXT, policy });
    denials.set(policy, d);
  }
  return d;
}

/** Whether `s` holds a UTF-16 surrogate that is not half of a pair. */
export function hasLoneSurrogate(s: string): boolean {
  // Fast: most strings have no surrogate at all (String.prototype.isWellFormed is Node 20+ only
  // in V8 11.3+, so it is used when present).
  const wf = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof wf === "function") return !wf.call(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const n = s.charCodeAt(i + 1);
      if (n >= 0xdc00 && n <= 0xdfff) {
        i++;
        continue;
      }
    }
    return true;
  }
  return false;
}

/** The walk of `unrecordableReason`: `path` holds the keys down to `v` (for the message only). */
function check(v: unknown, depth: number, path: (string | number)[], ancestors: Set<object>): string | null {
  switch (typeof v) {
    case "string":
      return hasLoneSurrogate(v) ? `a lone surrogate in the string at ${at(path)}` : null;
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(v) ? null : `${String(v)} at ${at(path)} is not a JSON number`;
    case "object": {
      if (v === null) return null;
      if (depth > MAX_RECORD_DEPTH) return `nesting deeper than ${MAX_RECORD_DEPTH} at ${at(path)}`;
      if (ancestors.has(v)) return `a cycle at ${at(path)}`;
      if (Array.isArray(v)) {
        ancestors.add(v);
        for (let i = 0; i < v.length; i++) {
          path.push(i);
          if (!(i in v)) return `a hole at ${at(path)} is not JSON`;
          const r = v[i] === undefined ? `undefined at ${at(path)} is not JSON` : check(v[i], depth + 1, path, ancestors);
          if (r !== null) return r;
          path.pop();
        }
        ancestors.delete(v);
        return null;
      }
      const proto = Object.getPrototypeOf(v) as object | null;
      if (proto !== Object.prototype && proto !== null) {
        const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
        return `the object at ${at(path)} is not a plain object${typeof name === "string" && name !== "" ? ` (${name})` : ""}`;
      }
      if (typeof (v as { toJSON?: unknown }).toJSON === "function") return `the object at ${at(path)} has a toJSON method`;
      ancestors.add(v);
      for (const k of Object.keys(v)) {
        path.push(k);
        if (hasLoneSurrogate(k)) return `a lone surrogate in the key at ${at(path)}`;
        const e = (v as Record<string, unknown>)[k];
        if (e !== undefined) {
          // `undefined` is absent, as in JSON.stringify and for the engine.
          const r = check(e, depth + 1, path, ancestors);
          if (r !== null) return r;
        }
        path.pop();
      }
      ancestors.delete(v);
      return null;
    }
    case "undefined":
      return `undefined at ${at(path)} is not JSON`;
    default:
      return `a ${typeof v} at ${at(path)} is not JSON`;
  }
}

/** `action.args[0].cmd`: where in the action (keys JSON-escaped when not identifiers, long ones cut). */
function at(path: readonly (string | number)[]): string {
  let out = "action";
  for (const k of path.length > 12 ? [...path.slice(0, 4), "…", ...path.slice(-4)] : path) {
    if (typeof k === "number") out += `[${k}]`;
    else if (k === "…") out += ".…";
    else if (/^[A-Za-z_$][\w$]{0,63}$/.test(k)) out += `.${k}`;
    else out += `[${JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}…` : k)}]`;
  }
  return out;
}
