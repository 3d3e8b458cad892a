// Hot policy updates: PUT /v1/policy, file change and SIGHUP, under traffic, with no failed
// request; a bad policy is rejected with file:line:col errors and the old one keeps serving.

import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, REFUND_SMALL, root, startServer, tempDir, TOKENS_FILE } from "./helpers.js";
import { hashToken } from "../../src/server/tokens.js";
import type { Server } from "./helpers.js";

const ORIGINAL = readFileSync(join(root, "test/fixtures/billing-agent-stateless.yaml"), "utf8");
/** The same policy, except that small refunds stop at 10 (REFUND_SMALL, 49.9, is then denied). */
const STRICTER = ORIGINAL.replace("args.amount: { gt: 0, lte: 200 }", "args.amount: { gt: 0, lte: 10 }");
const variant = (n: number) => ORIGINAL.replace("description: Refund bot for the support team", `description: Refund bot, revision ${n}`);

interface Traffic {
  stop(): Promise<{ ok: number; failed: string[]; hashes: string[] }>;
}

/** `n` loops of decisions until stopped; records every non-200 and the policy_hash sequence. */
function traffic(s: Server, n: number): Traffic {
  let running = true;
  let ok = 0;
  const failed: string[] = [];
  const hashes: string[] = [];
  const loop = async () => {
    while (running) {
      try {
        const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } });
        if (r.status === 200) {
          ok++;
          if (hashes[hashes.length - 1] !== r.body.policy_hash) hashes.push(r.body.policy_hash);
        } else failed.push(`${r.status} ${r.text}`);
      } catch (err) {
        failed.push(String(err));
      }
    }
  };
  const loops = Array.from({ length: n }, loop);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failed, hashes };
    },
  };
}

async function hashServed(s: Server): Promise<string> {
  return (await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } })).body.policy_hash;
}

async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

let s: Server;
let policyFile: string;
let tokensFile: string;

beforeAll(async () => {
  const dir = tempDir();
  policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, ORIGINAL);
  tokensFile = join(dir, "tokens.yaml");
  copyFileSync(TOKENS_FILE, tokensFile);
  s = await startServer({ policy: policyFile, tokens: tokensFile, workers: 2 });
});
afterAll(async () => {
  expect(await s?.stop()).toBe(0);
});

describe("policy reload", () => {
  it("PUT under traffic: no failed request, and every decision after the answer carries the new hash", async () => {
    const before = await hashServed(s);
    const t = traffic(s, 8);
    await new Promise((r) => setTimeout(r, 200));
    const put = await http(s, "PUT", "/v1/policy", { token: "admin", body: STRICTER, headers: { "content-type": "application/yaml" } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ policy: "billing-agent", changed: true });
    expect(put.body.policy_hash).not.toBe(before);
    // Both workers swapped before the answer.
    for (let i = 0; i < 20; i++) {
      const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } });
      expect(r.body.policy_hash).toBe(put.body.policy_hash);
      expect(r.body.decision).toBe("deny");
    }
    await new Promise((r) => setTimeout(r, 200));
    const { ok, failed, hashes } = await t.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    expect(hashes[hashes.length - 1]).toBe(put.body.policy_hash);
    // The same policy again: nothing changes.
    const same = await http(s, "PUT", "/v1/policy", { token: "admin", body: STRICTER, headers: { "content-type": "text/yaml" } });
    expect(same.body).toMatchObject({ changed: false, policy_hash: put.body.policy_hash });
  });

  it("a bad policy is rejected with file:line:col errors and the old one keeps serving", async () => {
    const served = await hashServed(s);
    const bad = await http(s, "PUT", "/v1/policy", { token: "admin", body: "tollgate: 1\nname: broken\nrules:\n  - id: r\n    effect: deny\n    efect: x\n", headers: { "content-type": "application/yaml" } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe("invalid_policy");
    expect(bad.body.error.message).toMatch(/^<PUT \/v1\/policy>:\d+:\d+: error: /m);
    expect(bad.body.error.details.problems[0]).toMatchObject({ line: expect.any(Number), column: expect.any(Number) });
    const yamlError = await http(s, "PUT", "/v1/policy", { token: "admin", body: "tollgate: [1\n", headers: { "content-type": "application/yaml" } });
    expect(yamlError.status).toBe(422);
    expect((await http(s, "PUT", "/v1/policy", { token: "admin", body: " ", headers: { "content-type": "application/yaml" } })).status).toBe(400);
    expect((await http(s, "PUT", "/v1/policy", { token: "admin", body: { tollgate: 1 } })).status).toBe(415);
    expect(await hashServed(s)).toBe(served);
  });

  it("the policy file changing reloads it (fs.watch), under traffic", async () => {
    const t = traffic(s, 4);
    const from = s.lines.length;
    writeFileSync(policyFile, variant(1));
    const loaded = () => s.lines.slice(from).map((l) => JSON.parse(l) as { msg?: string; source?: string; policy_hash?: string }).find((j) => j.msg === "policy loaded" && j.source === "file change");
    await eventually(async () => loaded() !== undefined);
    const target = loaded()!.policy_hash!;
    // Logged once every worker has swapped: every decision from now on carries the new hash.
    for (let i = 0; i < 10; i++) expect(await hashServed(s)).toBe(target);
    const { failed } = await t.stop();
    expect(failed).toEqual([]);
    // A broken file is logged, not served.
    const before = s.lines.length;
    writeFileSync(policyFile, "tollgate: 1\nname: x\nrules: 5\n");
    await eventually(async () => s.lines.slice(before).some((l) => l.includes("policy reload failed")));
    for (let i = 0; i < 10; i++) expect(await hashServed(s)).toBe(target);
  });

  it("SIGHUP reloads the policy file and the tokens file", async () => {
    const before = await hashServed(s);
    writeFileSync(policyFile, variant(2));
    const fresh = "a-new-agent-token";
    writeFileSync(tokensFile, readFileSync(tokensFile, "utf8") + `  ${hashToken(fresh)}: { identity: new-bot, role: agent }\n`);
    expect((await http(s, "GET", "/v1/policy", { raw: `Bearer ${fresh}` })).status).toBe(401);
    s.proc.kill("SIGHUP");
    await eventually(async () => (await hashServed(s)) !== before);
    await eventually(async () => (await http(s, "GET", "/v1/policy", { raw: `Bearer ${fresh}` })).status === 200);
    expect(s.lines.some((l) => l.includes('"source":"SIGHUP"') || l.includes('"source":"file change"'))).toBe(true);
  });
});
