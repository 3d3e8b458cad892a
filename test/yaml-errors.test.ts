// Errors of reading a manifest's YAML (src/yaml.ts): in position order, and characters a YAML
// stream may not hold refused at the first one, on both readers (the fast path and the yaml
// package's), as the Python host refuses them.
import { describe, expect, it } from "vitest";
import { PolicyError } from "../src/errors.js";
import { Policy } from "../src/policy.js";
import { loadYamlExactly } from "../src/yaml.js";
import { fastYamlValue } from "../src/yaml-fast.js";

function errorsOf(text: string): string[] {
  try {
    Policy.fromYaml(text, { filename: "p.yaml" });
  } catch (e) {
    if (e instanceof PolicyError) return e.errors.map((x) => `${x.line}:${x.column}: ${x.message}`);
    throw e;
  }
  return [];
}

describe("YAML errors", () => {
  it("are in position order: an outer duplicate key before the inner one it holds", () => {
    const errors = errorsOf("tollgate: 1\nname: d\nrules:\n  - id: r\n    effect: allow\n    when: { any: [{ a: 1 }], any: [{ b: 1, b: 2 }] }\n");
    expect(errors.map((e) => e.split(":").slice(0, 2).join(":"))).toEqual(["6:30", "6:44"]);
  });

  it.each([
    ["\u0001", "U+0001", "\\u0001"],
    ["\u001f", "U+001F", "\\u001f"],
    ["\u007f", "U+007F", "\\u007f"],
    ["\u0090", "U+0090", "\\u0090"],
    ["\ufffe", "U+FFFE", "\\ufffe"],
    ["\u0085", "U+0085", "\\u0085"], // NEL, LS, PS: characters in YAML 1.2, line breaks to PyYAML
    ["\u2028", "U+2028", "\\u2028"],
    ["\u2029", "U+2029", "\\u2029"],
  ])("refuses %j where it is, with its escape", (ch, code, escape) => {
    const text = `tollgate: 1\nname: x\n# é ${ch}\ndescription: "a${ch}"\nrules: []\n`;
    const message = `character ${code} is not allowed in YAML (write it as an escape, ${escape}, in a double-quoted string)`;
    expect(errorsOf(text)).toEqual([`3:5: ${message}`]);
    const exact = loadYamlExactly(text, "p.yaml");
    expect(exact.ok).toBe(false);
    if (!exact.ok) expect(exact.problems).toEqual([{ file: "p.yaml", line: 3, column: 5, message }]);
  });

  it("refuses an implicit block key over 1024 characters (YAML 1.2), as PyYAML does: the fast path leaves long keys to the yaml package", () => {
    const policy = (key: string) => `tollgate: 1\nname: p\nrules:\n  - id: d\n    effect: deny\n    reason: r\n    when:\n      ${key}: 1\n`;
    const long = `args["${"k".repeat(1020)}"]`;
    expect(fastYamlValue(policy(long))).toBeUndefined();
    expect(errorsOf(policy(long))).toEqual(["8:7: The : indicator must be at most 1024 chars after the start of an implicit block mapping key"]);
    const fine = `args["${"k".repeat(990)}"]`;
    expect(fastYamlValue(policy(fine))).toBeDefined();
    expect(Policy.fromYaml(policy(fine)).evaluate({ args: { ["k".repeat(990)]: 1 } }).rule).toBe("d");
  });

  it("refuses an unknown directive, a YAML version other than 1.1 and 1.2, and a second %YAML, as PyYAML does", () => {
    const body = "---\ntollgate: 1\nname: p\nrules: []\n";
    expect(errorsOf(`%FOO bar\n${body}`)).toEqual(["1:1: Unknown directive %FOO"]);
    expect(errorsOf(`%YAML 1.3\n${body}`)).toEqual(["1:7: Unsupported YAML version 1.3"]);
    expect(errorsOf(`%YAML 2.0\n${body}`)).toEqual(["1:7: Unsupported YAML version 2.0"]);
    expect(errorsOf(`%YAML 1.2\n# twice\n%YAML 1.2\n${body}`)).toEqual(["3:1: found duplicate %YAML directive"]);
    for (const ok of [`%YAML 1.2\n${body}`, `%YAML 1.1\n${body}`, `# c\n%TAG !e! tag:example.com,2000:\n${body}`, `${body}description: |\n  %YAML 1.2\n  %YAML 1.2\n`]) {
      expect(errorsOf(ok), ok).toEqual([]);
    }
  });

  it("takes tabs, line breaks, non-ASCII and astral characters, and escapes of the refused ones", () => {
    const p = Policy.fromYaml(`tollgate: 1\r\nname: x\ndescription:\t"a é 😀 \\u0001 \\x7f \\u0085"\rrules: []\n`);
    expect(p.name).toBe("x");
  });

  it("Policy.fromJson escapes a JSON text only: a YAML text with a raw DEL is refused, not read as '\\u007f'", () => {
    expect(() => Policy.fromJson("tollgate: 1\nname: x\ndescription: 'a\u007f'\nrules: []\n")).toThrow("U+007F");
    // JSON, though not as JSON.stringify writes it (so read by the YAML path), with DEL in a string
    const p = Policy.fromJson('{\n "tollgate": 1, "name": "x", "description": "a\u007f\u2028", "rules": []}');
    expect(p.hash).toBe(Policy.fromObject({ tollgate: 1, name: "x", description: "a\u007f\u2028", rules: [] }).hash);
  });
});
