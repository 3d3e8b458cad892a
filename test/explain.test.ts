// Policy.explain on the billing example: the decision is evaluate's, the tree names what each test
// read (redacted where audit.redact says), a deny lists the closest allow rules, and explaining a
// stateful policy records nothing.

import { describe, expect, it } from "vitest";
import { Policy } from "../src/index.js";
import { failedTests } from "../src/explain.js";
import type { Explanation, FieldExplanation, NodeExplanation, RuleExplanation } from "../src/explain.js";

const billing = Policy.fromFile("examples/billing-agent.yaml");
const stateless = Policy.fromFile("test/fixtures/billing-agent-stateless.yaml");

const refund = (args: Record<string, unknown>) => ({ tool: "payments.refund", agent: { id: "bot" }, args: { order_id: "ord_4821abcd", currency: "EUR", ...args } });

function rule(e: Explanation, id: string): RuleExplanation {
  const r = e.rules.find((x) => x.id === id);
  if (r === undefined) throw new Error(`rule ${id} was not evaluated`);
  return r;
}

function fields(r: RuleExplanation): FieldExplanation[] {
  const out: FieldExplanation[] = [];
  const visit = (n: NodeExplanation): void => {
    if (n.kind === "field") out.push(n);
    else if (n.kind !== "counter") n.children.forEach(visit);
  };
  r.when.forEach((w) => w.conditions.forEach(visit));
  return out;
}

