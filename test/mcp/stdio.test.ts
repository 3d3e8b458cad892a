// The gateway over stdio, embedded mode: the SDK's real Client spawns `tollgate mcp` (bin/ of a
// build of src/), which wraps a real stdio upstream (test/mcp/upstream-server.ts). Listing, allow,
// deny (never forwarded), escalate approved / denied / expired (approved and denied with the
// `tollgate approvals` command line against the gateway's SQLite file), counters, hide_denied.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyLog } from "../../src/audit/verify.js";
import { auditRecords } from "../server/helpers.js";
import { connectStdio, decisionMeta, runTollgate, seenCalls, text, upstreamCommand, workspace } from "./helpers.js";
import type { Gw } from "./helpers.js";

let gw: Gw;

beforeAll(async () => {
  const ws = workspace();
  gw = await connectStdio(["--policy", ws.policy, "--name", "local", "--audit", ws.auditDir, "--progress-interval", "200ms", "--", ...upstreamCommand("local")], ws);
});
afterAll(async () => {
  await gw?.close();
});

/** Calls a tool and resolves the approval named in its first progress notification. */
async function callAndResolve(tool: string, resolve: "approve" | "deny" | null): Promise<{ result: unknown; progress: string[] }> {
  const progress: string[] = [];
  let resolved: Promise<unknown> | null = null;
  const result = await gw.client.callTool({ name: tool, arguments: { target: "prod" } }, undefined, {
    timeout: 120_000,
    onprogress: (p) => {
      progress.push(p.message ?? "");
      const id = /approval ([0-9a-f-]{36})/.exec(p.message ?? "")?.[1];
      if (id && resolve && !resolved) resolved = runTollgate(["approvals", resolve, id, "--db", gw.approvalsDb, "--by", "alice", "--note", `${resolve === "approve" ? "approved" : "denied"} in test`]);
    },
  });
  if (resolved) expect((await resolved as { code: number }).code).toBe(0);
  return { result, progress };
}

