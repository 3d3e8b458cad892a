// The Vercel AI SDK adapter driven by the SDK's own tool loop: generateText with
// MockLanguageModelV3 (ai/test) scripted to emit tool calls, never a hosted model.

import { generateText, stepCountIs, tool, jsonSchema } from "ai";
import type { ToolSet } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { gateTool, gateTools, ToolCallRefused, WITHDRAWN_BY } from "../../src/adapters/ai-sdk.js";
import type { ToolCallGate } from "../../src/adapters/ai-sdk.js";
import { verifyLog } from "../../src/audit/verify.js";
import { UNRECORDABLE_TEXT } from "../../src/audit/recordable.js";
import { closeGates, openGate, pendingApproval, records } from "./helpers.js";

afterEach(closeGates);

type GenerateResult = Exclude<ConstructorParameters<typeof MockLanguageModelV3>[0], undefined>["doGenerate"];
type Call = { name: string; input: Record<string, unknown> | string };

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/**
 * A model that plays a script: each turn is the tool calls of one step, then it answers "done".
 * An input given as a string is sent as it is (raw JSON text from the "model").
 */
function scripted(turns: Call[][]): MockLanguageModelV3 {
  let step = 0;
  let id = 0;
  const doGenerate: GenerateResult = async () => {
    const calls = turns[step++];
    if (calls === undefined) return { content: [{ type: "text", text: "done" }], finishReason: { unified: "stop", raw: undefined }, usage, warnings: [] };
    return {
      content: calls.map((c) => ({ type: "tool-call" as const, toolCallId: `call-${++id}`, toolName: c.name, input: typeof c.input === "string" ? c.input : JSON.stringify(c.input) })),
      finishReason: { unified: "tool-calls", raw: undefined },
      usage,
      warnings: [],
    };
  };
  return new MockLanguageModelV3({ doGenerate });
}

/** The tool results the model was sent on its calls after the first, as (callId → output). */
function seenByModel(model: MockLanguageModelV3): Map<string, { type: string; value: unknown }> {
  const seen = new Map<string, { type: string; value: unknown }>();
  for (const call of model.doGenerateCalls) {
    for (const m of call.prompt) {
      if (m.role !== "tool") continue;
      for (const part of m.content) if (part.type === "tool-result") seen.set(part.toolCallId, part.output as { type: string; value: unknown });
    }
  }
  return seen;
}

/** The shop's tools, with a log of what actually ran. */
function shop() {
  const ran: Array<{ tool: string; input: unknown }> = [];
  const tools = {
    query: tool({
      description: "Run SQL",
      inputSchema: z.object({ sql: z.string() }),
      execute: async (input) => {
        ran.push({ tool: "query", input });
        return { rows: 1 };
      },
    }),
    refund: tool({
      description: "Refund an order",
      inputSchema: z.object({ order: z.string(), amount: z.number() }),
      execute: async (input) => {
        ran.push({ tool: "refund", input });
        return `refunded ${input.amount}`;
      },
    }),
    lookup: tool({
      description: "Look up an order",
      inputSchema: z.object({ order: z.string() }),
      execute: async (input) => {
        ran.push({ tool: "lookup", input });
        return { order: input.order, status: "shipped" };
      },
    }),
    restart: tool({
      description: "Restart the shop",
      inputSchema: z.object({}),
      execute: async (input) => {
        ran.push({ tool: "restart", input });
        return "restarted";
      },
    }),
    // Takes anything: lets a test send what a schema would have refused.
    count: tool({
      description: "Count things",
      inputSchema: jsonSchema<Record<string, unknown>>({ type: "object" }),
      execute: async (input) => {
        ran.push({ tool: "count", input });
        return 42;
      },
    }),
  };
  return { tools, ran };
}

async function run(tools: ToolSet, turns: Call[][]) {
  const model = scripted(turns);
  const result = await generateText({ model, tools, prompt: "help the customer", stopWhen: stepCountIs(turns.length + 1) });
  return { model, result, seen: seenByModel(model), errors: result.steps.flatMap((s) => s.content.filter((p) => p.type === "tool-error")) };
}

