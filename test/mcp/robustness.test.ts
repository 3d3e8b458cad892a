// Over stdio: raw malformed JSON-RPC lines, a 10 MiB argument (forwarded intact when the policy
// does not read it; denied, not forwarded, when a rule reads it), and 1,000 concurrent calls — all
// answered, each forwarded and audited exactly once, and the log verifies.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyLog } from "../../src/audit/verify.js";
import { auditRecords } from "../server/helpers.js";
import { connectStdio, decisionMeta, seenCalls, text, tollgateBin, upstreamCommand, workspace } from "./helpers.js";
import type { Gw } from "./helpers.js";

describe("malformed requests over stdio", () => {
  it("a line that is not JSON is skipped; bad requests get JSON-RPC errors; the gateway keeps answering", async () => {
    const ws = workspace();
    const p = spawn(process.execPath, [tollgateBin(), "mcp", "--policy", ws.policy, "--name", "local", "--audit", ws.auditDir, "--", ...upstreamCommand("local")], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, MCP_CALL_LOG: ws.callLog } });
    const answers = new Map<number, { result?: unknown; error?: { code: number; message: string } }>();
    let buf = "";
    let stderr = "";
    p.stderr.on("data", (c) => (stderr += c));
    p.stdout.on("data", (c: Buffer) => {
      buf += c.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (typeof m.id === "number") answers.set(m.id, m);
        if (m.id === "ten") answers.set(10, m);
      }
    });
    const send = (m: unknown) => p.stdin.write((typeof m === "string" ? m : JSON.stringify(m)) + "\n");
    const answer = async (id: number) => {
      for (let t = 0; t < 600 && !answers.has(id); t++) await new Promise((r) => setTimeout(r, 100));
      return answers.get(id);
    };
    send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } });
    expect((await answer(1))?.result).toMatchObject({ serverInfo: { name: "tollgate-mcp" }, capabilities: { tools: {} } });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send("{this is not json");
    send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: {} });
    send({ jsonrpc: "2.0", id: 3, method: "no/such/method" });
    send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "", arguments: {} } });
    send({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "echo", arguments: "not an object" } });
    send({ jsonrpc: "2.0", id: 6, method: "tools/call", params: { name: "echo", arguments: { text: "ok" } } });
    // Names the upstream does not list, however close: refused, never forwarded (an upstream that
    // matched names loosely would run a tool the policy decided under another name).
    send({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "ECHO", arguments: { text: "x" } } });
    send({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "echo ", arguments: { text: "x" } } });
    // A JSON-RPC batch (MCP 2025-03-26) over stdio: each request answered with an error at once,
    // nothing in it run; the notification in it gets no answer.
    send(`  [{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"batched"}}},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":"ten","method":"tools/list"}]`);
    expect((await answer(2))?.error?.code).toBe(-32602);
    expect((await answer(3))?.error?.code).toBe(-32601);
    expect((await answer(4))?.error).toMatchObject({ code: -32602, message: expect.stringContaining("unknown tool") });
    expect((await answer(5))?.error?.code).toBe(-32602);
    expect((await answer(6))?.result).toMatchObject({ content: [{ type: "text", text: "local:ok" }] });
    for (const id of [7, 8]) expect((await answer(id))?.error).toMatchObject({ code: -32602, message: expect.stringContaining("does not list it") });
    expect((await answer(10))?.error?.code).toBe(-32600);
    expect((await answer(9))?.error).toMatchObject({ code: -32600, message: expect.stringContaining("batches are not supported over stdio") });
    expect(stderr).toContain("agent sent an unreadable message");
    // only the good call was decided and forwarded
    expect(seenCalls(ws.callLog)).toEqual([{ tool: "echo", args: { text: "ok" } }]);
    p.stdin.end();
    expect(await new Promise((r) => p.on("exit", r))).toBe(0);
    expect(auditRecords(ws.auditDir).length).toBe(1);
  });
});

describe("load", () => {
  let gw: Gw;
  beforeAll(async () => {
    const ws = workspace();
    gw = await connectStdio(["--policy", ws.policy, "--name", "local", "--audit", ws.auditDir, "--", ...upstreamCommand("local")], ws);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("a 10 MiB argument the policy does not read is forwarded intact", async () => {
    const data = "x".repeat(10 * 1024 * 1024 - 7) + "🙂end";
    const r = await gw.client.callTool({ name: "size", arguments: { data } }, undefined, { timeout: 120_000 });
    expect(text(r)).toBe(`${Buffer.byteLength(data)} ${createHash("sha256").update(data).digest("hex")}`);
    expect(seenCalls(gw.callLog)).toContainEqual({ tool: "size", args: { data: { length: data.length } } });
  });

  it("a 10 MiB argument a rule reads is denied (the engine reads at most 1 MiB), not forwarded", async () => {
    const r = await gw.client.callTool({ name: "echo", arguments: { text: "y".repeat(10 * 1024 * 1024) } }, undefined, { timeout: 120_000 });
    expect(r.isError).toBe(true);
    expect(decisionMeta(r)).toMatchObject({ decision: "deny", error: expect.any(String) });
    expect(seenCalls(gw.callLog).filter((c) => c.tool === "echo")).toEqual([]);
  });

  it("1,000 concurrent calls: each answered, forwarded once and audited once; the log verifies", async () => {
    const N = 1000;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => gw.client.callTool({ name: "echo", arguments: { text: "c", i } }, undefined, { timeout: 300_000 })));
    results.forEach((r, i) => expect(text(r)).toBe(`local:c#${i}`));
    const seen = seenCalls(gw.callLog).filter((c) => c.tool === "echo").map((c) => c.args.i as number).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i));
    await gw.close();
    const v = await verifyLog(gw.auditDir);
    expect(v.ok).toBe(true);
    const audited = auditRecords(gw.auditDir).filter((r) => r.action.tool === "local.echo" && r.action.args.text === "c");
    expect(audited.length).toBe(N);
    expect(new Set(audited.map((r) => r.action.args.i)).size).toBe(N);
    expect(audited.every((r) => r.decision.decision === "allow")).toBe(true);
  });
});
