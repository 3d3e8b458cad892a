// What Gate.check returns (and ActionDenied carries): in a module of its own, so that gate.ts
// and denied.ts import it in one direction.

import type { Decision } from "../decision.js";

/** A decision as the gate returns it: the spec's decision object plus where it was recorded. */
export type GateDecision = Decision & {
  /** Hash of the decision's audit record (`tollgate audit show DIR --seq <audit_seq>`). */
  readonly audit_id: string;
  readonly audit_seq: number;
  /** For escalate: the approval a human resolves. */
  readonly approval_id?: string;
  /** For escalate: when the approval resolves by `on_timeout` (RFC 3339). */
  readonly expires?: string;
};