describe("AI SDK adapter (generateText + MockLanguageModelV3)", () => {
  it("allow runs the tool; the action is {tool: prefix+name, args, agent, session, context}; the model sees the result", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const { seen, result, errors } = await run(gateTools(tools, gate, { agent: "support-bot", session: "s-1", prefix: "shop." }), [[{ name: "refund", input: { order: "A1", amount: 20 } }]]);
    expect(ran).toEqual([{ tool: "refund", input: { order: "A1", amount: 20 } }]);
    expect(errors).toEqual([]);
    expect(seen.get("call-1")).toEqual({ type: "text", value: "refunded 20" });
    expect(result.text).toBe("done");
    const [r] = records(dir);
    expect(r).toMatchObject({
      action: { tool: "shop.refund", args: { order: "A1", amount: 20 }, agent: { id: "support-bot" }, session: { id: "s-1" }, context: { framework: "ai-sdk", toolCallId: "call-1" } },
      decision: { decision: "allow", rule: "refunds" },
    });
  });

  it("deny never runs the tool; the model's next turn reads the refusal with rule and reason", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const { seen, errors } = await run(gateTools(tools, gate, { agent: "bot", prefix: "shop." }), [[{ name: "query", input: { sql: "DROP TABLE orders" } }]]);
    expect(ran).toEqual([]);
    const out = seen.get("call-1")!;
    expect(out.type).toBe("error-text");
    expect(out.value).toBe("Tollgate denied the call to shop.query (rule: no-drop; reason: Destructive SQL is never allowed). The tool was not run.");
    // The application sees the same refusal as a tool-error part, with the decision.
    expect(errors).toHaveLength(1);
    const err = (errors[0] as { error: unknown }).error;
    expect(err).toBeInstanceOf(ToolCallRefused);
    expect((err as ToolCallRefused).decision).toMatchObject({ decision: "deny", rule: "no-drop", audit_seq: 1 });
    expect(records(dir).map((r) => r.decision.decision)).toEqual(["deny"]);
  });

  it("a tool the policy does not name is denied by the default, and the text says so", async () => {
    const { gate } = await openGate();
    const { tools, ran } = shop();
    const { seen } = await run(gateTools(tools, gate, { agent: "bot", prefix: "other." }), [[{ name: "lookup", input: { order: "A1" } }]]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")!.value).toMatch(/^Tollgate denied the call to other\.lookup \(rule: none \(the policy's default\); reason: /);
  });

  it("escalate waits; approved via gate.approve while it waits, the tool runs", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const running = run(gateTools(tools, gate, { agent: "bot", prefix: "shop." }), [[{ name: "refund", input: { order: "A2", amount: 900 } }]]);
    const a = await pendingApproval(gate);
    expect(a).toMatchObject({ rule: "big-refund", approver: "finance", action: { tool: "shop.refund", args: { amount: 900 } } });
    expect(ran).toEqual([]); // still waiting
    await gate.approve(a.id, { by: "alice", note: "ok" });
    const { seen, errors } = await running;
    expect(ran).toEqual([{ tool: "refund", input: { order: "A2", amount: 900 } }]);
    expect(errors).toEqual([]);
    expect(seen.get("call-1")).toEqual({ type: "text", value: "refunded 900" });
    const rs = records(dir);
    expect(rs.map((r) => r.decision.decision)).toEqual(["escalate", "allow", "allow"]);
    expect(rs[1]!.decision.approval).toMatchObject({ id: a.id, state: "approved", by: "alice" });
    // the approval redeemed (bound to this action, used once) before the tool ran
    expect(rs[2]!.decision).toMatchObject({ approval_id: a.id, approved_by: "alice", rule: "big-refund", redemption: { check: null } });
  });

  it("escalate denied by a human refuses, with who and why", async () => {
    const { gate } = await openGate();
    const { tools, ran } = shop();
    const running = run(gateTools(tools, gate, { agent: "bot", prefix: "shop." }), [[{ name: "refund", input: { order: "A3", amount: 900 } }]]);
    const a = await pendingApproval(gate);
    await gate.deny(a.id, { by: "bob", note: "looks like fraud" });
    const { seen, errors } = await running;
    expect(ran).toEqual([]);
    expect(seen.get("call-1")!.value).toBe(
      "Tollgate: the approval for the call to shop.refund was denied by bob: looks like fraud (rule: big-refund; reason: Refunds over 500 need finance). The tool was not run.",
    );
    expect((errors[0] as { error: ToolCallRefused }).error.approval).toMatchObject({ id: a.id, state: "denied" });
  });

  it("escalate that expires (on_timeout: deny) refuses", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const { seen } = await run(gateTools(tools, gate, { agent: "bot", prefix: "shop." }), [[{ name: "restart", input: {} }]]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")!.value).toBe("Tollgate: the approval for the call to shop.restart expired without an answer (rule: restart; reason: Restarts need ops within 300ms). The tool was not run.");
    expect(records(dir).map((r) => [r.decision.decision, r.decision.approval?.state])).toEqual([["escalate", undefined], ["deny", "expired"]]);
  });

  it('escalate: "refuse" refuses at once and withdraws the approval (recorded)', async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const started = Date.now();
    const { seen } = await run(gateTools(tools, gate, { agent: "bot", prefix: "shop.", escalate: "refuse" }), [[{ name: "refund", input: { order: "A4", amount: 900 } }]]);
    expect(Date.now() - started).toBeLessThan(5_000); // the approver's timeout is 10m
    expect(ran).toEqual([]);
    expect(seen.get("call-1")!.value).toBe(
      "Tollgate: the call to shop.refund needs approval by finance (rule: big-refund; reason: Refunds over 500 need finance). This agent does not wait for approvals, so the tool was not run.",
    );
    expect(await gate.approvals.pendingCount()).toBe(0);
    const rs = records(dir);
    expect(rs.map((r) => r.decision.decision)).toEqual(["escalate", "deny"]);
    expect(rs[1]!.decision.approval).toMatchObject({ state: "denied", by: WITHDRAWN_BY });
  });

  it("an abort while waiting refuses; the approval stays pending", async () => {
    const { gate } = await openGate();
    const { tools, ran } = shop();
    const controller = new AbortController();
    const model = scripted([[{ name: "refund", input: { order: "A5", amount: 900 } }]]);
    const running = generateText({ model, tools: gateTools(tools, gate, { agent: "bot", prefix: "shop." }), prompt: "x", stopWhen: stepCountIs(2), abortSignal: controller.signal });
    await pendingApproval(gate);
    controller.abort();
    await expect(running).rejects.toThrow(); // the SDK ends the run on abort
    expect(ran).toEqual([]);
    expect(await gate.approvals.pendingCount()).toBe(1);
  });

  it("counters apply: the 4th lookup of a session is denied by the rate limit, across steps and parallel calls", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const lookup = (order: string): Call => ({ name: "lookup", input: { order } });
    const { seen } = await run(gateTools(tools, gate, { agent: "bot", session: "s-9", prefix: "shop." }), [[lookup("1"), lookup("2")], [lookup("3")], [lookup("4")]]);
    expect(ran.map((r) => (r.input as { order: string }).order)).toEqual(["1", "2", "3"]);
    expect(seen.get("call-4")!.value).toBe("Tollgate denied the call to shop.lookup (rule: lookup-limit; reason: At most 3 lookups per session). The tool was not run.");
    const rs = records(dir);
    expect(rs.map((r) => r.decision.counters?.lookups)).toEqual([1, 2, 3, 4]);
    // Another session has its own count.
    const other = await run(gateTools(shop().tools, gate, { agent: "bot", session: "s-10", prefix: "shop." }), [[lookup("5")]]);
    expect(other.errors).toEqual([]);
  });

  it("without a session the per-session counter is UNKNOWN: its deny rule applies (fail closed)", async () => {
    const { gate } = await openGate();
    const { tools, ran } = shop();
    const { seen } = await run(gateTools(tools, gate, { agent: "bot", prefix: "shop." }), [[{ name: "lookup", input: { order: "1" } }]]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")!.value).toMatch(/rule: lookup-limit/);
  });

  it("an input that cannot be recorded faithfully is denied unevaluated (and recorded); malformed JSON never reaches execute", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const { seen } = await run(gateTools(tools, gate, { agent: "bot", prefix: "shop." }), [
      [
        { name: "count", input: '{"what":"\\ud800"}' }, // a lone surrogate: `reads` would allow it
        { name: "count", input: "{not json" },
      ],
    ]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")!.value).toBe(`Tollgate denied the call to shop.count (rule: none (the policy's default); reason: ${UNRECORDABLE_TEXT}). The tool was not run.`);
    // The SDK refuses unparsable input itself (an invalid tool call): the gate is never asked.
    expect(String(seen.get("call-2")!.value)).toMatch(/Invalid input for tool count/);
    const rs = records(dir);
    expect(rs).toHaveLength(1);
    expect(rs[0]).toMatchObject({ action: "[not JSON]", decision: { decision: "deny", rule: null, error: UNRECORDABLE_TEXT } });
  });

  it("an exception inside the gate is a refusal, never a run (fail closed)", async () => {
    const { gate } = await openGate();
    const { tools, ran } = shop();
    const errors: unknown[] = [];
    // The audit log is closed under the gate: check cannot record, so it rejects.
    await gate.audit.close();
    const { seen } = await run(gateTools(tools, gate, { agent: "bot", prefix: "shop.", onError: (e) => errors.push(e) }), [[{ name: "refund", input: { order: "A6", amount: 5 } }]]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")!.value).toBe("Tollgate could not decide on the call to shop.refund (an internal error), so the tool was not run.");
    expect(errors).toHaveLength(1);

    // A decider that throws synchronously, and an agent callback that throws: refusals too.
    const throwing: ToolCallGate = {
      check: () => {
        throw new Error("boom");
      },
      approvals: gate.approvals,
    };
    const t1 = await run(gateTools(tools, throwing, { agent: "bot", prefix: "shop." }), [[{ name: "refund", input: { order: "A7", amount: 5 } }]]);
    expect(t1.errors).toHaveLength(1);
    const { gate: gate2 } = await openGate();
    const t2 = await run(
      gateTools(tools, gate2, {
        agent: () => {
          throw new Error("no agent");
        },
        prefix: "shop.",
      }),
      [[{ name: "refund", input: { order: "A8", amount: 5 } }]],
    );
    expect(t2.errors).toHaveLength(1);
    expect(ran).toEqual([]);
  });

  it("streaming tools stay streaming when allowed, and never start when denied", async () => {
    const { gate } = await openGate();
    const ran: string[] = [];
    const stream = tool({
      description: "Count up",
      inputSchema: z.object({ sql: z.string() }),
      async *execute({ sql }) {
        ran.push(sql);
        yield { progress: 1 };
        yield { progress: 2, done: true };
      },
    });
    const tools = { query: gateTool("query", stream, gate, { agent: "bot", prefix: "shop." }) };
    const { seen } = await run(tools, [[{ name: "query", input: { sql: "select 1" } }, { name: "query", input: { sql: "drop table t" } }]]);
    expect(ran).toEqual(["select 1"]);
    expect(seen.get("call-1")).toEqual({ type: "json", value: { progress: 2, done: true } });
    expect(seen.get("call-2")!.value).toMatch(/rule: no-drop/);
  });

  it("leaves tools without execute as they are; keeps the other fields", async () => {
    const { gate } = await openGate();
    const clientSide = tool({ description: "asked in the UI", inputSchema: z.object({ q: z.string() }) });
    const { tools } = shop();
    const gated = gateTools({ ...tools, ask: clientSide }, gate, { agent: "bot" });
    expect(gated.ask).toBe(clientSide);
    expect(gated.query.description).toBe("Run SQL");
    expect(gated.query.inputSchema).toBe(tools.query.inputSchema);
    expect(gated.query.execute).not.toBe(tools.query.execute);
  });

  it("every decision of a run is in the audit log, and the log verifies", async () => {
    const { gate, dir } = await openGate();
    const { tools } = shop();
    const running = run(gateTools(tools, gate, { agent: "bot", session: "s-v", prefix: "shop." }), [
      [{ name: "refund", input: { order: "B1", amount: 10 } }],
      [{ name: "query", input: { sql: "drop table x" } }],
      [{ name: "refund", input: { order: "B2", amount: 1000 } }],
    ]);
    await gate.approve((await pendingApproval(gate)).id, { by: "carol" });
    await running;
    expect(records(dir).map((r) => [r.decision.decision, r.decision.rule])).toEqual([
      ["allow", "refunds"],
      ["deny", "no-drop"],
      ["escalate", "big-refund"],
      ["allow", "big-refund"], // the approval
      ["allow", "big-refund"], // its redemption, before the tool ran
    ]);
    await gate.close();
    const v = await verifyLog(dir);
    expect(v.ok).toBe(true);
  });
});
