// The engine (the WebAssembly core through the Node host's Policy, src/policy.ts)
// behind the reference interpreter's interface (test/support/reference/:
// ReferenceSession, ReferencePolicy, CounterState, checkManifest, runTests), so
// that the cases written for the reference run unchanged against the engine
// (test/counter-cases.ts, test/engine-counters.test.ts).
//
// What the adapter adds, and how the engine's own answers are checked:
//   - Approvals. The engine opens a pending id only for an escalation that
//     recorded something, and `Policy#resolve` answers a boolean (true: it
//     changed the approval). The reference numbers every escalation of a
//     session and answers "resolved" / "expired" / "already resolved" /
//     "unknown approval". The adapter numbers escalations the same way and
//     derives the outcome from the decision (its time and timeout_ms); the
//     engine's boolean must agree with it: false for a late or a second
//     resolution, true for a timely first one of an approval with pending
//     contributions (unless all of them have already left their windows,
//     after which the store has nothing left to resolve); else it throws.
//   - Policy errors. The core reports FILE:LINE:COL on the manifest printed
//     as indented JSON (Policy.fromObject). Each position is mapped back to the
//     JSON pointer (and key or value) of the node that starts there, with
//     src/yaml.ts's `locate` on that same text, so errors compare as
//     {pointer, at, message}. The engine lists errors by position, the
//     reference in its checking order: when both report the same errors, they
//     are returned in the reference's order (the order is not part of the spec).

import { PolicyError, type PolicyProblem } from "../../src/errors.js";
import { Policy } from "../../src/policy.js";
import { runPolicyTests } from "../../src/policy-tests.js";
import type { MemoryCounterStore } from "../../src/state/memory-store.js";
import { escapeWrittenRaw, loadYaml } from "../../src/yaml.js";
import {
  type Decision, type PolicyErrorItem, type Resolution, type ResolveOutcome, checkManifest as referenceCheck,
} from "./reference/index.js";
import type { TestResult } from "./reference/tests.js";

interface Approval {
  /** The engine's pending id (null: the escalation recorded nothing). */
  pending: string | null;
  t: number;
  expires: number;
  /** The counters it recorded pending contributions to (name, definition, window). */
  counters: { name: string; definition: string; windowMs: number }[];
  resolved: boolean;
}

function load(manifest: unknown): Policy {
  return Policy.fromObject(manifest, { filename: "manifest.json" });
}

/** ReferenceSession on the engine: a Policy with its own in-memory state. */
export class EngineSession {
  policy: Policy;
  private readonly approvals = new Map<number, Approval>();
  private nextApproval = 1;

  constructor(manifest: unknown) {
    this.policy = load(manifest);
  }

  decide(action: unknown, now: number): { decision: Decision; approval: number | null } {
    const step = this.policy.step(action, { now });
    const decision = step.decision as Decision;
    let approval: number | null = null;
    if (decision.decision === "escalate") {
      approval = this.nextApproval++;
      const counters = step.entries.map((e) => this.policy.counters.find((c) => c.name === e.counter)!);
      this.approvals.set(approval, { pending: step.pending, t: now, expires: now + decision.timeout_ms!, counters, resolved: false });
      if ((step.pending === null) !== (step.entries.length === 0)) {
        throw new Error(`engine: an escalation with ${step.entries.length} entries has pending id ${step.pending}`);
      }
    } else if (step.pending !== null) {
      throw new Error(`engine: a ${decision.decision} decision has a pending id`);
    }
    return { decision, approval };
  }

  resolve(approval: number, resolution: Resolution, now: number): ResolveOutcome {
    const a = this.approvals.get(approval);
    if (a === undefined) return "unknown approval";
    const changed = a.pending === null ? false : this.policy.resolve(a.pending, resolution, now);
    const outcome: ResolveOutcome = a.resolved ? "already resolved" : now >= a.expires ? "expired" : "resolved";
    if (outcome === "resolved") a.resolved = true;
    // The store has nothing left to resolve when no pending contribution is
    // left in its window (or in a counter a reload kept).
    const expected = outcome === "resolved" && a.counters.some((c) => now < a.t + c.windowMs);
    if (changed !== expected) {
      throw new Error(`engine: Policy#resolve(${a.pending}, ${resolution}, ${now}) returned ${changed} for an approval that is ${outcome}`);
    }
    return outcome;
  }

  /** A policy reload: a new Policy that adopts the state (spec section 8, identity of state). */
  reload(manifest: unknown): void {
    const next = load(manifest);
    next.adoptState(this.policy);
    this.policy = next;
    const kept = new Set(next.counters.map((c) => JSON.stringify([c.name, c.definition, c.windowMs])));
    for (const a of this.approvals.values()) a.counters = a.counters.filter((c) => kept.has(JSON.stringify([c.name, c.definition, c.windowMs])));
  }
}

