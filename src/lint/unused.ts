// Lint, declarations nothing uses: an approver no escalate rule names, a counter no rule's
// condition reads (`$name`; counters' own `when`s cannot read counters, spec section 8).

import { fieldSites, isObject, parsePath, token, type RuleSite } from "./manifest.js";
import type { Finding } from "./finding.js";

export function unusedFindings(manifest: unknown, rules: readonly RuleSite[]): Finding[] {
  const m = isObject(manifest) ? manifest : {};
  const out: Finding[] = [];
  const named = new Set(rules.flatMap((r) => (r.approver === null ? [] : [r.approver])));
  for (const name of Object.keys(isObject(m.approvers) ? m.approvers : {})) {
    if (named.has(name)) continue;
    out.push({ family: "unused-approver", pointer: `/approvers/${token(name)}`, at: "key", message: `approver '${name}' is declared but no rule names it` });
  }
  const read = new Set<string>();
  const seen = new Set<string>();
  for (const r of rules) {
    for (const w of r.whens) {
      if (seen.has(w.pointer)) continue;
      seen.add(w.pointer);
      for (const site of fieldSites(w.cond, w.pointer)) {
        const path = parsePath(site.key);
        if (path?.counter) read.add(path.segments[0]!.slice(1));
      }
    }
  }
  for (const name of Object.keys(isObject(m.counters) ? m.counters : {})) {
    if (read.has(name)) continue;
    out.push({ family: "unused-counter", pointer: `/counters/${token(name)}`, at: "key", message: `counter '${name}' is declared but no rule reads it ($${name})` });
  }
  return out;
}
