// What Gate.check returns (and ActionDenied carries): in a module of its own, so that gate.ts
// and denied.ts import it in one direction.

import type { Decision } from "../decision.js";
import type { RedemptionLink } from "../pipeline/redeem.js";

/** A decision as the gate returns it: the spec's decision object plus where it was recorded. */
export type GateDecision = Decision & {
  /** Hash of the decision's audit record (`tollgate audit show DIR --seq <audit_seq>`). */
  readonly audit_id: string;
  readonly audit_seq: number;
  /** For escalate: the approval a human resolves. For a redemption: the approval redeemed. */
  readonly approval_id?: string;
  /** A redemption that was allowed: who approved it. */
  readonly approved_by?: string;
  /** A redemption (`check(action, { approvalId })`): the failed check (null when allowed) and the approval's records. */
  readonly redemption?: RedemptionLink;
  /** For escalate: when the approval resolves by `on_timeout` (RFC 3339). */
  readonly expires?: string;
};
