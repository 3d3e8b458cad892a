// `tollgate fmt`: canonical layout (src/fmt/layout.ts) without changing meaning. Examples here; the
// property tests (generated manifests in random layouts, with comments) are in fmt-property.test.ts.

import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Policy } from "../../src/index.js";
import { formatPolicyText, KEY_ORDER } from "../../src/fmt/layout.js";
import { ROOT, runCli } from "../cli-helpers.js";

const SCHEMA = JSON.parse(readFileSync(join(ROOT, "schema/tollgate.schema.json"), "utf8"));

const MESSY = `# billing policy
rules:
    # the first rule
    - when: { tool: payments.refund, args.amount: { gt: 500 } }   # large
      reason: "Refunds over 500 need a human"
      approver: finance
      effect: escalate
      id: large-refund

    - rules:
        - effect: allow
          id: small
      group: payments
      when:
          tool: { prefix: "payments." }
name: billing
approvers:
    finance: { on_timeout: deny, timeout: 15m }
tollgate: 1 # version
tests:
    - expect: escalate
      name: big
      action: { tool: payments.refund, args: { amount: 900 } }
`;

const FORMATTED = `# billing policy
tollgate: 1 # version
name: billing
approvers:
  finance: { timeout: 15m, on_timeout: deny }
rules:
  # the first rule
  - id: large-refund
    effect: escalate
    approver: finance
    reason: "Refunds over 500 need a human"
    when: { tool: payments.refund, args.amount: { gt: 500 } } # large

  - group: payments
    when:
      tool: { prefix: "payments." }
    rules:
      - id: small
        effect: allow
tests:
  - name: big
    action: { tool: payments.refund, args: { amount: 900 } }
    expect: escalate
`;

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "tollgate-fmt-"));
}

describe("fmt layout", () => {
  it("has, for each kind of mapping, exactly the keys of the schema generated from the core's tables", () => {
    const defs = SCHEMA.$defs;
    const schemaKeys: Record<keyof typeof KEY_ORDER, string[]> = {
      policy: Object.keys(SCHEMA.properties),
      approver: Object.keys(defs.approver.properties),
      audit: Object.keys(defs.audit.properties),
      counter: Object.keys(defs.counter.properties),
      rule: Object.keys(defs.rule.properties),
      group: Object.keys(defs.group.properties),
      test: Object.keys(defs.test.properties),
      sequenceTest: Object.keys(defs.sequenceTest.properties),
      step: Object.keys(defs.step.properties),
    };
    for (const [kind, keys] of Object.entries(KEY_ORDER)) expect([...keys].sort(), kind).toEqual(schemaKeys[kind as keyof typeof KEY_ORDER].sort());
  });

  it("orders keys as the spec does, indents by two, and keeps comments, blank lines, quotes and flow style", () => {
    expect(formatPolicyText(MESSY)).toBe(FORMATTED);
    expect(formatPolicyText(FORMATTED)).toBe(FORMATTED);
    expect(Policy.fromYaml(FORMATTED).hash).toBe(Policy.fromYaml(MESSY).hash);
  });

  it("writes back as escapes the characters the yaml package would write raw (DEL, C1, NEL, LS, U+FFFE)", () => {
    const text = 'name: x\ntollgate: 1\ndescription: "a\\x7f \\x85 \\x90 \\uFFFE \\u2028 \\x01 b"\nrules: []\n';
    const out = formatPolicyText(text);
    expect(out).toBe('tollgate: 1\nname: x\ndescription: "a\\u007f \\u0085 \\u0090 \\ufffe \\u2028 \\x01 b"\nrules: []\n');
    expect(Policy.fromYaml(out).hash).toBe(Policy.fromYaml(text).hash);
  });

  it("keeps every example policy's meaning, comments and is idempotent", () => {
    for (const f of readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".yaml") && f !== "tokens.yaml")) {
      const text = readFileSync(join(ROOT, "examples", f), "utf8");
      const out = formatPolicyText(text);
      expect(Policy.fromYaml(out).hash, f).toBe(Policy.fromYaml(text).hash);
      expect(formatPolicyText(out), f).toBe(out);
      const comments = (t: string) => t.split("\n").flatMap((l) => l.match(/(?:^|\s)#(.*)$/)?.[1]?.trim() || []);
      expect(comments(out).sort(), f).toEqual(comments(text).sort());
    }
  });
});

