// `tollgate test POLICY.yaml`: run the manifest's tests (spec section 7); exit 1 if any fails.
// A failing step of a sequence is reported with its index (0-based); the test goes on.

import { runPolicyTests } from "../policy-tests.js";
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
  const results = runPolicyTests(policy);
  for (const r of results) {
    if (r.failures.length === 0) continue;
    failed++;
    for (const f of r.failures) {
      const where = f.step === null ? "" : ` (step ${f.step})`;
      lines.push(
        `FAIL ${r.name}${where}\n  expected: ${describe(f.expect, f.rule)}\n  actual:   ${describe(f.actual.decision, f.rule === undefined ? undefined : f.actual.rule)}\n  decision: ${JSON.stringify(f.actual)}`,
      );
    }
  }
  lines.push(`${results.length - failed} passed, ${failed} failed`);
  await write(io.stdout, lines.join("\n") + "\n");
  return failed > 0 ? EXIT_FAILED : EXIT_OK;
}
