// The OpenAI Agents SDK adapter driven by the SDK's own Runner: a scripted Model (the SDK
// exports no fake, so the test implements its Model interface), a model provider that returns
// it (nothing resolves a model name to OpenAI), and tracing disabled (nothing is exported).

import { Agent, Runner, setTracingDisabled, tool, Usage, webSearchTool } from "@openai/agents";
import type { AgentInputItem, Model, ModelRequest, ModelResponse } from "@openai/agents";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { gateFunctionTools, tollgateGuardrail, ToolCallRefused, WITHDRAWN_BY } from "../../src/adapters/openai-agents.js";
import type { TollgateGuardrailInfo, ToolCallGate } from "../../src/adapters/openai-agents.js";
import { verifyLog } from "../../src/audit/verify.js";
import { UNRECORDABLE_TEXT } from "../../src/audit/recordable.js";
import { closeGates, openGate, pendingApproval, records } from "./helpers.js";

beforeAll(() => setTracingDisabled(true));
afterEach(closeGates);

type Call = { name: string; args: Record<string, unknown> | string };

/** A Model that plays a script: each turn is the function calls of one response, then "done". */
class ScriptedModel implements Model {
  readonly requests: ModelRequest[] = [];
  private step = 0;
  private id = 0;
  constructor(private readonly turns: Call[][]) {}

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(request);
    const calls = this.turns[this.step++];
    if (calls === undefined) {
      return { usage: new Usage(), output: [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "done" }] }] };
    }
    return {
      usage: new Usage(),
      output: calls.map((c) => ({
        type: "function_call" as const,
        callId: `call-${++this.id}`,
        name: c.name,
        arguments: typeof c.args === "string" ? c.args : JSON.stringify(c.args),
        status: "completed" as const,
      })),
    };
  }

  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("the scripted model does not stream");
  }

  /** What the model was sent as each call's output, by call id. */
  seen(): Map<string, string> {
    const out = new Map<string, string>();
    for (const r of this.requests) {
      if (typeof r.input === "string") continue;
      for (const item of r.input as AgentInputItem[]) {
        if (item.type !== "function_call_result") continue;
        const o = item.output as { type?: string; text?: string } | string;
        out.set(item.callId, typeof o === "string" ? o : (o.text ?? JSON.stringify(o)));
      }
    }
    return out;
  }
}

function shop() {
  const ran: Array<{ tool: string; input: unknown }> = [];
  const tools = [
    tool({
      name: "query",
      description: "Run SQL",
      parameters: z.object({ sql: z.string() }),
      execute: async (input) => {
        ran.push({ tool: "query", input });
        return "1 row";
      },
    }),
    tool({
      name: "refund",
      description: "Refund an order",
      parameters: z.object({ order: z.string(), amount: z.number() }),
      execute: async (input) => {
        ran.push({ tool: "refund", input });
        return `refunded ${input.amount}`;
      },
    }),
    tool({
      name: "lookup",
      description: "Look up an order",
      parameters: z.object({ order: z.string() }),
      execute: async (input) => {
        ran.push({ tool: "lookup", input });
        return "shipped";
      },
    }),
    tool({
      name: "restart",
      description: "Restart the shop",
      parameters: z.object({}),
      execute: async (input) => {
        ran.push({ tool: "restart", input });
        return "restarted";
      },
    }),
    tool({
      name: "count",
      description: "Count things",
      parameters: z.object({ what: z.string() }),
      execute: async (input) => {
        ran.push({ tool: "count", input });
        return "42";
      },
    }),
  ];
  return { tools, ran };
}

async function run(tools: ReturnType<typeof shop>["tools"], turns: Call[][], context: unknown = {}) {
  const model = new ScriptedModel(turns);
  const agent = new Agent({ name: "support-bot", instructions: "Help the customer.", tools, model });
  const runner = new Runner({ tracingDisabled: true, modelProvider: { getModel: () => model } });
  const result = await runner.run(agent, "help", { maxTurns: turns.length + 2, context });
  return { model, result, seen: model.seen() };
}

