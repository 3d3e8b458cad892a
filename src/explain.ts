// Explanations (docs/abi.md, "Explain"): turns the core's trace of one action into a tree a
// person or a program reads. The core computed every result; this file only names things: it
// resolves each node's JSON pointer in the manifest (operands, group names, field paths as
// written) and reads the value each field test saw from the action, redacted as audit records are.

import {
  EFFECT_BY_CODE, EXPLAIN_ALL, EXPLAIN_ANY, EXPLAIN_COUNTER, EXPLAIN_FIELD, EXPLAIN_NOT, EXPLAIN_RULE, EXPLAIN_TEST,
  EXPLAIN_WHEN, TRACE_ENTRY_SIZE,
} from "./abi.generated.js";
import { REDACTED } from "./redact.js";
import type { Decision, Effect, RuleInfo } from "./decision.js";

export type Tri = "TRUE" | "FALSE" | "UNKNOWN";
const TRI: readonly Tri[] = ["FALSE", "UNKNOWN", "TRUE"];

/** Operator names by opcode (assembly/compile/operators.ts, TestOp; 0 is a mapping, never traced). */
const OPERATORS = [
  "", "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "suffix", "contains", "glob", "matches", "exists",
  "len", "some", "every",
] as const;

/** One operator of a field's or counter's test. */
export interface TestExplanation {
  readonly op: string;
  readonly operand: unknown;
  readonly result: Tri;
  readonly pointer: string;
}

/** A field test: the value seen (absent: no `value`), each operator of its test. */
export interface FieldExplanation {
  readonly kind: "field";
  readonly path: string;
  readonly value?: unknown;
  readonly result: Tri;
  readonly tests: readonly TestExplanation[];
  readonly pointer: string;
}

/** A test on a counter's value (null: UNKNOWN, so every test on it is UNKNOWN). */
export interface CounterTestExplanation {
  readonly kind: "counter";
  readonly counter: string;
  readonly value: number | null;
  readonly result: Tri;
  readonly tests: readonly TestExplanation[];
  readonly pointer: string;
}

/** `all`, `any`, `not`, or a mapping of several keys inside a list or `not` (an `all`). */
export interface CombinatorExplanation {
  readonly kind: "all" | "any" | "not";
  readonly result: Tri;
  readonly children: readonly NodeExplanation[];
  readonly pointer: string;
}

export type NodeExplanation = FieldExplanation | CounterTestExplanation | CombinatorExplanation;

/** One `when` of a rule: an enclosing group's (`group` names it) or the rule's own (null). */
export interface WhenExplanation {
  readonly group: string | null;
  readonly result: Tri;
  /** The keys of the `when` mapping, whose conjunction it is. */
  readonly conditions: readonly NodeExplanation[];
  readonly pointer: string;
}

export interface RuleExplanation {
  readonly id: string;
  readonly index: number;
  readonly effect: Effect;
  /** The conjunction of its `when`s (TRUE for a rule without any). */
  readonly result: Tri;
  /** Whether this rule is the decision's. */
  readonly decided: boolean;
  /** Operator tests whose result is not TRUE. */
  readonly failed: number;
  readonly when: readonly WhenExplanation[];
  readonly pointer: string;
}

/** A failed (not TRUE) test of a closest allow rule, with the field or counter it read. */
export interface FailedTest extends TestExplanation {
  readonly path: string;
  readonly value?: unknown;
}

export interface ClosestRule {
  readonly id: string;
  readonly index: number;
  readonly result: Tri;
  readonly failed: number;
  readonly tests: readonly FailedTest[];
}

/** A counter of a stateful policy for this action: value and contribution (null: UNKNOWN). */
export interface CounterExplanation {
  readonly name: string;
  readonly value: number | null;
  readonly contribution: number | null;
}

export interface Explanation {
  readonly decision: Decision;
  /** Every rule evaluated for this action (the tool index's candidates), in document order. */
  readonly rules: readonly RuleExplanation[];
  /** For a deny: the allow rules evaluated that came closest (fewest failed tests, then document
   *  order), at most CLOSEST; empty otherwise. */
  readonly closest: readonly ClosestRule[];
  /** Counters of a stateful policy, in the core's order (by name); absent for a stateless one. */
  readonly counters?: readonly CounterExplanation[];
}

