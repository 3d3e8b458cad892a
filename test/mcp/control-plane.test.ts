// Client of the control plane: `tollgate mcp --control-plane URL --token T` against a real
// `tollgate serve`. Decisions and approvals go to the server (its audit log, its counters, the
// token's identity as agent); an approver resolves through the HTTP API; a server that cannot be
// reached refuses every call.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditRecords, http, startServer, TOKENS } from "../server/helpers.js";
import type { Server } from "../server/helpers.js";
import { connectStdio, decisionMeta, seenCalls, text, upstreamCommand, workspace } from "./helpers.js";
import type { Gw } from "./helpers.js";

const POLICY = `tollgate: 1
name: mcp-cp
default: deny
approvers:
  finance-oncall: { timeout: 60s, on_timeout: deny }
counters:
  calls:
    per: [agent.id]
    window: 1h
    when: { tool: local.limited }
rules:
  - id: no-rm
    effect: deny
    reason: rm -rf is never allowed
    when: { tool: local.echo, args.text: { contains: "rm -rf" } }
  - id: rate-limit
    effect: deny
    reason: At most 2 limited calls an hour
    when: { tool: local.limited, $calls: { gt: 2 } }
  - id: deploys
    effect: escalate
    approver: finance-oncall
    reason: Deploys need finance
    when: { tool: local.deploy }
  - id: local
    effect: allow
    when: { tool: { prefix: "local." } }
`;

let server: Server;
let gw: Gw;

beforeAll(async () => {
  const ws = workspace(POLICY);
  server = await startServer({ policy: ws.policy });
  gw = await connectStdio(["--control-plane", server.url, "--name", "local", "--progress-interval", "300ms", "--", ...upstreamCommand("local")], ws, { TOLLGATE_TOKEN: TOKENS.agent });
});
afterAll(async () => {
  await gw?.close();
  expect(await server?.stop()).toBe(0);
});

describe("tollgate mcp --control-plane", () => {
  it("allow: decided and recorded by the server, with the token's identity as agent", async () => {
    expect(text(await gw.client.callTool({ name: "echo", arguments: { text: "via server" } }))).toBe("local:via server");
    const rec = auditRecords(server.auditDir).find((r) => r.action.args?.text === "via server")!;
    expect(rec.action).toMatchObject({ tool: "local.echo", agent: { id: "billing-bot" }, context: { transport: "mcp" } });
    expect(rec.decision).toMatchObject({ decision: "allow", rule: "local" });
  });

  it("deny: isError with the rule, not forwarded", async () => {
    const r = await gw.client.callTool({ name: "echo", arguments: { text: "rm -rf /" } });
    expect(r.isError).toBe(true);
    expect(decisionMeta(r)).toMatchObject({ decision: "deny", rule: "no-rm", policy: "mcp-cp" });
    expect(seenCalls(gw.callLog).filter((c) => String(c.args.text).includes("rm"))).toEqual([]);
  });

  it("escalate: the approver approves over HTTP and the call goes through; a denial refuses", async () => {
    for (const verdict of ["approve", "deny"] as const) {
      let resolving: Promise<{ status: number }> | null = null;
      const r = await gw.client.callTool({ name: "deploy", arguments: { target: verdict } }, undefined, {
        timeout: 120_000,
        onprogress: (p) => {
          const id = /approval ([0-9a-f-]{36})/.exec(p.message ?? "")?.[1];
          if (id && !resolving) resolving = http(server, "POST", `/v1/approvals/${id}/${verdict}`, { token: "approver", body: { note: "from test" } });
        },
      });
      expect((await resolving!).status).toBe(200);
      if (verdict === "approve") expect(text(r)).toBe("local:deploy done");
      else expect(decisionMeta(r)).toMatchObject({ approval: { state: "denied", by: "alice" } });
    }
    expect(seenCalls(gw.callLog).filter((c) => c.tool === "deploy")).toEqual([{ tool: "deploy", args: { target: "approve" } }]);
  });

  it("the server's counters apply", async () => {
    const out = [];
    for (let i = 0; i < 3; i++) out.push((await gw.client.callTool({ name: "limited", arguments: {} })).isError ? "deny" : "allow");
    expect(out).toEqual(["allow", "allow", "deny"]);
  });

  it("a control plane that cannot be reached refuses the call (fail closed)", async () => {
    const ws = workspace(POLICY);
    const g = await connectStdio(["--control-plane", "http://127.0.0.1:9", "--token", TOKENS.agent, "--name", "local", "--", ...upstreamCommand("local")], ws);
    try {
      const r = await g.client.callTool({ name: "echo", arguments: { text: "x" } });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/tollgate could not decide local\.echo \(control plane http:\/\/127\.0\.0\.1:9 unreachable/);
      expect(seenCalls(ws.callLog)).toEqual([]);
    } finally {
      await g.close();
    }
  });

  it("a wrong token refuses the call with the server's answer", async () => {
    const ws = workspace(POLICY);
    const g = await connectStdio(["--control-plane", server.url, "--token", "not-a-token", "--name", "local", "--", ...upstreamCommand("local")], ws);
    try {
      const r = await g.client.callTool({ name: "echo", arguments: { text: "x" } });
      expect(text(r)).toMatch(/control plane answered 401/);
      expect(seenCalls(ws.callLog)).toEqual([]);
    } finally {
      await g.close();
    }
  });
});
