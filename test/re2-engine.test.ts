// RE2's own search tests (../shared/corpora/re2-search.txt), run through the whole engine:
// YAML-free manifest -> core compile -> `matches` on an encoded action. Expressions outside the
// spec's subset must be rejected as policy errors; every other one must give RE2's answer.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Policy, PolicyError } from "../src/index.js";
import { isValidUtf8, parseRe2Search, re2CorpusPath } from "./corpus/re2-corpus.js";


/** Constructs the corpus README names as outside Tollgate's subset. */
function outsideSubset(re: string): boolean {
  if (/\\[CpPQEzAZ]/.test(re)) return true;            // \C, \p{..}, \P{..}, and other escapes RE2 has
  if (/\\[0-7]/.test(re)) return true;                  // octal escapes
  if (/\\x\{/.test(re)) return true;                    // \x{...}
  if (/\[\[:/.test(re) || /\[\^?[^\]]*\[:[a-z]+:\]/.test(re)) return true; // POSIX classes
  const flags = [...re.matchAll(/\(\?([a-zA-Z-]*)(\)|:)/g)];
  for (const f of flags) {
    if (f[2] === ":" && f[1] === "") continue;            // (?:...)
    if (!(f.index === 0 && f[1] === "i" && f[2] === ")")) return true;
  }
  return false;
}

describe("RE2 search corpus through the engine", () => {
  const corpus = parseRe2Search(readFileSync(re2CorpusPath(), "utf8"));

  it("gives RE2's answer for every expression of the subset and rejects the rest", () => {
    let run = 0, rejected = 0, skipped = 0;
    const failures: string[] = [];
    for (const { regex, cases } of corpus) {
      let policy: Policy;
      try {
        policy = Policy.fromObject({
          tollgate: 1, name: "re2", default: "deny",
          rules: [{ id: "m", effect: "allow", when: { s: { matches: regex } } }],
        });
      } catch (e) {
        if (!(e instanceof PolicyError)) throw e;
        rejected++;
        if (!outsideSubset(regex)) failures.push(`rejected ${JSON.stringify(regex)}: ${e.message}`);
        continue;
      }
      if (outsideSubset(regex)) {
        failures.push(`accepted ${JSON.stringify(regex)}, which is outside the subset`);
        continue;
      }
      const usable = cases.filter((c) => {
        // JSON cannot carry bytes that are not UTF-8: such texts cannot reach a policy.
        if (isValidUtf8(c.bytes)) return true;
        skipped++;
        return false;
      });
      const decisions = policy.evaluateBatch(usable.map((c) => ({ s: c.text })));
      usable.forEach((c, i) => {
        run++;
        const got = decisions[i]!.decision === "allow";
        if (got !== c.matches) failures.push(`${JSON.stringify(regex)} on ${JSON.stringify(c.text)}: RE2 says ${c.matches}, engine ${got}`);
      });
    }
    console.log(`re2 corpus: ${corpus.length} expressions, ${run} pairs run, ${rejected} expressions rejected, ${skipped} non-UTF-8 texts skipped`);
    expect(failures.slice(0, 20)).toEqual([]);
    expect(run).toBeGreaterThan(1000);
  });
});
