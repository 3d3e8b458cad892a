// Lint, the other families (src/lint/untested-fields.ts, unused.ts, patterns.ts): each finding
// fires, and a near miss next to it stays silent.

import { describe, expect, it } from "vitest";
import { lint, messages } from "./helpers.js";

describe("lint: deny and escalate rules whose fields no test provides", () => {
  const body = (when: string, test: string, effect = "deny"): string => `approvers: { ap: { timeout: 1m } }
rules:
  - group: payments
    when: { tool: { prefix: payments. } }
    rules:
      - id: too-large
        effect: ${effect}
        reason: r
${effect === "escalate" ? "        approver: ap\n" : ""}        when: ${when}
tests:
  - { name: t, action: ${test}, expect: deny }
`;
  const untested = (b: string): string[] => messages(lint(b), "untested-field");

  it("fires when every field test reads, without exists, a path no test action provides", () => {
    expect(untested(body("{ args.ammount: { gt: 5000 } }", "{ tool: payments.refund, args: { amount: 9000 } }")))
      .toEqual(["deny rule 'too-large' reads args.ammount without 'exists', and no test of the policy provides it: the rule applies (undetermined, fail closed) to every action without it; a typo, or a missing test?"]);
    expect(untested(body("{ args.ammount: { gt: 5000 } }", "{ tool: payments.refund, args: { amount: 9000 } }", "escalate"))).toHaveLength(1);
  });
  it("a sequence step provides fields too", () => {
    const b = body("{ args.ammount: { gt: 5000 } }", "{ tool: payments.refund }") +
      "  - name: s\n    steps:\n      - { action: { tool: payments.refund, args: { ammount: 1 } }, expect: deny }\n";
    expect(untested(b)).toEqual([]);
  });
  it("silent when a test provides the field, when exists guards it, or when another field test reads a provided path", () => {
    expect(untested(body("{ args.amount: { gt: 5000 } }", "{ tool: payments.refund, args: { amount: 9000 } }"))).toEqual([]);
    expect(untested(body("{ args.ammount: { exists: true, gt: 5000 } }", "{ tool: payments.refund, args: { amount: 9000 } }"))).toEqual([]);
    expect(untested(body("{ tool: payments.refund, args.ammount: { gt: 5000 } }", "{ tool: payments.refund, args: { amount: 9000 } }"))).toEqual([]);
  });
  it("silent for allow rules and for policies without tests", () => {
    expect(untested(`rules:\n  - { id: a, effect: allow, when: { args.ammount: { gt: 1 } } }\ntests:\n  - { name: t, action: { tool: x }, expect: deny }\n`)).toEqual([]);
    expect(untested(`rules:\n  - { id: a, effect: deny, reason: r, when: { args.ammount: { gt: 1 } } }\n`)).toEqual([]);
  });
});

describe("lint: approvers and counters nothing references", () => {
  const body = (approver: string, counterRef: string): string => `approvers:
  finance: { timeout: 1m }
  legal: { timeout: 1m }
counters:
  per_hour: { window: 1h }
rules:
  - group: g
    when: { ${counterRef}: { gt: 5 } }
    rules:
      - { id: a, effect: escalate, reason: r, approver: ${approver} }
`;
  it("fires for an approver no rule names and a counter no rule reads, at their declarations", () => {
    const fs = lint(body("finance", "args.per_hour"));
    expect(messages(fs, "unused-approver")).toEqual(["approver 'legal' is declared but no rule names it"]);
    expect(messages(fs, "unused-counter")).toEqual(["counter 'per_hour' is declared but no rule reads it ($per_hour)"]);
    expect(fs.filter((f) => f.family.startsWith("unused")).map((f) => [f.pointer, f.at])).toEqual([["/approvers/legal", "key"], ["/counters/per_hour", "key"]]);
  });
  it("silent when a rule names the approver and a group's when reads the counter", () => {
    const fs = lint(body("finance", "$per_hour").replace("  legal: { timeout: 1m }\n", ""));
    expect(messages(fs, "unused-approver")).toEqual([]);
    expect(messages(fs, "unused-counter")).toEqual([]);
  });
});

