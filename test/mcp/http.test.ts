// The gateway served over Streamable HTTP (--listen), with two upstreams from a configuration
// file: `local` (a stdio child) and `remote` (Streamable HTTP, in this process). Prefixed
// listing, allow/deny/escalate on both, an upstream crash (a clear error; the other upstream keeps
// serving; the crashed one is started again on its next use), malformed HTTP requests, the token.

import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { verifyLog } from "../../src/audit/verify.js";
import { auditRecords } from "../server/helpers.js";
import { connectHttp, decisionMeta, runTollgate, seenCalls, spawnHttpGateway, text, upstreamCommand, workspace } from "./helpers.js";
import type { Spawned } from "./helpers.js";
import { startHttpUpstream } from "./upstream-server.js";
import type { HttpUpstream } from "./upstream-server.js";

const TOKEN = "test-gateway-token-0123456789";
let remote: HttpUpstream;
let gw: Spawned;
let client: Client;
const ws = workspace();

beforeAll(async () => {
  remote = await startHttpUpstream("remote");
  const [cmd, ...args] = upstreamCommand("local");
  writeFileSync(join(ws.dir, "gateway.yaml"), `# two upstreams
name: two
policy: policy.yaml
audit: audit
agent: test-bot
session: { id: sess-1 }
progress_interval: 200ms
listen_token: \${GW_TOKEN}
upstreams:
  local:
    command: ${JSON.stringify(cmd)}
    args: ${JSON.stringify(args)}
    env: { MCP_CALL_LOG: ${JSON.stringify(ws.callLog)} }
  remote:
    url: ${remote.url}
`);
  gw = await spawnHttpGateway(["--config", join(ws.dir, "gateway.yaml")], { GW_TOKEN: TOKEN });
  client = await connectHttp(gw.url, TOKEN);
});
afterAll(async () => {
  await client?.close();
  expect(await gw?.stop()).toBe(0);
  await remote?.close();
});

describe("tollgate mcp over Streamable HTTP, two upstreams", () => {
  it("lists both upstreams' tools prefixed by upstream name", async () => {
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toContain("local__echo");
    expect(names).toContain("remote__echo");
    expect(names.length).toBe(14);
  });

  it("allow goes to the right upstream; the action's tool is <upstream>.<name>", async () => {
    expect(text(await client.callTool({ name: "remote__echo", arguments: { text: "hi" } }))).toBe("remote:hi");
    expect(text(await client.callTool({ name: "local__echo", arguments: { text: "hi" } }))).toBe("local:hi");
    const recs = auditRecords(ws.auditDir).filter((r) => r.action.args?.text === "hi");
    expect(recs.map((r) => r.action.tool).sort()).toEqual(["local.echo", "remote.echo"]);
    expect(recs[0]!.action).toMatchObject({ agent: { id: "test-bot" }, session: { id: "sess-1" }, context: { transport: "mcp" } });
  });

  it("deny over HTTP: isError with the rule; the HTTP upstream never saw it", async () => {
    const r = await client.callTool({ name: "remote__echo", arguments: { text: "rm -rf /" } });
    expect(r.isError).toBe(true);
    expect(decisionMeta(r)).toMatchObject({ decision: "deny", rule: "no-rm" });
    expect(remote.calls.filter((c) => String(c.args.text).includes("rm"))).toEqual([]);
  });

  it("escalate over HTTP → approved: forwarded to the HTTP upstream", async () => {
    let approving: Promise<{ code: number | null }> | null = null;
    const r = await client.callTool({ name: "remote__deploy", arguments: { target: "prod" } }, undefined, {
      timeout: 120_000,
      onprogress: (p) => {
        const id = /approval ([0-9a-f-]{36})/.exec(p.message ?? "")?.[1];
        if (id && !approving) approving = runTollgate(["approvals", "approve", id, "--db", ws.approvalsDb, "--by", "bob"]);
      },
    });
    expect(approving).not.toBeNull();
    expect((await approving!).code).toBe(0);
    expect(text(r)).toBe("remote:deploy done");
    expect(remote.calls.filter((c) => c.tool === "deploy").length).toBe(1);
  });

  it("an upstream that crashes: a clear error; the other upstream keeps serving; the next call starts it again", async () => {
    const r = await client.callTool({ name: "local__crash", arguments: {} });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/upstream 'local' is unavailable: .*Connection closed/);
    expect(text(await client.callTool({ name: "remote__echo", arguments: { text: "still here" } }))).toBe("remote:still here");
    expect((await client.listTools()).tools.some((t) => t.name.startsWith("remote__"))).toBe(true);
    let again: unknown;
    for (let i = 0; i < 20; i++) { // the restart waits out a short back-off
      again = await client.callTool({ name: "local__echo", arguments: { text: "back" } });
      if (!(again as { isError?: boolean }).isError) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(text(again)).toBe("local:back");
    expect(gw.stderr()).toContain('"msg":"upstream disconnected","upstream":"local"');
  });

  it("malformed requests get JSON-RPC errors, and the gateway keeps serving", async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(gw.url, { method: "POST", body, headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${TOKEN}`, ...headers } });
    const notJson = await post("{not json");
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error.code).toBe(-32700);
    const noSession = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    expect(noSession.status).toBe(400);
    const badSession = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), { "mcp-session-id": "nope" });
    expect(badSession.status).toBe(404);
    const noToken = await fetch(gw.url, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(noToken.status).toBe(401);
    const wrongToken = await post("{}", { authorization: "Bearer wrong" });
    expect(wrongToken.status).toBe(401);
    // a page on another origin resolving its name to 127.0.0.1 (DNS rebinding) sends its own Host
    const wrongHost = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(gw.url, { method: "POST", headers: { host: "evil.example", authorization: `Bearer ${TOKEN}`, "content-type": "application/json" } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on("error", reject);
      req.end("{}");
    });
    expect(wrongHost).toBe(403);
    const elsewhere = await fetch(gw.url.replace("/mcp", "/other"), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(elsewhere.status).toBe(404);
    // Within a session: an unknown tool, a call without a name, an unknown method
    await expect(client.callTool({ name: "nowhere__echo", arguments: {} })).rejects.toThrow(/unknown tool 'nowhere__echo'/);
    await expect(client.request({ method: "tools/call", params: {} } as never, (await import("@modelcontextprotocol/sdk/types.js")).CallToolResultSchema)).rejects.toThrow(/-32602|Invalid/);
    await expect(client.request({ method: "no/such/method", params: {} } as never, (await import("@modelcontextprotocol/sdk/types.js")).CallToolResultSchema)).rejects.toThrow(/-32601|not found/i);
    expect(text(await client.callTool({ name: "remote__echo", arguments: { text: "fine" } }))).toBe("remote:fine");
  });

  it("every decision is in the audit log, which verifies", async () => {
    const v = await verifyLog(ws.auditDir, { allowUnsignedTail: true });
    expect(v.ok).toBe(true);
    expect(seenCalls(ws.callLog).some((c) => c.tool === "crash")).toBe(true);
  });
});
