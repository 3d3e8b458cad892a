// The fast YAML reader (src/yaml-fast.ts) against the authority (the `yaml` package's reading,
// loadYamlExactly): on every document, when the fast reader gives a value, the authority reads
// the same value (keys in the same order) without a problem. The fast reader may give up on
// anything; it must never accept what the authority rejects or read it differently.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fastYamlValue, resolvePlain } from "../../src/yaml-fast.js";
import { loadYamlExactly, loadYaml } from "../../src/yaml.js";
import { Policy } from "../../src/index.js";

/** Plain scalars the core schema resolves in every way (and some it leaves strings). */
const PLAIN = [
  "null", "Null", "NULL", "nULL", "~", "true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "yes", "no", "on", "off",
  "0", "-0", "+0", "007", "0o17", "0o8", "0O17", "0x1F", "0X1F", "0xg", "0b101", "1_000", "+12", "-12", "12345678901234567890123",
  "1.5", "1.", ".5", "-.5", "+1.5e3", "1e3", "1E-3", "1e", "1e999", "-1e999", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", ".NAN", "inf", "nan",
  "2001-01-01", "12:30:45", "1:2", "<<", "=", "a", "payments.refund", "fs.*", "a b", "é", "日本", "x_y", "__proto__", "constructor",
  "-", "--", "-a", "?a", "a?", ":a", "a:b", "%", "@", "`", "!", "&", "*", "|", ">", "#", "a #b", "a#b", "'", "\"",
];

const plain = fc.constantFrom(...PLAIN);
const word = fc.stringMatching(/^[a-z][a-z0-9_.]{0,6}$/);
const anyText = fc.string({ unit: fc.constantFrom("a", " ", "\\", "\"", "'", "\n", "\t", ":", "#", "é", "\u{1F600}", "\u0000", "-", "{", "}", "[", "]", ",", "0", ".") , maxLength: 8 });

/** A scalar in some style, as YAML text that fits in a flow or block context. */
const scalar = fc.oneof(
  plain,
  word,
  anyText.map((s) => `'${s.replace(/'/g, "''").replace(/\n/g, " ")}'`),
  anyText.map((s) => JSON.stringify(s)),
  fc.constantFrom('"\\u00e9"', '"\\x41"', '"\\ud83d\\ude00"', '"\\ud800"', '"a\\\n  b"', '"\\t"', '"\\N"', "'it''s'"),
);

type Doc = { kind: "scalar"; text: string } | { kind: "seq"; items: Doc[]; flow: boolean } | { kind: "map"; entries: [string, Doc][]; flow: boolean };

const doc: fc.Arbitrary<Doc> = fc.letrec<{ node: Doc }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar.map((text): Doc => ({ kind: "scalar", text })),
    fc.record({ items: fc.array(tie("node"), { maxLength: 4 }), flow: fc.boolean() }).map(({ items, flow }): Doc => ({ kind: "seq", items, flow })),
    fc.record({ entries: fc.array(fc.tuple(fc.oneof(word, plain, scalar), tie("node")), { maxLength: 4 }), flow: fc.boolean() })
      .map(({ entries, flow }): Doc => ({ kind: "map", entries, flow })),
  ),
})).node;

function flow(d: Doc): string {
  switch (d.kind) {
    case "scalar": return d.text;
    case "seq": return `[${d.items.map(flow).join(", ")}]`;
    case "map": return `{${d.entries.map(([k, v]) => `${k}: ${flow(v)}`).join(", ")}}`;
  }
}

/** Block layout where the node asks for it, flow inside flow. */
function block(d: Doc, indent: number): string {
  const pad = " ".repeat(indent);
  if (d.kind === "scalar" || d.flow || (d.kind === "seq" ? d.items.length === 0 : d.entries.length === 0)) return ` ${flow(d)}\n`;
  if (d.kind === "seq") return "\n" + d.items.map((item) => `${pad}-${block(item, indent + 2)}`).join("");
  return "\n" + d.entries.map(([k, v]) => `${pad}${k}:${block(v, indent + 2)}`).join("");
}

function render(d: Doc): string {
  if (d.kind === "scalar" || d.flow) return flow(d) + "\n";
  return block(d, 0).replace(/^\n/, "");
}

/** The fast reading agrees with the authority, or gave up. Returns whether it read. */
function agree(text: string): boolean {
  const fast = fastYamlValue(text);
  if (fast === undefined) return false;
  const exact = loadYamlExactly(text, "<t>");
  if (!exact.ok) throw new Error(`fast reader accepted what the yaml package rejects: ${JSON.stringify(text)}: ${exact.problems[0]!.message}`);
  expect(JSON.stringify(fast), JSON.stringify(text)).toBe(JSON.stringify(exact.yaml.value));
  expect(Object.getPrototypeOf(fast === null || typeof fast !== "object" ? {} : fast)).toBe(Object.getPrototypeOf(exact.yaml.value === null || typeof exact.yaml.value !== "object" ? {} : exact.yaml.value));
  return true;
}

