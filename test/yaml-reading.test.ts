// What a manifest's YAML reads as, where YAML readers differ and the two hosts are made to agree
// (docs/semantics.md "YAML"; python/tests/test_yaml_loader.py runs the same texts through both).
import { describe, expect, it } from "vitest";
import { loadYaml, loadYamlExactly } from "../src/yaml.js";

function read(text: string): unknown {
  const r = loadYaml(text, "t.yaml");
  const exact = loadYamlExactly(text, "t.yaml");
  expect(exact.ok).toBe(r.ok);
  if (!r.ok || !exact.ok) return { error: r.ok ? null : r.problems[0] };
  expect(exact.yaml.value).toEqual(r.yaml.value);
  return r.yaml.value;
}

describe("a file's last line break", () => {
  it.each(["a: |\n  x", "a: |+\n  x\n ", "a: >-\n  x", "a: >\n  x\n  y", 'reason: "quoted"', "a: [1, 2]", "# only a comment", "|+\n "])(
    "changes nothing: %j reads as with it",
    (text) => {
      expect(read(text)).toEqual(read(text + "\n"));
    },
  );

  it("keeps a final block scalar's clipped line break, as a file that ends with one does", () => {
    expect(read("reason: |\n  no refunds")).toEqual({ reason: "no refunds\n" });
  });

  it("does not close a quote left open at the end of the file", () => {
    expect(read('a: "\\"')).toMatchObject({ error: { line: 2, column: 1, message: 'Missing closing "quote' } });
  });
});

describe("an alias as a mapping key", () => {
  it("is the scalar it refers to", () => {
    expect(read("x: &k y\n*k : 1\n")).toEqual({ x: "y", y: 1 });
  });

  it("is refused, at the alias, when it refers to a collection, to nothing, or repeats a key", () => {
    expect(read("x: &k [y]\n*k : 1\n")).toMatchObject({ error: { line: 2, column: 1, message: "mapping keys must be scalars" } });
    expect(read("&k y: 1\n*k : 2\n")).toMatchObject({ error: { line: 2, column: 1, message: "duplicate key 'y'" } });
  });
});

describe("a mapping entry with no key", () => {
  // YAML allows an empty key (it reads as null); the Python host's reader refuses most forms, and
  // the yaml package makes one of what is left of a malformed entry (`? 'a' b`, `a: [x]: y`)
  // without an error: both hosts refuse it. A key written `null`, `~`, `''` or `!!str` is kept.
  it.each(["?\n: 1\n", ": a\n", "? 'a' b\n: 1\n", "a: [x]: y\nb: 1\n", "{? : a}\n", "{a, : b}\n", "&a : b\n", "-:\n ! ?\n"])("%j is refused", (text) => {
    expect(read(text)).toMatchObject({ error: { message: 'a mapping entry has no key (write null, or "" for the empty string, if that is meant)' } });
  });

  it.each([["~: 1\n", { null: 1 }], ["null: 1\n", { null: 1 }], ["'': 1\n", { "": 1 }], ["!!str : a\n", { "": "a" }], ["{a, b: 1}\n", { a: null, b: 1 }]])("%j is read", (text, value) => {
    expect(read(text)).toEqual(value);
  });
});

describe("an anchor or alias ending in ':'", () => {
  it("is refused (the yaml package reads `&a: b` as an anchor `a:`, PyYAML as a key-less entry)", () => {
    expect(read("&a: b\n")).toMatchObject({ error: { line: 1, column: 3, message: "Anchor ending in : is ambiguous" } });
    expect(read("a: &x 1\nb: [*x:]\n")).toMatchObject({ error: { message: "Alias ending in : is ambiguous" } });
  });
});
