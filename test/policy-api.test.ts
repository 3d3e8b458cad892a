// The Node Policy API: loading, hashing, errors, batches, and failing closed on bad input.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_TEXT, Policy, PolicyError } from "../src/index.js";
import { canonicalJson, sha256Hex } from "../src/canonical.js";

const BILLING = `tollgate: 1
name: billing-agent
approvers:
  finance-oncall:
    timeout: 15m
audit:
  redact: [args.card_number]
rules:
  - id: block-big
    effect: deny
    reason: too big
    when: { args.amount: { gt: 10000 } }
  - group: payments
    when: { tool: { prefix: "payments." } }
    rules:
      - id: large-refund
        effect: escalate
        approver: finance-oncall
        timeout: 30m
        reason: Refunds over 500 need a human
        when: { args.amount: { gt: 500 } }
      - id: refunds
        effect: allow
        when: { tool: payments.refund }
tests:
  - name: big refund escalates
    action: { tool: payments.refund, args: { amount: 900 } }
    expect: escalate
    rule: large-refund
`;

function errorOf(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
  throw new Error("expected a PolicyError");
}

describe("Policy loading", () => {
  const policy = Policy.fromYaml(BILLING, { filename: "billing.yaml" });

  it("exposes name, rules, fields, redact and tests", () => {
    expect(policy.name).toBe("billing-agent");
    expect(policy.rules.map((r) => r.id)).toEqual(["block-big", "large-refund", "refunds"]);
    expect(policy.fields).toContainEqual(["tool"]);
    expect(policy.fields).toContainEqual(["args", "amount"]);
    expect(policy.redact).toEqual([["args", "card_number"]]);
    expect(policy.tests).toHaveLength(1);
  });

  it("fromObject refuses what JSON cannot hold, instead of loading something else in its place", () => {
    const withWhen = (when: unknown) => ({ tollgate: 1, name: "p", default: "allow", rules: [{ id: "d", effect: "deny", reason: "r", when }] });
    const refused = [
      withWhen({ "args.amount": Infinity }), // JSON.stringify: null, so {amount: null} was denied and 5 allowed
      withWhen({ "args.amount": NaN }),
      withWhen({ "args.amount": { in: [1, NaN] } }),
      withWhen({ "args.amount": { in: [1, undefined] } }),
      withWhen({ "args.amount": { in: [1, , 2] } }), // a hole
      withWhen({ "args.at": new Date(0) }), // its toJSON string
      withWhen({ "args.at": { toJSON: () => "x" } }),
      withWhen(new Map([["tool", "x"]])), // {}
      withWhen({ "args.n": Object(5) }),
      withWhen({ "args.n": 5n }),
      withWhen({ tool: () => "x" }),
      withWhen({ tool: Symbol("x") }),
    ];
    for (const m of refused) {
      let err: unknown;
      try {
        Policy.fromObject(m);
      } catch (e) {
        err = e;
      }
      expect(err, String(m.rules[0]!.when)).toBeInstanceOf(PolicyError);
      expect((err as PolicyError).message).toContain("the manifest cannot be represented as JSON");
    }
    // Plain values load; a property that is undefined is absent, as in JSON.stringify.
    const ok = Policy.fromObject({ ...withWhen({ "args.amount": { in: [1, 2.5, -0] }, "args.s": "x", "args.b": true, "args.z": null }), description: undefined });
    expect(ok.evaluate({ args: { amount: 2.5, s: "x", b: true, z: null } }).rule).toBe("d");
    expect(() => Policy.fromObject(Object.assign(Object.create(null), { tollgate: 1, name: "n", rules: [] }))).not.toThrow();
  });

  it("hashes the canonical manifest: formatting and key order do not change the hash", () => {
    const reordered = Policy.fromObject(JSON.parse(JSON.stringify({ rules: [], name: "x", tollgate: 1 })));
    const same = Policy.fromYaml("name: x\nrules: []\ntollgate: 1.0\n");
    expect(reordered.hash).toBe(same.hash);
    expect(reordered.hash).toBe(sha256Hex(canonicalJson({ tollgate: 1, name: "x", rules: [] })));
    expect(policy.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(policy.hash).not.toBe(same.hash);
  });

  it("loads from a file and reports the file name in errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-"));
    const good = join(dir, "good.yaml");
    writeFileSync(good, BILLING);
    expect(Policy.fromFile(good).name).toBe("billing-agent");
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "tollgate: 1\nname: b\nrules:\n  - id: r\n    efect: deny\n");
    const err = errorOf(() => Policy.fromFile(bad));
    expect(err.file).toBe(bad);
    // one typo, one error: at the key, not also "missing required key 'effect'" at the rule
    expect(err.errors.map((e) => `${e.line}:${e.column}`)).toEqual(["5:5"]);
    expect(err.format()).toContain(`${bad}:5:5: error: unknown key 'efect' in rule (did you mean 'effect'?)`);
  });

  it("reports a missing file as a policy error, not a crash", () => {
    const err = errorOf(() => Policy.fromFile("/nonexistent/policy.yaml"));
    expect(err.message).toContain("cannot read the policy");
    expect([err.line, err.column]).toEqual([1, 1]);
  });

  it("lists every error, sorted by position, and loads nothing", () => {
    const err = errorOf(() => Policy.fromYaml("tollgate: 2\nname: 'bad name'\nrules: {}\nextra: 1\n", { filename: "p.yaml" }));
    expect(err.errors.map((e) => [e.line, e.column])).toEqual([[1, 11], [2, 7], [3, 8], [4, 1]]);
    expect(err.line).toBe(1);
    expect(err.file).toBe("p.yaml");
  });

  it("reports YAML syntax errors with the parser's positions", () => {
    const err = errorOf(() => Policy.fromYaml("tollgate: 1\nname: x\nrules: [\n", { filename: "s.yaml" }));
    expect(err.file).toBe("s.yaml");
    expect(err.line).toBeGreaterThanOrEqual(3);
  });

  it("rejects duplicate YAML keys, NaN and infinities", () => {
    expect(errorOf(() => Policy.fromYaml("tollgate: 1\nname: x\nname: y\nrules: []\n")).line).toBe(3);
    const inf = errorOf(() => Policy.fromYaml("tollgate: 1\nname: x\nrules:\n  - id: r\n    effect: allow\n    when: { a: { gt: .inf } }\n"));
    expect([inf.line, inf.column]).toEqual([6, 22]);
  });

  it("rejects recursive and exploding aliases with a position instead of overflowing", () => {
    const cyclic = errorOf(() => Policy.fromYaml("tollgate: 1\nname: x\nrules: []\ndescription: &x [*x]\n"));
    expect([cyclic.line, cyclic.column, cyclic.message]).toEqual([4, 18, "alias *x refers to a node that contains it"]);
    const lol = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) lol.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill("*" + String.fromCharCode(96 + i)).join(", ")}]`);
    expect(() => Policy.fromYaml(`tollgate: 1\nname: x\nrules: []\ntests: []\n${lol.join("\n")}\n`)).toThrow(PolicyError);
  });

  it("says a condition nests too deeply, at the 65th level or, past what the parser can read, where it gave up", () => {
    const rule = "tollgate: 1\nname: x\nrules:\n  - id: r\n    effect: allow\n    when: ";
    const nested = (n: number) => `${rule}${"{ not: ".repeat(n)}{ tool: x }${" }".repeat(n)}\n`;
    const at65 = errorOf(() => Policy.fromYaml(nested(100)));
    expect([at65.line, at65.column, at65.message]).toEqual([6, 11 + 7 * 64, "condition nesting is deeper than 64 levels"]);
    // Deep enough that the YAML parser runs out of stack: still a policy error with a position.
    const deep = errorOf(() => Policy.fromYaml(nested(5000)));
    expect(deep.line).toBe(6);
    expect(deep.message).toMatch(/the YAML is nested too deeply/);
  });

  it("bounds YAML nesting at 512 mappings and lists, as the Python host does (not at what the stack allows)", () => {
    const groups = (n: number) => {
      let s = "tollgate: 1\nname: g\nrules:\n";
      let ind = "  ";
      for (let i = 0; i < n; i++, ind += "    ") s += `${ind}- group: g${i}\n${ind}  rules:\n`;
      return `${s}${ind}- { id: r, effect: allow }\n`;
    };
    // The document, its rules, 2 per group, the innermost rule: 254 groups are 511 levels.
    expect(Policy.fromYaml(groups(254)).rules).toHaveLength(1);
    const err = errorOf(() => Policy.fromYaml(groups(255)));
    expect([err.line, err.column, err.message]).toEqual([1, 1, "the YAML is nested too deeply (more than 512 mappings and lists inside one another; conditions may nest at most 64 levels)"]);
  });

  it("reads a lone CR as a line break, as YAML 1.2 does, and counts lines by it", () => {
    expect(Policy.fromYaml("tollgate: 1\rname: cr\rrules:\r  - id: r\r    effect: allow\r").name).toBe("cr");
    const e = errorOf(() => Policy.fromYaml("tollgate: 1\rname: cr\rrules:\r  - id: r\r    effect: allow\r    efect: x\r"));
    expect([e.line, e.column]).toEqual([6, 5]);
  });

  it("keeps YAML 1.2 core schema meaning: yes/no/on are strings", () => {
    const p = Policy.fromYaml("tollgate: 1\nname: x\nrules:\n  - id: r\n    effect: allow\n    when: { country: no, on: yes }\n");
    expect(p.evaluate({ country: "no", on: "yes" }).decision).toBe("allow");
    expect(p.evaluate({ country: false, on: true }).decision).toBe("deny");
  });
});

describe("Policy evaluation", () => {
  const policy = Policy.fromYaml(BILLING, { filename: "billing.yaml" });

  it("decides as spec section 4 says", () => {
    expect(policy.evaluate({ tool: "payments.refund", args: { amount: 900 } })).toEqual({
      decision: "escalate", rule: "large-refund", reason: "Refunds over 500 need a human", undetermined: false,
      approver: "finance-oncall", timeout_ms: 1_800_000, on_timeout: "deny", policy: "billing-agent",
    });
    expect(policy.evaluate({ tool: "payments.refund", args: { amount: 10 } }).rule).toBe("refunds");
    expect(policy.evaluate({ tool: "payments.refund", args: { amount: "900" } })).toMatchObject({ decision: "deny", rule: "block-big", undetermined: true });
    expect(policy.evaluate({ tool: "other", args: { amount: 1 } })).toEqual({
      decision: "deny", rule: null, reason: "no rule matched", undetermined: false, policy: "billing-agent",
    });
  });

  it("never throws on bad actions: each is a deny with error", () => {
    const bad: unknown[] = [null, 42, "str", [1, 2], undefined, new Date(), new Map()];
    for (const action of bad) {
      expect(policy.evaluate(action)).toEqual({
        decision: "deny", rule: null, reason: ERROR_TEXT[2], undetermined: false, error: ERROR_TEXT[2], policy: "billing-agent",
      });
    }
    for (const amount of [NaN, Infinity, 10n, () => 1, Symbol("x"), new Date()]) {
      expect(policy.evaluate({ tool: "payments.refund", args: { amount } }).error).toBe(ERROR_TEXT[7]);
    }
  });

  it("does not inspect parts of an action that the policy never reads", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const action = { tool: "payments.refund", args: { amount: 10, blob: "x".repeat(3_000_000), deep }, other: { nan: NaN } };
    expect(policy.evaluate(action).rule).toBe("refunds");
  });

  it("denies when the values it reads exceed 1 MiB or nest too deeply", () => {
    const p = Policy.fromYaml("tollgate: 1\nname: big\ndefault: allow\nrules:\n  - id: r\n    effect: deny\n    reason: r\n    when: { s: { prefix: zzz } }\n");
    expect(p.evaluate({ s: "a".repeat(1_048_576) })).toMatchObject({ decision: "allow", rule: null });
    expect(p.evaluate({ s: "a".repeat(1_048_577) }).error).toBe(ERROR_TEXT[3]);
    expect(p.evaluate({ s: "é".repeat(600_000) }).error).toBe(ERROR_TEXT[3]);
    let deep: unknown = [];
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(p.evaluate({ s: deep }).error).toBe(ERROR_TEXT[4]);
    expect(p.evaluate({ s: Array.from({ length: 70_000 }, () => 1) }).error).toBe(ERROR_TEXT[3]);
  });

  it("only reads own keys: inherited names such as toString are absent", () => {
    const p = Policy.fromYaml("tollgate: 1\nname: own\nrules:\n  - id: r\n    effect: allow\n    when: { toString: { exists: false }, constructor.name: { exists: false } }\n");
    expect(p.evaluate({}).decision).toBe("allow");
    expect(p.evaluate({ toString: "x" }).decision).toBe("deny");
    expect(p.evaluate(JSON.parse('{"__proto__": {"x": 1}}')).decision).toBe("allow");
  });

  it("gives the same decisions one by one and in batches of any size, across region flushes", () => {
    const actions: unknown[] = [];
    for (let i = 0; i < 10_000; i++) {
      actions.push(i % 7 === 0 ? "not an object" : { tool: i % 3 ? "payments.refund" : "payments.charge", args: { amount: (i * 37) % 12_000, note: "n".repeat(i % 500) } });
    }
    actions.push({ tool: "payments.refund", args: { amount: 1, note: "x".repeat(900_000) } });
    actions.push({ tool: "payments.refund", args: { amount: 2_000, note: "y".repeat(900_000) } });
    const one = actions.map((a) => policy.evaluate(a));
    expect(policy.evaluateBatch(actions)).toEqual(one);
    expect(policy.evaluateBatch([])).toEqual([]);
  });

  it("evaluates JSON lines: a bad line is a deny with error and the others still decide", () => {
    const out = policy.evaluateLines(['{"tool":"payments.refund","args":{"amount":1}}', "{oops", "[]"]);
    expect(out.map((d) => d.rule)).toEqual(["refunds", null, null]);
    expect(out[1]!.error).toBe(ERROR_TEXT[1]);
    expect(out[2]!.error).toBe(ERROR_TEXT[2]);
  });

  it("fails closed when the engine traps, and recovers", () => {
    const p = Policy.fromYaml(BILLING);
    const breakCore = () => {
      (p as unknown as { session: { evaluate: (n: number) => number } }).session.evaluate = () => {
        throw new WebAssembly.RuntimeError("unreachable");
      };
    };
    breakCore();
    expect(p.evaluate({ tool: "payments.refund", args: { amount: 1 } })).toMatchObject({ decision: "deny", error: ERROR_TEXT[6] });
    breakCore();
    expect(p.evaluateBatch([{ tool: "payments.refund" }, 5])).toMatchObject([{ error: ERROR_TEXT[6] }, { error: ERROR_TEXT[6] }]);
    expect(p.evaluate({ tool: "payments.refund", args: { amount: 1 } }).rule).toBe("refunds");
  });

  it("returns frozen decisions", () => {
    const d = policy.evaluate({ tool: "payments.refund", args: { amount: 1 } });
    expect(Object.isFrozen(d)).toBe(true);
  });
});