export const CLOSEST = 3;

/** What the explainer needs of a policy. */
export interface ExplainContext {
  readonly manifest: unknown;
  readonly rules: readonly RuleInfo[];
  readonly fields: readonly (readonly string[])[];
  readonly redact: readonly (readonly string[])[];
  readonly counterNames: readonly string[];
  /** The table of pointers (explain_table_ptr), parsed. */
  readonly pointers: readonly string[];
}

/** RFC 6901: the tokens of a pointer. */
export function pointerTokens(pointer: string): string[] {
  return pointer === "" ? [] : pointer.slice(1).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function resolve(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const t of pointerTokens(pointer)) node = (node as Record<string, unknown>)[t];
  return node;
}

const ABSENT = Symbol("absent");

/** The value at `path` (object keys only), or ABSENT. */
function valueAt(action: unknown, path: readonly string[]): unknown {
  let node = action;
  for (const key of path) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return ABSENT;
    if (!Object.prototype.hasOwnProperty.call(node, key)) return ABSENT;
    node = (node as Record<string, unknown>)[key];
    if (node === undefined) return ABSENT;
  }
  return node;
}

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((k, i) => path[i] === k);
}

/** The value a test on `path` saw, with `audit.redact` applied: "[redacted]" at or under a
 *  redacted path, and redacted paths replaced inside an object or array value. */
export function seenValue(action: unknown, path: readonly string[], redact: readonly (readonly string[])[]): unknown {
  const v = valueAt(action, path);
  if (v === ABSENT) return ABSENT;
  if (redact.some((r) => r.length > 0 && startsWith(path, r))) return REDACTED;
  let out = v;
  for (const r of redact) if (r.length > path.length && startsWith(r, path)) out = redactIn(out, r.slice(path.length));
  return out;
}