describe("tollgate fmt", () => {
  it("rewrites the file in place, atomically, and says so; a formatted file is left alone", async () => {
    const dir = tmp();
    const file = join(dir, "p.yaml");
    writeFileSync(file, MESSY);
    const r = await runCli(["fmt", file]);
    expect(r).toEqual({ code: 0, out: `formatted ${file}\n`, err: "" });
    expect(readFileSync(file, "utf8")).toBe(FORMATTED);
    expect(readdirSync(dir)).toEqual(["p.yaml"]); // no temporary file left
    expect(await runCli(["fmt", file])).toEqual({ code: 0, out: "", err: "" });
  });

  it("--check writes nothing, lists the files that are not formatted and exits 1", async () => {
    const dir = tmp();
    const messy = join(dir, "messy.yaml");
    const clean = join(dir, "clean.yaml");
    writeFileSync(messy, MESSY);
    writeFileSync(clean, FORMATTED);
    const r = await runCli(["fmt", "--check", clean, messy]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(`${messy}\n`);
    expect(r.err).toMatch(/1 file is not formatted/);
    expect(readFileSync(messy, "utf8")).toBe(MESSY);
    expect(await runCli(["fmt", "--check", clean])).toEqual({ code: 0, out: "", err: "" });
  });

  it("reports a policy that does not load with its errors (exit 2) and does not rewrite it; the others are formatted", async () => {
    const dir = tmp();
    const bad = join(dir, "bad.yaml");
    const good = join(dir, "good.yaml");
    const badText = "rules: []\nname: x\ntollgate: 1\nefect: deny\n";
    writeFileSync(bad, badText);
    writeFileSync(good, MESSY);
    const r = await runCli(["fmt", bad, good]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:4:1: error: unknown key 'efect'`));
    expect(readFileSync(bad, "utf8")).toBe(badText);
    expect(readFileSync(good, "utf8")).toBe(FORMATTED);
    const missing = await runCli(["fmt", join(dir, "nope.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.yaml:1:1: error: /);
  });

  it("keeps the order of a mapping whose reordering would put an alias before its anchor", async () => {
    const dir = tmp();
    const file = join(dir, "alias.yaml");
    const text = "name: a\ntollgate: 1\nrules:\n  - reason: &why Never\n    effect: deny\n    id: r\n    description: *why\n";
    writeFileSync(file, text);
    const r = await runCli(["fmt", file]);
    expect(r.code).toBe(0);
    const out = readFileSync(file, "utf8");
    expect(out).toBe("tollgate: 1\nname: a\nrules:\n  - reason: &why Never\n    effect: deny\n    id: r\n    description: *why\n");
    expect(formatPolicyText(out)).toBe(out);
  });

  it("does not write a file whose formatting would change its meaning (an alias that would name another anchor)", async () => {
    const dir = tmp();
    const file = join(dir, "anchors.yaml");
    // *d names the latest &d before it: "two" here; with `description` moved before `rules`, "one".
    const text = "tollgate: 1\nrules:\n  - id: a\n    effect: allow\n    description: &d one\nname: x\ndescription: &d two\ntests:\n  - name: *d\n    action: {}\n    expect: deny\n";
    writeFileSync(file, text);
    expect(Policy.fromYaml(text).tests[0]!.name).toBe("two");
    const r = await runCli(["fmt", file]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not formatted: the formatted text is a different policy/);
    expect(readFileSync(file, "utf8")).toBe(text);
    expect(readdirSync(dir)).toEqual(["anchors.yaml"]);
  });

  it("usage: --help, an unknown option, no file", async () => {
    expect((await runCli(["fmt", "--help"])).out).toMatch(/^usage: tollgate fmt POLICY\.yaml\.\.\. \[--check\]/);
    expect((await runCli(["fmt", "--nope", "x.yaml"])).code).toBe(64);
    expect((await runCli(["fmt"])).code).toBe(64);
    expect((await runCli(["help"])).out).toMatch(/fmt +Rewrite policies in canonical layout/);
  });
});