/** CounterState on the engine: a store made by the first policy that decides with it. */
export class EngineState {
  store: MemoryCounterStore | null = null;
}

/** ReferencePolicy on the engine. */
export class EnginePolicy {
  readonly policy: Policy;

  constructor(manifest: unknown) {
    this.policy = load(manifest);
  }

  static load(manifest: unknown): EnginePolicy {
    return new EnginePolicy(manifest);
  }

  /** Without a context: empty counters at time 0, nothing kept. With one: at
   *  `now` against `state`, recording there. */
  evaluate(action: unknown, context?: { now: number; state: EngineState }): Decision {
    if (context === undefined) return this.policy.step(action, { now: 0, state: this.policy.newState() }).decision as Decision;
    const { now, state } = context;
    if (!(state instanceof EngineState)) throw new TypeError("an EnginePolicy decides with an EngineState");
    if (this.policy.stateful) state.store ??= this.policy.newState();
    return this.policy.step(action, { now, state: state.store ?? undefined }).decision as Decision;
  }
}

type Node = { pointer: string; at: "key" | "value" };

/** Every node of the manifest's JSON text by position ("line:col"), in document order. */
function nodesByPosition(value: unknown, locate: (pointer: string, at: "key" | "value") => { line: number; column: number }): Map<string, Node[]> {
  const out = new Map<string, Node[]>();
  const add = (pointer: string, at: "key" | "value") => {
    const p = locate(pointer, at);
    const k = `${p.line}:${p.column}`;
    if (!out.has(k)) out.set(k, []);
    out.get(k)!.push({ pointer, at });
  };
  const token = (k: string) => k.replaceAll("~", "~0").replaceAll("/", "~1");
  const walk = (v: unknown, pointer: string, keyed: boolean) => {
    if (keyed) add(pointer, "key");
    add(pointer, "value");
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${pointer}/${i}`, false));
    else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) walk(x, `${pointer}/${token(k)}`, true);
  };
  walk(value, "", false);
  return out;
}

/** The engine's policy errors of `manifest` as {pointer, at, message}: each
 *  position mapped back to the node that starts there in the text the engine
 *  read (JSON.stringify(manifest, null, 2) with escapes for what YAML may not hold, as
 *  Policy.fromObject prints it). */
export function engineCheckManifest(manifest: unknown): PolicyErrorItem[] {
  let problems: readonly PolicyProblem[] = [];
  try {
    load(manifest);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    problems = e.errors;
  }
  if (problems.length === 0) return [];
  const loaded = loadYaml(escapeWrittenRaw(JSON.stringify(manifest, null, 2)), "manifest.json");
  if (!loaded.ok) throw new Error(`the manifest's JSON text does not load: ${JSON.stringify(loaded.problems)}`);
  const { value, locate } = loaded.yaml;
  const reference = referenceCheck(manifest);
  const same = (a: PolicyErrorItem, b: PolicyErrorItem) => a.pointer === b.pointer && a.at === b.at && a.message === b.message;
  const at = (n: Node) => {
    const p = locate(n.pointer, n.at);
    return `${p.line}:${p.column}`;
  };
  let index: Map<string, Node[]> | null = null;
  const items = problems.map((p): PolicyErrorItem => {
    const here = `${p.line}:${p.column}`;
    // The node the reference names, when it starts at this position with this message
    // (the common case: no need to index every node of a large manifest).
    const named = reference.find((r) => r.message === p.message && at(r) === here);
    if (named !== undefined) return named;
    index ??= nodesByPosition(value, locate);
    const node = index.get(here)?.[0] ?? { pointer: `<no node at ${here}>`, at: "value" as const };
    return { ...node, message: p.message };
  });
  // The reference's order, when both report the same errors.
  const rest = items.slice();
  const ordered: PolicyErrorItem[] = [];
  for (const r of reference) {
    const i = rest.findIndex((x) => same(x, r));
    if (i < 0) return items;
    ordered.push(rest.splice(i, 1)[0]!);
  }
  return rest.length === 0 ? ordered : items;
}

/** runTests on the engine (src/policy-tests.ts), in the reference's result shape. */
export function engineRunTests(manifest: unknown): TestResult[] {
  return runPolicyTests(load(manifest)).map((r) => ({
    name: r.name,
    passed: r.failures.length === 0,
    failures: r.failures.map((f) => ({
      step: f.step,
      expected: f.rule === undefined ? { decision: f.expect } : { decision: f.expect, rule: f.rule },
      actual: f.actual as Decision,
    })),
  }));
}
