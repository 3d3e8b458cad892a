// The one shape a decision takes between the two halves of the pipeline (docs/architecture.md):
// *decide* (decide.ts) makes a `Decided` for every action, *record* (record.ts) writes it and
// answers a `Recorded`. In one process (Gate) the Decided is handed over as it is; in the server
// each worker sends the Decided of one event-loop turn to the primary in one IPC message
// (ipc.ts: `{t: "audit", id, e: Decided[]}`) and the primary records them.

import type { Approval } from "../approvals/approval.js";
import type { Decision } from "../decision.js";

/**
 * One decision, ready to be recorded: the RFC 8785 canonical JSON of the decision and of the
 * (redacted) action — the record's own text, written verbatim, so the writer only hashes and
 * writes — the policy's name and hash, and the evaluation time in ns (0 for an action that was
 * not evaluated). A tuple rather than an object: it crosses the server's IPC channel once per
 * decision, and V8's serializer writes five values without a key each.
 */
export type Decided = [decisionJson: string, actionJson: string, policy: string, policyHash: string, evalNs: number, commit?: Commit, bound?: Binding];

/**
 * What an escalation's approval is bound to (docs/approvals.md, "Redeeming"): the SHA-256 of the
 * RFC 8785 canonical JSON of the action as the agent sent it (before redaction; the record has
 * only the redacted one) and the agent it is issued to (`action.agent.id`). Escalations only.
 */
export type Binding = [digest: string, agent: string | null];

/**
 * A decision of a policy with counters, decided by a server worker with sums it read from the
 * primary (src/state/shared-store.ts, compare-and-record): the primary records the Decided only
 * if the sums of `refs` at `now` still equal `sums`, and then counts `add` (pending on `pending`
 * for an escalation). Counters are named with their definition digest: a worker still on the
 * previous policy during a reload never counts into a changed counter.
 */
export type Commit = [
  now: number,
  refs: [counter: string, digest: string, key: (string | number)[]][],
  sums: number[],
  add: [counter: string, digest: string, key: (string | number)[], amount: number][],
  pending: [id: string, expiresAt: number, onTimeout: "allow" | "deny"] | null,
];

/**
 * What the decide half still holds in the same process, in the order of the Decided: the
 * decision objects (else the record half rebuilds them from their text, once per distinct
 * decision) and the redacted actions kept by approvals (else parsed from their text).
 */
export interface DecidedLocal {
  readonly decisions: readonly Decision[];
  readonly actions?: readonly unknown[];
}

/** What recording a batch of Decided gives, once every record is durable. */
export interface Recorded {
  /** seq of the first record; the others follow in order. */
  seq: number;
  /** Each record's hash (its audit id). */
  hashes: string[];
  /** Ascending indices of the escalations. */
  escalations: number[];
  /**
   * The approval opened for each escalation (in `escalations` order), or the error that kept it
   * from being stored; null when there is no escalation or no approvals store. Never rejects.
   */
  approvals: Promise<(Approval | Error)[]> | null;
}

/** What recording one Decided gives. */
export interface RecordedOne {
  seq: number;
  hash: string;
  /** For an escalation: its approval, or the error that kept it from being stored; never rejects. */
  approval: Promise<Approval | Error> | null;
}
