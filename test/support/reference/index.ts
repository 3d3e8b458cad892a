// A small, obviously correct reference interpreter of the policy language
// (/work/shared/spec/policy-language.md). Test oracle only: never used by the
// product. `new ReferencePolicy(manifest)` assumes the manifest is valid;
// `ReferencePolicy.load` first checks what the reference validates (counters,
// counter references and tests: validate.ts) and throws ReferencePolicyError.

import { type CounterValue, FieldTable, UNKNOWN_VALUE } from "./condition.js";
import {
  type CompiledCounter, CounterState, type Resolution, type ResolveOutcome, compileCounters, contribution, keyOf,
} from "./counters.js";
import { type Decision, type Effect, type FlatRule, decide, errorDecision, flattenRules } from "./decide.js";
import { ERROR_TEXT, readFields } from "./input.js";
import { counterReferenceName, isPlainObject } from "./path.js";
import { ReferencePolicyError, checkManifest } from "./validate.js";

export type { Decision } from "./decide.js";
export { CounterState, type Resolution, type ResolveOutcome } from "./counters.js";
export { ReferencePolicyError, checkManifest, type PolicyErrorItem } from "./validate.js";

/** A decision and, for an escalation decided with a state, the id of its
 *  approval (to resolve with CounterState#resolve or ReferenceSession#resolve). */
export interface Step {
  decision: Decision;
  approval: number | null;
}

/** Names of the counters referenced in the rules' conditions (groups included). */
function referencedCounters(rules: unknown): Set<string> {
  const out = new Set<string>();
  const cond = (c: unknown) => {
    if (!isPlainObject(c)) return;
    for (const [k, v] of Object.entries(c)) {
      if (k === "all" || k === "any") (v as unknown[]).forEach(cond);
      else if (k === "not") cond(v);
      else {
        const name = counterReferenceName(k);
        if (name !== null) out.add(name);
      }
    }
  };
  const walk = (items: unknown) => {
    for (const item of (items as any[]) ?? []) {
      cond(item.when);
      if ("group" in item) walk(item.rules);
    }
  };
  walk(rules);
  return out;
}

export class ReferencePolicy {
  readonly name: string;
  readonly defaultEffect: Effect;
  readonly rules: FlatRule[];
  /** Every field path the policy reads, parsed; one slot each. */
  readonly fields: string[][];
  /** Declared counters in declaration order (empty for a stateless policy). */
  readonly counters: CompiledCounter[];
  /** Indexes (into `counters`) of the counters the rules reference: the ones
   *  a decision carries. */
  private readonly carried: number[];

  constructor(manifest: any) {
    const table = new FieldTable();
    this.name = manifest.name;
    this.defaultEffect = manifest.default ?? "deny";
    // Spec-silent choice: the counters' fields are read before the rules'
    // (counters are declared before rules can name them); this only decides
    // which input error is reported when an action has two (input.ts).
    this.counters = compileCounters(manifest, table);
    const stateful = manifest.counters !== undefined;
    const index = new Map(this.counters.map((c, i) => [c.name, i]));
    this.rules = flattenRules(manifest, table, stateful ? index : undefined);
    this.fields = table.fields;
    const referenced = stateful ? referencedCounters(manifest.rules) : new Set<string>();
    this.carried = this.counters.flatMap((c, i) => (referenced.has(c.name) ? [i] : []));
  }

  /** Checks the manifest (validate.ts) and compiles it. */
  static load(manifest: unknown): ReferencePolicy {
    const errors = checkManifest(manifest);
    if (errors.length > 0) throw new ReferencePolicyError(errors);
    return new ReferencePolicy(manifest);
  }

  /**
   * The decision for `action`. Without `context` (or for a stateless policy)
   * it is a function of the action; counters then read an empty state at time
   * 0 and nothing is recorded. With `context`, counters read `context.state`
   * at `context.now` (ms) and the action's contributions are recorded there.
   */
  evaluate(action: unknown, context?: { now: number; state: CounterState }): Decision {
    return this.step(action, context?.now ?? 0, context?.state ?? null).decision;
  }

  evaluateBatch(actions: readonly unknown[]): Decision[] {
    return actions.map((a) => this.evaluate(a));
  }

  /** Decides at `now` against `state` (an empty one when null, and then
   *  records nothing), records per section 8 and opens an approval for an
   *  escalation. */
  step(action: unknown, now: number, state: CounterState | null): Step {
    const read = readFields(action, this.fields);
    // An input that cannot be evaluated is a deny: nothing is recorded.
    if ("error" in read) return { decision: errorDecision(ERROR_TEXT[read.error], this.name), approval: null };
    const vs = read.values;
    const store = state ?? new CounterState();
    const contributions = this.counters.map((c) => contribution(c, vs));
    const keys = this.counters.map((c) => keyOf(c, vs));
    // The value includes this action's own contribution; UNKNOWN when the key
    // or the contribution is UNKNOWN (even a contribution of 0).
    const values: CounterValue[] = this.counters.map((c, i) => {
      const own = contributions[i], key = keys[i];
      return key === null || own === UNKNOWN_VALUE ? UNKNOWN_VALUE : store.sum(c, key, now) + own;
    });
    let decision = decide(this.rules, vs, this.name, this.defaultEffect, values);
    if (this.carried.length > 0) {
      // Spec-silent choice: a decision of a policy whose rules reference
      // counters carries `counters`, the value of every referenced counter for
      // this action (null when UNKNOWN), in declaration order, placed before
      // `policy`: what an auditor needs to see why a limit did or did not apply.
      // Built with Object.fromEntries: a counter named __proto__ is an own key,
      // where an assignment would set the object's prototype instead.
      const { policy, ...rest } = decision;
      const counters: Record<string, number | null> = Object.fromEntries(this.carried.map((i) => {
        const v = values[i];
        return [this.counters[i].name, v === UNKNOWN_VALUE ? null : v];
      }));
      decision = { ...rest, counters, policy };
    }
    let approval: number | null = null;
    if (state !== null && decision.decision === "escalate") {
      approval = state.openApproval(now, decision.timeout_ms!, decision.on_timeout!);
    }
    if (state !== null && decision.decision !== "deny") {
      this.counters.forEach((c, i) => {
        const own = contributions[i], key = keys[i];
        if (key !== null && own !== UNKNOWN_VALUE && own !== 0) state.record(c, key, now, own, approval);
      });
    }
    return { decision, approval };
  }
}

/** A policy with its counter state, as a running host holds it. */
export class ReferenceSession {
  policy: ReferencePolicy;
  readonly state: CounterState;

  constructor(manifest: unknown, state: CounterState = new CounterState()) {
    this.policy = ReferencePolicy.load(manifest);
    this.state = state;
  }

  /** Decides `action` at `now` (ms) and records its contributions. */
  decide(action: unknown, now: number): Step {
    return this.policy.step(action, now, this.state);
  }

  /** Approves or denies the approval of an escalated decision at `now`. */
  resolve(approval: number, resolution: Resolution, now: number): ResolveOutcome {
    return this.state.resolve(approval, resolution, now);
  }

  /** A policy reload: keeps the state of every counter whose name and
   *  definition are unchanged; the others start empty. */
  reload(manifest: unknown): void {
    const next = ReferencePolicy.load(manifest);
    this.state.retain(new Set(next.counters.map((c) => c.identity)));
    this.policy = next;
  }
}
