// Policy errors for the parts of a manifest the reference checks: counters and
// counter references (spec section 8) and sequence tests (section 7). The rest
// of a manifest is assumed valid, as everywhere in the reference.
//
// Errors have the core's form (docs/abi.md, `compile`): a JSON pointer to the
// offending node, whether it names a key or a value, and a message in the
// core's style (assembly/manifest/manifest.ts). A host maps the pointer to
// FILE:LINE:COL; an error about an unknown key points at the key, a bad value
// at the value, a missing required key at the mapping that lacks it.

import { counterReferenceName, isCounterReference, isPlainObject } from "./path.js";

export interface PolicyErrorItem {
  pointer: string;
  at: "key" | "value";
  message: string;
}

export class ReferencePolicyError extends Error {
  constructor(readonly errors: PolicyErrorItem[]) {
    super(errors.map((e) => `${e.pointer || "/"}: error: ${e.message}`).join("\n"));
  }
}

export const MAX_COUNTERS = 64;
export const MAX_PER_PATHS = 8;
export const MAX_COUNTER_NAME = 64;
export const MAX_WINDOW_MS = 30 * 86_400_000;
export const MAX_STEP_AT_MS = 365 * 86_400_000;
export const MAX_DURATION_MS = 7 * 86_400_000;
export const MAX_STEPS = 10_000;

const COUNTER_KEYS = ["per", "window", "when", "sum"];
const SINGLE_TEST_KEYS = ["name", "action", "expect", "rule"];
const SEQUENCE_TEST_KEYS = ["name", "steps"];
const STEP_KEYS = ["action", "expect", "rule", "at", "resolve"];
const EFFECTS = ["allow", "deny", "escalate"];
const RESOLUTIONS = ["approved", "denied"];
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Why `text` is not a field path (spec section 1), in the core's words
 * (assembly/common/path.ts, which every field path of a manifest goes
 * through), or null when it is one. As the spec says, a top-level key named
 * all, any or not is written in brackets (`["all"]`), wherever the path is.
 */
export function fieldPathError(text: string): string | null {
  const n = text.length;
  if (n === 0) return "empty field path";
  const plain = (c: string) => !".[]\"' ".includes(c);
  let i = 0;
  let segments = 0;
  for (;;) {
    if (text[i] === "[") {
      if (text[i + 1] !== '"') return `expected '"' after '[' in field path '${text}'`;
      i += 2;
      let closed = false;
      while (i < n) {
        if (text[i] === "\\") {
          if (i + 1 >= n) break;
          const e = text[i + 1];
          if (e !== '"' && e !== "\\") return `invalid escape '\\${e}' in field path '${text}' (only \\" and \\\\)`;
          i += 2;
          continue;
        }
        if (text[i] === '"') {
          closed = true;
          i++;
          break;
        }
        i++;
      }
      if (!closed || i >= n || text[i] !== "]") return `unclosed '["' in field path '${text}'`;
      i++;
    } else {
      const start = i;
      while (i < n && plain(text[i])) i++;
      if (i === start) return `empty segment in field path '${text}'`;
      const seg = text.slice(start, i);
      if (segments === 0 && (seg === "all" || seg === "any" || seg === "not")) {
        return `a top-level key named '${seg}' must be written ["${seg}"] in field path '${text}'`;
      }
    }
    if (++segments > 16) return `field path '${text}' has more than 16 segments`;
    if (i === n) return null;
    if (text[i] === ".") {
      i++;
      if (i === n) return `field path '${text}' ends with '.'`;
      continue;
    }
    if (text[i] === "[") continue;
    return `unexpected ${text[i] === "'" ? `"'"` : `'${text[i]}'`} in field path '${text}'`;
  }
}

/** Appends one RFC 6901 reference token to a pointer. */
export function child(pointer: string, token: string | number): string {
  return pointer + "/" + String(token).replaceAll("~", "~0").replaceAll("/", "~1");
}

