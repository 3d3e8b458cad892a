// `tollgate test [--coverage] [--format text|json] POLICY.yaml`: run the manifest's tests (spec
// section 7); exit 1 if any fails. A failing step of a sequence is reported with its index
// (0-based); the test goes on. With --coverage, which rules decided at least one test action,
// which were evaluated but never decided, and which were never reached (docs/change-safety.md,
// "Coverage"), as a table; --format json prints the results (and coverage) as one JSON object. A
// policy without tests says so on stderr (`no tests in FILE`; exit 1 with --require-tests).

import { runPolicyTests, runPolicyTestsWithCoverage, type Coverage, type TestResult } from "../policy-tests.js";
import type { CommandSpec } from "../argv.js";
import { EXIT_FAILED, EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { loadPolicy } from "./load.js";
import { parseOrUsage } from "./usage.js";

export const TEST = {
  name: "test",
  summary: "Run a policy's own tests. Its `tests:` entries and sequences: each failure with the expected and actual decision, then `N passed, M failed` (exit 1 if any fails); a policy without tests says so on stderr.",
  args: "POLICY.yaml",
  options: {
    coverage: { type: "boolean", description: "then, for every rule, whether it decided a test action, was evaluated but never decided, or was never reached" },
    format: { type: "string", choices: ["text", "json"], default: "text", description: "json: the results (and coverage) as one JSON object" },
    "require-tests": { type: "boolean", description: "fail (exit 1) when the policy has no tests, instead of saying so and exiting 0" },
  },
  examples: ["tollgate test examples/billing-agent.yaml", "tollgate test --coverage --require-tests policies/billing.yaml"],
} as const satisfies CommandSpec;

function describe(decision: string, rule: string | null | undefined): string {
  return rule === undefined ? decision : `${decision} (rule ${rule === null ? "null" : rule})`;
}

const STATUS_TEXT = { decided: "decided", evaluated: "never decided", unreached: "never reached" } as const;

export function coverageTable(c: Coverage): string {
  const rows = [["rule", "effect", "status", "decided", "evaluated"], ...c.rules.map((r) => [r.id, r.effect, STATUS_TEXT[r.status], String(r.decided), String(r.evaluated)])];
  const widths = rows[0]!.map((_h, k) => Math.max(...rows.map((r) => r[k]!.length)));
  const line = (r: string[]): string => r.map((cell, k) => (k >= 3 ? cell.padStart(widths[k]!) : cell.padEnd(widths[k]!))).join("  ").trimEnd();
  return [
    `coverage: ${c.decided} of ${c.rules.length} rules decided a test action, ${c.evaluated} evaluated but never decided, ${c.unreached} never reached (${c.actions} test actions)`,
    ...rows.map(line),
  ].join("\n");
}

export async function testCommand(args: string[], io: CommandIo): Promise<number> {
  const parsed = await parseOrUsage(TEST, args, io);
  if (typeof parsed === "number") return parsed;
  const opts = { file: parsed.positionals[0]!, coverage: parsed.values.coverage === true, json: parsed.values.format === "json" };
  const policy = await loadPolicy(opts.file, io.stderr);
  if (!policy) return EXIT_POLICY_ERROR;
  let results: TestResult[];
  let coverage: Coverage | undefined;
  if (opts.coverage) ({ results, coverage } = runPolicyTestsWithCoverage(policy));
  else results = runPolicyTests(policy);
  const failed = results.filter((r) => r.failures.length > 0).length;
  const none = results.length === 0;
  if (none) await write(io.stderr, `no tests in ${opts.file}${parsed.values["require-tests"] ? " (--require-tests)" : ""}\n`);
  const code = failed > 0 || (none && parsed.values["require-tests"] === true) ? EXIT_FAILED : EXIT_OK;
  if (opts.json) {
    const failures = results.flatMap((r) => r.failures.map((f) => ({ name: r.name, ...f })));
    await write(io.stdout, JSON.stringify({ passed: results.length - failed, failed, failures, ...(coverage ? { coverage } : {}) }) + "\n");
    return code;
  }
  const lines: string[] = [];
  for (const r of results) {
    for (const f of r.failures) {
      const where = f.step === null ? "" : ` (step ${f.step})`;
      lines.push(
        `FAIL ${r.name}${where}\n  expected: ${describe(f.expect, f.rule)}\n  actual:   ${describe(f.actual.decision, f.rule === undefined ? undefined : f.actual.rule)}\n  decision: ${JSON.stringify(f.actual)}`,
      );
    }
  }
  lines.push(`${results.length - failed} passed, ${failed} failed`);
  if (coverage) lines.push(coverageTable(coverage));
  await write(io.stdout, lines.join("\n") + "\n");
  return code;
}
