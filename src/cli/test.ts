// `tollgate test POLICY.yaml`: run the manifest's tests (spec section 7); exit 1 if any fails.

import type { Decision } from "../decision.js";
import { EXIT_FAILED, EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { loadPolicy } from "./load.js";

function describe(decision: string, rule: string | null | undefined): string {
  return rule === undefined ? decision : `${decision} (rule ${rule === null ? "null" : rule})`;
}

export async function testCommand(args: string[], io: CommandIo): Promise<number> {
  const policy = await loadPolicy(args[0]!, io.stderr);
  if (!policy) return EXIT_POLICY_ERROR;
  let failed = 0;
  const lines: string[] = [];
  for (const t of policy.tests) {
    const actual: Decision = policy.evaluate(t.action);
    const ruleOk = t.rule === undefined || t.rule === actual.rule;
    if (actual.decision === t.expect && ruleOk) continue;
    failed++;
    lines.push(
      `FAIL ${t.name}\n  expected: ${describe(t.expect, t.rule)}\n  actual:   ${describe(actual.decision, t.rule === undefined ? undefined : actual.rule)}\n  decision: ${JSON.stringify(actual)}`,
    );
  }
  const passed = policy.tests.length - failed;
  lines.push(`${passed} passed, ${failed} failed`);
  await write(io.stdout, lines.join("\n") + "\n");
  return failed > 0 ? EXIT_FAILED : EXIT_OK;
}
