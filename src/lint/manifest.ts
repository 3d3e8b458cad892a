// What every lint family reads of a manifest (spec sections 2, 3 and 7): the rules in decision
// order with their groups' `when`s, the tests of a condition as written, field paths, and the
// actions of the policy's own tests. The manifest is one that loaded (the core validated it), so
// these walkers trust its shape.

/** A JSON pointer token (RFC 6901). */
export function token(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

export type Effect = "allow" | "deny" | "escalate";

export interface When {
  cond: Record<string, unknown>;
  pointer: string;
  /** The enclosing group's name, or null for the rule's own `when`. */
  group: string | null;
}

/** A rule in document order (depth-first through groups), as the core numbers them. */
export interface RuleSite {
  id: string;
  effect: Effect;
  index: number;
  /** Pointer to the rule's mapping. */
  pointer: string;
  approver: string | null;
  /** Enclosing groups' `when`s (outermost first), then the rule's own. */
  whens: When[];
}

/** A JSON object (not null, not an array). */
export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

export function ruleSites(manifest: unknown): RuleSite[] {
  const out: RuleSite[] = [];
  const walk = (items: unknown, pointer: string, outer: When[]): void => {
    if (!Array.isArray(items)) return;
    items.forEach((item, i) => {
      if (!isObject(item)) return;
      const p = `${pointer}/${i}`;
      const when: When[] = isObject(item.when) ? [{ cond: item.when, pointer: `${p}/when`, group: typeof item.group === "string" ? item.group : null }] : [];
      if ("group" in item) {
        walk(item.rules, `${p}/rules`, [...outer, ...when]);
        return;
      }
      out.push({
        id: String(item.id), effect: item.effect as Effect, index: out.length, pointer: p,
        approver: typeof item.approver === "string" ? item.approver : null, whens: [...outer, ...when],
      });
    });
  };
  walk(isObject(manifest) ? manifest.rules : undefined, "/rules", []);
  return out;
}

/** A field path's segments (spec section 1), or null when it is not one this parser reads. */
export function parsePath(text: string): { segments: string[]; counter: boolean } | null {
  const segments: string[] = [];
  let counter = false;
  let i = 0;
  while (i <= text.length) {
    if (text[i] === "[") {
      if (text[i + 1] !== '"') return null;
      let j = i + 2;
      let seg = "";
      for (;;) {
        if (j >= text.length) return null;
        const c = text[j]!;
        if (c === "\\") {
          const n = text[j + 1];
          if (n !== '"' && n !== "\\") return null;
          seg += n;
          j += 2;
        } else if (c === '"') break;
        else {
          seg += c;
          j++;
        }
      }
      if (text[j + 1] !== "]") return null;
      segments.push(seg);
      i = j + 2;
    } else {
      let j = i;
      while (j < text.length && text[j] !== "." && text[j] !== "[") j++;
      const seg = text.slice(i, j);
      if (seg === "") return null;
      if (segments.length === 0 && seg.startsWith("$")) counter = true;
      segments.push(seg);
      i = j;
    }
    if (i >= text.length) break;
    if (text[i] === ".") {
      i++;
      if (i >= text.length) return null;
    } else if (text[i] !== "[") return null;
  }
  return segments.length === 0 ? null : { segments, counter };
}

/** One key of a condition mapping that is a field path or a counter reference. */
export interface FieldSite {
  key: string;
  /** The test as written (scalar: eq, list: in, mapping: operators). */
  test: unknown;
  pointer: string;
  /** Under an `any` or a `not`. */
  nested: boolean;
}

/** Every field (and counter) key of a condition, at any depth of all/any/not. */
export function fieldSites(cond: unknown, pointer: string, nested = false, out: FieldSite[] = []): FieldSite[] {
  if (!isObject(cond)) return out;
  for (const [key, v] of Object.entries(cond)) {
    const p = `${pointer}/${token(key)}`;
    if (key === "all" || key === "any") {
      if (Array.isArray(v)) v.forEach((c, i) => fieldSites(c, `${p}/${i}`, nested || key === "any", out));
    } else if (key === "not") fieldSites(v, p, true, out);
    else out.push({ key, test: v, pointer: p, nested });
  }
  return out;
}

/** One operator of a test, as the core reads it: a scalar is `eq`, a list `in`. */
export interface Operator {
  op: string;
  operand: unknown;
  pointer: string;
}

/** The operators of a test (the top level only). */
export function operators(test: unknown, pointer: string): Operator[] {
  if (Array.isArray(test)) return [{ op: "in", operand: test, pointer }];
  if (!isObject(test)) return [{ op: "eq", operand: test, pointer }];
  return Object.entries(test).map(([op, operand]) => ({ op, operand, pointer: `${pointer}/${token(op)}` }));
}

/** Every operator of a test, with those nested in `len`, `some` and `every`. */
export function allOperators(test: unknown, pointer: string, out: Operator[] = []): Operator[] {
  for (const o of operators(test, pointer)) {
    out.push(o);
    if (o.op === "len" || o.op === "some" || o.op === "every") allOperators(o.operand, o.pointer, out);
  }
  return out;
}

/** The counters' `when`s (spec section 8). */
export function counterWhens(manifest: unknown): When[] {
  const counters = isObject(manifest) && isObject(manifest.counters) ? manifest.counters : {};
  return Object.entries(counters).flatMap(([name, c]) =>
    isObject(c) && isObject(c.when) ? [{ cond: c.when, pointer: `/counters/${token(name)}/when`, group: null }] : []);
}

/** The action of every test and every step of a sequence test (spec section 7). */
export function testActions(manifest: unknown): unknown[] {
  const tests = isObject(manifest) && Array.isArray(manifest.tests) ? manifest.tests : [];
  const out: unknown[] = [];
  for (const t of tests) {
    if (!isObject(t)) continue;
    if ("action" in t) out.push(t.action);
    if (Array.isArray(t.steps)) for (const s of t.steps) if (isObject(s) && "action" in s) out.push(s.action);
  }
  return out;
}

export const ABSENT: unique symbol = Symbol("absent");

/** The value at `path` (object keys only), or ABSENT. */
export function valueAt(action: unknown, path: readonly string[]): unknown {
  let node = action;
  for (const key of path) {
    if (!isObject(node) || !Object.prototype.hasOwnProperty.call(node, key)) return ABSENT;
    node = node[key];
  }
  return node;
}
