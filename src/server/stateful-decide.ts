// Deciding in a worker for a policy with counters (spec section 8): the primary owns the state
// (counter-owner.ts); a worker reads the sums its actions need, decides with them and sends each
// decision that counted — or that read sums its own earlier decisions of the turn had changed —
// with a commit that the primary checks before recording (compare-and-record). A decision whose
// sums changed meanwhile is not recorded: it is decided again with fresh sums. So the answers
// are those of some one-at-a-time order, across workers (the concurrency tests hold it to that).

import { randomUUID } from "node:crypto";
import { canonicalDecision } from "../audit/format.js";
import { recordableParsedText, unrecordableDecision } from "../audit/recordable.js";
import { redact } from "../redact.js";
import type { Decision } from "../decision.js";
import type { GateMetrics } from "../metrics/metrics.js";
import { countedDecision } from "../pipeline/counted.js";
import { NOT_JSON_TEXT } from "../pipeline/decide.js";
import type { Commit, Decided } from "../pipeline/message.js";
import { bindEscalation } from "../pipeline/redeem.js";
import type { Policy } from "../policy.js";
import { TurnRefs } from "../pipeline/turn-refs.js";
import type { Backend } from "./http.js";

/** One decided action and where its record is. */
export interface StatefulOutcome {
  decision: Decision;
  hash: string;
  seq: number;
  approval: string | null;
}

/** Rounds of reading and deciding again before giving up (a 503): only a key contended by
 *  thousands of concurrent decisions across workers comes near it. */
const MAX_ROUNDS = 10_000;

/** Counter name -> definition digest, per policy. */
const digests = new WeakMap<Policy, Map<string, string>>();

/** The key of a counter sum in `reads`: counter name, NUL, the key's text. */
export const readKey = (counter: string, keyText: string): string => `${counter}\u0000${keyText}`;

/**
 * `reads`, when given, gets for each action the sums its recorded decision read (by `readKey`):
 * what an explanation of that very decision is made with (`Policy.explain` with `sumOf`).
 */
export async function decideStateful(backend: Backend, policy: Policy, actions: readonly Record<string, unknown>[], metrics: GateMetrics, reads?: Map<string, number>[]): Promise<StatefulOutcome[]> {
  const n = actions.length;
  const out = new Array<StatefulOutcome>(n);
  const texts = new Array<string | null>(n);
  let todo: number[] = [];
  const unrecordable: number[] = [];
  for (let i = 0; i < n; i++) {
    texts[i] = recordableParsedText(redact(actions[i], policy.redact));
    (texts[i] === null ? unrecordable : todo).push(i);
  }
  let digest = digests.get(policy);
  if (digest === undefined) digests.set(policy, (digest = new Map(policy.counters.map((c) => [c.name, c.digest]))));
  const finals = new Array<Decision>(n);
  const evalNsOf = new Array<number>(n).fill(0);
  const sends: Promise<void>[] = [];
  if (unrecordable.length > 0) {
    const d = unrecordableDecision(policy.name);
    const entries: Decided[] = unrecordable.map(() => [canonicalDecision(d), NOT_JSON_TEXT, policy.name, policy.hash, 0]);
    sends.push(backend.audit(entries).then((ack) => {
      unrecordable.forEach((i, k) => {
        finals[i] = d;
        out[i] = { decision: d, hash: ack.hashes[k]!, seq: ack.seq + k, approval: null };
      });
    }));
  }
  for (let round = 0; todo.length > 0; round++) {
    if (round >= MAX_ROUNDS) throw new Error(`counters: no consistent decision after ${MAX_ROUNDS} rounds`);
    // 1. What the actions read: the distinct counter+keys, numbered (by counter, then key text).
    const turn = new TurnRefs();
    const slotsOf = todo.map((i) => turn.add(policy.counterRefs(actions[i])));
    const wanted: [string, string, (string | number)[]][] = turn.refs.map((r) => [r.counter, digest.get(r.counter)!, r.key as (string | number)[]]);
    const slotOf = (counter: string, keyText: string) => turn.slotOf(counter, keyText);
    const { now, sums } = wanted.length === 0 ? { now: Date.now(), sums: [] as number[] } : await backend.sums(wanted);
    const local = sums.slice();
    // 2. Decide in order, each with the sums its predecessors of this turn left.
    const entries: Decided[] = [];
    const decided: Decision[] = [];
    const took: number[] = [];
    const readsOf: Map<string, number>[] = [];
    for (let k = 0; k < todo.length; k++) {
      const i = todo[k]!;
      const slots = slotsOf[k]!;
      const used = slots.map((slot) => local[slot]!);
      const seen = reads === undefined ? null : new Map<string, number>();
      const t0 = process.hrtime.bigint();
      const r = policy.decideWithCounters(actions[i], (counter, _key, keyText) => {
        const slot = slotOf(counter, keyText);
        const v = slot === undefined ? undefined : local[slot];
        if (seen !== null && v !== undefined) seen.set(readKey(counter, keyText), v);
        return v;
      });
      if (seen !== null) readsOf[k] = seen;
      const evalNs = Number(process.hrtime.bigint() - t0);
      const d = r.decision;
      const chained = slots.some((slot, j) => used[j] !== sums[slot]);
      let pending: string | null = null;
      let commit: Commit | undefined;
      if (r.entries.length > 0 || chained) {
        if (d.decision === "escalate" && r.entries.length > 0) pending = randomUUID();
        commit = [
          now,
          slots.map((slot) => wanted[slot]!),
          used,
          r.entries.map((e) => [e.counter, digest.get(e.counter)!, e.key as (string | number)[], e.amount]),
          pending === null ? null : [pending, now + d.timeout_ms!, d.on_timeout!],
        ];
        for (const e of r.entries) {
          const slot = slotOf(e.counter, e.keyText);
          if (slot !== undefined) local[slot] = local[slot]! + e.amount;
        }
      }
      const recorded = countedDecision(d, policy, r.entries, now, pending, backend.countedSeal);
      const entry: Decided = [canonicalDecision(recorded), texts[i]!, policy.name, policy.hash, evalNs];
      if (commit !== undefined) entry.push(commit);
      if (d.decision === "escalate") bindEscalation(entry, actions[i]);
      entries.push(entry);
      decided.push(d);
      took.push(evalNs);
    }
    // 3. Record; what the primary refused goes round again.
    const ack = await backend.audit(entries);
    const conflicts = new Set(ack.conflicts ?? []);
    const again: number[] = [];
    for (let k = 0; k < todo.length; k++) {
      const i = todo[k]!;
      if (conflicts.has(k)) {
        again.push(i);
        continue;
      }
      finals[i] = decided[k]!;
      evalNsOf[i] = took[k]!;
      if (reads !== undefined) reads[i] = readsOf[k]!;
      out[i] = { decision: decided[k]!, hash: ack.hashes[k]!, seq: ack.seqs?.[k] ?? ack.seq + k, approval: ack.approvals[k] ?? null };
    }
    todo = again;
  }
  await Promise.all(sends);
  for (let i = 0; i < n; i++) metrics.recordDecision(policy.name, finals[i]!, evalNsOf[i]!);
  return out;
}