/** The core's `typeName` of a JSON value. */
function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number") return "a number";
  if (typeof v === "string") return "a string";
  if (Array.isArray(v)) return "a list";
  return "a mapping";
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** " (did you mean 'x'?)" or "", as the core's common/suggest.ts. */
export function didYouMean(word: string, candidates: readonly string[], shown = (s: string) => s): string {
  let best: string | null = null;
  let bestD = Infinity;
  const limit = word.length <= 3 ? 1 : word.length <= 6 ? 2 : 3;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c);
    if (d < bestD) [bestD, best] = [d, c];
  }
  return best !== null && bestD <= limit ? ` (did you mean '${shown(best)}'?)` : "";
}

function listWords(words: readonly string[]): string {
  return words.map((w, i) => (i === 0 ? "" : i === words.length - 1 ? " or " : ", ") + `'${w}'`).join("");
}

/** Milliseconds of a duration text (spec section 2): a positive integer and a
 *  unit, at most `max`; with `zero`, also 0 written with any unit. Else null. */
export function parseDuration(text: string, max: number, zero = false): number | null {
  const m = /^([0-9]{1,16})(ms|s|m|h|d)$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  if ((ms === 0 && !zero) || ms > max) return null;
  return ms;
}

export const isCounterName = (s: string) => s.length >= 1 && s.length <= MAX_COUNTER_NAME && /^[A-Za-z0-9_]+$/.test(s);

class Checker {
  readonly errors: PolicyErrorItem[] = [];
  /** Declared counter names (valid or not), for references. */
  names: string[] = [];

