// A policy's patterns together are bounded (assembly/compile/condition.ts, MAX_POLICY_PATTERN_STATES):
// many large regular expressions are a policy error at the pattern that crosses the bound, not a
// trap of the core out of memory (200 patterns of 4,000 '.' made `tollgate check` exit 70).
import { describe, expect, it } from "vitest";
import { PolicyError } from "../src/errors.js";
import { Policy } from "../src/policy.js";

const manyPatterns = (n: number, glob = false): string =>
  `tollgate: 1\nname: many\nrules:\n` +
  Array.from({ length: n }, (_, i) =>
    `  - id: r${i}\n    effect: deny\n    reason: x\n    when: { a: { ${glob ? "glob" : "matches"}: "${(glob ? "?" : ".").repeat(4000)}${i}" } }\n`).join("");

describe("the policy's pattern budget", () => {
  it("takes 30 patterns of 4,000 '.', and refuses more with a positioned error at the one that crosses it", () => {
    expect(Policy.fromYaml(manyPatterns(30)).rules.length).toBe(30);
    let error: unknown;
    try {
      Policy.fromYaml(manyPatterns(200, true), { filename: "many.yaml" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    const first = (error as PolicyError).errors[0]!;
    expect(first.message).toMatch(/^the policy's regular expressions and globs compile to more than 1048576 program states in all \(this one brings them to \d+\)/);
    // each rule is 4 lines after the 3 of the header: the crossing pattern's line, at its value
    expect((first.line - 4) % 4).toBe(3);
    expect(first.line).toBeGreaterThan(4 * 25);
    expect(first.column).toBe(24);
  });

  it("counts a pattern used twice once", () => {
    const same = `tollgate: 1\nname: same\nrules:\n` + Array.from({ length: 200 }, (_, i) =>
      `  - id: r${i}\n    effect: deny\n    reason: x\n    when: { a${i}: { matches: "${".".repeat(4000)}" } }\n`).join("");
    expect(Policy.fromYaml(same).rules.length).toBe(200);
  });
});