describe("fast YAML reader", () => {
  it("resolves every plain scalar as the core schema does, as a value, a key and in a flow", () => {
    let read = 0;
    for (const p of PLAIN) for (const text of [`k: ${p}\n`, `${p}: v\n`, `[${p}, x]\n`, `{a: ${p}}\n`, `- ${p}\n`]) if (agree(text)) read++;
    expect(read).toBeGreaterThan(PLAIN.length * 3);
  });

  it("reads generated documents as the yaml package does", () => {
    let read = 0;
    fc.assert(
      fc.property(doc, (d) => {
        if (agree(render(d))) read++;
      }),
      { numRuns: 1500 },
    );
    expect(read).toBeGreaterThan(500); // the fast path is the common case, not a rare one
  });

  it("never accepts a mangled document the yaml package rejects, nor reads it differently", () => {
    let read = 0;
    const edits = fc.constantFrom(" ", "  ", "\t", "\n", ":", ": ", "- ", "#", "'", "\"", "{", "}", "[", "]", ",", "?", "&a ", "*a", "!x ", "---\n", "...\n", "|", ">", "\\", "%YAML 1.2\n", "\r", "\r\n", "\u00a0", "\ufeff");
    fc.assert(
      fc.property(doc, fc.array(fc.tuple(fc.nat(), fc.nat(3), edits), { minLength: 1, maxLength: 4 }), (d, changes) => {
        let text = render(d);
        for (const [at, del, ins] of changes) {
          const i = at % (text.length + 1);
          text = text.slice(0, i) + ins + text.slice(i + del);
        }
        if (agree(text)) read++;
      }),
      { numRuns: 3000 },
    );
    expect(read).toBeGreaterThan(300); // many mangled documents are still read fast, and checked
  });

  it("reads the places where YAML readers are known to differ as the yaml package does, or gives up", () => {
    // Flow edge cases, implicit keys, `:` without a space, trailing commas, numbers at the core
    // schema's edges, markers and multi-line scalars.
    const cases = ["{a:b}\n", "{a: b, c}\n", "[a: b]\n", "[a: b, c]\n", "? a\n: b\n", "{\"a\":b}\n", "a:b\n", "a: b:c\n", "a: [b, {c: d}]\n", "- - a\n  - b\n", "a:\n- b\n- c\n", "a:\n  - b\n  -\n", "a: 'b''c'\n", "a: \"b\\\"c\"\n", "a: b # c\n", "a: b#c\n", "a: -b\n", "a: - b\n", "a: [b\n  ,c]\n", "{a: [b, c], d: {e: f}}\n", "a: {}\nb: []\n", "a: !!str 1\n", "'a': 1\n\"b\": 2\n", "a: null\nb: ~\nc:\n", "a: 1\n# comment\nb: 2\n", "  a: 1\n  b: 2\n", "a:\n    b: 1\n    c: 2\n", "a: [1, 2,]\n", "a: {b: 1,}\n", "[a, b]: c\n", "a: 0.5e+3\nb: +.5\nc: 5.\n", "a: 0o\nb: 0x\nc: 08\nd: 0o17\ne: 1e3\n", "a: @b\n", "a: `b\n", "a: %b\n", "a: |b\n", "a: >b\n", "a: ,b\n", "a: b,c\n", "a: [b,c]\n", "a: {b:c}\n", "a: {\"b\":c}\n", "a: ?b\n", "a: ? b\n", "? a\n", "a: b\n...\n", "---\na: b\n", "--- a\n", "a: \"\\u00e9\\x41\"\n", "a: 'multi\n  line'\n", "a: b\n  c\n", "...\r\na: 1\r\n", "a: 1\r\n...\r\nb: 2\r\n", " ---\r\na: 1\r\n", "# c\r\n---\r\na: 1\r\n",
      // A comment line before an entry's node on a later line (found by the mangling property
      // below: the yaml package's lexer read ["no - - null"]; src/yaml-document.ts).
      "-\n#a:...\n no\n-\n  - null\n", "a:\n#c\n no\nb: 1\n"];
    let read = 0;
    for (const text of cases) if (agree(text)) read++;
    expect(read).toBeGreaterThan(cases.length / 2);
  });

  it("gives up on anchors, aliases, tags, directives, several documents and duplicate keys", () => {
    for (const text of ["a: &x 1\nb: *x\n", "a: !!str 1\n", "%YAML 1.2\n---\na: 1\n", "a: 1\n---\nb: 2\n", "a: 1\na: 2\n", "1: a\n'1': b\n", "__proto__: 1\n", "a: .nan\n", "a: \"\\ud800\"\n", "? [a]\n: 1\n", "x\ud800: 1\n"]) {
      expect(fastYamlValue(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it("reads every policy of the repository and the benchmark policies as the yaml package does", () => {
    // The examples use anchors (the yaml path); the generated ones are the common case.
    for (const f of ["examples/billing-agent.yaml", "examples/devops-agent.yaml", "examples/research-agent.yaml", "examples/coding-agent.yaml"]) agree(readFileSync(f, "utf8"));
    for (const f of ["bench/policies/generated-100.yaml", "bench/policies/generated-1000.yaml"]) expect(agree(readFileSync(f, "utf8")), f).toBe(true);
  });

  it("still places errors the core reports (positions from the yaml package's reading)", () => {
    const text = "tollgate: 1\nname: t\nrules:\n  - id: a\n    effect: allow\n    when: {tool: {eqq: x}}\n";
    expect(fastYamlValue(text)).toBeDefined();
    const loaded = loadYaml(text, "p.yaml");
    expect(loaded.ok).toBe(true);
    let error: unknown;
    try {
      Policy.fromYaml(text, { filename: "p.yaml" });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ file: "p.yaml", line: 6, column: 19 });
  });
});
