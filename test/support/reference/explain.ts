// The explain trace (docs/semantics.md, "Explain"; docs/abi.md, "Explain") computed from the spec
// literally: every rule, every node evaluated in full with the reference's own tests and Kleene
// logic, children in canonical JSON order (keys sorted by UTF-16 code units). Test oracle only;
// written without reading the product's explain, as the rest of the reference.

import { type CounterValue, type Tri, FieldTable, UNKNOWN_VALUE, compileTest, kleeneAll, kleeneAny, kleeneNot } from "./condition.js";
import { type Decision, type Effect } from "./decide.js";
import { readFields } from "./input.js";
import { ABSENT, counterReferenceName, isPlainObject, lookup, parsePath } from "./path.js";

export interface RefTest { op: string; operand: unknown; result: Tri; pointer: string }
export type RefNode =
  | { kind: "field"; path: string; value?: unknown; result: Tri; tests: RefTest[]; pointer: string }
  | { kind: "counter"; counter: string; value: number | null; result: Tri; tests: RefTest[]; pointer: string }
  | { kind: "all" | "any" | "not"; result: Tri; children: RefNode[]; pointer: string };
export interface RefWhen { group: string | null; result: Tri; conditions: RefNode[]; pointer: string }
export interface RefRule {
  id: string; index: number; effect: Effect; result: Tri; decided: boolean; failed: number; when: RefWhen[]; pointer: string;
}
export interface RefClosest { id: string; index: number; result: Tri; failed: number; tests: (RefTest & { path: string; value?: unknown })[] }

const token = (t: string | number): string => String(t).replaceAll("~", "~0").replaceAll("/", "~1");
const sortedKeys = (o: Record<string, unknown>): string[] => Object.keys(o).sort();

/** Spec section 2, audit.redact: every present value at a redact path becomes "[redacted]". */
function redactAction(action: unknown, paths: string[][]): unknown {
  const copy = structuredClone(action) as unknown;
  for (const path of paths) {
    if (path.length === 0) continue;
    const parent = lookup(copy, path.slice(0, -1));
    const last = path[path.length - 1]!;
    if (isPlainObject(parent) && Object.prototype.hasOwnProperty.call(parent, last) && parent[last] !== undefined) {
      Object.defineProperty(parent, last, { value: "[redacted]", enumerable: true, writable: true, configurable: true });
    }
  }
  return copy;
}

/**
 * The value a test on `path` saw, as an explanation shows it: absent (ABSENT), "[redacted]" at or
 * under a redacted path, else the value in the redacted action.
 */
function shown(action: unknown, redacted: unknown, path: string[], redact: string[][]): unknown {
  if (lookup(action, path) === ABSENT) return ABSENT;
  if (redact.some((r) => r.length > 0 && r.length <= path.length && r.every((k, i) => path[i] === k))) return "[redacted]";
  return lookup(redacted, path);
}

interface Context {
  values: unknown[];
  table: FieldTable;
  action: unknown;
  redacted: unknown;
  redact: string[][];
  counters: ReadonlyMap<string, CounterValue> | undefined;
}

function tests(test: unknown, pointer: string, read: (t: (v: unknown) => Tri) => Tri): RefTest[] {
  if (Array.isArray(test)) return [{ op: "in", operand: test, result: read(compileTest({ in: test })), pointer }];
  if (!isPlainObject(test)) return [{ op: "eq", operand: test, result: read(compileTest({ eq: test })), pointer }];
  return sortedKeys(test).map((op) => ({ op, operand: test[op], result: read(compileTest({ [op]: test[op] })), pointer: `${pointer}/${token(op)}` }));
}

/** The nodes of a condition mapping's keys. */
function keys(cond: Record<string, unknown>, pointer: string, ctx: Context): RefNode[] {
  return sortedKeys(cond).map((key): RefNode => {
    const p = `${pointer}/${token(key)}`;
    const v = cond[key];
    if (key === "all" || key === "any") {
      const children = (v as Record<string, unknown>[]).map((c, i) => mapping(c, `${p}/${i}`, ctx));
      const results = children.map((c) => c.result);
      return { kind: key, result: key === "all" ? kleeneAll(results) : kleeneAny(results), children, pointer: p };
    }
    if (key === "not") {
      const child = mapping(v as Record<string, unknown>, p, ctx);
      return { kind: "not", result: kleeneNot(child.result), children: [child], pointer: p };
    }
    const name = ctx.counters === undefined ? null : counterReferenceName(key);
    if (name !== null) {
      const value = ctx.counters!.get(name)!;
      const ts = tests(v, p, (t) => (value === UNKNOWN_VALUE ? "UNKNOWN" : t(value)));
      return { kind: "counter", counter: name, value: value === UNKNOWN_VALUE ? null : value, result: kleeneAll(ts.map((t) => t.result)), tests: ts, pointer: p };
    }
    const slot = ctx.table.slot(key);
    const ts = tests(v, p, (t) => t(ctx.values[slot]));
    const seen = shown(ctx.action, ctx.redacted, parsePath(key), ctx.redact);
    return { kind: "field", path: key, ...(seen === ABSENT ? {} : { value: seen }), result: kleeneAll(ts.map((t) => t.result)), tests: ts, pointer: p };
  });
}

