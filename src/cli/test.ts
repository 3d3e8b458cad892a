// `tollgate test [--coverage] [--format text|json] POLICY.yaml`: run the manifest's tests (spec
// section 7); exit 1 if any fails. A failing step of a sequence is reported with its index
// (0-based); the test goes on. With --coverage, which rules decided at least one test action,
// which were evaluated but never decided, and which were never reached (docs/change-safety.md,
// "Coverage"), as a table; --format json prints the results (and coverage) as one JSON object.

import { runPolicyTests, runPolicyTestsWithCoverage, type Coverage, type TestResult } from "../policy-tests.js";
import { EXIT_FAILED, EXIT_OK, EXIT_POLICY_ERROR, EXIT_USAGE, write, type CommandIo } from "./io.js";
import { loadPolicy } from "./load.js";

export const TEST_USAGE = "tollgate test [--coverage] [--format text|json] POLICY.yaml";

function describe(decision: string, rule: string | null | undefined): string {
  return rule === undefined ? decision : `${decision} (rule ${rule === null ? "null" : rule})`;
}

function parse(args: string[]): { file: string; coverage: boolean; json: boolean } | string {
  let coverage = false;
  let json = false;
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--coverage") coverage = true;
    else if (a === "--format") {
      const f = args[++i];
      if (f !== "text" && f !== "json") return `--format takes text or json`;
      json = f === "json";
    } else if (a.startsWith("--")) return `unknown option '${a}'`;
    else if (file !== undefined) return "one policy file";
    else file = a;
  }
  return file === undefined ? "a policy file is required" : { file, coverage, json };
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
  const opts = parse(args);
  if (typeof opts === "string") {
    await write(io.stderr, `tollgate test: ${opts}\nusage: ${TEST_USAGE}\n`);
    return EXIT_USAGE;
  }
  const policy = await loadPolicy(opts.file, io.stderr);
  if (!policy) return EXIT_POLICY_ERROR;
  let results: TestResult[];
  let coverage: Coverage | undefined;
  if (opts.coverage) ({ results, coverage } = runPolicyTestsWithCoverage(policy));
  else results = runPolicyTests(policy);
  const failed = results.filter((r) => r.failures.length > 0).length;
  if (opts.json) {
    const failures = results.flatMap((r) => r.failures.map((f) => ({ name: r.name, ...f })));
    await write(io.stdout, JSON.stringify({ passed: results.length - failed, failed, failures, ...(coverage ? { coverage } : {}) }) + "\n");
    return failed > 0 ? EXIT_FAILED : EXIT_OK;
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
  return failed > 0 ? EXIT_FAILED : EXIT_OK;
}
