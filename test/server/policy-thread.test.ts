// A large PUT /v1/policy is validated off the primary's event loop (issue 11): decisions, which
// wait for the primary to write their audit records, keep being answered meanwhile. On the old
// code the primary loaded the policy itself and every decision waited for it.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePolicy, policyToYaml } from "../support/workload/generate.js";
import { Policy } from "../../src/policy.js";
import { http, REFUND_SMALL, startServer } from "./helpers.js";
import type { Server } from "./helpers.js";

let s: Server;

beforeAll(async () => {
  s = await startServer({ workers: 1 });
});
afterAll(async () => {
  expect(await s.stop()).toBe(0);
});

const YAML = { "content-type": "application/yaml" };

describe("PUT /v1/policy of a large policy", () => {
  it("decisions keep being answered while it is validated; its errors are the engine's, positions included", async () => {
    // 3,000 rules with a mistake at the very end: the whole policy is read before it fails (about
    // a second here), and nothing is installed, so no worker compiles anything.
    const big = policyToYaml(generatePolicy(3000, 7));
    const bad = `${big.trimEnd()}\n  - id: zz-last\n    effect: allow\n    efect: x\n`;
    let expected = "";
    try {
      Policy.fromYaml(bad, { filename: "<PUT /v1/policy>" });
    } catch (err) {
      expected = (err as Error & { format(): string }).format();
    }
    expect(expected).toMatch(/^<PUT \/v1\/policy>:\d+:5: error: unknown key 'efect' in rule/);

    const t0 = performance.now();
    let putDone = 0;
    const put = http(s, "PUT", "/v1/policy", { token: "admin", body: bad, headers: YAML }).then((r) => {
      putDone = performance.now();
      return r;
    });
    // Decisions one after another for as long as the PUT takes: the latency of each one started
    // before the PUT was answered (the last one may end after it).
    const latencies: number[] = [];
    while (putDone === 0) {
      const d0 = performance.now();
      const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } });
      expect(r.status).toBe(200);
      latencies.push(performance.now() - d0);
    }
    const r = await put;
    const putMs = putDone - t0;
    expect(r.status).toBe(422);
    expect(r.body.error.message).toBe(expected);
    expect(r.body.error.details.problems[0]).toMatchObject({ file: "<PUT /v1/policy>", message: expect.stringContaining("efect") });
    // Several decisions were answered while the PUT was under way, none of them held up for
    // anything like the validation's time (on the old code one waited nearly all of it).
    expect(latencies.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...latencies)).toBeLessThan(putMs / 2);
  }, 60_000);

  it("a valid one is installed: the answer's hash is the engine's", async () => {
    const yaml = policyToYaml(generatePolicy(300, 3));
    const r = await http(s, "PUT", "/v1/policy", { token: "admin", body: yaml, headers: YAML });
    expect(r.status).toBe(200);
    const p = Policy.fromYaml(yaml);
    expect(r.body).toEqual({ policy: p.name, policy_hash: p.hash, changed: true });
    expect((await http(s, "GET", "/v1/policy", { token: "agent" })).body).toEqual({ policy: p.name, policy_hash: p.hash, rules: p.rules.length });
  }, 60_000);
});
