// The canonical layout of a policy file (`tollgate fmt`): each kind of mapping's keys in the order
// of KEY_ORDER, two-space indentation, block sequences indented under their key; comments, blank
// lines, scalar styles (quotes, block scalars), flow collections (`{ tool: a }`) and the order of
// everything else (conditions, operators, actions, approver and counter names, rules, tests) as
// written. The YAML is edited as a document (the `yaml` package's Document API), not re-serialized
// from a JSON value, which is what keeps the comments.
//
// This module knows only YAML: the command (src/cli/fmt.ts) formats only a policy that loads, and
// checks that the result loads to the same policy hash before writing it.

import { createRequire } from "node:module";
import type { Document, Node as YamlNode, Pair, YAMLMap } from "yaml";
import { parseYamlDocument } from "../yaml-document.js";

/**
 * Key order by kind of mapping, from the spec's sections: identity first (what it is, what it is
 * for), then what it decides, then the conditions and nested lists, which are the long part.
 * Section 2 for the manifest (its example's order), approvers, audit, rules and groups; section 7
 * for tests and sequence steps; section 8 for counters. Every key the core knows is here
 * (test/fmt/fmt.test.ts compares these with the schema generated from the core's tables).
 */
export const KEY_ORDER = {
  policy: ["tollgate", "name", "description", "default", "approvers", "audit", "counters", "rules", "tests"],
  approver: ["timeout", "on_timeout"],
  audit: ["redact"],
  counter: ["per", "window", "when", "sum"],
  rule: ["id", "description", "effect", "approver", "timeout", "reason", "when"],
  group: ["group", "description", "when", "rules"],
  test: ["name", "action", "expect", "rule"],
  sequenceTest: ["name", "steps"],
  step: ["at", "action", "expect", "rule", "resolve"],
} as const satisfies Record<string, readonly string[]>;

export type MappingKind = keyof typeof KEY_ORDER;

let yamlPackage: typeof import("yaml") | undefined;
function Y(): typeof import("yaml") {
  return (yamlPackage ??= createRequire(import.meta.url)("yaml") as typeof import("yaml"));
}

const PARSE = { version: "1.2", schema: "core", uniqueKeys: true, keepSourceTokens: false } as const;
const RENDER = { indent: 2, indentSeq: true, lineWidth: 0, minContentWidth: 0 } as const;

/** The text in canonical layout. `text` must be a policy that loads (its YAML parses). */
export function formatPolicyText(text: string): string {
  // The yaml package places a comment after the last entry of a nested collection by its
  // indentation when it reads it, which the text it writes can change once more: formatted
  // again until the text is stable (one more pass at most, in practice), so fmt is idempotent.
  let out = formatOnce(text);
  for (let pass = 0; pass < 4; pass++) {
    const again = formatOnce(out);
    if (again === out) break;
    out = again;
  }
  return out;
}

function formatOnce(text: string): string {
  text = text.replace(/\r(?!\n)/g, "\n");
  const doc = parse(text);
  arrange(doc, (m, sorted) => reorder(m, sorted));
  itemComments(doc);
  try {
    return escapeWrittenRaw(doc.toString(RENDER));
  } catch (err) {
    if (!isUnresolvedAlias(err)) throw err;
  }
  // An alias would come before its anchor: reorder mapping by mapping, keeping the order of each
  // mapping whose reordering would do that (rare: only documents with anchors get here).
  const careful = parse(text);
  arrange(careful, (m, sorted) => {
    const undo = reorder(m, sorted);
    try {
      careful.toString(RENDER);
    } catch (err) {
      if (!isUnresolvedAlias(err)) throw err;
      undo();
    }
  });
  itemComments(careful);
  return escapeWrittenRaw(careful.toString(RENDER));
}


/**
 * A comment (or blank line) before the first key of a block mapping that is a list item is written
 * before its `- `: the yaml package would write `-` alone on a line, then the comment and the key,
 * which it reads back with the comment before the item. Written so at once, fmt is idempotent;
 * so it is without a blank line before a nested collection's first entry (written with spaces).
 */
function itemComments(doc: Document): void {
  Y().visit(doc, {
    Map(_key, map) {
      // No blank line between a nested mapping's key and its first entry (nor its first item's `-`).
      const first = map.items[0] ? keyNode(map.items[0]) : null;
      if (first) first.spaceBefore = false;
    },
    Seq(_key, seq) {
      for (const item of seq.items) {
        if (!Y().isMap(item) || item.flow || item.items.length === 0) continue;
        const first = keyNode(item.items[0]!);
        if (!first) continue;
        if (first.commentBefore) {
          item.commentBefore = item.commentBefore ? `${item.commentBefore}\n${first.commentBefore}` : first.commentBefore;
          first.commentBefore = undefined;
        }
        if (first.spaceBefore) {
          item.spaceBefore = true;
          first.spaceBefore = false;
        }
      }
      const head = seq.items[0];
      if (Y().isNode(head)) head.spaceBefore = false;
    },
  });
}

