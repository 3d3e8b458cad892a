// Lint, deny and escalate rules the policy's own tests only ever see undetermined: every field
// test of the rule's own `when` reads a path without `exists`, and no action of the policy's
// tests (single tests and sequence steps) has a value there. Such a rule applies, fail closed
// (spec section 4), to every action that lacks those fields: often a typo in a path
// (`args.ammount`), or a rule the tests never exercise. Silent when the policy has no tests
// (nothing to learn from), when the rule reads no field (counters only, or no `when`), or when
// any of its field tests uses `exists` or reads a path some test provides.

import { ABSENT, fieldSites, operators, parsePath, testActions, valueAt, type RuleSite } from "./manifest.js";
import type { Finding } from "./finding.js";

export function untestedFieldFindings(manifest: unknown, rules: readonly RuleSite[]): Finding[] {
  const actions = testActions(manifest);
  if (actions.length === 0) return [];
  const provided = new Map<string, boolean>();
  const isProvided = (segments: string[]): boolean => {
    const key = JSON.stringify(segments);
    let p = provided.get(key);
    if (p === undefined) provided.set(key, (p = actions.some((a) => valueAt(a, segments) !== ABSENT)));
    return p;
  };
  const out: Finding[] = [];
  for (const r of rules) {
    if (r.effect === "allow") continue;
    const own = r.whens.filter((w) => w.group === null && w.pointer === `${r.pointer}/when`);
    const paths: string[] = [];
    let silent = false;
    for (const w of own) {
      for (const site of fieldSites(w.cond, w.pointer)) {
        const path = parsePath(site.key);
        if (path === null) {
          silent = true;
          break;
        }
        if (path.counter) continue;
        if (operators(site.test, site.pointer).some((o) => o.op === "exists") || isProvided(path.segments)) {
          silent = true;
          break;
        }
        if (!paths.includes(site.key)) paths.push(site.key);
      }
    }
    if (silent || paths.length === 0) continue;
    const list = paths.join(", ");
    out.push({
      family: "untested-field", pointer: r.pointer, at: "value", rule: r.id,
      message: `${r.effect} rule '${r.id}' reads ${list} without 'exists', and no test of the policy provides ${paths.length === 1 ? "it" : "them"}: ` +
        `the rule applies (undetermined, fail closed) to every action without ${paths.length === 1 ? "it" : "them"}; a typo, or a missing test?`,
    });
  }
  return out;
}
