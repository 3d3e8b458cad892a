// Runs every file of test/conformance/ (the cross-host contract; Python runs the same files).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Policy, PolicyError } from "../src/index.js";
import { canonicalJson } from "../src/canonical.js";

const dir = join(import.meta.dirname, "conformance");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

interface DecisionCase { name: string; action?: unknown; input?: string; expect: Record<string, unknown> }
interface ErrorCase { line: number; column: number; contains: string }

describe("conformance", () => {
  it("has cases", () => expect(files.length).toBeGreaterThan(0));

  for (const file of files) {
    const spec = parse(readFileSync(join(dir, file), "utf8"), { version: "1.2" });
    describe(file, () => {
      if (spec.errors) {
        it("reports every error at its position", () => {
          let error: unknown;
          try {
            Policy.fromYaml(spec.policy_text, { filename: spec.filename ?? file });
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(PolicyError);
          const got = (error as PolicyError).errors.map((e) => ({ line: e.line, column: e.column, message: e.message }));
          const expected = (spec.errors as ErrorCase[]);
          for (const exp of expected) {
            const hit = got.find((g) => g.line === exp.line && g.column === exp.column && g.message.includes(exp.contains));
            expect(hit, `expected ${exp.line}:${exp.column} containing ${JSON.stringify(exp.contains)}; got ${JSON.stringify(got, null, 1)}`).toBeDefined();
          }
          expect(got.length, `unexpected extra errors: ${JSON.stringify(got, null, 1)}`).toBe(expected.length);
        });
        return;
      }
      let policy: Policy;
      try {
        policy = spec.policy_text
          ? Policy.fromYaml(spec.policy_text, { filename: file })
          : Policy.fromObject(spec.policy, { filename: file });
      } catch (e) {
        it("loads its policy", () => {
          throw new Error(`policy of ${file} did not load: ${e instanceof PolicyError ? e.format() : String(e)}`);
        });
        return;
      }
      const cases = spec.cases as DecisionCase[];
      for (const c of cases) {
        it(c.name, () => {
          const actual = c.input !== undefined ? policy.evaluateLines([c.input])[0] : policy.evaluate(c.action);
          expect(canonicalJson(actual)).toBe(canonicalJson(c.expect));
        });
      }
      it("decides the same in one batch", () => {
        const lines = cases.map((c) => (c.input !== undefined ? c.input : JSON.stringify(c.action)));
        const batch = policy.evaluateLines(lines).map(canonicalJson);
        expect(batch).toEqual(cases.map((c) => canonicalJson(c.expect)));
      });
    });
  }
});