describe("tollgate mcp over stdio (embedded)", () => {
  it("lists the upstream's tools under their own names (one upstream: no prefix)", async () => {
    const { tools } = await gw.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["crash", "deploy", "echo", "limited", "quick", "read_secret", "size"]);
    expect(tools.find((t) => t.name === "echo")!.inputSchema).toMatchObject({ type: "object", properties: { text: { type: "string" } } });
  });

  it("allow: forwarded, the upstream's result comes back, the decision is audited", async () => {
    const r = await gw.client.callTool({ name: "echo", arguments: { text: "hello" } });
    expect(r.isError).toBeFalsy();
    expect(text(r)).toBe("local:hello");
    expect(seenCalls(gw.callLog)).toContainEqual({ tool: "echo", args: { text: "hello" } });
    const rec = auditRecords(gw.auditDir).find((x) => x.action.args?.text === "hello")!;
    expect(rec.decision).toMatchObject({ decision: "allow", rule: "local-tools" });
    expect(rec.action).toMatchObject({ tool: "local.echo", agent: { id: "local" }, context: { transport: "mcp" } });
    expect(rec.action.session.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("deny: an isError result with the rule and reason; the upstream never sees the call", async () => {
    const r = await gw.client.callTool({ name: "echo", arguments: { text: "please rm -rf /" } });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("rule 'no-rm': rm -rf is never allowed");
    expect(decisionMeta(r)).toMatchObject({ decision: "deny", rule: "no-rm", reason: "rm -rf is never allowed", policy: "mcp-test" });
    expect(seenCalls(gw.callLog).filter((c) => String(c.args.text).includes("rm -rf"))).toEqual([]);
    const rec = auditRecords(gw.auditDir).find((x) => x.hash === decisionMeta(r)!.audit_id)!;
    expect(rec.decision).toMatchObject({ decision: "deny", rule: "no-rm" });
  });

  it("escalate → approved (tollgate approvals approve): forwarded after the approval, with progress while waiting", async () => {
    const before = seenCalls(gw.callLog).filter((c) => c.tool === "deploy").length;
    const { result, progress } = await callAndResolve("deploy", "approve");
    expect((result as { isError?: boolean }).isError).toBeFalsy();
    expect(text(result)).toBe("local:deploy done");
    expect(progress[0]).toMatch(/waiting for approval [0-9a-f-]{36} by ops \(rule 'needs-ops': Deploys need ops/);
    expect(seenCalls(gw.callLog).filter((c) => c.tool === "deploy").length).toBe(before + 1);
    // the escalation and its approval are both on record
    const recs = auditRecords(gw.auditDir);
    const approval = recs.find((x) => (x.decision.approval as { state?: string } | undefined)?.state === "approved")!;
    expect(approval.decision).toMatchObject({ decision: "allow", rule: "needs-ops", approval: { by: "alice" } });
  });

  it("escalate → denied: refused with who denied it; never forwarded", async () => {
    const before = seenCalls(gw.callLog).filter((c) => c.tool === "deploy").length;
    const { result } = await callAndResolve("deploy", "deny");
    expect((result as { isError?: boolean }).isError).toBe(true);
    expect(text(result)).toMatch(/ops denied approval [0-9a-f-]{36} \(alice: denied in test\)\. The call was not run\./);
    expect(decisionMeta(result)).toMatchObject({ decision: "escalate", approval: { state: "denied", outcome: "deny", by: "alice" } });
    expect(seenCalls(gw.callLog).filter((c) => c.tool === "deploy").length).toBe(before);
  });

  it("escalate → expired: refused by on_timeout (deny); never forwarded", async () => {
    const { result, progress } = await callAndResolve("quick", null);
    expect((result as { isError?: boolean }).isError).toBe(true);
    expect(text(result)).toMatch(/was not given before it expired/);
    expect(decisionMeta(result)).toMatchObject({ approval: { state: "expired", outcome: "deny" } });
    expect(progress.length).toBeGreaterThanOrEqual(2); // every 200 ms while waiting 1.5 s
    expect(seenCalls(gw.callLog).filter((c) => c.tool === "quick")).toEqual([]);
  });

  it("counters apply: the 4th limited call of the session is denied by the rate limit", async () => {
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await gw.client.callTool({ name: "limited", arguments: {} }));
    expect(results.map((r) => (r.isError ? "deny" : "allow"))).toEqual(["allow", "allow", "allow", "deny", "deny"]);
    expect(decisionMeta(results[3])).toMatchObject({ rule: "rate-limit" });
    expect(seenCalls(gw.callLog).filter((c) => c.tool === "limited").length).toBe(3);
  });

  it("a tool the policy denies whatever its arguments is listed without --hide-denied and refused when called", async () => {
    const { tools } = await gw.client.listTools();
    expect(tools.map((t) => t.name)).toContain("read_secret");
    const r = await gw.client.callTool({ name: "read_secret", arguments: {} });
    expect(decisionMeta(r)).toMatchObject({ decision: "deny", rule: "no-secrets" });
  });

  it("the audit log verifies after the gateway stops (one record per decision)", async () => {
    await gw.close();
    const v = await verifyLog(gw.auditDir);
    expect(v.ok).toBe(true);
    const recs = auditRecords(gw.auditDir);
    // hello, rm, deploy x2 (+2 transitions, +1 redemption of the approved one), quick (+1
    // expiry), 5 limited, read_secret
    expect(recs.filter((r) => !r.decision.approval && !r.decision.redemption).length).toBe(11);
    expect(recs.filter((r) => r.decision.redemption).map((r) => r.decision.redemption!.check)).toEqual([null]);
    expect(recs.filter((r) => r.decision.approval).length).toBe(3);
  });
});

describe("hide_denied", () => {
  it("leaves out the tools the policy denies whatever their arguments (and only those)", async () => {
    const ws = workspace();
    const g = await connectStdio(["--policy", ws.policy, "--name", "local", "--audit", ws.auditDir, "--hide-denied", "--", ...upstreamCommand("local")], ws);
    try {
      const { tools } = await g.client.listTools();
      // read_secret is denied by a rule that holds without arguments; echo's deny needs rm -rf,
      // limited's needs the counter: both stay
      expect(tools.map((t) => t.name).sort()).toEqual(["crash", "deploy", "echo", "limited", "quick", "size"]);
      const r = await g.client.callTool({ name: "read_secret", arguments: {} });
      expect(r.isError).toBe(true);
      expect(seenCalls(ws.callLog)).toEqual([]);
    } finally {
      await g.close();
    }
  });
});
