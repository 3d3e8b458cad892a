// OpenTelemetry traces (src/server/tracing.ts): a real server exports a span per decide request
// over OTLP (http/json) to a collector the test runs, with the decision's attributes and the
// caller's trace as parent; off by default (no span, no SDK); and the hooks themselves with the
// SDK's in-memory exporter.

import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noteDecision, startTracing, traceDecisions, tracingWanted } from "../../src/server/tracing.js";
import { http, REFUND_ESCALATE, REFUND_SMALL, startServer } from "./helpers.js";
import type { Server } from "./helpers.js";

interface OtlpSpan {
  name: string;
  traceId: string;
  parentSpanId?: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number; boolValue?: boolean } }[];
}

/** A minimal OTLP/HTTP JSON collector: every span posted to /v1/traces. */
function collector(): Promise<{ url: string; spans: OtlpSpan[]; close(): void }> {
  const spans: OtlpSpan[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const j = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of j.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, close: () => server.close() })));
}

const attrs = (s: OtlpSpan): Record<string, unknown> =>
  Object.fromEntries(s.attributes.map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value.boolValue)]));

async function eventually(check: () => boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("OpenTelemetry: a span per decide request, exported over OTLP", () => {
  let otlp: Awaited<ReturnType<typeof collector>>;
  let s: Server;
  beforeAll(async () => {
    otlp = await collector();
    s = await startServer({
      workers: 2,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "100", OTEL_SERVICE_NAME: "tollgate-test" },
    });
  });
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
    otlp.close();
  });

  it("carries the decision, rule, policy hash and audit id, under the caller's trace", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = "00f067aa0ba902b7";
    const allow = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL }, headers: { traceparent: `00-${traceId}-${parent}-01` } });
    const escalate = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_ESCALATE } });
    const batch = await http(s, "POST", "/v1/decide/batch", { token: "agent", body: { actions: [REFUND_SMALL, REFUND_ESCALATE, { tool: "nothing" }] } });
    expect([allow.status, escalate.status, batch.status]).toEqual([200, 200, 200]);
    await eventually(() => otlp.spans.filter((x) => x.name.startsWith("tollgate.decide")).length >= 3);

    const byAudit = (id: string) => otlp.spans.find((x) => attrs(x)["tollgate.audit_id"] === id);
    const a = byAudit(allow.body.audit_id)!;
    expect(a.name).toBe("tollgate.decide");
    expect(a.traceId).toBe(traceId);
    expect(a.parentSpanId).toBe(parent);
    expect(attrs(a)).toMatchObject({
      "tollgate.decision": "allow",
      "tollgate.rule": allow.body.rule,
      "tollgate.policy": allow.body.policy,
      "tollgate.policy_hash": allow.body.policy_hash,
      "tollgate.audit_seq": allow.body.audit_seq,
      "http.response.status_code": 200,
    });
    const e = byAudit(escalate.body.audit_id)!;
    expect(attrs(e)).toMatchObject({ "tollgate.decision": "escalate", "tollgate.approval_id": escalate.body.approval_id });
    expect(e.traceId).not.toBe(traceId); // no traceparent: a trace of its own
    const b = otlp.spans.find((x) => x.name === "tollgate.decide_batch")!;
    expect(attrs(b)).toMatchObject({ "tollgate.batch.size": 3, "tollgate.batch.allow": 1, "tollgate.batch.escalate": 1, "tollgate.batch.deny": 1, "tollgate.audit_id.first": batch.body.decisions[0].audit_id });
  });

  it("an unauthenticated request gets a span with its status, and no decision", async () => {
    const before = otlp.spans.length;
    expect((await http(s, "POST", "/v1/decide", { body: { action: REFUND_SMALL } })).status).toBe(401);
    await eventually(() => otlp.spans.length > before);
    const span = otlp.spans.slice(before).find((x) => x.name === "tollgate.decide")!;
    expect(attrs(span)["http.response.status_code"]).toBe(401);
    expect(attrs(span)["tollgate.decision"]).toBeUndefined();
  });
});

describe("OpenTelemetry: off by default", () => {
  it("is on only with --otel or an OTLP endpoint, and never with OTEL_SDK_DISABLED=true", () => {
    expect(tracingWanted(false, {})).toBe(false);
    expect(tracingWanted(true, {})).toBe(true);
    expect(tracingWanted(false, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://x" })).toBe(true);
    expect(tracingWanted(false, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://x" })).toBe(true);
    expect(tracingWanted(true, { OTEL_SDK_DISABLED: "TRUE" })).toBe(false);
  });

  it("a server without it exports nothing (the collector sees no request)", async () => {
    const otlp = await collector();
    let hits = 0;
    const s = await startServer({ env: { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json" } });
    try {
      expect((await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      hits = otlp.spans.length;
    } finally {
      expect(await s.stop()).toBe(0);
      otlp.close();
    }
    expect(hits).toBe(0);
  });
});

describe("OpenTelemetry: the hooks, with the SDK's in-memory exporter", () => {
  it("opens a span per decide route only, notes the decision and ends it with the status", async () => {
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor(exporter);
    const tracing = await startTracing({ spanProcessors: [processor] });
    try {
      const app = Fastify();
      app.decorateRequest("span", null);
      traceDecisions(app, tracing);
      app.post("/v1/decide", async (req) => {
        noteDecision(req, { decision: "deny", rule: null, reason: null, undetermined: true, policy: "p" }, "h".repeat(64), "a".repeat(64), 7, null);
        return { ok: true };
      });
      app.get("/healthz", async () => ({ ok: true }));
      await app.inject({ method: "POST", url: "/v1/decide", payload: {} });
      await app.inject({ method: "GET", url: "/healthz" });
      await app.close();
      await processor.forceFlush(); // exports wait for the resource's detected attributes
      const spans = exporter.getFinishedSpans();
      expect(spans.map((x) => x.name)).toEqual(["tollgate.decide"]);
      expect(spans[0]!.attributes).toMatchObject({ "tollgate.decision": "deny", "tollgate.rule": "(default)", "tollgate.undetermined": true, "tollgate.audit_seq": 7, "http.response.status_code": 200 });
    } finally {
      await tracing.shutdown();
    }
  });
});
