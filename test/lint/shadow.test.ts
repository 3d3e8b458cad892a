// Lint, rules that can never decide (src/lint/shadow.ts): each case fires, and a near miss next to
// it stays silent. "Applies" is spec section 4's: deny/escalate on TRUE or UNKNOWN, allow on TRUE.

import { describe, expect, it } from "vitest";
import { lint, messages } from "./helpers.js";

const shadowed = (body: string): string[] => messages(lint(body), "shadowed");
const rule = (id: string, effect: string, when?: string): string =>
  `  - id: ${id}\n    effect: ${effect}\n${effect === "allow" ? "" : "    reason: r\n"}${effect === "escalate" ? "    approver: ap\n" : ""}${when === undefined ? "" : `    when: ${when}\n`}`;
const policy = (...rules: string[]): string => `approvers: { ap: { timeout: 1m } }\nrules:\n${rules.join("")}`;

describe("lint: shadowed rules", () => {
  it("tool sets: an earlier allow of a superset shadows a later allow; a set that is not a subset does not", () => {
    expect(shadowed(policy(rule("a", "allow", "{ tool: [x, y] }"), rule("b", "allow", "{ tool: x }"))))
      .toEqual(["rule 'b' can never decide: rule 'a' (earlier, same effect) applies whenever it does"]);
    expect(shadowed(policy(rule("a", "allow", "{ tool: [x, y] }"), rule("b", "allow", "{ tool: [x, z] }")))).toEqual([]);
  });

  it("a later allow never shadows an earlier one (same effect: the first wins)", () => {
    expect(shadowed(policy(rule("b", "allow", "{ tool: x }"), rule("a", "allow", "{ tool: [x, y] }")))).toEqual([]);
  });

  it("prefixes: a deny on a prefix shadows an escalate of a tool under it, not one of a broader prefix", () => {
    expect(shadowed(policy(rule("b", "escalate", "{ tool: db.query }"), rule("a", "deny", '{ tool: { prefix: "db." } }'))))
      .toEqual(["rule 'b' can never decide: rule 'a' (deny wins over escalate) applies whenever it does"]);
    expect(shadowed(policy(rule("a", "deny", '{ tool: { prefix: "db." } }'), rule("b", "deny", '{ tool: { prefix: "db" } }')))).toEqual([]);
    expect(shadowed(policy(rule("a", "deny", '{ tool: { prefix: "db" } }'), rule("b", "deny", '{ tool: { prefix: "db." } }')))).toHaveLength(1);
  });

  it("numeric ranges: gt 100 shadows gt 500 of the same effect; not gte 100 (100 itself)", () => {
    expect(shadowed(policy(rule("a", "escalate", "{ args.n: { gt: 100 } }"), rule("b", "escalate", "{ args.n: { gt: 500 } }")))).toHaveLength(1);
    expect(shadowed(policy(rule("a", "escalate", "{ args.n: { gt: 100 } }"), rule("b", "escalate", "{ args.n: { gte: 100 } }")))).toEqual([]);
    expect(shadowed(policy(rule("a", "allow", "{ args.n: { gte: 0, lte: 10 } }"), rule("b", "allow", "{ args.n: { gt: 2, lt: 5 } }")))).toHaveLength(1);
    expect(shadowed(policy(rule("a", "allow", "{ args.n: { gte: 0, lte: 10 } }"), rule("b", "allow", "{ args.n: { gt: 2, lt: 11 } }")))).toEqual([]);
    expect(shadowed(policy(rule("a", "allow", "{ args.n: { gte: 0, lte: 10 } }"), rule("b", "allow", "{ args.n: 7 }")))).toHaveLength(1);
    expect(shadowed(policy(rule("a", "allow", "{ args.n: { gte: 0, lte: 10 } }"), rule("b", "allow", "{ args.n: [7, 11] }")))).toEqual([]);
  });

  it("absent fields (Kleene): a deny without exists applies to an absent value, one with exists: true does not", () => {
    // B deny { exists: true, gt: 500 } applies only where n > 500; A deny { gt: 100 } applies there.
    expect(shadowed(policy(rule("a", "deny", "{ args.n: { gt: 100 } }"), rule("b", "deny", "{ args.n: { exists: true, gt: 500 } }")))).toHaveLength(1);
    // B deny { gt: 500 } applies to an absent n (UNKNOWN); A { exists: true, gt: 100 } is FALSE there.
    expect(shadowed(policy(rule("a", "deny", "{ args.n: { exists: true, gt: 100 } }"), rule("b", "deny", "{ args.n: { gt: 500 } }")))).toEqual([]);
  });

  it("mistyped values (Kleene): an undetermined deny applies, an undetermined allow does not", () => {
    // allow b holds only for n = "x"; deny a is UNKNOWN on a string, so it applies and wins.
    expect(shadowed(policy(rule("b", "allow", '{ args.n: "x" }'), rule("a", "deny", "{ args.n: { gt: 5 } }"))))
      .toEqual(["rule 'b' can never decide: rule 'a' (deny wins over allow) applies whenever it does"]);
    // the same with an earlier allow a: UNKNOWN does not allow.
    expect(shadowed(policy(rule("a", "allow", "{ args.n: { gt: 5 } }"), rule("b", "allow", '{ args.n: "x" }')))).toEqual([]);
    // an escalate b applies to an absent n; an allow a never does.
    expect(shadowed(policy(rule("a", "deny", "{ args.n: { exists: true } }"), rule("b", "escalate", "{ args.n: 1 }")))).toEqual([]);
  });

  it("types: eq 1 and eq \"1\" are different values", () => {
    expect(shadowed(policy(rule("a", "allow", "{ args.n: 1 }"), rule("b", "allow", '{ args.n: "1" }')))).toEqual([]);
    expect(shadowed(policy(rule("a", "allow", "{ args.n: 1.0 }"), rule("b", "allow", "{ args.n: { eq: 1 } }")))).toHaveLength(1);
  });

  it("every test of A must hold: a test on a path B does not constrain keeps A from shadowing", () => {
    expect(shadowed(policy(rule("a", "deny", "{ args.n: { gt: 5 }, args.m: 1 }"), rule("b", "deny", "{ args.n: { gt: 10 } }")))).toEqual([]);
    expect(shadowed(policy(rule("a", "deny", "{ args.n: { gt: 5 } }"), rule("b", "deny", "{ args.n: { gt: 10 }, args.m: 1 }")))).toHaveLength(1);
  });

  it("in sets", () => {
    expect(shadowed(policy(rule("a", "deny", "{ context.env: [prod, staging] }"), rule("b", "escalate", "{ context.env: prod }")))).toHaveLength(1);
    expect(shadowed(policy(rule("a", "deny", "{ context.env: [prod, staging] }"), rule("b", "escalate", "{ context.env: [prod, dev] }")))).toEqual([]);
  });

  it("paths are compared parsed: args.x and args[\"x\"] are one path", () => {
    expect(shadowed(policy(rule("a", "allow", '{ tool: x }'), rule("b", "allow", "{ tool: x, args.y: 1 }")))).toHaveLength(1);
    expect(shadowed(policy(rule("a", "allow", "{ args.y: { gt: 0 } }"), rule("b", "allow", "{ 'args[\"y\"]': 5 }")))).toHaveLength(1);
    expect(shadowed(policy(rule("a", "allow", "{ args.y: { gt: 0 } }"), rule("b", "allow", "{ 'args[\"y.z\"]': 5 }")))).toEqual([]);
  });

  it("groups' whens apply to their rules", () => {
    const grouped = `approvers: { ap: { timeout: 1m } }
rules:
  - group: payments
    when: { tool: { prefix: payments. } }
    rules:
${rule("a", "deny", "{ args.amount: { gt: 100 } }").replace(/^/gm, "    ")}
`;
    expect(shadowed(grouped + rule("b", "deny", "{ tool: payments.refund, args.amount: { gt: 200 } }"))).toHaveLength(1);
    expect(shadowed(grouped + rule("b", "deny", "{ tool: refunds.create, args.amount: { gt: 200 } }"))).toEqual([]);
    expect(shadowed(grouped + rule("b", "deny", "{ args.amount: { gt: 200 } }"))).toEqual([]);
  });

  it("B's other tests (regex, any, not, counters) only narrow it: still shadowed", () => {
    expect(shadowed(policy(rule("a", "deny", "{ tool: x }"), rule("b", "deny", '{ tool: x, args.s: { matches: "a+" }, not: { args.t: 1 } }')))).toHaveLength(1);
  });

  it("stays silent when A is not a conjunction of supported tests (any, not, regex, glob, counters)", () => {
    expect(shadowed(policy(rule("a", "deny", "{ any: [ { tool: x } ] }"), rule("b", "deny", "{ tool: x }")))).toEqual([]);
    expect(shadowed(policy(rule("a", "deny", "{ not: { tool: y } }"), rule("b", "deny", "{ tool: x }")))).toEqual([]);
    expect(shadowed(policy(rule("a", "deny", '{ tool: { matches: "^x$" } }'), rule("b", "deny", "{ tool: x }")))).toEqual([]);
    expect(shadowed(policy(rule("a", "deny", '{ tool: { glob: "x*" } }'), rule("b", "deny", "{ tool: x }")))).toEqual([]);
    expect(shadowed(`counters: { c: { window: 1h } }\n` + policy(rule("a", "deny", "{ tool: x, $c: { gte: 0 } }"), rule("b", "deny", "{ tool: x }")))).toEqual([]);
  });

  it("a rule without `when` applies to everything: it shadows every rule it wins over", () => {
    expect(shadowed(policy(rule("a", "deny"), rule("b", "escalate", "{ tool: x }"), rule("c", "allow")))).toHaveLength(2);
    expect(shadowed(policy(rule("a", "allow"), rule("b", "deny", "{ tool: x }")))).toEqual([]);
  });

  it("a rule whose own tests on a path can never apply", () => {
    expect(shadowed(policy(rule("b", "allow", "{ args.n: { gt: 5, lt: 3 } }"))))
      .toEqual(["rule 'b' can never decide: its tests on args.n can never all hold"]);
    expect(shadowed(policy(rule("b", "allow", "{ args.n: { gt: 3, lt: 5 } }")))).toEqual([]);
    // a deny applies to an absent value unless exists: true says otherwise
    expect(shadowed(policy(rule("b", "deny", "{ args.n: { gt: 5, lt: 3 } }")))).toEqual([]);
    // ... and to a value that is not a number (gt, lt UNKNOWN), even with exists: true
    expect(shadowed(policy(rule("b", "deny", "{ args.n: { exists: true, gt: 5, lt: 3 } }")))).toEqual([]);
    // exists: false is TRUE on an absent value, where gt is UNKNOWN: that deny applies
    expect(shadowed(policy(rule("b", "deny", "{ args.n: { exists: false, gt: 5 } }")))).toEqual([]);
    // eq and in are never UNKNOWN on a present value
    expect(shadowed(policy(rule("b", "deny", "{ args.n: { exists: true, eq: 1, in: [2, 3] } }"))))
      .toEqual(["rule 'b' can never decide: its tests on args.n can never apply"]);
  });

  it("strings: prefixes and constants", () => {
    expect(shadowed(policy(rule("a", "allow", '{ args.p: { prefix: "/srv/" } }'), rule("b", "allow", "{ args.p: [/srv/a, /srv/b] }")))).toHaveLength(1);
    expect(shadowed(policy(rule("a", "allow", '{ args.p: { prefix: "/srv/" } }'), rule("b", "allow", "{ args.p: [/srv/a, /srv] }")))).toEqual([]);
    expect(shadowed(policy(rule("a", "allow", '{ args.p: { prefix: "/srv/" } }'), rule("b", "allow", '{ args.p: { prefix: "/srv/app/", exists: true } }')))).toHaveLength(1);
  });
});

describe("lint: numbers at the edges of the doubles", () => {
  it("a range with a single double between its ends is not empty", () => {
    // 5e-324 and 1.5e-323 are 1 and 3 times the least double: 1e-323 is the only double between.
    expect(messages(lint(policy(rule("a", "allow", "{ args.n: { in: [5e-324, 1.5e-323] } }"), rule("b", "allow", "{ args.n: { gt: 5e-324, lt: 1.5e-323 } }"))), "shadowed")).toEqual([]);
    expect(messages(lint(policy(rule("a", "allow", "{ args.n: { in: [5e-324, 1e-323, 1.5e-323] } }"), rule("b", "allow", "{ args.n: { gt: 5e-324, lt: 1.5e-323 } }"))), "shadowed")).toHaveLength(1);
  });
});