function redactIn(node: unknown, path: readonly string[]): unknown {
  if (node === null || typeof node !== "object" || Array.isArray(node) || !Object.prototype.hasOwnProperty.call(node, path[0]!)) return node;
  const value = (node as Record<string, unknown>)[path[0]!];
  if (value === undefined) return node;
  const replaced = path.length === 1 ? REDACTED : redactIn(value, path.slice(1));
  const copy: Record<string, unknown> = { ...(node as Record<string, unknown>) };
  Object.defineProperty(copy, path[0]!, { value: replaced, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** One trace entry (docs/abi.md, "Explain"). */
interface Entry {
  kind: number;
  result: Tri;
  op: number;
  a: number;
  id: number;
  size: number;
  failed: number;
}

function readEntries(bytes: DataView, count: number): Entry[] {
  const out: Entry[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const o = i * TRACE_ENTRY_SIZE;
    out[i] = {
      kind: bytes.getUint8(o),
      result: TRI[bytes.getUint8(o + 1)]!,
      op: bytes.getUint8(o + 2),
      a: bytes.getInt32(o + 4, true),
      id: bytes.getInt32(o + 8, true),
      size: bytes.getInt32(o + 12, true),
      failed: bytes.getInt32(o + 16, true),
    };
  }
  return out;
}

/** Builds the explanation from `count` trace entries in `bytes`. */
export function buildExplanation(
  ctx: ExplainContext,
  bytes: DataView,
  count: number,
  action: unknown,
  decision: Decision,
  decidedRule: number,
  counterValues: readonly (number | null)[],
  counters?: readonly CounterExplanation[],
): Explanation {
  const entries = readEntries(bytes, count);
  const pointer = (e: Entry): string => ctx.pointers[e.id]!;
  const lastToken = (e: Entry): string => pointerTokens(pointer(e)).at(-1)!;

  const tests = (from: number, end: number, node: Entry): TestExplanation[] => {
    const out: TestExplanation[] = [];
    for (let i = from; i < end; i++) {
      const e = entries[i]!;
      if (e.kind !== EXPLAIN_TEST) throw new Error(`explain: a test entry expected at ${i}`);
      const p = pointer(e);
      out.push({ op: OPERATORS[e.op] ?? String(e.op), operand: resolve(ctx.manifest, p), result: e.result, pointer: p });
    }
    if (out.length === 0) throw new Error(`explain: a ${node.kind} entry without tests`);
    return out;
  };

  const node = (i: number): NodeExplanation => {
    const e = entries[i]!;
    const end = i + e.size;
    if (e.kind === EXPLAIN_FIELD) {
      const v = seenValue(action, ctx.fields[e.a]!, ctx.redact);
      const base = { kind: "field" as const, path: lastToken(e) };
      return { ...base, ...(v === ABSENT ? {} : { value: v }), result: e.result, tests: tests(i + 1, end, e), pointer: pointer(e) };
    }
    if (e.kind === EXPLAIN_COUNTER) {
      return {
        kind: "counter", counter: ctx.counterNames[e.a]!, value: counterValues[e.a] ?? null, result: e.result,
        tests: tests(i + 1, end, e), pointer: pointer(e),
      };
    }
    const kind = e.kind === EXPLAIN_ALL ? "all" : e.kind === EXPLAIN_ANY ? "any" : e.kind === EXPLAIN_NOT ? "not" : null;
    if (kind === null) throw new Error(`explain: unexpected entry kind ${e.kind}`);
    return { kind, result: e.result, children: children(i + 1, end), pointer: pointer(e) };
  };

  const children = (from: number, end: number): NodeExplanation[] => {
    const out: NodeExplanation[] = [];
    for (let i = from; i < end; i += entries[i]!.size) out.push(node(i));
    return out;
  };

  const rules: RuleExplanation[] = [];
  for (let i = 0; i < count; i += entries[i]!.size) {
    const r = entries[i]!;
    if (r.kind !== EXPLAIN_RULE) throw new Error(`explain: a rule entry expected at ${i}`);
    const when: WhenExplanation[] = [];
    for (let k = i + 1; k < i + r.size; k += entries[k]!.size) {
      const w = entries[k]!;
      if (w.kind !== EXPLAIN_WHEN) throw new Error(`explain: a when entry expected at ${k}`);
      const p = pointer(w);
      const owner = resolve(ctx.manifest, p.slice(0, -"/when".length)) as Record<string, unknown>;
      const group = typeof owner.group === "string" ? owner.group : null;
      when.push({ group, result: w.result, conditions: children(k + 1, k + w.size), pointer: p });
    }
    const info = ctx.rules[r.a]!;
    rules.push({
      id: info.id, index: r.a, effect: EFFECT_BY_CODE[r.op] as Effect, result: r.result, decided: r.a === decidedRule,
      failed: r.failed, when, pointer: pointer(r),
    });
  }

  const closest = decision.decision === "deny" && decision.error === undefined
    ? rules.filter((r) => r.effect === "allow")
      .sort((a, b) => a.failed - b.failed || a.index - b.index)
      .slice(0, CLOSEST)
      .map((r) => ({ id: r.id, index: r.index, result: r.result, failed: r.failed, tests: failedTests(r) }))
    : [];
  return { decision, rules, closest, ...(counters === undefined ? {} : { counters }) };
}

/** Every operator test of a rule whose result is not TRUE, with what it read. */
export function failedTests(r: RuleExplanation): FailedTest[] {
  const out: FailedTest[] = [];
  const visit = (n: NodeExplanation): void => {
    if (n.kind === "field" || n.kind === "counter") {
      for (const t of n.tests) {
        if (t.result === "TRUE") continue;
        const path = n.kind === "field" ? n.path : `$${n.counter}`;
        const seen = n.kind === "counter" ? { value: n.value } : "value" in n ? { value: n.value } : {};
        out.push({ path, op: t.op, operand: t.operand, ...seen, result: t.result, pointer: t.pointer });
      }
    } else n.children.forEach(visit);
  };
  for (const w of r.when) w.conditions.forEach(visit);
  return out;
}
