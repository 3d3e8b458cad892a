// Lint, tests that expect a rule the policy does not have: a test (or a sequence step) whose
// `rule` names no rule can never pass. It is not a load error (spec section 5 does not list it;
// `tollgate test` fails that test, docs/semantics.md), so lint points at it before a test run.

import { isObject, type RuleSite } from "./manifest.js";
import type { Finding } from "./finding.js";

export function testRuleFindings(manifest: unknown, rules: readonly RuleSite[]): Finding[] {
  const tests = isObject(manifest) && Array.isArray(manifest.tests) ? manifest.tests : [];
  const ids = new Set(rules.map((r) => r.id));
  const out: Finding[] = [];
  const check = (expectation: unknown, pointer: string, what: string): void => {
    if (!isObject(expectation) || typeof expectation.rule !== "string" || ids.has(expectation.rule)) return;
    out.push({ family: "unknown-test-rule", pointer: `${pointer}/rule`, at: "value", message: `${what} expects rule '${expectation.rule}', which the policy does not have: it can never pass` });
  };
  tests.forEach((t, i) => {
    if (!isObject(t)) return;
    const name = typeof t.name === "string" ? `test '${t.name}'` : `test ${i + 1}`;
    check(t, `/tests/${i}`, name);
    // Steps are numbered from 0, as `tollgate test` reports a failing one.
    if (Array.isArray(t.steps)) t.steps.forEach((s, j) => check(s, `/tests/${i}/steps/${j}`, `${name}, step ${j},`));
  });
  return out;
}
