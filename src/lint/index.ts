// `tollgate lint` (docs/change-safety.md, "Lint"): findings about a policy that loads but says
// something other than its author probably meant. One file per family of findings:
//   shadow.ts           rules that can never decide (an earlier or stronger rule always wins)
//   untested-fields.ts  deny/escalate rules whose fields no test of the policy provides
//   unused.ts           approvers and counters nothing references
//   patterns.ts         `matches` with a plain literal, `glob` without wildcards
//   test-rules.ts       tests that expect a rule the policy does not have
// Lint reads the manifest as loaded (a valid one: load it with Policy first) and never guesses:
// a finding is reported only when it is certain.

import { patternFindings } from "./patterns.js";
import { ruleSites } from "./manifest.js";
import { shadowFindings } from "./shadow.js";
import { testRuleFindings } from "./test-rules.js";
import { untestedFieldFindings } from "./untested-fields.js";
import { unusedFindings } from "./unused.js";
import type { Finding } from "./finding.js";

export type { Family, Finding } from "./finding.js";
export { shadowedRules, type Shadowing } from "./shadow.js";
export { ruleSites, type RuleSite } from "./manifest.js";

/** Every finding for a valid manifest (as parsed from its YAML), in no particular order. */
export function lintManifest(manifest: unknown): Finding[] {
  const rules = ruleSites(manifest);
  return [
    ...shadowFindings(rules),
    ...untestedFieldFindings(manifest, rules),
    ...unusedFindings(manifest, rules),
    ...patternFindings(manifest, rules),
    ...testRuleFindings(manifest, rules),
  ];
}
