// A policy file that is not UTF-8 is a policy error at its first bad byte, in every reader
// (src/policy-text.ts): never loaded with U+FFFD in place of the bytes. The cases are shared with
// the Python host (python/tests/test_policy_text.py), which reports the same positions.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PolicyError } from "../src/errors.js";
import { Policy } from "../src/policy.js";
import { policyText } from "../src/policy-text.js";

const { cases } = JSON.parse(readFileSync(new URL("./fixtures/not-utf8-cases.json", import.meta.url), "utf8")) as {
  cases: { name: string; hex: string; line: number; column: number; byte: string }[];
};

describe("policy files that are not UTF-8", () => {
  for (const c of cases) {
    it(`${c.name}: ${c.line}:${c.column}`, () => {
      const file = join(mkdtempSync(join(tmpdir(), "policy-text-")), "p.yaml");
      writeFileSync(file, Buffer.from(c.hex, "hex"));
      let err: unknown;
      try {
        Policy.fromFile(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PolicyError);
      expect((err as PolicyError).errors).toEqual([{ file, line: c.line, column: c.column, message: `the policy is not valid UTF-8 (byte 0x${c.byte} here): save it as UTF-8` }]);
    });
  }

  it("valid UTF-8 (a BOM, astral characters, U+FFFD itself) reads as it is", () => {
    const text = "\uFEFFtollgate: 1\nname: \u{1F600}\uFFFD\n";
    expect(policyText(Buffer.from(text, "utf8"), "p.yaml")).toBe(text);
  });

  it("a byte order mark is not a column of line 1, nor of any other (the Python host reports the same)", () => {
    let err: unknown;
    try {
      Policy.fromYaml("\uFEFFtollgate: 2\nname: x\nrules:\n  - { id: r, effect: deny, reason: r, efect: x }\n", { filename: "bom.yaml" });
    } catch (e) {
      err = e;
    }
    expect((err as PolicyError).errors.map((e) => [e.line, e.column])).toEqual([[1, 11], [4, 39]]);
  });
});
