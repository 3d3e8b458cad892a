// Spec section 8 (counters) and the sequence tests of section 7: cases taken
// from the spec's text, bullet by bullet, written once and run against any
// implementation with the reference interpreter's interface
// (test/support/reference/): the reference itself (test/reference-counters.test.ts)
// and the engine, the core through the Node host (test/engine-counters.test.ts,
// via test/support/engine-session.ts).
import { describe, expect, it } from "vitest";
import type { Decision, PolicyErrorItem, Resolution, ResolveOutcome } from "./support/reference/index.js";
import type { TestResult } from "./support/reference/tests.js";

/** A policy with its counter state, as a running host holds it (ReferenceSession). */
export interface SessionLike {
  decide(action: unknown, now: number): { decision: Decision; approval: number | null };
  resolve(approval: number, resolution: Resolution, now: number): ResolveOutcome;
  reload(manifest: unknown): void;
}

/** A loaded policy (ReferencePolicy): `evaluate` without a state reads empty
 *  counters at time 0 and records nothing; with one, it decides at `now` and records there. */
export interface PolicyLike {
  evaluate(action: unknown, context?: { now: number; state: any }): Decision;
}

/** What the cases need of an implementation. */
export interface CounterBackend {
  /** A session on a valid manifest; throws `PolicyError` on an invalid one. */
  Session: new (manifest: any) => SessionLike;
  /** `new Policy(m)` for a manifest known to be valid; `Policy.load(m)` checks it first. */
  Policy: { new (manifest: any): PolicyLike; load(manifest: any): PolicyLike };
  /** An empty counter state, for `Policy#evaluate`. */
  CounterState: new () => unknown;
  /** What loading an invalid manifest throws. */
  PolicyError: abstract new (...args: any[]) => Error;
  /** Every policy error of a manifest, as {pointer, at, message}, in the reference's order. */
  checkManifest(manifest: unknown): PolicyErrorItem[];
  /** Runs a manifest's tests (spec section 7). */
  runTests(manifest: unknown): TestResult[];
  /**
   * Whether a state's time never goes back: a call with a time earlier than the
   * latest it was given is taken at that latest time (src/state/memory-store.ts,
   * a host's choice where the spec does not say whether calls may arrive out of
   * time order). Without it (the reference), every call is at the time given.
   */
  monotonicClock?: boolean;
}

