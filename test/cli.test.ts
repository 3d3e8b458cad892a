// The command line (spec section 6): output formats, exit codes, bad input lines.

import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";

const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "tollgate-cli-"));
const good = join(dir, "good.yaml");
writeFileSync(good, `tollgate: 1
name: cli
rules:
  - id: no-rm
    effect: deny
    reason: no rm
    when: { tool: shell.exec, args.cmd: { matches: "\\\\brm\\\\s+-rf\\\\b" } }
  - id: shell
    effect: allow
    when: { tool: shell.exec }
tests:
  - { name: rm denied, action: { tool: shell.exec, args: { cmd: "rm -rf /" } }, expect: deny, rule: no-rm }
  - { name: ls allowed, action: { tool: shell.exec, args: { cmd: ls } }, expect: allow }
`);
const failing = join(dir, "failing.yaml");
writeFileSync(failing, `tollgate: 1
name: failing
rules:
  - { id: a, effect: allow, when: { tool: x } }
tests:
  - { name: wrong, action: { tool: x }, expect: deny, rule: a }
  - { name: right, action: { tool: x }, expect: allow }
  - { name: no-such-rule, action: { tool: x }, expect: allow, rule: nope }
`);
const bad = join(dir, "bad.yaml");
writeFileSync(bad, "tollgate: 1\nname: bad\nrules:\n  - id: r\n    effect: deny\n    efect: x\n");

async function run(args: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "", err = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (err += d));
  const code = await main(args, { stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err };
}

describe("tollgate check", () => {
  it("prints ok: N rules and exits 0", async () => {
    expect(await run(["check", good])).toMatchObject({ code: 0, out: "ok: 2 rules\n" });
  });
  it("prints every error as FILE:LINE:COL: error: ... and exits 2", async () => {
    const r = await run(["check", bad]);
    expect(r.code).toBe(2);
    expect(r.out).toBe(
      `${bad}:4:5: error: missing required key 'reason' in deny rule\n` +
      `${bad}:6:5: error: unknown key 'efect' in rule (did you mean 'effect'?)\n`,
    );
  });
});

describe("tollgate eval", () => {
  const lines = [
    '{"tool":"shell.exec","args":{"cmd":"rm -rf /tmp/x"}}',
    "",
    '{"tool":"shell.exec","args":{"cmd":"ls"}}',
    "not json",
    '"a string"',
    '{"tool":"other"}\r',
  ].join("\n");

  it("prints one compact decision per line, in order; bad lines are denies with error", async () => {
    const r = await run(["eval", good, "-"], lines + "\n");
    expect(r.code).toBe(0);
    const out = r.out.trimEnd().split("\n");
    expect(out).toHaveLength(6); // one per input line; the final newline starts no line
    expect(out.map((l) => JSON.parse(l).rule)).toEqual(["no-rm", null, "shell", null, null, null]);
    expect(JSON.parse(out[1]!)).toMatchObject({ decision: "deny", error: "input is not valid JSON" }); // the blank line
    expect(JSON.parse(out[3]!)).toEqual({
      decision: "deny", rule: null, reason: "input is not valid JSON", undetermined: false,
      error: "input is not valid JSON", policy: "cli",
    });
    expect(out[0]).toBe('{"decision":"deny","rule":"no-rm","reason":"no rm","undetermined":false,"policy":"cli"}');
    expect(JSON.parse(out[5]!).reason).toBe("no rule matched");
  });

  it("reads a file argument, and stdin when it is absent", async () => {
    const file = join(dir, "actions.jsonl");
    writeFileSync(file, lines);
    const fromFile = await run(["eval", good, file]);
    const fromStdin = await run(["eval", good], lines);
    expect(fromFile.out).toBe(fromStdin.out);
    expect(fromFile.out.split("\n").filter(Boolean)).toHaveLength(6);
  });

  it("refuses a line whose bytes are not UTF-8 as not JSON (deny with error) and goes on", async () => {
    const stdout = new PassThrough();
    let out = "";
    stdout.on("data", (d) => (out += d));
    const bytes = Buffer.concat([Buffer.from('{"tool":"shell.exec","args":{"cmd":"ls"}}\n'), Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d, 0x0a])]);
    const code = await main(["eval", good, "-"], { stdin: Readable.from([bytes]), stdout, stderr: new PassThrough() });
    expect(code).toBe(0);
    const ds = out.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(ds.map((d) => [d.rule, d.error])).toEqual([["shell", undefined], [null, "input is not valid JSON"]]);
  });

  it("exits 2 on a policy error before printing any decision", async () => {
    const r = await run(["eval", bad, "-"], lines);
    expect(r).toMatchObject({ code: 2, out: "" });
    expect(r.err).toContain(":6:5: error: unknown key 'efect'");
  });

  it("handles many lines in order (batched internally)", async () => {
    const many = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? "{" : `{"tool":"shell.exec","args":{"cmd":"echo ${i}"}}`)).join("\n");
    const r = await run(["eval", good], many);
    const out = r.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(out).toHaveLength(5000);
    out.forEach((d, i) => expect(d.rule).toBe(i % 3 === 0 ? null : "shell"));
  });
});

