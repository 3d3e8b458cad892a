// `tollgate fmt` never changes meaning: generated manifests (test/property/: stateless, with
// counters and sequence tests) are written as YAML in a random layout — keys shuffled in every
// mapping, indentation of 2 to 4, sequences indented or not, random collections in flow style,
// comments before and after random nodes, blank lines — and then formatted. The formatted text
// must load to the same policy hash, be formatted already (fmt is idempotent), keep every
// comment, and have every known mapping's keys in KEY_ORDER.
//
// TOLLGATE_FMT_RUNS sets the number of manifests (default 300 per generator).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import YAML, { type Node as YamlNode } from "yaml";
import { Policy } from "../../src/index.js";
import { formatPolicyText, KEY_ORDER } from "../../src/fmt/layout.js";
import { manifestArb, type Manifest } from "../property/arbitraries.js";
import { statefulManifestArb } from "../property/stateful-arbitraries.js";

const RUNS = Number(process.env.TOLLGATE_FMT_RUNS ?? 300);

interface Layout {
  indent: number;
  indentSeq: boolean;
  seed: number[];
}

const layoutArb: fc.Arbitrary<Layout> = fc.record({
  indent: fc.integer({ min: 2, max: 4 }),
  indentSeq: fc.boolean(),
  seed: fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
});

/** The manifest as YAML in a random layout, and the comments written into it. */
function render(manifest: Manifest, layout: Layout): { text: string; comments: string[] } {
  let k = 0;
  const next = (): number => layout.seed[k++ % layout.seed.length]! + k;
  const comments: string[] = [];
  // As JSON, as a manifest is loaded (the action generators may put an Infinity where null is meant).
  // DEL, C1 controls, U+FFFE and U+FFFF become '?': the yaml package would write them raw, in a
  // plain or single-quoted scalar too, where no escape exists (src/yaml.ts refuses such a text;
  // C0 controls it escapes, in double quotes). JSON.stringify writes these raw, never escaped.
  const json = JSON.stringify(manifest).replace(/[\x7F-\x9F\uFFFE\uFFFF]/g, "?");
  const doc = new YAML.Document(JSON.parse(json), { version: "1.2", schema: "core" });
  const visit = (node: unknown, depth: number): void => {
    if (YAML.isMap(node) || YAML.isSeq(node)) {
      if (YAML.isMap(node)) {
        // shuffle (Fisher-Yates on the seed)
        const items = node.items;
        for (let i = items.length - 1; i > 0; i--) {
          const j = next() % (i + 1);
          [items[i], items[j]] = [items[j]!, items[i]!];
        }
      }
      if (depth > 1 && next() % 5 === 0) node.flow = true;
      for (const item of node.items) {
        const child = YAML.isPair(item) ? item.value : item;
        if (YAML.isPair(item) && YAML.isScalar(item.key) && !node.flow && next() % 6 === 0) {
          const c = ` note ${comments.length}`;
          comments.push(c.trim());
          (item.key as YamlNode).commentBefore = c;
          if (next() % 2 === 0) (item.key as YamlNode).spaceBefore = true;
        }
        if (YAML.isScalar(child) && !node.flow && next() % 7 === 0) {
          const c = ` after ${comments.length}`;
          comments.push(c.trim());
          child.comment = c;
        }
        visit(child, depth + 1);
      }
    }
  };
  visit(doc.contents, 0);
  if (next() % 2 === 0) {
    doc.commentBefore = " a policy";
    comments.push("a policy");
  }
  return { text: doc.toString({ indent: layout.indent, indentSeq: layout.indentSeq, lineWidth: 0 }), comments };
}

/** Comments in a YAML text, as the parser sees them (so that '#' in strings is no comment). */
function commentsOf(text: string): string[] {
  const out: string[] = [];
  const doc = YAML.parseDocument(text, { version: "1.2", schema: "core" });
  const add = (c: string | null | undefined) => {
    if (c) for (const line of c.split("\n")) if (line.trim()) out.push(line.trim());
  };
  add(doc.commentBefore);
  add(doc.comment);
  YAML.visit(doc, {
    Node(_key, node) {
      add(node.commentBefore);
      add(node.comment);
    },
  });
  return out.sort();
}

/** Every known mapping's keys are in KEY_ORDER's order. */
function inOrder(value: Manifest): string | null {
  const check = (o: unknown, kind: keyof typeof KEY_ORDER): string | null => {
    if (typeof o !== "object" || o === null || Array.isArray(o)) return null;
    const order = KEY_ORDER[kind] as readonly string[];
    const keys = Object.keys(o).map((key) => order.indexOf(key));
    return keys.every((r, i) => i === 0 || keys[i - 1]! <= r) ? null : `${kind}: ${Object.keys(o).join(", ")}`;
  };
  const problems: (string | null)[] = [check(value, "policy")];
  for (const a of Object.values(value.approvers ?? {})) problems.push(check(a, "approver"));
  problems.push(check(value.audit, "audit"));
  for (const c of Object.values(value.counters ?? {})) problems.push(check(c, "counter"));
  const rules = (list: any[]) => {
    for (const r of list ?? []) {
      if ("group" in r) {
        problems.push(check(r, "group"));
        rules(r.rules);
      } else problems.push(check(r, "rule"));
    }
  };
  rules(value.rules);
  for (const t of value.tests ?? []) {
    if ("steps" in t) {
      problems.push(check(t, "sequenceTest"));
      for (const s of t.steps) problems.push(check(s, "step"));
    } else problems.push(check(t, "test"));
  }
  return problems.find((p) => p !== null) ?? null;
}

const manifests = fc.oneof(manifestArb, statefulManifestArb.map((s) => s.manifest as Manifest));
let cases = 0;

describe("fmt keeps meaning (property)", () => {
  it(`formats ${RUNS} generated manifests in random layouts: same policy hash, idempotent, comments kept, keys in order`, () => {
    fc.assert(
      fc.property(manifests, layoutArb, (manifest, layout) => {
        const { text, comments } = render(manifest, layout);
        const before = Policy.fromYaml(text, { filename: "generated.yaml" });
        const out = formatPolicyText(text);
        const after = Policy.fromYaml(out, { filename: "formatted.yaml" });
        if (after.hash !== before.hash) throw new Error(`hash changed\n--- before\n${text}\n--- after\n${out}`);
        expect(formatPolicyText(out)).toBe(out);
        expect(commentsOf(out)).toEqual(commentsOf(text));
        expect(commentsOf(out)).toEqual(expect.arrayContaining(comments));
        const problem = inOrder(YAML.parse(out, { version: "1.2", schema: "core" }) as Manifest);
        if (problem) throw new Error(`keys not in order (${problem})\n${out}`);
        cases++;
      }),
      { numRuns: RUNS },
    );
    expect(cases).toBe(RUNS);
  });
});