function parse(text: string): Document {
  const doc = parseYamlDocument(text, PARSE); // as src/yaml.ts reads it (comment lines included)
  if (doc.errors.length > 0) throw new Error(`cannot format a policy whose YAML does not parse: ${doc.errors[0]!.message}`);
  return doc;
}

function isUnresolvedAlias(err: unknown): boolean {
  return err instanceof Error && /^Unresolved alias/.test(err.message);
}

type Apply = (m: YAMLMap, sorted: Pair[]) => void;

function arrange(doc: Document, apply: Apply): void {
  const top = doc.contents;
  if (!Y().isMap(top)) return;
  order(top, "policy", apply);
  mapValues(value(top, "approvers"), "approver", apply);
  const audit = value(top, "audit");
  if (Y().isMap(audit)) order(audit, "audit", apply);
  mapValues(value(top, "counters"), "counter", apply);
  ruleList(value(top, "rules"), apply);
  const tests = value(top, "tests");
  if (Y().isSeq(tests)) {
    for (const t of tests.items) {
      if (!Y().isMap(t)) continue;
      const steps = value(t, "steps");
      if (t.has("steps")) {
        order(t, "sequenceTest", apply);
        if (Y().isSeq(steps)) for (const s of steps.items) if (Y().isMap(s)) order(s, "step", apply);
      } else order(t, "test", apply);
    }
  }
}

function ruleList(list: unknown, apply: Apply): void {
  if (!Y().isSeq(list)) return;
  for (const item of list.items) {
    if (!Y().isMap(item)) continue;
    if (item.has("group")) {
      order(item, "group", apply);
      ruleList(value(item, "rules"), apply);
    } else order(item, "rule", apply);
  }
}

function mapValues(m: unknown, kind: MappingKind, apply: Apply): void {
  if (!Y().isMap(m)) return;
  for (const pair of m.items) if (Y().isMap(pair.value)) order(pair.value, kind, apply);
}

/** The value node at `key` (aliases not followed: an anchored node is arranged where it is written). */
function value(m: YAMLMap, key: string): unknown {
  return m.items.find((p) => keyText(p) === key)?.value;
}

function keyText(p: Pair): string | null {
  return Y().isScalar(p.key) ? String(p.key.value) : null;
}

/** Sorts a mapping's pairs by KEY_ORDER[kind] (stable: an unknown key keeps its place after them). */
function order(m: YAMLMap, kind: MappingKind, apply: Apply): void {
  const rank = (p: Pair): number => {
    const i = (KEY_ORDER[kind] as readonly string[]).indexOf(keyText(p) ?? "");
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  const sorted = m.items.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i).map((x) => x.p);
  if (sorted.some((p, i) => p !== m.items[i])) apply(m, sorted);
}

/** Gives the mapping its pairs in `sorted` order; returns what undoes it. */
function reorder(m: YAMLMap, sorted: Pair[]): () => void {
  const before = m.items;
  const head = keyNode(before[0]!);
  const next = keyNode(sorted[0]!);
  const saved = [head?.commentBefore, head?.spaceBefore, next?.commentBefore, next?.spaceBefore] as const;
  // A comment (or a blank line) before the mapping's first key belongs to the mapping's first
  // line: it stays there, now before the key that comes first.
  if (head && next && head !== next) {
    if (head.commentBefore) {
      next.commentBefore = next.commentBefore ? `${head.commentBefore}\n${next.commentBefore}` : head.commentBefore;
      head.commentBefore = undefined;
    }
    if (head.spaceBefore) {
      next.spaceBefore = true;
      head.spaceBefore = false;
    }
  }
  m.items = sorted;
  return () => {
    m.items = before;
    if (head && next) [head.commentBefore, head.spaceBefore, next.commentBefore, next.spaceBefore] = saved;
  };
}

/**
 * The yaml package writes DEL, the C1 controls, U+2028/U+2029 and U+FFFE/U+FFFF as they are, even in a
 * double-quoted scalar, and a YAML text may not hold them (src/yaml.ts refuses them). A loaded
 * policy holds them only as escapes of a double-quoted scalar, whose style is kept: so each is
 * inside one, and is written back as an escape. (The command checks that the result loads to
 * the same policy.)
 */
function escapeWrittenRaw(text: string): string {
  return text.replace(/[\x7F-\x9F\u2028\u2029\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function keyNode(p: Pair): YamlNode | null {
  return Y().isNode(p.key) ? (p.key as YamlNode) : null;
}