describe("lint: patterns that are plain strings", () => {
  const pattern = (test: string): string[] => messages(lint(`rules:\n  - { id: a, effect: deny, reason: r, when: { args.s: ${test} } }\n`), "literal-pattern");

  it("matches with a literal: contains (a search), prefix, suffix or eq by its anchors", () => {
    expect(pattern('{ matches: "rm -rf" }')).toEqual(['matches "rm -rf" is a plain string (matches is a search: it holds wherever the text occurs): use contains: "rm -rf", the same on a string value']);
    expect(pattern('{ matches: "^abc" }')).toEqual(['matches "^abc" is a plain string: use prefix: "abc", the same on a string value']);
    expect(pattern('{ matches: "abc$" }')).toEqual(['matches "abc$" is a plain string: use suffix: "abc", the same on a string value']);
    expect(pattern('{ matches: "^abc$" }')).toEqual(['matches "^abc$" is a plain string: use eq: "abc", the same on a string value']);
    expect(pattern("{ matches: '\\.env' }")).toEqual(['matches "\\\\.env" is a plain string (matches is a search: it holds wherever the text occurs): use contains: ".env", the same on a string value']);
  });
  it("silent on a near miss: a flag, a class escape, a wildcard, an escaped dollar at the end", () => {
    expect(pattern('{ matches: "(?i)drop" }')).toEqual([]);
    expect(pattern("{ matches: '\\brm\\b' }")).toEqual([]);
    expect(pattern('{ matches: "a.c" }')).toEqual([]);
    expect(pattern('{ matches: "ab+" }')).toEqual([]);
    expect(pattern("{ matches: '^cost\\$' }")).toEqual(['matches "^cost\\\\$" is a plain string: use prefix: "cost$", the same on a string value']);
  });
  it("glob without wildcards: eq (or prefix)", () => {
    expect(pattern('{ glob: "customers.export" }')).toEqual(['glob "customers.export" has no wildcard and matches only that string: use eq: "customers.export" (or prefix: "customers.export" if a prefix was meant)']);
    expect(pattern("{ glob: 'a\\*b' }")).toHaveLength(1);
    expect(pattern('{ glob: "customers.export*" }')).toEqual([]);
    expect(pattern('{ glob: "{a,b}" }')).toEqual([]);
  });
  it("looks inside len/some/every, groups' whens and counters' whens", () => {
    expect(messages(lint(`counters:\n  c: { window: 1h, when: { tool: { glob: "x" } } }\nrules:\n  - group: g\n    when: { args.l: { some: { matches: "abc" } } }\n    rules:\n      - { id: a, effect: deny, reason: r, when: { $c: { gt: 1 } } }\n`), "literal-pattern")).toHaveLength(2);
  });
});

describe("lint: tests that expect a rule the policy does not have", () => {
  const body = `rules:
  - { id: small, effect: allow, when: { tool: x } }
tests:
  - { name: typo, action: { tool: x }, expect: allow, rule: smal }
  - { name: right, action: { tool: x }, expect: allow, rule: small }
  - { name: no rule named, action: { tool: y }, expect: deny }
  - name: seq
    steps:
      - { action: { tool: x }, expect: allow, rule: small }
      - { action: { tool: x }, expect: allow, rule: gone }
`;
  it("fires at the rule value of a test and of a sequence step, silent for rules that exist and tests that name none", () => {
    const fs = lint(body).filter((f) => f.family === "unknown-test-rule");
    expect(fs.map((f) => f.message)).toEqual([
      "test 'typo' expects rule 'smal', which the policy does not have: it can never pass",
      "test 'seq', step 1, expects rule 'gone', which the policy does not have: it can never pass",
    ]);
    expect(fs.map((f) => [f.pointer, f.at])).toEqual([["/tests/0/rule", "value"], ["/tests/3/steps/1/rule", "value"]]);
  });
});