describe("tollgate test", () => {
  it("passes and exits 0", async () => {
    expect(await run(["test", good])).toMatchObject({ code: 0, out: "2 passed, 0 failed\n" });
  });
  it("prints each failure with expected and actual, exits 1", async () => {
    const r = await run(["test", failing]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("FAIL wrong");
    expect(r.out).toContain("expected: deny (rule a)");
    expect(r.out).toContain("actual:   allow (rule a)");
    // A rule id the policy does not define is a failing test, not a policy error.
    expect(r.out).toContain("FAIL no-such-rule");
    expect(r.out).toContain("expected: allow (rule nope)");
    expect(r.out).toContain("1 passed, 2 failed");
    expect((await run(["check", failing])).code).toBe(0);
  });
  it("exits 2 on a policy error", async () => {
    expect((await run(["test", bad])).code).toBe(2);
  });
});

const counted = join(dir, "counted.yaml");
writeFileSync(counted, `tollgate: 1
name: counted
default: allow
approvers:
  fin: { timeout: 10m }
counters:
  n: { per: [agent.id], window: 1h, when: { tool: t } }
rules:
  - { id: cap, effect: deny, reason: more than 2, when: { tool: t, $n: { gt: 2 } } }
  - { id: review, effect: escalate, approver: fin, reason: review, when: { tool: t, $n: { gt: 1 } } }
tests:
  - name: the third is refused
    steps:
      - { action: { tool: t, agent: { id: a } }, expect: allow }
      - { action: { tool: t, agent: { id: a } }, expect: escalate, resolve: denied }
      - { at: 1m, action: { tool: t, agent: { id: a } }, expect: deny, rule: cap }
      - { at: 2m, action: { tool: t, agent: { id: a } }, expect: allow }
  - name: an hour later it starts again
    steps:
      - { action: { tool: t, agent: { id: a } }, expect: allow }
      - { action: { tool: t, agent: { id: a } }, expect: escalate, resolve: approved }
      - { at: 59m, action: { tool: t, agent: { id: a } }, expect: deny }
      - { at: 60m, action: { tool: t, agent: { id: a } }, expect: allow }
  - { name: single step, action: { tool: t, agent: { id: a } }, expect: allow }
`);

describe("counters on the command line (spec sections 6-8)", () => {
  it("tollgate test runs sequences: steps share counters, resolve and at apply; a failing step is reported with its index", async () => {
    // The 3rd step of the first test: the escalation was denied, so it is the 2nd again (escalate), not the 3rd.
    const r = await run(["test", counted]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("FAIL the third is refused (step 2)\n  expected: deny (rule cap)\n  actual:   escalate (rule review)");
    // The test goes on with the actual decision recorded: step 3 is then the 3rd → deny, not allow.
    expect(r.out).toContain("FAIL the third is refused (step 3)\n  expected: allow\n  actual:   deny");
    expect(r.out).toContain('"counters":{"n":3}');
    expect(r.out).toContain("2 passed, 1 failed");
    expect(r.out).not.toContain("an hour later");
  });
  it("tollgate eval keeps counters across the lines of one run", async () => {
    const line = JSON.stringify({ tool: "t", agent: { id: "a" } });
    const r = await run(["eval", counted], [line, line, "nope", line, JSON.stringify({ tool: "t" })].join("\n") + "\n");
    const out = r.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(out.map((d) => [d.decision, d.counters === undefined ? "none" : d.counters.n])).toEqual([["allow", 1], ["escalate", 2], ["deny", "none"], ["deny", 3], ["deny", null]]);
    expect(out[4].undetermined).toBe(true);
  });
  it("tollgate check reports counter errors with positions and exits 2", async () => {
    const f = join(dir, "bad-counter.yaml");
    writeFileSync(f, "tollgate: 1\nname: x\ncounters:\n  n: { window: 40d }\nrules:\n  - { id: a, effect: allow, when: { $m: 1 } }\n");
    const r = await run(["check", f]);
    expect(r.code).toBe(2);
    expect(r.out).toBe(
      `${f}:4:16: error: invalid duration '40d': expected a positive integer followed by ms, s, m, h or d, at most 30 days\n` +
      `${f}:6:37: error: unknown counter '$m': declare it under 'counters' (did you mean '$n'?)\n`,
    );
  });
});

describe("the installed bin", () => {
  it("runs through npx-style invocation with real exit codes", () => {
    const bin = join(root, "bin", "tollgate.js");
    const ok = spawnSync(process.execPath, [bin, "check", good], { encoding: "utf8" });
    expect([ok.status, ok.stdout]).toEqual([0, "ok: 2 rules\n"]);
    const fail = spawnSync(process.execPath, [bin, "check", bad], { encoding: "utf8" });
    expect(fail.status).toBe(2);
    const usage = spawnSync(process.execPath, [bin, "frobnicate"], { encoding: "utf8" });
    expect(usage.status).toBe(64);
    const evaluated = spawnSync(process.execPath, [bin, "eval", good], { input: '{"tool":"shell.exec","args":{"cmd":"ls"}}\n', encoding: "utf8" });
    expect(evaluated.status).toBe(0);
    expect(JSON.parse(evaluated.stdout).decision).toBe("allow");
  });
});

describe("tollgate eval --explain", () => {
  const lines = [
    JSON.stringify({ tool: "shell.exec", args: { cmd: "rm -rf /" } }),
    JSON.stringify({ tool: "db.query" }),
    "{not json",
  ].join("\n") + "\n";

  it("prints a plain tree per line when piped: the decision, each rule's tests with ✓ ✗ ?, the closest allow rules", async () => {
    const r = await run(["eval", "--explain", good, "-"], lines);
    expect(r.code).toBe(0);
    expect(r.out).not.toContain("\x1b[");
    const [rm, other, bad] = r.out.split("\n\n");
    expect(rm).toBe([
      "deny by no-rm: no rm",
      "  ✓ deny no-rm  ◀ decided",
      '      ✓ args.cmd matches "\\\\brm\\\\s+-rf\\\\b"  (seen "rm -rf /")',
      '      ✓ tool eq "shell.exec"  (seen "shell.exec")',
      "  ✓ allow shell",
      '      ✓ tool eq "shell.exec"  (seen "shell.exec")',
      "  closest allow rules:",
      "    shell: every test held (a deny wins)",
    ].join("\n"));
    expect(other).toBe("deny (default): no rule matched\n  (no rule applies to this tool)");
    expect(bad).toBe("deny: input is not valid JSON\n");
  });

  it("with --format json prints one explanation per line, decisions equal to plain eval's", async () => {
    const r = await run(["eval", "--explain", "--format", "json", good, "-"], lines);
    const plain = await run(["eval", good, "-"], lines);
    const explained = r.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(explained.map((e) => e.decision)).toEqual(plain.out.trim().split("\n").map((l) => JSON.parse(l)));
    expect(explained[0].rules.map((x: { id: string; result: string; decided: boolean }) => [x.id, x.result, x.decided])).toEqual([["no-rm", "TRUE", true], ["shell", "TRUE", false]]);
    expect(explained[2]).toMatchObject({ rules: [], closest: [] });
  });

  it("explains the billing example with its counters, recording each line as eval does", async () => {
    const actions = [0, 1].map(() => JSON.stringify({ tool: "payments.refund", agent: { id: "a" }, args: { order_id: "ord_4821abcd", amount: 10, currency: "EUR" } })).join("\n");
    const r = await run(["eval", "--explain", join(root, "examples/billing-agent.yaml"), "-"], actions);
    expect(r.out).toContain("counters: refunded_per_day = 10 (+10), refunds_per_hour = 1 (+1)");
    expect(r.out).toContain("counters: refunded_per_day = 20 (+10), refunds_per_hour = 2 (+1)");
    expect(r.out).toContain("✗ $refunds_per_hour gt 5  (value 2)");
    expect(r.out).toContain("      ✓ group payments\n          ✓ tool prefix \"payments.\"  (seen \"payments.refund\")");
  });

  it("colours the marks on a terminal", async () => {
    const stdout = Object.assign(new PassThrough(), { isTTY: true });
    let out = "";
    stdout.on("data", (d) => (out += d));
    const ls = JSON.stringify({ tool: "shell.exec", args: { cmd: "ls" } });
    await main(["eval", "--explain", good, "-"], { stdin: Readable.from([ls]), stdout, stderr: new PassThrough() });
    expect(out).toContain("\x1b[32m✓\x1b[0m");
    expect(out).toContain("\x1b[31m✗\x1b[0m");
  });

  it("refuses unknown options", async () => {
    expect(await run(["eval", "--explian", good])).toMatchObject({ code: 64 });
  });
});