  value(pointer: string, message: string) {
    this.errors.push({ pointer, at: "value", message });
  }
  key(pointer: string, message: string) {
    this.errors.push({ pointer, at: "key", message });
  }
  unknownKeys(v: Record<string, unknown>, ptr: string, allowed: string[], what: string) {
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) this.key(child(ptr, k), `unknown key '${k}' in ${what}${didYouMean(k, allowed)}`);
    }
  }
  /** As the core: a missing key that an unknown key of `v` misspells is said by that key's error. */
  required(v: Record<string, unknown>, ptr: string, keys: string[], what: string, allowed: readonly string[]) {
    const misspelt = (key: string) => Object.keys(v).some((k) => !allowed.includes(k) && didYouMean(k, allowed) === ` (did you mean '${key}'?)`);
    for (const k of keys) if (!(k in v) && !misspelt(k)) this.value(ptr, `missing required key '${k}' in ${what}`);
  }

  /** A field path that is not a condition key: `per` items and `sum`. */
  fieldPath(v: unknown, ptr: string, what: string): boolean {
    if (typeof v !== "string") {
      this.value(ptr, `${what} must be a field path (a string), not ${typeName(v)}`);
      return false;
    }
    // Spec-silent choice: the spec makes a plain `$NAME` a counter reference in a
    // condition; in `per` and `sum` it is a bad path rather than an action key, so
    // that `$x` never means two things (an action key starting with `$` is
    // written ["$x"] everywhere).
    if (isCounterReference(v)) {
      this.value(ptr, `'${v}' is a counter reference, not a field path: an action key that starts with '$' is written ["${v.split(/[.[]/)[0]}"]`);
      return false;
    }
    const error = fieldPathError(v);
    if (error !== null) this.value(ptr, error);
    return error === null;
  }

  counters(v: unknown) {
    if (!isPlainObject(v)) {
      this.value("/counters", `'counters' must be a mapping of counter names to counters, not ${typeName(v)}`);
      return;
    }
    this.names = Object.keys(v);
    this.names.forEach((name, i) => {
      const ptr = child("/counters", name);
      if (i === MAX_COUNTERS) this.key(ptr, `more than ${MAX_COUNTERS} counters: the limit is ${MAX_COUNTERS}`);
      if (!isCounterName(name)) {
        this.key(ptr, `counter name must be 1-${MAX_COUNTER_NAME} characters of A-Z, a-z, 0-9 or '_'`);
      }
      const c = v[name];
      if (!isPlainObject(c)) {
        this.value(ptr, `counter '${name}' must be a mapping with 'window', not ${typeName(c)}`);
        return;
      }
      const what = `counter '${name}'`;
      this.unknownKeys(c, ptr, COUNTER_KEYS, what);
      this.required(c, ptr, ["window"], what, COUNTER_KEYS);
      if ("window" in c) {
        const w = c.window;
        if (typeof w !== "string") {
          this.value(child(ptr, "window"), `a duration must be a string such as '30s', '15m' or '2h', not ${typeName(w)}`);
        } else if (parseDuration(w, MAX_WINDOW_MS) === null) {
          this.value(child(ptr, "window"), `invalid duration '${w}': expected a positive integer followed by ms, s, m, h or d, at most 30 days`);
        }
      }
      if ("per" in c) {
        const per = c.per;
        if (!Array.isArray(per)) {
          this.value(child(ptr, "per"), `'per' must be a list of at most ${MAX_PER_PATHS} field paths, not ${typeName(per)}`);
        } else {
          if (per.length > MAX_PER_PATHS) {
            this.value(child(ptr, "per"), `'per' has ${per.length} field paths; the limit is ${MAX_PER_PATHS}`);
          }
          per.forEach((p, k) => this.fieldPath(p, child(child(ptr, "per"), k), "a 'per' item"));
        }
      }
      if ("sum" in c) this.fieldPath(c.sum, child(ptr, "sum"), "'sum'");
      if ("when" in c) {
        if (!isPlainObject(c.when)) {
          this.value(child(ptr, "when"), `a condition must be a mapping of field paths and combinators (all, any, not), not ${typeName(c.when)}`);
        } else {
          this.references(c.when, child(ptr, "when"), name);
        }
      }
    });
  }

  /** Counter references in a condition; `inCounter` names the counter whose
   *  own `when` this is (where every reference is an error). */
  references(cond: Record<string, unknown>, ptr: string, inCounter: string | null) {
    for (const [key, operand] of Object.entries(cond)) {
      const p = child(ptr, key);
      if (key === "all" || key === "any") {
        if (Array.isArray(operand)) {
          operand.forEach((c, i) => isPlainObject(c) && this.references(c, child(p, i), inCounter));
        }
        continue;
      }
      if (key === "not") {
        if (isPlainObject(operand)) this.references(operand, p, inCounter);
        continue;
      }
      if (!isCounterReference(key)) continue;
      const name = counterReferenceName(key);
      if (inCounter !== null) {
        this.key(p, `counter '${inCounter}': a counter's 'when' cannot read counters ('${key}')`);
      } else if (name === null) {
        const first = key.split(/[.[]/)[0];
        this.key(p, `a counter reference is '$NAME' with no further segments, not '${key}' (an action key that starts with '$' is written ["${first}"])`);
      } else if (!this.names.includes(name)) {
        // Spec-silent choice: among equally close names, the suggestion is the first in
        // code-unit order, not in declaration order: the core compiles canonical JSON
        // (keys sorted), where declaration order is gone.
        this.key(p, `unknown counter '${key}': declare it under 'counters'${didYouMean(name, [...this.names].sort(), (s) => "$" + s)}`);
      }
    }
  }

  rules(items: unknown, ptr: string) {
    if (!Array.isArray(items)) return;
    items.forEach((item, i) => {
      if (!isPlainObject(item)) return;
      const p = child(ptr, i);
      if (isPlainObject(item.when)) this.references(item.when, child(p, "when"), null);
      if ("group" in item) this.rules(item.rules, child(p, "rules"));
    });
  }

  expectation(t: Record<string, unknown>, ptr: string, what: string) {
    if ("action" in t && !isPlainObject(t.action)) {
      this.value(child(ptr, "action"), `${what} 'action' must be a mapping (an action object), not ${typeName(t.action)}`);
    }
    if ("expect" in t && (typeof t.expect !== "string" || !EFFECTS.includes(t.expect))) {
      this.value(child(ptr, "expect"), `'expect' must be ${listWords(EFFECTS)}${typeof t.expect === "string" ? didYouMean(t.expect, EFFECTS) : ""}`);
    }
    if ("rule" in t && t.rule !== null && typeof t.rule !== "string") {
      this.value(child(ptr, "rule"), `${what} 'rule' must be a rule id or null, not ${typeName(t.rule)}`);
    }
  }

  tests(v: unknown) {
    if (!Array.isArray(v)) {
      this.value("/tests", `'tests' must be a list, not ${typeName(v)}`);
      return;
    }
    v.forEach((t, i) => {
      const ptr = child("/tests", i);
      if (!isPlainObject(t)) {
        this.value(ptr, `a test must be a mapping with 'name', 'action' and 'expect' (or 'name' and 'steps'), not ${typeName(t)}`);
        return;
      }
      if ("name" in t && typeof t.name !== "string") this.value(child(ptr, "name"), `test 'name' must be a string, not ${typeName(t.name)}`);
      if (!("steps" in t)) {
        this.unknownKeys(t, ptr, SINGLE_TEST_KEYS, "test");
        this.required(t, ptr, ["name", "action", "expect"], "test", SINGLE_TEST_KEYS);
        this.expectation(t, ptr, "test");
        return;
      }
      // A sequence: its steps carry the actions and expectations.
      for (const k of Object.keys(t)) {
        if (SEQUENCE_TEST_KEYS.includes(k)) continue;
        const hint = SINGLE_TEST_KEYS.includes(k) ? " (a sequence test gives 'action', 'expect' and 'rule' in each step)" : didYouMean(k, SEQUENCE_TEST_KEYS);
        this.key(child(ptr, k), `unknown key '${k}' in sequence test${hint}`);
      }
      this.required(t, ptr, ["name"], "test", SEQUENCE_TEST_KEYS);
      const steps = t.steps;
      const sp = child(ptr, "steps");
      if (!Array.isArray(steps) || steps.length === 0) {
        this.value(sp, `'steps' must be a non-empty list of steps, not ${Array.isArray(steps) ? "an empty list" : typeName(steps)}`);
        return;
      }
      if (steps.length > MAX_STEPS) this.value(sp, `the test has ${steps.length} steps; the limit is ${MAX_STEPS}`);
      let last: { ms: number; text: string; index: number } = { ms: 0, text: "0s", index: 0 };
      steps.forEach((s, k) => {
        const p = child(sp, k);
        if (!isPlainObject(s)) {
          this.value(p, `a step must be a mapping with 'action' and 'expect', not ${typeName(s)}`);
          return;
        }
        this.unknownKeys(s, p, STEP_KEYS, "step");
        this.required(s, p, ["action", "expect"], "step", STEP_KEYS);
        this.expectation(s, p, "step");
        if ("resolve" in s) {
          if (typeof s.resolve !== "string" || !RESOLUTIONS.includes(s.resolve)) {
            this.value(child(p, "resolve"), `'resolve' must be ${listWords(RESOLUTIONS)}${typeof s.resolve === "string" ? didYouMean(s.resolve, RESOLUTIONS) : ""}`);
          } else if (s.expect !== "escalate") {
            this.key(child(p, "resolve"), "'resolve' is only allowed on a step whose 'expect' is 'escalate'");
          }
        }
        let at: { ms: number; text: string } | null = { ms: 0, text: "0s" };
        if ("at" in s) {
          const a = s.at;
          const ms = typeof a === "string" ? parseDuration(a, MAX_STEP_AT_MS, true) : null;
          if (typeof a !== "string") {
            this.value(child(p, "at"), `'at' must be a duration such as '0s', '30s' or '2h', not ${typeName(a)}`);
            at = null;
          } else if (ms === null) {
            this.value(child(p, "at"), `invalid step time '${a}': expected 0 or a positive integer followed by ms, s, m, h or d, at most 365 days`);
            at = null;
          } else at = { ms, text: a };
        }
        if (at === null) return;
        if (at.ms < last.ms) {
          const here = "at" in s ? child(p, "at") : p;
          const mine = "at" in s ? `'${at.text}'` : "time 0 (no 'at')";
          this.value(here, `step ${k} at ${mine} is earlier than step ${last.index} at '${last.text}': steps must be in non-decreasing 'at' order`);
        }
        last = { ...at, index: k };
      });
    });
  }
}

/** Every error of the counters, counter references and tests of a manifest
 *  (the parts the reference checks); [] when there is none. */
export function checkManifest(manifest: unknown): PolicyErrorItem[] {
  const c = new Checker();
  if (!isPlainObject(manifest)) return [];
  if ("counters" in manifest) c.counters(manifest.counters);
  // A rule condition's `$NAME` needs a declared counter, with or without a `counters` section.
  c.rules(manifest.rules, "/rules");
  if ("tests" in manifest) c.tests(manifest.tests);
  return c.errors;
}
