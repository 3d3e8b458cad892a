// `tollgate lint POLICY.yaml...`: every finding as `FILE:LINE:COL: warning: ...` (the position of
// the rule, test or declaration concerned), sorted by position; exit 1 when there is any, 0 when
// every policy is clean (`ok: FILE`), 2 when a policy does not load (its errors as `check`
// prints them). Findings: src/lint/ and docs/change-safety.md, "Lint".

import { readPolicyFile } from "../policy-text.js";
import { inPositionOrder } from "../errors.js";
import { lintManifest } from "../lint/index.js";
import { loadYaml } from "../yaml.js";
import type { CommandSpec } from "../argv.js";
import { EXIT_FAILED, EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { loadPolicy } from "./load.js";
import { parseOrUsage } from "./usage.js";

export const LINT = {
  name: "lint",
  summary: "Find what a policy probably does not mean. Rules that can never decide, deny or escalate rules on fields no test provides, unused approvers and counters, literal patterns, counters on redacted fields: each as FILE:LINE:COL: warning: MESSAGE (exit 1 if any), `ok: FILE` for a clean policy.",
  args: "POLICY.yaml...",
  options: {},
  examples: ["tollgate lint examples/*-agent.yaml"],
} as const satisfies CommandSpec;

export async function lintCommand(args: string[], io: CommandIo): Promise<number> {
  const parsed = await parseOrUsage(LINT, args, io);
  if (typeof parsed === "number") return parsed;
  let invalid = false;
  let found = false;
  for (const file of parsed.positionals) {
    const policy = await loadPolicy(file, io.stdout);
    if (!policy) {
      invalid = true;
      continue;
    }
    const loaded = loadYaml(readPolicyFile(file), file);
    if (!loaded.ok) throw new Error(`${file}: loaded once, then failed to parse`);
    const findings = inPositionOrder(lintManifest(loaded.yaml.value).map((f) => ({ ...loaded.yaml.locate(f.pointer, f.at), message: f.message })));
    if (findings.length === 0) {
      await write(io.stdout, `ok: ${file}\n`);
      continue;
    }
    found = true;
    await write(io.stdout, findings.map((f) => `${file}:${f.line}:${f.column}: warning: ${f.message}\n`).join(""));
  }
  return invalid ? EXIT_POLICY_ERROR : found ? EXIT_FAILED : EXIT_OK;
}
