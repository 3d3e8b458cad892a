// Replaying: every action of every source decided under the candidate (and under --against, when
// given), in order, with counters as they stood at the time of its record (spec section 8).
//
// Counters replay as the log made them, the way a gate rebuilds them (src/pipeline/counted.ts):
// each action is decided at the time it was decided live (`counted.at` when it counted, else its
// record's `ts`: src/replay/sources.ts) against its policy's own store and records what
// that policy counts (an escalation's contributions pending under an id, remembered by the
// record's hash in a PendingByRecord); an approval transition in the log settles the pending
// contributions of the escalation it links (`settleTransition`: approved, denied; an expiry
// settles itself in the store at `on_timeout`). So a rate limit the candidate adds changes
// decisions exactly where history would have tripped it. Each source starts with empty counters:
// an audit directory is one writer's log (an actions file, one run).

import type { Decision } from "../decision.js";
import { PendingByRecord, settleTransition } from "../pipeline/counted.js";
import type { Policy } from "../policy.js";
import type { MemoryCounterStore } from "../state/memory-store.js";
import { RedactedPaths } from "./redacted.js";
import { Comparison } from "./report.js";
import type { PolicyRef, ReplayResult } from "./report.js";
import type { Outcome, ReplayItem, Source } from "./sources.js";

type ActionItem = Extract<ReplayItem, { kind: "action" }>;

/** One policy deciding a source's actions with its own counters. */
class Decider {
  private state: MemoryCounterStore | null;
  private pending = new PendingByRecord();

  constructor(private readonly policy: Policy) {
    this.state = policy.stateful ? policy.newState() : null;
  }

  /** The outcomes of `items`, in order (one core call per batch for a stateless policy). */
  decide(items: readonly ActionItem[]): Outcome[] {
    const out: Outcome[] = new Array(items.length);
    const state = this.state;
    if (state === null) {
      const decisions = this.policy.evaluateBatch(items.map((i) => i.action));
      for (let i = 0; i < items.length; i++) out[i] = outcome(decisions[i]!);
      return out;
    }
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const step = this.policy.step(item.action, { now: item.now, state });
      if (step.pending !== null && item.hash !== null) {
        this.pending.prune(item.now);
        this.pending.add(item.hash, step.pending, item.now + step.decision.timeout_ms!);
      }
      out[i] = outcome(step.decision);
    }
    return out;
  }

  /** An approval transition: settles the escalation it links, if this policy escalated it too. */
  transition(item: Extract<ReplayItem, { kind: "transition" }>): void {
    const state = this.state;
    if (state === null) return;
    settleTransition(this.pending, { decision_hash: item.decisionHash, state: item.state }, (id, resolution) => state.resolve(id, resolution, item.now));
  }
}

const outcome = (d: Decision): Outcome => ({ decision: d.decision, rule: d.rule });

export interface ReplayPolicy {
  policy: Policy;
  file: string;
}

export interface ReplayOptions {
  /** Examples kept per change (default 3). */
  examples?: number;
  /** Hears, after each batch, how many actions were replayed so far. */
  onActions?: (actions: number) => void;
}

const ref = (p: ReplayPolicy): PolicyRef => ({ name: p.policy.name, hash: p.policy.hash, file: p.file });

/**
 * Replays `sources` in order under `candidate`, comparing with `against`'s decisions, or with the
 * recorded ones when `against` is null (then every source must be an audit directory).
 */
export async function replay(candidate: ReplayPolicy, against: ReplayPolicy | null, sources: readonly Source[], options: ReplayOptions = {}): Promise<ReplayResult> {
  const redacted = new RedactedPaths(against === null ? [candidate.policy.fields] : [candidate.policy.fields, against.policy.fields]);
  const cmp = new Comparison(redacted.texts, options.examples ?? 3);
  let actions = 0;
  for (const source of sources) {
    if (against === null && source.kind !== "audit") throw new TypeError(`${source.name}: an actions file holds no recorded decisions (give --against)`);
    cmp.startSource(source.name, source.kind);
    cmp.notes.push(...source.notes);
    const next = new Decider(candidate.policy);
    const old = against === null ? null : new Decider(against.policy);
    for await (const batch of source.items()) {
      // Runs of actions are decided together (a stateless policy in one core call); a transition
      // or a skipped line between them is taken in its place, so counters see the log's order.
      let run: ActionItem[] = [];
      const flush = (): void => {
        if (run.length === 0) return;
        const after = next.decide(run);
        const before = old === null ? null : old.decide(run);
        for (let i = 0; i < run.length; i++) {
          const item = run[i]!;
          const was = before === null ? item.recorded! : before[i]!;
          cmp.action(item.at, item.action, was, after[i]!, item.mayBeRedacted ? redacted.find(item.action) : null, item.policy, item.policyHash);
        }
        actions += run.length;
        run = [];
      };
      for (const item of batch) {
        switch (item.kind) {
          case "action":
            run.push(item);
            break;
          case "transition":
            flush();
            next.transition(item);
            old?.transition(item);
            cmp.transition();
            break;
          case "event":
            cmp.event();
            break;
          case "skipped":
            cmp.skip(item.at, item.reason);
            break;
        }
      }
      flush();
      options.onActions?.(actions);
    }
    cmp.endSource();
  }
  return cmp.result(ref(candidate), against === null ? null : ref(against));
}