export function counterCases(backend: CounterBackend): void {
  const { Session, Policy, CounterState, PolicyError, checkManifest, runTests } = backend;

  const H = 3_600_000;
  const D = 24 * H;

  /** The spec's section 8 example, with the approver it names. */
  const example = {
    tollgate: 1,
    name: "billing-agent",
    default: "allow",
    approvers: { "finance-oncall": { timeout: "15m" } },
    counters: {
      refunds_per_hour: { per: ["agent.id"], window: "1h", when: { tool: "payments.refund" } },
      refunded_per_day: { per: ["agent.id"], window: "1d", when: { tool: "payments.refund" }, sum: "args.amount" },
      read_secrets: { per: ["session.id"], window: "30d", when: { tool: { prefix: "vault." } } },
    },
    rules: [
      { id: "refund-rate", effect: "deny", reason: "More than 5 refunds an hour", when: { tool: "payments.refund", $refunds_per_hour: { gt: 5 } } },
      {
        id: "refund-budget", effect: "escalate", approver: "finance-oncall", reason: "More than 2000 refunded today",
        when: { tool: "payments.refund", $refunded_per_day: { gt: 2000 } },
      },
      { id: "no-exfiltration", effect: "deny", reason: "This session has read secrets", when: { tool: { prefix: "http." }, $read_secrets: { gte: 1 } } },
    ],
  };

  const refund = (agent: unknown, amount: unknown = 10) => ({ tool: "payments.refund", agent: { id: agent }, args: { amount } });

  /** A policy with one counter `n` and one deny rule on it. */
  function oneCounter(counter: object, test: object = { gt: 2 }, extra: object = {}) {
    return {
      tollgate: 1,
      name: "p",
      default: "allow",
      approvers: { oncall: { timeout: "10m" }, lenient: { timeout: "10m", on_timeout: "allow" } },
      counters: { n: { window: "1h", ...counter } },
      rules: [{ id: "limit", effect: "deny", reason: "limit", when: { $n: test } }],
      ...extra,
    };
  }

  const errorsOf = (manifest: object): PolicyErrorItem[] => checkManifest(manifest);
  function oneError(manifest: object): PolicyErrorItem {
    const errors = errorsOf(manifest);
    expect(errors, JSON.stringify(errors)).toHaveLength(1);
    return errors[0];
  }

  describe("section 8: the spec's example", () => {
    it("is valid and its decisions carry the referenced counters", () => {
      expect(errorsOf(example)).toEqual([]);
      const s = new Session(example);
      const d = s.decide(refund("bot", 100), 0).decision;
      expect(d).toEqual({
        decision: "allow", rule: null, reason: null, undetermined: false,
        // a refund carries no session.id: read_secrets' key is UNKNOWN (null); the
        // rule reading it also needs an http. tool, FALSE here, so it does not apply
        counters: { refunds_per_hour: 1, refunded_per_day: 100, read_secrets: null },
        policy: "billing-agent",
      });
      expect(Object.keys(d)).toEqual(["decision", "rule", "reason", "undetermined", "counters", "policy"]);
    });
    it("{ gt: 5 } reads 'this would be the sixth'", () => {
      const s = new Session(example);
      const out = Array.from({ length: 7 }, (_, i) => s.decide(refund("bot"), i * 1000).decision);
      expect(out.map((d) => d.decision)).toEqual(["allow", "allow", "allow", "allow", "allow", "deny", "deny"]);
      expect(out[5]).toMatchObject({ rule: "refund-rate", counters: { refunds_per_hour: 6 } });
      expect(out[6].counters!.refunds_per_hour).toBe(6); // the denied sixth spent nothing
      // per agent.id: another agent has its own key
      expect(s.decide(refund("other"), 10_000).decision.counters!.refunds_per_hour).toBe(1);
    });
    it("a budget test compares the total including this amount", () => {
      const s = new Session(example);
      expect(s.decide(refund("bot", 1500), 0).decision.decision).toBe("allow");
      expect(s.decide(refund("bot", 500), 1).decision).toMatchObject({ decision: "allow", counters: { refunded_per_day: 2000 } });
      expect(s.decide(refund("bot", 0.5), 2).decision).toMatchObject({ decision: "escalate", rule: "refund-budget", counters: { refunded_per_day: 2000.5 } });
    });
    it("no outbound request in a session that has read a secret", () => {
      const s = new Session(example);
      const http = { tool: "http.get", session: { id: "s1" } };
      expect(s.decide(http, 0).decision.decision).toBe("allow");
      expect(s.decide({ tool: "vault.read", session: { id: "s1" } }, 1).decision.decision).toBe("allow");
      expect(s.decide(http, 2).decision).toMatchObject({ decision: "deny", rule: "no-exfiltration", counters: { read_secrets: 1 } });
      expect(s.decide({ tool: "http.get", session: { id: "s2" } }, 3).decision.decision).toBe("allow");
      expect(s.decide(http, 30 * D).decision.decision).toBe("deny"); // read at 1: counts while now < 1 + 30d
      expect(s.decide(http, 1 + 30 * D).decision.decision).toBe("allow");
    });
  });

  describe("section 8: names and references", () => {
    it("a reference's value is a number; every test applies as to a number", () => {
      const p = (test: object) => new Policy(oneCounter({}, test));
      expect(p({ eq: 1 }).evaluate({}).decision).toBe("deny"); // own contribution: 1
      expect(p({ in: [1, 2] }).evaluate({}).decision).toBe("deny");
      expect(p({ eq: "1" }).evaluate({}).decision).toBe("allow");
      expect(p({ prefix: "1" }).evaluate({})).toMatchObject({ decision: "deny", undetermined: true }); // prefix on a number
      expect(p({ exists: true }).evaluate({})).toMatchObject({ decision: "deny", undetermined: false });
      expect(p({ exists: false }).evaluate({}).decision).toBe("allow");
    });
    it("when the value is UNKNOWN, every test on it is UNKNOWN, exists included", () => {
      for (const test of [{ exists: false }, { exists: true }, { gt: 100 }, { ne: 5 }, { not_in: [1] }]) {
        const p = new Policy(oneCounter({ per: ["agent.id"] }, test));
        expect(p.evaluate({}), JSON.stringify(test)).toMatchObject({ decision: "deny", undetermined: true, counters: { n: null } });
      }
      // not keeps UNKNOWN
      const p = new Policy({ ...oneCounter({ per: ["agent.id"] }), rules: [{ id: "r", effect: "deny", reason: "r", when: { not: { $n: { gt: 1 } } } }] });
      expect(p.evaluate({})).toMatchObject({ decision: "deny", undetermined: true });
    });
    it('an action key that starts with $ is reached with brackets: ["$ref"].id', () => {
      const m = { ...oneCounter({}), rules: [{ id: "r", effect: "deny", reason: "r", when: { '["$ref"].id': "x" } }] };
      expect(errorsOf(m)).toEqual([]);
      const p = Policy.load(m);
      expect(p.evaluate({ $ref: { id: "x" } }).decision).toBe("deny");
      expect(p.evaluate({ $ref: { id: "y" } }).decision).toBe("allow");
      expect(p.evaluate({})).toMatchObject({ decision: "deny", undetermined: true });
      expect(p.evaluate({}).counters).toBeUndefined(); // no rule references a counter
    });
    it("any valid name is a counter like any other, __proto__ and digits included (decisions carry it)", () => {
      // JSON.parse makes "__proto__" an own key, as a YAML or JSON manifest has it
      const m = JSON.parse(JSON.stringify({
        ...oneCounter({}),
        counters: { PROTO: { window: "1h" }, "7": { window: "1h", per: ["__proto__"] }, constructor: { window: "1h" } },
        rules: [{ id: "r", effect: "deny", reason: "r", when: { $PROTO: { gt: 1 }, $7: { gte: 0 }, $constructor: { gte: 0 } } }],
      }).replaceAll("PROTO", "__proto__"));
      expect(errorsOf(m)).toEqual([]);
      const s = new Session(m);
      const first = s.decide(JSON.parse('{"__proto__": "k"}'), 0).decision;
      expect(first).toMatchObject({ decision: "allow", counters: { ["__proto__"]: 1, 7: 1, constructor: 1 } });
      expect(Object.keys(first.counters!)).toEqual(["7", "__proto__", "constructor"]); // integer-like keys enumerate first
      expect(Object.getPrototypeOf(first.counters)).toBe(Object.prototype);
      expect(JSON.parse(JSON.stringify(first))).toEqual(first);
      expect(s.decide({}, 1).decision).toMatchObject({ decision: "deny", rule: "r", undetermined: true, counters: { ["__proto__"]: 2, 7: null, constructor: 2 } });
    });
    it("references in a group's when are references", () => {
      const m = { ...oneCounter({}), rules: [{ group: "g", when: { $n: { gte: 2 } }, rules: [{ id: "r", effect: "deny", reason: "r" }] }] };
      expect(errorsOf(m)).toEqual([]);
      const s = new Session(m);
      expect(s.decide({}, 0).decision.decision).toBe("allow");
      expect(s.decide({}, 1).decision).toMatchObject({ decision: "deny", counters: { n: 2 } });
    });
    it("a reference to an undeclared counter is an error (with or without counters)", () => {
      expect(oneError({ ...oneCounter({}), rules: [{ id: "r", effect: "deny", reason: "r", when: { $m: 1 } }] })).toEqual({
        pointer: "/rules/0/when/$m", at: "key", message: "unknown counter '$m': declare it under 'counters' (did you mean '$n'?)",
      });
      expect(oneError({ tollgate: 1, name: "p", rules: [{ id: "r", effect: "deny", reason: "r", when: { any: [{ $x: 1 }] } }] })).toMatchObject({
        pointer: "/rules/0/when/any/0/$x", at: "key", message: "unknown counter '$x': declare it under 'counters'",
      });
      expect(oneError({ ...oneCounter({}), rules: [{ id: "r", effect: "deny", reason: "r", when: { $: 1 } }] })).toMatchObject({ pointer: "/rules/0/when/$" });
    });
    it("among equally close counter names, the suggestion is the first in code-unit order (not declaration order)", () => {
      // the core compiles canonical JSON, keys sorted: declaration order is not what it sees
      const m = { ...oneCounter({}), counters: { n: { window: "1h" }, _: { window: "1h" }, m: { window: "1h" } }, rules: [{ id: "r", effect: "deny", reason: "r", when: { $: 1, $o: 1 } }] };
      expect(errorsOf(m)).toEqual([
        { pointer: "/rules/0/when/$", at: "key", message: "unknown counter '$': declare it under 'counters' (did you mean '$_'?)" },
        { pointer: "/rules/0/when/$o", at: "key", message: "unknown counter '$o': declare it under 'counters' (did you mean '$_'?)" },
      ]);
    });
    it("a reference with further segments is an error", () => {
      for (const key of ["$n.x", '$n["x"]', "$n.x.y"]) {
        const e = oneError({ ...oneCounter({}), rules: [{ id: "r", effect: "deny", reason: "r", when: { [key]: 1 } }] });
        expect(e).toMatchObject({ pointer: `/rules/0/when/${key}`, at: "key" });
        expect(e.message).toContain("no further segments");
        expect(e.message).toContain('["$n"]');
      }
    });
    it("a reference inside a counter's own when (any counter's) is an error", () => {
      const m = {
        ...oneCounter({ when: { $n: { gt: 1 } } }),
        counters: {
          n: { window: "1h", when: { $n: { gt: 1 } } },
          m: { window: "1h", when: { not: { all: [{ $n: 1 }] } } },
        },
      };
      const errors = errorsOf(m);
      expect(errors).toEqual([
        { pointer: "/counters/n/when/$n", at: "key", message: "counter 'n': a counter's 'when' cannot read counters ('$n')" },
        { pointer: "/counters/m/when/not/all/0/$n", at: "key", message: "counter 'm': a counter's 'when' cannot read counters ('$n')" },
      ]);
      expect(() => Policy.load(m)).toThrow(PolicyError);
      expect(() => new Session(m)).toThrow(/cannot read counters/);
    });
  });

  describe("section 8: contribution", () => {
    const session = (counter: object, test: object = { gt: 1000 }) => new Session(oneCounter(counter, test));
    it("0 when `when` is FALSE; 1 when TRUE without sum; every action without `when`", () => {
      const s = session({ when: { tool: "a" } });
      expect(s.decide({ tool: "b" }, 0).decision.counters).toEqual({ n: 0 });
      expect(s.decide({ tool: "a" }, 1).decision.counters).toEqual({ n: 1 });
      expect(s.decide({ tool: "b" }, 2).decision.counters).toEqual({ n: 1 });
      const all = session({});
      all.decide({}, 0);
      expect(all.decide({ x: 1 }, 1).decision.counters).toEqual({ n: 2 });
    });
    it("UNKNOWN when `when` is UNKNOWN: the value is UNKNOWN, nothing is recorded", () => {
      const s = session({ when: { tool: "a" } }, { gt: 1 });
      expect(s.decide({}, 0).decision).toMatchObject({ decision: "deny", undetermined: true, counters: { n: null } });
      const t = session({ when: { tool: "a" } });
      expect(t.decide({}, 0).decision).toMatchObject({ decision: "deny", undetermined: true });
      expect(t.decide({ tool: "a" }, 1).decision.counters).toEqual({ n: 1 });
    });
    it("with sum: the number at that path if finite and >= 0", () => {
      const s = session({ sum: "args.amount" });
      expect(s.decide({ args: { amount: 12.5 } }, 0).decision.counters).toEqual({ n: 12.5 });
      expect(s.decide({ args: { amount: 0 } }, 1).decision.counters).toEqual({ n: 12.5 });
      expect(s.decide({ args: { amount: -0 } }, 2).decision.counters).toEqual({ n: 12.5 });
      expect(s.decide({ args: { amount: 1 / 1024 } }, 3).decision.counters).toEqual({ n: 12.5 + 1 / 1024 });
    });
    it("with sum: absent, not a number, or negative is UNKNOWN (a negative amount never earns budget back)", () => {
      const s = session({ sum: "args.amount" }, { gt: 100 });
      expect(s.decide({ args: { amount: 90 } }, 0).decision.decision).toBe("allow");
      for (const amount of [-50, "900", null, true, [1], { v: 1 }, undefined]) {
        expect(s.decide({ args: { amount } }, 1).decision, JSON.stringify(amount)).toMatchObject({
          decision: "deny", undetermined: true, counters: { n: null },
        });
      }
      expect(s.decide({ args: { amount: 10 } }, 2).decision).toMatchObject({ decision: "allow", counters: { n: 100 } });
      expect(s.decide({ args: { amount: 1 } }, 3).decision).toMatchObject({ decision: "deny", undetermined: false, counters: { n: 101 } });
    });
    it("with sum, a FALSE `when` contributes 0 whatever the sum path holds", () => {
      const s = session({ sum: "args.amount", when: { tool: "pay" } });
      expect(s.decide({ tool: "other", args: { amount: -5 } }, 0).decision.counters).toEqual({ n: 0 });
    });
  });

  describe("section 8: key", () => {
    it("strings and numbers (compared as doubles); anything else makes the key UNKNOWN", () => {
      const s = new Session(oneCounter({ per: ["agent.id"] }, { gt: 100 }));
      s.decide({ agent: { id: 1 } }, 0);
      expect(s.decide({ agent: { id: 1.0 } }, 1).decision.counters).toEqual({ n: 2 });
      expect(s.decide({ agent: { id: "1" } }, 2).decision.counters).toEqual({ n: 1 });
      s.decide({ agent: { id: 0 } }, 3);
      expect(s.decide({ agent: { id: -0 } }, 4).decision.counters).toEqual({ n: 2 });
      for (const id of [null, true, [1], { a: 1 }, undefined]) {
        expect(s.decide({ agent: { id } }, 5).decision, JSON.stringify(id)).toMatchObject({ decision: "deny", undetermined: true, counters: { n: null } });
      }
      expect(s.decide({ agent: "x" }, 6).decision.counters).toEqual({ n: null }); // intermediate not an object
    });
    it("an unknown key leaves the value UNKNOWN even when the own contribution is 0", () => {
      const s = new Session(oneCounter({ per: ["agent.id"], when: { tool: "pay" } }, { gt: 100 }));
      expect(s.decide({ tool: "other" }, 0).decision).toMatchObject({ decision: "deny", undetermined: true, counters: { n: null } });
    });
    it("several per paths form one key; [] or absent is one key for all", () => {
      const s = new Session(oneCounter({ per: ["a", "b"] }, { gt: 100 }));
      s.decide({ a: "x", b: 1 }, 0);
      expect(s.decide({ a: "x", b: 1 }, 1).decision.counters).toEqual({ n: 2 });
      expect(s.decide({ a: "x", b: 2 }, 2).decision.counters).toEqual({ n: 1 });
      expect(s.decide({ a: 1, b: "x" }, 3).decision.counters).toEqual({ n: 1 });
      expect(s.decide({ a: "x" }, 4).decision.counters).toEqual({ n: null });
      const all = new Session(oneCounter({ per: [] }, { gt: 100 }));
      all.decide({ agent: { id: 1 } }, 0);
      expect(all.decide({ agent: { id: 2 } }, 1).decision.counters).toEqual({ n: 2 });
    });
    it("keys are per counter: two counters with the same per count separately", () => {
      const m = {
        ...oneCounter({}),
        counters: { a: { per: ["k"], window: "1h", when: { tool: "a" } }, b: { per: ["k"], window: "1h" } },
        rules: [{ id: "r", effect: "deny", reason: "r", when: { $a: { gt: 100 }, $b: { gt: 100 } } }],
      };
      const s = new Session(m);
      s.decide({ tool: "b", k: "x" }, 0);
      expect(s.decide({ tool: "a", k: "x" }, 1).decision.counters).toEqual({ a: 1, b: 2 });
    });
  });

  describe("section 8: value and time", () => {
    it("a contribution recorded at t stops counting at t + window exactly: now - window < t <= now", () => {
      const s = new Session(oneCounter({}, { gt: 100 }));
      s.decide({}, 1000);
      expect(s.decide({ probe: 1 }, 1000 + H - 1).decision.counters).toEqual({ n: 2 });
      const t = new Session(oneCounter({}, { gt: 100 }));
      t.decide({}, 1000);
      expect(t.decide({}, 1000 + H).decision.counters).toEqual({ n: 1 });
    });
    it("a contribution recorded after now does not count (t <= now)", () => {
      const state = new CounterState();
      const p = Policy.load(oneCounter({}, { gt: 100 }));
      p.evaluate({}, { now: 5000, state });
      if (backend.monotonicClock) {
        // the call at 4999 is taken at 5000: the contribution at 5000 counts
        expect(p.evaluate({}, { now: 4999, state }).counters).toEqual({ n: 2 });
      } else {
        expect(p.evaluate({}, { now: 4999, state }).counters).toEqual({ n: 1 });
      }
      expect(p.evaluate({}, { now: 5000, state }).counters).toEqual({ n: 3 });
    });
    it("actions of one key decided at the same now are ordered by arrival", () => {
      const s = new Session(oneCounter({}, { gt: 2 }));
      expect([0, 0, 0, 0].map(() => s.decide({}, 7).decision.decision)).toEqual(["allow", "allow", "deny", "deny"]);
    });
    it("1,000 concurrent actions at a limit of { gt: 50 } yield exactly 50 allows (one-at-a-time order)", () => {
      const s = new Session(oneCounter({ per: ["agent.id"] }, { gt: 50 }));
      const out = Array.from({ length: 1000 }, () => s.decide({ agent: { id: "a" } }, 42).decision.decision);
      expect(out.filter((d) => d === "allow")).toHaveLength(50);
      expect(out.slice(0, 50).every((d) => d === "allow")).toBe(true);
    });
    it("evaluate without a state reads empty counters at time 0 and records nothing", () => {
      const p = Policy.load(oneCounter({}, { gt: 0 }));
      expect(p.evaluate({})).toMatchObject({ decision: "deny", counters: { n: 1 } });
      expect(p.evaluate({})).toMatchObject({ decision: "deny", counters: { n: 1 } });
    });
    it("an input that cannot be evaluated is a deny with error, carries no counters, records nothing", () => {
      const s = new Session(oneCounter({ when: { tool: "a" } }, { gt: 100 }));
      expect(s.decide({ tool: NaN }, 0).decision).toEqual({
        decision: "deny", rule: null, reason: "action contains a value that is not JSON", undetermined: false,
        error: "action contains a value that is not JSON", policy: "p",
      });
      expect(s.decide({ tool: "a" }, 1).decision.counters).toEqual({ n: 1 });
    });
  });

  describe("section 8: recording", () => {
    it("allow is recorded; deny records nothing (a refused action spends no budget)", () => {
      const m = { ...oneCounter({}), rules: [{ id: "r", effect: "deny", reason: "r", when: { $n: { gt: 2 } } }, { id: "x", effect: "deny", reason: "x", when: { bad: true } }] };
      const s = new Session(m);
      expect(s.decide({ bad: true }, 0).decision).toMatchObject({ decision: "deny", rule: "x", counters: { n: 1 } });
      expect(s.decide({ bad: false }, 1).decision).toMatchObject({ decision: "allow", counters: { n: 1 } });
      expect(s.decide({ bad: false }, 2).decision).toMatchObject({ decision: "allow", counters: { n: 2 } });
      expect(s.decide({ bad: false }, 3).decision).toMatchObject({ decision: "deny", rule: "r", counters: { n: 3 } });
      expect(s.decide({ bad: false }, 4).decision).toMatchObject({ decision: "deny", rule: "r", counters: { n: 3 } });
    });
    it("a default deny records nothing either; a default allow records", () => {
      const m = { ...oneCounter({}), default: "deny", rules: [{ id: "r", effect: "allow", when: { ok: true, $n: { lte: 100 } } }] };
      const s = new Session(m);
      s.decide({ ok: false }, 0);
      expect(s.decide({ ok: true }, 1).decision).toMatchObject({ decision: "allow", counters: { n: 1 } });
      expect(s.decide({ ok: true }, 2).decision.counters).toEqual({ n: 2 });
    });

    /** Escalates every action of tool "e" while n (including it) is at most 100; "probe" reads n. */
    function escalating(approver: "oncall" | "lenient") {
      return new Session({
        ...oneCounter({ when: { tool: "e" } }),
        rules: [
          { id: "big", effect: "escalate", approver, reason: "E", when: { tool: "e", $n: { lte: 100 } } },
          { id: "probe", effect: "allow", when: { tool: "probe", $n: { gte: 0 } } },
        ],
      });
    }
    const probe = (s: SessionLike, now: number) => s.decide({ tool: "probe" }, now).decision.counters!.n;
    const TEN_MIN = 600_000;

    it("escalate is recorded as pending; a pending contribution counts like a recorded one", () => {
      const s = escalating("oncall");
      const { decision, approval } = s.decide({ tool: "e" }, 0);
      expect(decision).toMatchObject({ decision: "escalate", rule: "big", timeout_ms: TEN_MIN, on_timeout: "deny", counters: { n: 1 } });
      expect(approval).toEqual(expect.any(Number));
      expect(probe(s, 1)).toBe(1);
    });
    it("approved: the contribution stays, at its original time t for the window", () => {
      const s = escalating("oncall");
      const { approval } = s.decide({ tool: "e" }, 1000);
      expect(s.resolve(approval!, "approved", 5000)).toBe("resolved");
      expect(probe(s, 1000 + TEN_MIN + 1)).toBe(1); // past the expiry: still counts
      expect(probe(s, 1000 + H - 1)).toBe(1);
      expect(probe(s, 1000 + H)).toBe(0); // the window runs from t, not from the approval
    });
    it("denied: the contribution is removed for every later value", () => {
      const s = escalating("lenient");
      const { approval } = s.decide({ tool: "e" }, 0);
      expect(probe(s, 10)).toBe(1);
      expect(s.resolve(approval!, "denied", 20)).toBe("resolved");
      expect(probe(s, 20)).toBe(0);
      expect(probe(s, TEN_MIN + 1)).toBe(0); // on_timeout allow does not bring it back
    });
    it("expired with on_timeout allow: treated as approved from e = t + timeout_ms on", () => {
      const s = escalating("lenient");
      s.decide({ tool: "e" }, 1000);
      expect(probe(s, 1000 + TEN_MIN - 1)).toBe(1);
      expect(probe(s, 1000 + TEN_MIN)).toBe(1);
      expect(probe(s, 1000 + H - 1)).toBe(1);
      expect(probe(s, 1000 + H)).toBe(0);
    });
    it("expired with on_timeout deny: removed for values computed at now >= e", () => {
      const s = escalating("oncall");
      s.decide({ tool: "e" }, 1000);
      expect(probe(s, 1000 + TEN_MIN - 1)).toBe(1);
      expect(probe(s, 1000 + TEN_MIN)).toBe(0);
    });
    it("a resolution at or after e is too late; a second resolution is ignored", () => {
      const s = escalating("oncall");
      const a = s.decide({ tool: "e" }, 0).approval!;
      expect(s.resolve(a, "approved", TEN_MIN)).toBe("expired");
      expect(probe(s, TEN_MIN + 1)).toBe(0);
      const t = escalating("lenient");
      const b = t.decide({ tool: "e" }, 0).approval!;
      expect(t.resolve(b, "denied", TEN_MIN)).toBe("expired");
      expect(probe(t, TEN_MIN + 1)).toBe(1);
      const u = escalating("oncall");
      const c = u.decide({ tool: "e" }, 0).approval!;
      expect(u.resolve(c, "approved", 1)).toBe("resolved");
      expect(u.resolve(c, "denied", 2)).toBe("already resolved");
      expect(probe(u, TEN_MIN)).toBe(1);
      expect(u.resolve(999, "denied", 2)).toBe("unknown approval");
    });
    it("an allow opens no approval; an escalation with nothing to record has one, and resolving it changes no counter", () => {
      const escalateOver100 = { id: "e", effect: "escalate", approver: "oncall", reason: "E", when: { $n: { gt: 100 } } };
      const u = new Session({ ...oneCounter({}), rules: [escalateOver100] });
      expect(u.decide({}, 0)).toMatchObject({ decision: { decision: "allow" }, approval: null });
      // an unknown key: the escalation is undetermined and nothing is recorded
      const unknown = new Session({ ...oneCounter({ per: ["k"] }), rules: [escalateOver100] });
      const step = unknown.decide({}, 0);
      expect(step.decision).toMatchObject({ decision: "escalate", undetermined: true, counters: { n: null } });
      expect(unknown.resolve(step.approval!, "approved", 1)).toBe("resolved");
      expect(unknown.decide({ k: "x" }, 2).decision.counters).toEqual({ n: 1 });
    });
  });

  describe("section 8: identity of state", () => {
    const base = (counters: object) => ({ ...oneCounter({}, { gt: 100 }), counters, rules: [{ id: "r", effect: "deny", reason: "r", when: Object.fromEntries(Object.keys(counters).map((k) => [`$${k}`, { gt: 100 }])) }] });
    it("a reload keeps every counter whose name and definition are unchanged and starts the others empty", () => {
      const before = base({
        same: { per: ["a"], window: "1h", when: { tool: "x" } },
        window: { window: "1h" },
        per: { per: ["a"], window: "1h" },
        when: { window: "1h", when: { tool: "x" } },
        sum: { window: "1h", sum: "v" },
        renamed: { window: "1h" },
      });
      const s = new Session(before);
      s.decide({ tool: "x", a: "k", v: 2 }, 0);
      expect(s.decide({ tool: "x", a: "k", v: 2 }, 1).decision.counters).toEqual({ same: 2, window: 2, per: 2, when: 2, sum: 4, renamed: 2 });
      s.reload(base({
        same: { when: { tool: "x" }, window: "1h", per: ["a"] }, // key order of the mapping does not matter
        window: { window: "2h" },
        per: { per: ["b"], window: "1h" },
        when: { window: "1h", when: { tool: "y" } },
        sum: { window: "1h", sum: "w" },
        renamed2: { window: "1h" },
      }));
      expect(s.decide({ tool: "x", a: "k", b: "k", v: 2, w: 2 }, 2).decision.counters).toEqual({ same: 3, window: 1, per: 1, when: 0, sum: 2, renamed2: 1 });
    });
    it("a definition that only writes the same thing differently keeps its state (1h = 60m, a.b = [\"a\"].b)", () => {
      const s = new Session(base({ c: { window: "1h", per: ["a.b"] } }));
      s.decide({ a: { b: 1 } }, 0);
      s.reload(base({ c: { window: "60m", per: ['["a"].b'] } }));
      expect(s.decide({ a: { b: 1 } }, 1).decision.counters).toEqual({ c: 2 });
    });
    it("a counter dropped by a reload and brought back starts empty", () => {
      const s = new Session(base({ c: { window: "1h" } }));
      s.decide({}, 0);
      s.reload(base({ d: { window: "1h" } }));
      s.reload(base({ c: { window: "1h" } }));
      expect(s.decide({}, 1).decision.counters).toEqual({ c: 1 });
    });
    it("pending contributions survive a reload that keeps their counter and can still be denied", () => {
      const m = { ...oneCounter({}), rules: [{ id: "e", effect: "escalate", approver: "oncall", reason: "E", when: { $n: { lte: 100 } } }] };
      const s = new Session(m);
      const { approval } = s.decide({}, 0);
      s.reload({ ...m, description: "reloaded" });
      expect(s.decide({}, 1).decision.counters).toEqual({ n: 2 });
      s.resolve(approval!, "denied", 2);
      expect(s.decide({}, 3).decision.counters).toEqual({ n: 2 });
    });
  });

  describe("stateless policies", () => {
    it("decide exactly as before, with or without a state, and carry no counters", () => {
      const m = { tollgate: 1, name: "p", approvers: { o: { timeout: "1m" } }, rules: [{ id: "e", effect: "escalate", approver: "o", reason: "E", when: { x: 1 } }] };
      const p = new Policy(m);
      const expected = { decision: "escalate", rule: "e", reason: "E", undetermined: false, approver: "o", timeout_ms: 60000, on_timeout: "deny", policy: "p" };
      expect(p.evaluate({ x: 1 })).toEqual(expected);
      expect(p.evaluate({ x: 1 }, { now: 5, state: new CounterState() })).toEqual(expected);
      expect(new Session(m).decide({ x: 1 }, 0).approval).toEqual(expect.any(Number));
    });
  });

  describe("section 8: limits and errors", () => {
    it("counters must be a mapping", () => {
      expect(oneError({ ...oneCounter({}), counters: [] , rules: [] })).toEqual({
        pointer: "/counters", at: "value", message: "'counters' must be a mapping of counter names to counters, not a list",
      });
    });
    it("more than 64 counters: reported at the 65th counter's name", () => {
      const counters = Object.fromEntries(Array.from({ length: 66 }, (_, i) => [`c${i}`, { window: "1h" }]));
      expect(oneError({ ...oneCounter({}), counters, rules: [] })).toEqual({ pointer: "/counters/c64", at: "key", message: "more than 64 counters: the limit is 64" });
      const ok = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`c${i}`, { window: "1h" }]));
      expect(errorsOf({ ...oneCounter({}), counters: ok, rules: [] })).toEqual([]);
    });
    it("a counter name is 1-64 of [A-Za-z0-9_]", () => {
      for (const name of ["a", "A_9", "x".repeat(64), "_"]) expect(errorsOf({ ...oneCounter({}), counters: { [name]: { window: "1h" } }, rules: [] })).toEqual([]);
      for (const name of ["", "x".repeat(65), "a-b", "a.b", "é", "a b", "$a"]) {
        expect(oneError({ ...oneCounter({}), counters: { [name]: { window: "1h" } }, rules: [] }), name).toMatchObject({
          pointer: `/counters/${name}`, at: "key", message: "counter name must be 1-64 characters of A-Z, a-z, 0-9 or '_'",
        });
      }
    });
    it("a counter must be a mapping with window; unknown keys are errors", () => {
      expect(oneError({ ...oneCounter({}), counters: { n: "1h" } })).toEqual({ pointer: "/counters/n", at: "value", message: "counter 'n' must be a mapping with 'window', not a string" });
      expect(oneError({ ...oneCounter({}), counters: { n: { per: [] } } })).toEqual({ pointer: "/counters/n", at: "value", message: "missing required key 'window' in counter 'n'" });
      expect(oneError(oneCounter({ windwo: "1h" }))).toEqual({ pointer: "/counters/n/windwo", at: "key", message: "unknown key 'windwo' in counter 'n' (did you mean 'window'?)" });
      expect(oneError(oneCounter({ key: ["a"] }))).toMatchObject({ pointer: "/counters/n/key", at: "key" });
    });
    it("window: a duration of at most 30 days", () => {
      for (const w of ["1ms", "30d", "720h", "43200m", "2592000s", "2592000000ms"]) expect(errorsOf(oneCounter({ window: w })), w).toEqual([]);
      for (const w of ["31d", "721h", "2592000001ms", "0s", "0ms", "1w", "1.5h", "-1h", "h", "", " 1h"]) {
        expect(oneError(oneCounter({ window: w })), w).toEqual({
          pointer: "/counters/n/window", at: "value",
          message: `invalid duration '${w}': expected a positive integer followed by ms, s, m, h or d, at most 30 days`,
        });
      }
      expect(oneError(oneCounter({ window: 3600 }))).toEqual({ pointer: "/counters/n/window", at: "value", message: "a duration must be a string such as '30s', '15m' or '2h', not a number" });
    });
    it("per: a list of at most 8 field paths", () => {
      expect(errorsOf(oneCounter({ per: ["a", "b", "c", "d", "e", "f", "g", "h"] }))).toEqual([]);
      expect(oneError(oneCounter({ per: ["a", "b", "c", "d", "e", "f", "g", "h", "i"] }))).toEqual({ pointer: "/counters/n/per", at: "value", message: "'per' has 9 field paths; the limit is 8" });
      expect(oneError(oneCounter({ per: "agent.id" }))).toEqual({ pointer: "/counters/n/per", at: "value", message: "'per' must be a list of at most 8 field paths, not a string" });
      expect(oneError(oneCounter({ per: ["a", 5] }))).toEqual({ pointer: "/counters/n/per/1", at: "value", message: "a 'per' item must be a field path (a string), not a number" });
      // A malformed path is reported in the words the core uses for every field path (assembly/common/path.ts).
      const k17 = Array(17).fill("k").join(".");
      for (const [bad, message] of [
        ["a..b", "empty segment in field path 'a..b'"],
        ["a.", "field path 'a.' ends with '.'"],
        [".a", "empty segment in field path '.a'"],
        ['["x"', `unclosed '["' in field path '["x"'`],
        ['["x\\n"]', `invalid escape '\\n' in field path '["x\\n"]' (only \\" and \\\\)`],
        ['["x\\', `unclosed '["' in field path '["x\\'`],
        ["[x]", `expected '"' after '[' in field path '[x]'`],
        ['["x"]y', `unexpected 'y' in field path '["x"]y'`],
        ["", "empty field path"],
        ["a b", "unexpected ' ' in field path 'a b'"],
        ["a'b", `unexpected "'" in field path 'a'b'`],
        [k17, `field path '${k17}' has more than 16 segments`],
        // spec section 1: a top-level key named all, any or not is written in brackets
        ["all", `a top-level key named 'all' must be written ["all"] in field path 'all'`],
        ["not.x", `a top-level key named 'not' must be written ["not"] in field path 'not.x'`],
      ]) {
        expect(oneError(oneCounter({ per: [bad] })), bad).toEqual({ pointer: "/counters/n/per/0", at: "value", message });
      }
      expect(errorsOf(oneCounter({ per: ['["all"]', "x.any", '["not"].x', Array(16).fill("k").join(".")] }))).toEqual([]);
      expect(oneError(oneCounter({ per: ["$x.id"] }))).toMatchObject({ pointer: "/counters/n/per/0", message: expect.stringContaining('["$x"]') });
      expect(errorsOf(oneCounter({ per: ['["$x"].id', "a.$b"] }))).toEqual([]);
    });
    it("sum: a field path", () => {
      expect(errorsOf(oneCounter({ sum: 'args["amount"]' }))).toEqual([]);
      expect(oneError(oneCounter({ sum: ["args.amount"] }))).toEqual({ pointer: "/counters/n/sum", at: "value", message: "'sum' must be a field path (a string), not a list" });
      expect(oneError(oneCounter({ sum: "args..amount" }))).toEqual({ pointer: "/counters/n/sum", at: "value", message: "empty segment in field path 'args..amount'" });
      expect(oneError(oneCounter({ sum: "any" }))).toEqual({ pointer: "/counters/n/sum", at: "value", message: `a top-level key named 'any' must be written ["any"] in field path 'any'` });
      expect(oneError(oneCounter({ sum: "$n" }))).toMatchObject({ pointer: "/counters/n/sum" });
    });
    it("when: a condition", () => {
      expect(oneError(oneCounter({ when: "always" }))).toMatchObject({ pointer: "/counters/n/when", at: "value" });
    });
    it("every error is reported, not just the first", () => {
      const errors = errorsOf({
        ...oneCounter({}),
        counters: { "bad-name": { window: "40d", per: "x", sum: 1, extra: true } },
        rules: [{ id: "r", effect: "deny", reason: "r", when: { $nope: 1, "$bad-name.x": 2 } }],
      });
      expect(errors.map((e) => e.pointer)).toEqual([
        "/counters/bad-name", "/counters/bad-name/extra", "/counters/bad-name/window", "/counters/bad-name/per", "/counters/bad-name/sum",
        "/rules/0/when/$nope", "/rules/0/when/$bad-name.x",
      ]);
    });
  });

  describe("section 7: sequence tests", () => {
    const policy = (tests: object[]) => ({ ...example, tests });
    const step = (amount: number, expect: string, extra: object = {}) => ({ action: refund("bot", amount), expect, ...extra });

    it("steps share counters; every test starts with empty counters", () => {
      const m = policy([
        { name: "six refunds", steps: [...Array(5).fill(step(1, "allow")), step(1, "deny", { rule: "refund-rate" })] },
        { name: "starts empty", steps: [step(1, "allow")] },
        { name: "single", action: refund("bot", 1), expect: "allow", rule: null },
      ]);
      expect(errorsOf(m)).toEqual([]);
      expect(runTests(m)).toEqual([
        { name: "six refunds", passed: true, failures: [] },
        { name: "starts empty", passed: true, failures: [] },
        { name: "single", passed: true, failures: [] },
      ]);
    });
    it("at: the step's time since the start; windows see it", () => {
      const m = policy([{
        name: "an hour later",
        steps: [...Array(5).fill(step(1, "allow", { at: "0s" })), step(1, "deny", { at: "59m" }), step(1, "allow", { at: "1h" })],
      }]);
      expect(runTests(m)[0]).toEqual({ name: "an hour later", passed: true, failures: [] });
    });
    it("resolve: denied removes, approved keeps; expiry applies later steps' on_timeout", () => {
      const m = policy([
        { name: "denied", steps: [step(2500, "escalate", { resolve: "denied" }), step(100, "allow")] },
        { name: "approved", steps: [step(2500, "escalate", { resolve: "approved" }), step(100, "escalate", { at: "1h" })] },
        { name: "expired (deny)", steps: [step(2500, "escalate"), step(100, "escalate", { at: "14m" }), step(100, "allow", { at: "30m" })] },
        { name: "a day later", steps: [step(2500, "escalate", { resolve: "approved" }), step(100, "allow", { at: "1d" })] },
      ]);
      expect(runTests(m).map((r) => [r.name, r.passed])).toEqual([["denied", true], ["approved", true], ["expired (deny)", true], ["a day later", true]]);
    });
    it("resolve is ignored when the actual decision is not an escalation", () => {
      const m = policy([{ name: "t", steps: [step(10, "escalate", { resolve: "denied" }), step(10, "allow", { rule: null })] }]);
      const [r] = runTests(m);
      expect(r.passed).toBe(false);
      expect(r.failures).toHaveLength(1);
      expect(r.failures[0]).toMatchObject({ step: 0, expected: { decision: "escalate" }, actual: { decision: "allow" } });
    });
    it("a failing step is reported with its index and the test goes on with the actual decision recorded", () => {
      const m = policy([{
        name: "wrong expectations",
        steps: [step(1, "allow"), step(1, "deny"), step(1, "allow", { rule: "refund-rate" }), step(1, "allow"), step(1, "allow"), step(1, "allow")],
      }]);
      const [r] = runTests(m);
      expect(r.passed).toBe(false);
      // step 1 was allowed (recorded), so the sixth refund is step 5
      expect(r.failures.map((f) => f.step)).toEqual([1, 2, 5]);
      expect(r.failures[1]).toMatchObject({ expected: { decision: "allow", rule: "refund-rate" }, actual: { decision: "allow", rule: null } });
      expect(r.failures[2]).toMatchObject({ expected: { decision: "allow" }, actual: { decision: "deny", rule: "refund-rate", counters: { refunds_per_hour: 6 } } });
    });
    it("a single-action test of a policy with counters is a sequence of one step (empty counters, index null on failure)", () => {
      const [r] = runTests(policy([{ name: "one", action: refund("bot", 5000), expect: "allow" }]));
      expect(r).toMatchObject({ passed: false, failures: [{ step: null, expected: { decision: "allow" }, actual: { decision: "escalate", counters: { refunded_per_day: 5000 } } }] });
    });
    it("sequences are allowed in any policy", () => {
      const m = { tollgate: 1, name: "s", rules: [{ id: "a", effect: "allow", when: { ok: true } }], tests: [{ name: "t", steps: [{ action: { ok: true }, expect: "allow", rule: "a" }, { action: {}, expect: "deny", rule: null }] }] };
      expect(runTests(m)).toEqual([{ name: "t", passed: true, failures: [] }]);
    });

    describe("policy errors", () => {
      const err = (t: object) => oneError(policy([t]));
      it("steps: a non-empty list of at most 10,000 steps", () => {
        expect(err({ name: "t", steps: [] })).toEqual({ pointer: "/tests/0/steps", at: "value", message: "'steps' must be a non-empty list of steps, not an empty list" });
        expect(err({ name: "t", steps: {} })).toMatchObject({ pointer: "/tests/0/steps", at: "value" });
        expect(errorsOf(policy([{ name: "t", steps: Array(10_000).fill(step(1, "allow")) }]))).toEqual([]);
        expect(err({ name: "t", steps: Array(10_001).fill(step(1, "allow")) })).toEqual({ pointer: "/tests/0/steps", at: "value", message: "the test has 10001 steps; the limit is 10000" });
      });
      it("a step has action and expect, optionally rule, at and resolve; nothing else", () => {
        expect(err({ name: "t", steps: [{ action: {}, expect: "allow", ruel: "x" }] })).toEqual({ pointer: "/tests/0/steps/0/ruel", at: "key", message: "unknown key 'ruel' in step (did you mean 'rule'?)" });
        expect(err({ name: "t", steps: [{ expect: "allow" }] })).toEqual({ pointer: "/tests/0/steps/0", at: "value", message: "missing required key 'action' in step" });
        expect(err({ name: "t", steps: [{ action: {}, expect: "allw" }] })).toMatchObject({ pointer: "/tests/0/steps/0/expect", message: expect.stringContaining("did you mean 'allow'") });
        expect(err({ name: "t", steps: [{ action: [], expect: "allow" }] })).toMatchObject({ pointer: "/tests/0/steps/0/action" });
        expect(err({ name: "t", steps: [{ action: {}, expect: "allow", rule: 5 }] })).toMatchObject({ pointer: "/tests/0/steps/0/rule" });
        expect(err({ name: "t", action: {}, steps: [step(1, "allow")] })).toMatchObject({ pointer: "/tests/0/action", at: "key" });
      });
      it("at: zero written with any unit or a duration of at most 365 days", () => {
        for (const at of ["0s", "0ms", "0m", "0h", "0d", "365d", "8760h", "1ms"]) expect(errorsOf(policy([{ name: "t", steps: [step(1, "allow", { at })] }])), at).toEqual([]);
        for (const at of ["366d", "8761h", "0", "1", "1w", "-1s", ""]) {
          expect(err({ name: "t", steps: [step(1, "allow", { at })] }), at).toMatchObject({ pointer: "/tests/0/steps/0/at", at: "value", message: expect.stringContaining("at most 365 days") });
        }
        expect(err({ name: "t", steps: [step(1, "allow", { at: 0 })] })).toMatchObject({ pointer: "/tests/0/steps/0/at", at: "value" });
      });
      it("steps must be in non-decreasing at order (absent is zero)", () => {
        expect(errorsOf(policy([{ name: "t", steps: [step(1, "allow", { at: "1s" }), step(1, "allow", { at: "1000ms" }), step(1, "allow", { at: "1m" })] }]))).toEqual([]);
        expect(err({ name: "t", steps: [step(1, "allow", { at: "2s" }), step(1, "allow", { at: "1s" })] })).toEqual({
          pointer: "/tests/0/steps/1/at", at: "value", message: "step 1 at '1s' is earlier than step 0 at '2s': steps must be in non-decreasing 'at' order",
        });
        expect(err({ name: "t", steps: [step(1, "allow", { at: "2s" }), step(1, "allow")] })).toMatchObject({ pointer: "/tests/0/steps/1", at: "value" });
      });
      it("resolve: approved or denied, only on a step whose expect is escalate", () => {
        expect(err({ name: "t", steps: [step(1, "allow", { resolve: "approved" })] })).toEqual({
          pointer: "/tests/0/steps/0/resolve", at: "key", message: "'resolve' is only allowed on a step whose 'expect' is 'escalate'",
        });
        expect(err({ name: "t", steps: [step(1, "escalate", { resolve: "approve" })] })).toEqual({
          pointer: "/tests/0/steps/0/resolve", at: "value", message: "'resolve' must be 'approved' or 'denied' (did you mean 'approved'?)",
        });
      });
      it("runTests refuses a manifest with errors", () => {
        expect(() => runTests(policy([{ name: "t", steps: [] }]))).toThrow(PolicyError);
      });
    });
  });
}