/** A condition inside a list or `not`: one key is that key's node, several an `all`. */
function mapping(cond: Record<string, unknown>, pointer: string, ctx: Context): RefNode {
  const nodes = keys(cond, pointer, ctx);
  if (nodes.length === 1) return nodes[0]!;
  return { kind: "all", result: kleeneAll(nodes.map((n) => n.result)), children: nodes, pointer };
}

function failedIn(nodes: RefNode[]): number {
  let n = 0;
  for (const node of nodes) {
    if (node.kind === "field" || node.kind === "counter") n += node.tests.filter((t) => t.result !== "TRUE").length;
    else n += failedIn(node.children);
  }
  return n;
}

/**
 * Every rule of the manifest explained for `action` (document order, through groups), or null
 * when the action cannot be evaluated. `counters`: each declared counter's value for the action
 * (a policy with counters); `decision` marks the deciding rule.
 */
export function explainRules(manifest: any, action: unknown, decision: Decision, counters?: ReadonlyMap<string, CounterValue>): RefRule[] | null {
  // The slots of every path the rules read, in any order: only their values matter here.
  const table = new FieldTable();
  const paths: string[] = [];
  const collect = (c: unknown): void => {
    if (!isPlainObject(c)) return;
    for (const [k, v] of Object.entries(c)) {
      if (k === "all" || k === "any") (v as unknown[]).forEach(collect);
      else if (k === "not") collect(v);
      else if (counters === undefined || counterReferenceName(k) === null) paths.push(k);
    }
  };
  const walkPaths = (items: any[]): void => items.forEach((it) => { collect(it.when); if ("group" in it) walkPaths(it.rules); });
  walkPaths(manifest.rules);
  paths.forEach((p) => table.slot(p));
  const read = readFields(action, table.fields);
  if ("error" in read) return null;
  const redact: string[][] = (manifest.audit?.redact ?? []).map((p: string) => parsePath(p));
  const ctx: Context = { values: read.values, table, action, redacted: redactAction(action, redact), redact, counters };

  const out: RefRule[] = [];
  const walk = (items: any[], pointer: string, enclosing: RefWhen[]): void => {
    items.forEach((item, i) => {
      const p = `${pointer}/${i}`;
      const own: RefWhen[] = [];
      if (item.when !== undefined) {
        const conditions = keys(item.when, `${p}/when`, ctx);
        own.push({ group: "group" in item ? item.group : null, result: kleeneAll(conditions.map((c) => c.result)), conditions, pointer: `${p}/when` });
      }
      if ("group" in item) {
        walk(item.rules, `${p}/rules`, [...enclosing, ...own]);
        return;
      }
      const when = [...enclosing, ...own];
      const index = out.length;
      out.push({
        id: item.id, index, effect: item.effect, result: kleeneAll(when.map((w) => w.result)),
        decided: decision.rule === item.id, failed: when.reduce((n, w) => n + failedIn(w.conditions), 0), when, pointer: p,
      });
    });
  };
  walk(manifest.rules, "/rules", []);
  return out;
}

/** For a deny that is not an input error: the allow rules of `rules` with the fewest failed tests
 *  (then document order), at most 3, each with its failed tests. */
export function closestRules(rules: RefRule[], decision: Decision): RefClosest[] {
  if (decision.decision !== "deny" || decision.error !== undefined) return [];
  return rules.filter((r) => r.effect === "allow")
    .sort((a, b) => a.failed - b.failed || a.index - b.index)
    .slice(0, 3)
    .map((r) => {
      const failed: RefClosest["tests"] = [];
      const visit = (n: RefNode): void => {
        if (n.kind === "field" || n.kind === "counter") {
          const path = n.kind === "field" ? n.path : `$${n.counter}`;
          for (const t of n.tests) {
            if (t.result === "TRUE") continue;
            failed.push({ path, op: t.op, operand: t.operand, ...(n.kind === "counter" || "value" in n ? { value: n.value } : {}), result: t.result, pointer: t.pointer });
          }
        } else n.children.forEach(visit);
      };
      r.when.forEach((w) => w.conditions.forEach(visit));
      return { id: r.id, index: r.index, result: r.result, failed: failed.length, tests: failed };
    });
}