describe("OpenAI Agents adapter (Runner + scripted Model)", () => {
  it("allow runs the tool; the action names the tool, args, agent (the SDK agent's name), session and context", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const { seen, result } = await run(gateFunctionTools(tools, gate, { session: "s-1", prefix: "shop." }), [[{ name: "refund", args: { order: "A1", amount: 20 } }]]);
    expect(ran).toEqual([{ tool: "refund", input: { order: "A1", amount: 20 } }]);
    expect(seen.get("call-1")).toBe("refunded 20");
    expect(result.finalOutput).toBe("done");
    expect(records(dir)[0]).toMatchObject({
      action: { tool: "shop.refund", args: { order: "A1", amount: 20 }, agent: { id: "support-bot" }, session: { id: "s-1" }, context: { framework: "openai-agents", toolCallId: "call-1" } },
      decision: { decision: "allow", rule: "refunds" },
    });
    const info = result.toolInputGuardrailResults[0]!;
    expect(info.guardrail).toEqual({ type: "tool_input", name: "tollgate" });
    expect((info.output.outputInfo as TollgateGuardrailInfo).decision).toMatchObject({ decision: "allow", audit_seq: 1 });
  });

  it("deny never runs the tool; the model's next turn reads the refusal with rule and reason; the run goes on", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const { seen, result } = await run(gateFunctionTools(tools, gate, { prefix: "shop." }), [[{ name: "query", args: { sql: "DROP TABLE orders" } }], [{ name: "query", args: { sql: "select 1" } }]]);
    expect(ran).toEqual([{ tool: "query", input: { sql: "select 1" } }]);
    expect(seen.get("call-1")).toBe("Tollgate denied the call to shop.query (rule: no-drop; reason: Destructive SQL is never allowed). The tool was not run.");
    expect(seen.get("call-2")).toBe("1 row");
    expect(result.finalOutput).toBe("done");
    const info = result.toolInputGuardrailResults[0]!.output;
    expect(info.behavior).toEqual({ type: "rejectContent", message: seen.get("call-1") });
    expect((info.outputInfo as TollgateGuardrailInfo).refusal).toBeInstanceOf(ToolCallRefused);
    expect(records(dir).map((r) => [r.decision.decision, r.decision.rule])).toEqual([
      ["deny", "no-drop"],
      ["allow", "reads"],
    ]);
  });

  it("escalate waits; approved via gate.approve while it waits, the tool runs", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const running = run(gateFunctionTools(tools, gate, { prefix: "shop." }), [[{ name: "refund", args: { order: "A2", amount: 900 } }]]);
    const a = await pendingApproval(gate);
    expect(a).toMatchObject({ rule: "big-refund", approver: "finance", action: { tool: "shop.refund", agent: { id: "support-bot" } } });
    expect(ran).toEqual([]);
    await gate.approve(a.id, { by: "alice" });
    const { seen } = await running;
    expect(ran).toEqual([{ tool: "refund", input: { order: "A2", amount: 900 } }]);
    expect(seen.get("call-1")).toBe("refunded 900");
    const rs = records(dir);
    expect(rs.map((r) => r.decision.decision)).toEqual(["escalate", "allow", "allow"]); // decision, approval, redemption
    expect(rs[2]!.decision).toMatchObject({ approval_id: a.id, approved_by: "alice", rule: "big-refund", redemption: { check: null } });
  });

  it("escalate denied by a human refuses, with who and why", async () => {
    const { gate } = await openGate();
    const { tools, ran } = shop();
    const running = run(gateFunctionTools(tools, gate, { prefix: "shop." }), [[{ name: "refund", args: { order: "A3", amount: 900 } }]]);
    await gate.deny((await pendingApproval(gate)).id, { by: "bob", note: "no" });
    const { seen } = await running;
    expect(ran).toEqual([]);
    expect(seen.get("call-1")).toBe("Tollgate: the approval for the call to shop.refund was denied by bob: no (rule: big-refund; reason: Refunds over 500 need finance). The tool was not run.");
  });

  it("escalate that expires (on_timeout: deny) refuses", async () => {
    const { gate } = await openGate();
    const { tools, ran } = shop();
    const { seen } = await run(gateFunctionTools(tools, gate, { prefix: "shop." }), [[{ name: "restart", args: {} }]]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")).toMatch(/^Tollgate: the approval for the call to shop\.restart expired without an answer \(rule: restart;/);
  });

  it('escalate: "refuse" refuses at once and withdraws the approval', async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const { seen } = await run(gateFunctionTools(tools, gate, { prefix: "shop.", escalate: "refuse" }), [[{ name: "refund", args: { order: "A4", amount: 900 } }]]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")).toBe(
      "Tollgate: the call to shop.refund needs approval by finance (rule: big-refund; reason: Refunds over 500 need finance). This agent does not wait for approvals, so the tool was not run.",
    );
    expect(await gate.approvals.pendingCount()).toBe(0);
    expect(records(dir)[1]!.decision.approval).toMatchObject({ state: "denied", by: WITHDRAWN_BY });
  });

  it("counters apply: the 4th lookup of a session is denied by the rate limit", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const lookup = (order: string): Call => ({ name: "lookup", args: { order } });
    // The session id comes from the run's context.
    const session = (d: { context: { context: unknown } }) => (d.context.context as { session: string }).session;
    const { seen } = await run(gateFunctionTools(tools, gate, { prefix: "shop.", session }), [[lookup("1"), lookup("2")], [lookup("3")], [lookup("4")]], { session: "s-9" });
    expect(ran.map((r) => (r.input as { order: string }).order)).toEqual(["1", "2", "3"]);
    expect(seen.get("call-4")).toBe("Tollgate denied the call to shop.lookup (rule: lookup-limit; reason: At most 3 lookups per session). The tool was not run.");
    expect(records(dir).map((r) => r.decision.counters?.lookups)).toEqual([1, 2, 3, 4]);
  });

  it("an input that cannot be recorded faithfully is denied unevaluated (and recorded); malformed JSON never reaches the tool", async () => {
    const { gate, dir } = await openGate();
    const { tools, ran } = shop();
    const { seen } = await run(gateFunctionTools(tools, gate, { prefix: "shop." }), [[{ name: "count", args: '{"what":"\\ud800"}' }, { name: "count", args: "{not json" }]]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")).toBe(`Tollgate denied the call to shop.count (rule: none (the policy's default); reason: ${UNRECORDABLE_TEXT}). The tool was not run.`);
    expect(seen.get("call-2")).toMatch(/valid JSON/); // the SDK's own refusal, before any guardrail
    const rs = records(dir);
    expect(rs).toHaveLength(1);
    expect(rs[0]).toMatchObject({ action: "[not JSON]", decision: { decision: "deny", error: UNRECORDABLE_TEXT } });
    // Should the SDK hand the guardrail unparsable arguments (a redacted invalid input is ""), it refuses too.
    const g = tollgateGuardrail(gate);
    const out = await g.run({ context: {} as never, agent: { name: "a" } as never, toolCall: { type: "function_call", callId: "x", name: "count", arguments: "" } });
    expect(out.behavior).toEqual({ type: "rejectContent", message: "Tollgate refused the call to count: its arguments are not valid JSON. The tool was not run." });
  });

  it("an exception inside the gate is a refusal, never a run (fail closed)", async () => {
    const { gate } = await openGate();
    const { tools, ran } = shop();
    const errors: unknown[] = [];
    await gate.audit.close(); // check cannot record: it rejects
    const { seen, result } = await run(gateFunctionTools(tools, gate, { prefix: "shop.", onError: (e) => errors.push(e) }), [[{ name: "refund", args: { order: "A6", amount: 5 } }]]);
    expect(ran).toEqual([]);
    expect(seen.get("call-1")).toBe("Tollgate could not decide on the call to shop.refund (an internal error), so the tool was not run.");
    expect(result.finalOutput).toBe("done");
    expect(errors).toHaveLength(1);
    const throwing: ToolCallGate = {
      check: () => {
        throw new Error("boom");
      },
      approvals: gate.approvals,
    };
    const t = await run(gateFunctionTools(tools, throwing), [[{ name: "refund", args: { order: "A7", amount: 5 } }]]);
    expect(t.seen.get("call-1")).toMatch(/^Tollgate could not decide/);
    expect(ran).toEqual([]);
  });

  it("gateFunctionTools clones (the originals keep their guardrails) and refuses tools it cannot gate", async () => {
    const { gate } = await openGate();
    const { tools } = shop();
    const gated = gateFunctionTools(tools, gate);
    expect(tools[0]!.inputGuardrails ?? []).toEqual([]);
    expect(gated[0]!.inputGuardrails?.[0]?.name).toBe("tollgate");
    expect(gated[0]!.name).toBe("query");
    expect(() => gateFunctionTools([webSearchTool()], gate)).toThrow(/only function tools take input guardrails/);
  });

  it("every decision of a run is in the audit log, and the log verifies", async () => {
    const { gate, dir } = await openGate();
    const { tools } = shop();
    const running = run(gateFunctionTools(tools, gate, { prefix: "shop.", session: "s-v" }), [
      [{ name: "refund", args: { order: "B1", amount: 10 } }],
      [{ name: "query", args: { sql: "drop table x" } }],
      [{ name: "refund", args: { order: "B2", amount: 1000 } }],
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
    expect((await verifyLog(dir)).ok).toBe(true);
  });
});
