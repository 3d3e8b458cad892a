// Which agent an approval belongs to (src/server/access.ts visibleApproval): the approval's own
// `agent`, the token identity it was issued to, never the stored action's `agent.id`, which a
// policy may redact. Before, with `agent.id` redacted, the agent could not see or wait on its own
// approval (404), and a token whose identity was "[redacted]" could.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalsPolicy, http, startServer, tempDir } from "./helpers.js";
import type { Server } from "./helpers.js";

let s: Server;

describe("an approval under a policy that redacts agent.id", () => {
  beforeAll(async () => {
    const dir = tempDir();
    const policy = join(dir, "policy.yaml");
    writeFileSync(policy, approvalsPolicy("redacts-agent", { timeout: "15m", onTimeout: "deny", reason: "quick" }).replace("default: deny\n", "default: deny\naudit:\n  redact: [agent.id]\n"));
    s = await startServer({ policy });
  });
  afterAll(async () => {
    expect(await s?.stop()).toBe(0);
  });

  it("is seen and waited on by the agent it was issued to, and by no other", async () => {
    const d = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: { tool: "payments.refund", args: { amount: 500 } } } });
    expect(d.body.decision).toBe("escalate");
    const id = d.body.approval_id as string;
    const mine = await http(s, "GET", `/v1/approvals/${id}`, { token: "agent" });
    expect(mine.status, mine.text).toBe(200);
    expect(mine.body.action.agent.id).toBe("[redacted]"); // the stored action stays redacted
    expect((await http(s, "GET", `/v1/approvals/${id}/wait?timeout=1ms`, { token: "agent" })).status).toBe(200);
    expect((await http(s, "GET", `/v1/approvals/${id}`, { token: "agent2" })).status).toBe(404);
    expect((await http(s, "GET", `/v1/approvals/${id}/wait?timeout=1ms`, { token: "agent2" })).status).toBe(404);
  });
});