describe("Policy.explain", () => {
  it("gives evaluate's decision for every test action of the example", () => {
    for (const t of stateless.tests) {
      expect(stateless.explain(t.action).decision).toEqual(stateless.evaluate(t.action));
    }
  });

  it("shows the deciding rule with its group condition and each test's operand, value and result", () => {
    const e = stateless.explain(refund({ amount: 49.9 }));
    expect(e.decision.rule).toBe("small-refund");
    const r = rule(e, "small-refund");
    expect(r).toMatchObject({ effect: "allow", result: "TRUE", decided: true, failed: 0, pointer: "/rules/1/rules/5" });
    expect(r.when.map((w) => [w.group, w.result, w.pointer])).toEqual([
      ["payments", "TRUE", "/rules/1/when"],
      [null, "TRUE", "/rules/1/rules/5/when"],
    ]);
    expect(r.when[0]!.conditions).toEqual([{
      kind: "field", path: "tool", value: "payments.refund", result: "TRUE", pointer: "/rules/1/when/tool",
      tests: [{ op: "prefix", operand: "payments.", result: "TRUE", pointer: "/rules/1/when/tool/prefix" }],
    }]);
    const amount = fields(r).find((f) => f.path === "args.amount")!;
    expect(amount.value).toBe(49.9);
    expect(amount.tests.map((t) => [t.op, t.operand, t.result])).toEqual([["gt", 0, "TRUE"], ["lte", 200, "TRUE"]]);
    // only one rule decides; the others evaluated are there with their own results
    expect(e.rules.filter((x) => x.decided).map((x) => x.id)).toEqual(["small-refund"]);
    expect(rule(e, "refund-too-large")).toMatchObject({ result: "FALSE", decided: false, failed: 1 });
    expect(e.closest).toEqual([]);
  });

  it("lists only the tool index's candidates: customers rules are not evaluated for a refund", () => {
    const ids = stateless.explain(refund({ amount: 10 })).rules.map((r) => r.id);
    expect(ids).toContain("no-raw-card-numbers");
    expect(ids).not.toContain("customer-lookup");
    expect(ids).not.toContain("no-payouts");
  });

  it("shows UNKNOWN tests and the undetermined deny they cause", () => {
    const e = stateless.explain(refund({ amount: "20" }));
    expect(e.decision).toMatchObject({ decision: "deny", rule: "refund-too-large", undetermined: true });
    const amount = fields(rule(e, "refund-too-large")).find((f) => f.path === "args.amount")!;
    expect(amount).toMatchObject({ value: "20", result: "UNKNOWN" });
    // an absent field has no value
    const absent = fields(rule(e, "repeat-refund")).find((f) => f.path === "args.previous_refunds")!;
    expect("value" in absent).toBe(false);
    expect(absent.tests.map((t) => [t.op, t.result])).toEqual([["exists", "FALSE"], ["gt", "UNKNOWN"]]);
  });

  it("shows redacted fields as [redacted]", () => {
    const e = stateless.explain({ tool: "customers.lookup", args: { card_number: "4111111111111111", fields: ["name"] } });
    expect(e.decision.rule).toBe("no-raw-card-numbers");
    const card = fields(rule(e, "no-raw-card-numbers")).find((f) => f.path === "args.card_number")!;
    expect(card).toMatchObject({ value: "[redacted]", result: "TRUE" });
    expect(JSON.stringify(e)).not.toContain("4111111111111111");
  });

  it("redacts inside an object value, and under a redacted path", () => {
    const p = Policy.fromYaml(`
tollgate: 1
name: r
audit: { redact: [args.secret] }
rules:
  - { id: a, effect: allow, when: { args: { exists: true }, args.secret.x: { exists: true } } }
`);
    const e = p.explain({ args: { secret: { x: "s3cr3t" }, other: 1 } });
    const [args, under] = fields(e.rules[0]!);
    expect(args!.value).toEqual({ secret: "[redacted]", other: 1 });
    expect(under!.value).toBe("[redacted]");
    expect(JSON.stringify(e)).not.toContain("s3cr3t");
  });

  it("for a default deny, lists the allow rules that came closest and their failed tests", () => {
    const e = stateless.explain(refund({ order_id: "4821", amount: 20 }));
    expect(e.decision).toMatchObject({ decision: "deny", rule: null });
    expect(e.closest[0]).toMatchObject({ id: "small-refund", failed: 1, result: "FALSE" });
    expect(e.closest[0]!.tests).toEqual([{
      path: "args.order_id", op: "matches", operand: "^ord_[0-9a-z]{8,}$", value: "4821", result: "FALSE",
      pointer: "/rules/1/rules/5/when/args.order_id/matches",
    }]);
    expect(e.closest.every((c) => c.tests.length === c.failed)).toBe(true);
    // only rules evaluated for the tool: read-invoices (payments.get_invoice...) is not
    expect(e.closest.map((c) => c.id)).toEqual(["small-refund"]);
  });

  it("explains combinators with every child evaluated (no short-circuit)", () => {
    const e = stateless.explain({ tool: "customers.lookup", args: { card_number: "4111", cvv: "1", fields: ["name"] } });
    const any = rule(e, "no-raw-card-numbers").when[0]!.conditions[0]!;
    expect(any.kind).toBe("any");
    if (any.kind !== "any") return;
    expect(any.children.map((c) => [c.kind === "field" ? c.path : c.kind, c.result])).toEqual([
      ["args.card_number", "TRUE"], ["args.cvv", "TRUE"], ["args.note", "FALSE"],
    ]);
    expect(failedTests(rule(e, "no-raw-card-numbers")).map((t) => [t.path, t.op])).toEqual([["args.note", "exists"], ["args.note", "matches"]]);
  });

  it("explains an input error as the error decision with nothing evaluated", () => {
    const e = stateless.explain("not an object");
    expect(e.decision.error).toBeDefined();
    expect(e.rules).toEqual([]);
    expect(e.closest).toEqual([]);
  });

  it("explains a stateful policy with its counters at `now`, and records nothing", () => {
    const p = Policy.fromFile("examples/billing-agent.yaml");
    const a = refund({ amount: 100 });
    p.evaluate(a, { now: 0 });
    const e = p.explain(a, { now: 1000 });
    expect(e.decision).toMatchObject({ rule: "small-refund", counters: { refunds_per_hour: 2, refunded_per_day: 200 } });
    expect(e.counters).toEqual([
      { name: "refunded_per_day", value: 200, contribution: 100 },
      { name: "refunds_per_hour", value: 2, contribution: 1 },
    ]);
    const budget = rule(e, "refund-daily-budget").when[1]!.conditions.find((n) => n.kind === "counter");
    expect(budget).toMatchObject({ kind: "counter", counter: "refunded_per_day", value: 200, result: "FALSE" });
    p.explain(a, { now: 1000 });
    // the explanations recorded nothing: the next decision sees only the first
    expect(p.evaluate(a, { now: 1000 }).counters).toEqual({ refunds_per_hour: 2, refunded_per_day: 200 });
    expect(billing.explain(a, { now: 0 }).decision.counters).toEqual({ refunds_per_hour: 1, refunded_per_day: 100 });
  });

  it("keeps evaluate working after the first explain grew memory", () => {
    const p = Policy.fromFile("test/fixtures/billing-agent-stateless.yaml");
    const before = p.evaluate(refund({ amount: 300 }));
    p.explain(refund({ amount: 300 }));
    expect(p.evaluate(refund({ amount: 300 }))).toEqual(before);
    expect(p.evaluateBatch([refund({ amount: 1 }), refund({ amount: 300 })]).map((d) => d.rule)).toEqual(["small-refund", "refund-needs-finance"]);
  });
});
