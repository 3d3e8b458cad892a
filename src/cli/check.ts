// `tollgate check POLICY.yaml...`: validate; `ok: N rules` (exit 0) or every error (exit 2). With
// several files, each is reported (`FILE: ok: N rules`, or its errors), and any that fails makes
// the exit 2.

import type { CommandSpec } from "../argv.js";
import { EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { loadPolicy } from "./load.js";
import { parseOrUsage } from "./usage.js";

export const CHECK = {
  name: "check",
  summary: "Validate policies. Prints `ok: N rules` (with several files, `FILE: ok: N rules` for each), or every error as FILE:LINE:COL: error: MESSAGE (exit 2 if any fails).",
  args: "POLICY.yaml...",
  options: {},
  examples: ["tollgate check examples/billing-agent.yaml", "tollgate check policies/*.yaml"],
} as const satisfies CommandSpec;

export async function check(args: string[], io: CommandIo): Promise<number> {
  const parsed = await parseOrUsage(CHECK, args, io);
  if (typeof parsed === "number") return parsed;
  const files = parsed.positionals;
  let failed = false;
  for (const file of files) {
    const policy = await loadPolicy(file, io.stdout);
    if (!policy) {
      failed = true;
      continue;
    }
    await write(io.stdout, `${files.length > 1 ? `${file}: ` : ""}ok: ${policy.rules.length} rules\n`);
  }
  return failed ? EXIT_POLICY_ERROR : EXIT_OK;
}
