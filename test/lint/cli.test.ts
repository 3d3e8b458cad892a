// `tollgate lint` and `tollgate test --coverage` on the command line: output, positions, exit codes.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runCli } from "../cli-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "tollgate-lint-"));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const findings = file("findings.yaml", `tollgate: 1
name: findings
approvers:
  finance: { timeout: 1m }
  legal: { timeout: 1m }
counters:
  per_hour: { window: 1h }
rules:
  - id: refunds
    effect: allow
    when: { tool: [payments.refund, payments.void] }
  - id: refund-small
    effect: allow
    when: { tool: payments.refund, args.amount: { lt: 10 } }
  - id: big
    effect: escalate
    approver: finance
    reason: big
    when: { args.ammount: { gt: 1000 } }
  - id: export
    effect: deny
    reason: no export
    when: { tool: { glob: customers.export } }
tests:
  - { name: refund, action: { tool: payments.refund, args: { amount: 5 } }, expect: allow }
`);
const clean = file("clean.yaml", `tollgate: 1
name: clean
rules:
  - { id: small, effect: allow, when: { tool: payments.refund, args.amount: { lt: 10 } } }
  - { id: refunds, effect: allow, when: { tool: [payments.refund, payments.void] } }
`);
const bad = file("bad.yaml", "tollgate: 1\nname: bad\nrules:\n  - id: r\n    effect: deny\n    efect: x\n");

describe("tollgate lint", () => {
  it("prints each finding as FILE:LINE:COL: warning: ..., sorted by position, and exits 1", async () => {
    const r = await runCli(["lint", findings]);
    expect(r.code).toBe(1);
    expect(r.out).toBe([
      `${findings}:5:3: warning: approver 'legal' is declared but no rule names it`,
      `${findings}:7:3: warning: counter 'per_hour' is declared but no rule reads it ($per_hour)`,
      `${findings}:12:5: warning: rule 'refund-small' can never decide: rule 'refunds' (earlier, same effect) applies whenever it does`,
      `${findings}:15:5: warning: escalate rule 'big' reads args.ammount without 'exists', and no test of the policy provides it: the rule applies (undetermined, fail closed) to every action without it; a typo, or a missing test?`,
      `${findings}:23:27: warning: glob "customers.export" has no wildcard and matches only that string: use eq: "customers.export" (or prefix: "customers.export" if a prefix was meant)`,
      "",
    ].join("\n"));
  });

  it("a clean policy: ok: FILE and exit 0 (the near miss: the narrower allow comes first)", async () => {
    expect(await runCli(["lint", clean])).toMatchObject({ code: 0, out: `ok: ${clean}\n` });
  });

  it("an invalid policy: its errors as check prints them, exit 2", async () => {
    const r = await runCli(["lint", bad]);
    expect(r.code).toBe(2);
    expect(r.out).toBe((await runCli(["check", bad])).out);
  });

  it("several files: the worst exit code", async () => {
    expect((await runCli(["lint", clean, findings])).code).toBe(1);
    expect((await runCli(["lint", findings, bad])).code).toBe(2);
  });

  it("the example policies lint clean", async () => {
    const examples = ["billing", "coding", "devops", "research"].map((n) => `examples/${n}-agent.yaml`);
    const r = await runCli(["lint", ...examples.map((e) => join(ROOT, e))]);
    expect(r.out.replaceAll(ROOT + "/", "")).toBe([...examples.map((e) => `ok: ${e}`), ""].join("\n"));
    expect(r.code).toBe(0);
  });
});

const covered = file("covered.yaml", `tollgate: 1
name: covered
counters:
  n: { window: 1h, per: [agent.id], when: { tool: x } }
rules:
  - { id: too-many, effect: deny, reason: r, when: { tool: x, $n: { gt: 2 } } }
  - { id: x-allowed, effect: allow, when: { tool: x } }
  - { id: x-never, effect: allow, when: { tool: x, args.flag: true } }
  - { id: y, effect: allow, when: { tool: y } }
tests:
  - name: three x, the third is over the limit
    steps:
      - { action: { tool: x, agent: { id: a } }, expect: allow }
      - { action: { tool: x, agent: { id: a } }, expect: allow }
      - { action: { tool: x, agent: { id: a } }, expect: deny, rule: too-many }
  - { name: one x, action: { tool: x, agent: { id: a } }, expect: allow, rule: x-allowed }
`);

describe("tollgate test --coverage", () => {
  it("a table: rules that decided, were evaluated but never decided, were never reached; sequences count per step with their own counters", async () => {
    const r = await runCli(["test", "--coverage", covered]);
    expect(r.code).toBe(0);
    expect(r.out).toBe([
      "2 passed, 0 failed",
      "coverage: 2 of 4 rules decided a test action, 1 evaluated but never decided, 1 never reached (4 test actions)",
      "rule       effect  status         decided  evaluated",
      "too-many   deny    decided              1          4",
      "x-allowed  allow   decided              3          4",
      "x-never    allow   never decided        0          4",
      "y          allow   never reached        0          0",
      "",
    ].join("\n"));
  });

  it("--format json: the results and the coverage as one object", async () => {
    const r = await runCli(["test", "--coverage", "--format", "json", covered]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ passed: 2, failed: 0, failures: [], coverage: { actions: 4, decided: 2, evaluated: 1, unreached: 1 } });
    expect(j.coverage.rules.map((x: { id: string; status: string }) => [x.id, x.status]))
      .toEqual([["too-many", "decided"], ["x-allowed", "decided"], ["x-never", "evaluated"], ["y", "unreached"]]);
  });

  it("failures are still reported (exit 1), and without --coverage the output is unchanged", async () => {
    const failing = file("failing.yaml", "tollgate: 1\nname: f\nrules:\n  - { id: a, effect: allow, when: { tool: x } }\ntests:\n  - { name: wrong, action: { tool: x }, expect: deny }\n");
    const r = await runCli(["test", "--coverage", "--format", "json", failing]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ passed: 0, failed: 1, failures: [{ name: "wrong", step: null, expect: "deny", actual: { decision: "allow", rule: "a" } }] });
    const plain = await runCli(["test", covered]);
    expect(plain).toMatchObject({ code: 0, out: "2 passed, 0 failed\n" });
  });

  it("the billing example: every rule decides at least one of its tests", async () => {
    const r = await runCli(["test", "--coverage", "--format", "json", join(ROOT, "examples/billing-agent.yaml")]);
    const j = JSON.parse(r.out);
    expect(j.coverage.rules.filter((x: { status: string }) => x.status !== "decided")).toEqual([]);
  });

  it("refuses unknown options", async () => {
    expect((await runCli(["test", "--covrage", covered])).code).toBe(64);
    expect((await runCli(["test", "--format", "yaml", covered])).code).toBe(64);
  });
});
