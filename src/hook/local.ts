// Deciding in the hook's own process: the policy, and with --audit the audit log (durable,
// hash-chained, signed) and the counters it keeps (src/hook/audited.ts, loaded only then).

import type { CommitGate } from "./audited.js";
import { decideOne } from "../pipeline/decide.js";
import type { Policy } from "../policy.js";
import { HookSetupError } from "./errors.js";
import type { HookDecision } from "./protocol.js";

/**
 * Decides `action` with `policy`. Without `auditDir` nothing is written, and a policy with
 * counters is refused (its limits would start from zero at every tool call). With it, the
 * decision is recorded durably before it is returned; the lock is waited for until `deadline`
 * (a Date.now() time). Throws on any failure: the caller answers deny.
 */
export async function decideLocally(policy: Policy, action: unknown, auditDir: string | undefined, deadline: number, commit?: CommitGate): Promise<HookDecision> {
  if (auditDir === undefined) {
    if (policy.stateful) {
      throw new HookSetupError(`policy ${policy.name} has counters, which must outlive each tool call: give --audit DIR (or --control-plane URL)`);
    }
    return decideOne(policy, action, null).decision; // nothing is recorded: nothing to seal
  }
  const { decideAudited } = await import("./audited.js");
  return decideAudited(policy, action, auditDir, deadline, commit);
}
