// examples/coding-agent.yaml (the policy docs/hooks.md installs) passes its own tests, sequences
// included, as `npx tollgate test examples/coding-agent.yaml` runs them.

import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { Policy } from "../../src/policy.js";
import { runPolicyTests } from "../../src/policy-tests.js";
import { root } from "./helpers.js";

const EXAMPLE = join(root, "examples/coding-agent.yaml");

describe("examples/coding-agent.yaml", () => {
  it("passes its tests, sequences included", () => {
    const policy = Policy.fromFile(EXAMPLE);
    expect(policy.stateful).toBe(true);
    const results = runPolicyTests(policy);
    expect(results.filter((r) => r.failures.length > 0)).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(30);
    expect(policy.tests.filter((t) => "steps" in t && t.steps !== undefined).length).toBeGreaterThanOrEqual(5);
  });

  it("tollgate test passes", async () => {
    const stdout = new PassThrough();
    let out = "";
    stdout.on("data", (d) => (out += d));
    const code = await main(["test", EXAMPLE], { stdin: Readable.from([]), stdout, stderr: new PassThrough() });
    expect(out).toMatch(/^\d+ passed, 0 failed\n$/);
    expect(code).toBe(0);
  });
});
