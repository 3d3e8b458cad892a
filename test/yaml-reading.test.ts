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
