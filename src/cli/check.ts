// `tollgate check POLICY.yaml`: validate; `ok: N rules` (exit 0) or every error (exit 2).

import { EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { loadPolicy } from "./load.js";

export async function check(args: string[], io: CommandIo): Promise<number> {
  const policy = await loadPolicy(args[0]!, io.stdout);
  if (!policy) return EXIT_POLICY_ERROR;
  await write(io.stdout, `ok: ${policy.rules.length} rules\n`);
  return EXIT_OK;
}
