// `tollgate init`: the starter policy loads, passes `tollgate test` and `tollgate lint`, is in
// `tollgate fmt` layout, validates against the schema it names on its first line, and shows what
// a newcomer needs (allow, deny, escalate, an approver, a redacted field, a counter).

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { Policy } from "../../src/index.js";
import { formatPolicyText } from "../../src/fmt/layout.js";
import { ROOT, runCli } from "../cli-helpers.js";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "tollgate-init-"));
}

/** The schema file a policy's `# yaml-language-server: $schema=` line names. */
function schemaNamedBy(file: string): string {
  const first = readFileSync(file, "utf8").split("\n")[0]!;
  const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
  expect(m, first).not.toBeNull();
  const ref = m![1]!;
  return ref.startsWith("file:") ? fileURLToPath(ref) : resolve(dirname(file), ref);
}

describe("tollgate init", () => {
  it("writes NAME.yaml: a starter that loads, passes its tests and lint, is formatted and validates against its schema", async () => {
    const dir = tmp();
    const file = join(dir, "billing-bot.yaml");
    const r = await runCli(["init", join(dir, "billing-bot")]);
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toContain(`wrote ${file}`);
    expect(r.out).toContain(`tollgate test ${file}`);
    expect(r.out).toContain(`tollgate eval ${file}`);

    const text = readFileSync(file, "utf8");
    const policy = Policy.fromFile(file);
    expect(policy.name).toBe("billing-bot");
    expect(new Set(policy.rules.map((rule) => rule.effect))).toEqual(new Set(["allow", "deny", "escalate"]));
    expect(policy.rules.find((rule) => rule.effect === "escalate")?.approver).toBe("oncall");
    expect(policy.redact.length).toBeGreaterThan(0);
    expect(policy.counters.length).toBe(1);
    expect(policy.tests.length).toBeGreaterThanOrEqual(5);
    expect(text.split("\n").filter((l) => /#/.test(l)).length).toBeGreaterThan(10); // commented

    expect(await runCli(["test", file])).toMatchObject({ code: 0, out: expect.stringMatching(/^6 passed, 0 failed\n$/) });
    expect(await runCli(["lint", file])).toEqual({ code: 0, out: `ok: ${file}\n`, err: "" });
    expect(await runCli(["fmt", "--check", file])).toEqual({ code: 0, out: "", err: "" });
    expect(formatPolicyText(text)).toBe(text);

    const schemaFile = schemaNamedBy(file);
    expect(schemaFile).toBe(join(ROOT, "schema/tollgate.schema.json"));
    const validate = new Ajv2020({ allowUnionTypes: true }).compile(JSON.parse(readFileSync(schemaFile, "utf8")));
    expect(validate(YAML.parse(text)), JSON.stringify(validate.errors)).toBe(true);

    // the README's first eval: a large refund escalates
    const action = { tool: "payments.refund", agent: { id: "bot-1" }, args: { amount: 900 } };
    expect(policy.evaluate(action)).toMatchObject({ decision: "escalate", rule: "large-refund", approver: "oncall" });
  });

  it("names the schema by a relative path inside a project (as from node_modules/tollgate)", async () => {
    const dir = join(ROOT, "node_modules/.cache");
    const sub = mkdtempSync(join(dir, "init-"));
    await runCli(["init", join(sub, "p")]);
    const first = readFileSync(join(sub, "p.yaml"), "utf8").split("\n")[0]!;
    expect(first).toMatch(/^# yaml-language-server: \$schema=\.\.\/\.\.\/\.\.\/schema\/tollgate\.schema\.json$/);
    expect(schemaNamedBy(join(sub, "p.yaml"))).toBe(join(ROOT, "schema/tollgate.schema.json"));
  });

  it("writes policy.yaml without NAME (bin/tollgate.js in a fresh folder), refuses to replace it, and --force replaces it", () => {
    const dir = tmp();
    const bin = join(ROOT, "bin/tollgate.js");
    const first = spawnSync(process.execPath, [bin, "init"], { cwd: dir, encoding: "utf8" });
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^wrote policy\.yaml: /);
    expect(first.stdout).toContain("tollgate test policy.yaml");
    expect(Policy.fromFile(join(dir, "policy.yaml")).name).toBe("my-agent");

    writeFileSync(join(dir, "policy.yaml"), "mine\n");
    const again = spawnSync(process.execPath, [bin, "init"], { cwd: dir, encoding: "utf8" });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/policy\.yaml exists; not replaced \(--force replaces it\)/);
    expect(readFileSync(join(dir, "policy.yaml"), "utf8")).toBe("mine\n");

    const forced = spawnSync(process.execPath, [bin, "init", "--force"], { cwd: dir, encoding: "utf8" });
    expect(forced.status).toBe(0);
    expect(Policy.fromFile(join(dir, "policy.yaml")).tests.length).toBe(6);
    expect(existsSync(join(dir, ".policy.yaml.tmp"))).toBe(false);
  });

  it("usage: --help, an unknown option, two names", async () => {
    expect((await runCli(["init", "--help"])).out).toMatch(/^usage: tollgate init \[NAME\] \[--force\]/);
    expect((await runCli(["init", "--nope"])).code).toBe(64);
    expect((await runCli(["init", "a", "b"])).code).toBe(64);
    expect((await runCli(["help"])).out).toMatch(/tollgate init \[NAME\] \[--force\]/);
  });
});
