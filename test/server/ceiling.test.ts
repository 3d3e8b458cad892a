// bench/server-ceiling.ts (the HTTP stack alone, the server benchmark's ceiling): both stacks
// start, print their port, answer both routes with one decision per action, refuse a malformed
// body, and stop on SIGTERM with status 0.

import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startListening } from "../support/server-child.js";
import { transpileForChild } from "../cli-helpers.js";

const dir = transpileForChild("tollgate-ceiling-", ["bench/server-ceiling.ts"]);
const program = join(dir, "bench/server-ceiling.js");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function post(url: string, body: string): Promise<{ status: number; body: { decision?: string; decisions?: { decision: string }[] } }> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: r.status, body: (await r.json()) as { decision?: string; decisions?: { decision: string }[] } };
}

describe.each(["fastify", "node-http"])("server-ceiling --stack %s", (stack) => {
  it("answers POST /v1/decide and /v1/decide/batch, one decision per action", async () => {
    const child = await startListening([program, "--stack", stack, "--workers", "1", "--port", "0"]);
    try {
      expect(child.info.stack).toBe(stack);
      const one = await post(`${child.url}/v1/decide`, JSON.stringify({ action: { tool: "payments.refund", args: { amount: 5 } } }));
      expect(one.status).toBe(200);
      expect(one.body.decision).toBe("allow");
      const batch = await post(`${child.url}/v1/decide/batch`, JSON.stringify({ actions: [{ tool: "a" }, { tool: "b" }, { tool: "c" }] }));
      expect(batch.status).toBe(200);
      expect(batch.body.decisions?.map((d) => d.decision)).toEqual(["allow", "allow", "allow"]);
      expect((await post(`${child.url}/v1/decide`, '{"action":')).status).toBe(400);
      expect((await post(`${child.url}/v1/decide/batch`, '{"actions":{}}')).status).toBe(400);
    } finally {
      expect(child.exitedEarly()).toBe(false);
      expect((await child.stop()).code).toBe(0);
    }
  });
});
