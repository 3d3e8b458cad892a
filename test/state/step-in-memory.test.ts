// Policy.step against an in-memory store (src/policy.ts, stepInMemory): it caches the store's
// counter handles per store table, moves the store's clock only when it reads a sum, and reads
// the store it is given — each checked against what the store itself says.
import { describe, expect, it } from "vitest";
import { Policy } from "../../src/policy.js";
import { MemoryCounterStore } from "../../src/state/memory-store.js";

const yaml = `tollgate: 1
name: limits
counters:
  calls:
    per: [agent.id]
    window: 1m
  refunded:
    per: [agent.id]
    window: 1h
    sum: args.amount
rules:
  - id: too-many
    effect: deny
    reason: more than 2 calls a minute
    when: { $calls: { gt: 2 } }
  - id: ok
    effect: allow
    when: { tool: pay }
`;

const pay = (agent: string | undefined, amount = 1) => ({ tool: "pay", args: { amount }, ...(agent === undefined ? {} : { agent: { id: agent } }) });

describe("Policy.step with an in-memory store", () => {
  it("decides and records as the store sums say", () => {
    const p = Policy.fromYaml(yaml);
    expect(p.evaluate(pay("a", 5), { now: 1000 }).decision).toBe("allow");
    expect(p.evaluate(pay("a", 7), { now: 1001 }).decision).toBe("allow");
    const third = p.evaluate(pay("a"), { now: 1002 });
    expect(third.decision).toBe("deny");
    expect(third.counters).toEqual({ calls: 3 }); // a rule sees the stored sum and this action's part
    expect(p.state!.sum("refunded", ["a"], 1002)).toBe(12);
    // a minute later the calls have left the window; the refunds have not
    expect(p.evaluate(pay("a"), { now: 61_001 }).decision).toBe("allow");
    expect(p.state!.sum("refunded", ["a"], 61_001)).toBe(13);
  });

  it("a decision that reads no sum (no key) leaves the store's clock where it was", () => {
    const p = Policy.fromYaml(yaml);
    p.evaluate(pay("a"), { now: 500 });
    expect(p.state!.clock).toBe(500);
    // no agent: the key is UNKNOWN, so is $calls, and the deny rule denies (undetermined)
    expect(p.evaluate(pay(undefined), { now: 9_000 })).toMatchObject({ decision: "deny", undetermined: true });
    expect(p.state!.clock).toBe(500);
  });

  it("reads the store it is given, alternating, and a store replaced by useState or changed by retain", () => {
    const p = Policy.fromYaml(yaml);
    const a = p.newState();
    const b = p.newState();
    p.step(pay("x"), { now: 1, state: a });
    p.step(pay("x"), { now: 2, state: a });
    expect(p.step(pay("x"), { now: 3, state: b }).decision.decision).toBe("allow");
    expect(p.step(pay("x"), { now: 4, state: a }).decision.decision).toBe("deny");
    expect(p.step(pay("x"), { now: 5, state: b }).decision.decision).toBe("allow");
    expect(p.step(pay("x"), { now: 6, state: b }).decision.decision).toBe("deny");

    // useState: the next step reads the new store, not handles of the old one
    p.evaluate(pay("y"), { now: 10 });
    p.evaluate(pay("y"), { now: 11 });
    const fresh = p.newState();
    p.useState(fresh);
    expect(p.evaluate(pay("y"), { now: 12 }).decision).toBe("allow");

    // retain drops a counter and brings it back empty: the cached handle must not read the old one
    fresh.retain([{ name: "refunded", windowMs: 3_600_000, definition: p.counters.find((c) => c.name === "refunded")!.definition }]);
    fresh.retain(p.counters.map((c) => ({ name: c.name, windowMs: c.windowMs, definition: c.definition })));
    expect(fresh.sum("calls", ["y"], 13)).toBe(0);
    // read from the new, empty counter (a handle of the dropped one would still see y's call at 12)
    expect(p.evaluate(pay("y"), { now: 13 })).toMatchObject({ decision: "allow", counters: { calls: 1 } });
    expect(fresh.sum("calls", ["y"], 13)).toBe(1);
  });

  it("a store that lacks a counter the policy reads is an error, as the store says it", () => {
    const p = Policy.fromYaml(yaml);
    const other = new MemoryCounterStore([{ name: "refunded", windowMs: 3_600_000, definition: "x" }]);
    other.record([{ counter: "refunded", key: ["z"], amount: 1 }], 0);
    expect(() => p.step(pay("z"), { now: 5000, state: other })).toThrow("unknown counter 'calls'");
    // refused before the store was touched: its clock and entries as they were
    expect(other.clock).toBe(0);
    expect(other.size().entries).toBe(1);
    // no key: no sum is read, so nothing is missed
    expect(p.step(pay(undefined), { now: 2, state: other }).decision).toMatchObject({ decision: "deny", undetermined: true });
    expect(other.clock).toBe(0);
  });
});
