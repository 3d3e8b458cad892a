// The HTTP API against a real server: decisions, auth, client errors, operations endpoints.

import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../src/server/app.js";
import { OPENAPI } from "../../src/server/openapi.js";
import { auditRecords, http, REFUND_ESCALATE, REFUND_SMALL, startServer } from "./helpers.js";
import type { Server } from "./helpers.js";

let s: Server;

beforeAll(async () => {
  s = await startServer({ workers: 2, args: ["--request-timeout", "1s"] });
});
afterAll(async () => {
  expect(await s.stop()).toBe(0);
});

describe("POST /v1/decide", () => {
  it("answers the decision with policy_hash and its durable audit record", async () => {
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ decision: "allow", rule: "small-refund", undetermined: false, policy: "billing-agent" });
    expect(r.body.policy_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(r.body.audit_id).toMatch(/^[0-9a-f]{64}$/);
    const rec = auditRecords(s.auditDir).find((x) => x.seq === r.body.audit_seq)!;
    expect(rec.hash).toBe(r.body.audit_id);
    expect(rec.policy_hash).toBe(r.body.policy_hash);
    expect(rec.decision.decision).toBe("allow");
  });

  it("binds action.agent.id to the token: an agent cannot impersonate another", async () => {
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: { ...REFUND_SMALL, agent: { id: "support-bot", team: "x" } } } });
    expect(r.status).toBe(200);
    const rec = auditRecords(s.auditDir).find((x) => x.seq === r.body.audit_seq)!;
    expect(rec.action.agent).toEqual({ id: "billing-bot", team: "x" });
    const r2 = await http(s, "POST", "/v1/decide", { token: "agent2", body: { action: { ...REFUND_SMALL, agent: "billing-bot" } } });
    expect(auditRecords(s.auditDir).find((x) => x.seq === r2.body.audit_seq)!.action.agent).toEqual({ id: "support-bot" });
  });

  it("a policy that reads agent.id sees the bound identity", async () => {
    // The audit record is what the engine saw (redacted): checked above. Admins may decide for any agent.
    const r = await http(s, "POST", "/v1/decide", { token: "admin", body: { action: { ...REFUND_SMALL, agent: { id: "someone" } } } });
    expect(r.status).toBe(200);
    expect(auditRecords(s.auditDir).find((x) => x.seq === r.body.audit_seq)!.action.agent).toEqual({ id: "someone" });
  });

  it("redacts the audit record, not the decision", async () => {
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: { tool: "customers.lookup", args: { card_number: "4111111111111111", fields: ["name"] } } } });
    expect(r.body).toMatchObject({ decision: "deny", rule: "no-raw-card-numbers" });
    expect(auditRecords(s.auditDir).find((x) => x.seq === r.body.audit_seq)!.action.args.card_number).toBe("[redacted]");
  });

  it("escalate answers an approval_id", async () => {
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_ESCALATE } });
    expect(r.body).toMatchObject({ decision: "escalate", approver: "finance-oncall", on_timeout: "deny" });
    expect(typeof r.body.approval_id).toBe("string");
  });
});

describe("POST /v1/decide/batch", () => {
  it("gives each escalation of a batch its own approval, and the other decisions none", async () => {
    const actions = [REFUND_SMALL, REFUND_ESCALATE, { tool: "payouts.create" }, REFUND_ESCALATE, REFUND_SMALL];
    // Concurrent requests land in the same IPC message: a single decide that does not escalate
    // is answered without an approval id, next to the batch whose escalations get theirs.
    const [batch, single] = await Promise.all([
      http(s, "POST", "/v1/decide/batch", { token: "agent", body: { actions } }),
      http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } }),
    ]);
    expect(batch.status).toBe(200);
    const ds = batch.body.decisions as { decision: string; approval_id?: string; audit_seq: number }[];
    expect(ds.map((d) => d.decision)).toEqual(["allow", "escalate", "deny", "escalate", "allow"]);
    expect(ds.map((d) => typeof d.approval_id)).toEqual(["undefined", "string", "undefined", "string", "undefined"]);
    expect(ds[1]!.approval_id).not.toBe(ds[3]!.approval_id);
    for (const d of [ds[1]!, ds[3]!]) {
      const a = await http(s, "GET", `/v1/approvals/${d.approval_id}`, { token: "agent" });
      expect(a.body).toMatchObject({ state: "pending", decision_seq: d.audit_seq });
    }
    expect(single.body).toMatchObject({ decision: "allow" });
    expect(single.body.approval_id).toBeUndefined();
  });

  it("decides in order, one audit record each, consecutive seqs", async () => {
    const actions = [REFUND_SMALL, { tool: "payouts.create" }, { tool: "payments.get_invoice" }, { tool: "nope" }];
    const r = await http(s, "POST", "/v1/decide/batch", { token: "agent", body: { actions } });
    expect(r.status).toBe(200);
    expect(r.body.decisions.map((d: { decision: string }) => d.decision)).toEqual(["allow", "deny", "allow", "deny"]);
    expect(r.body.decisions.map((d: { rule: string | null }) => d.rule)).toEqual(["small-refund", "no-payouts", "read-invoices", null]);
    const seqs = r.body.decisions.map((d: { audit_seq: number }) => d.audit_seq);
    expect(seqs).toEqual([seqs[0], seqs[0] + 1, seqs[0] + 2, seqs[0] + 3]);
    const recs = auditRecords(s.auditDir);
    for (const d of r.body.decisions) expect(recs.find((x) => x.seq === d.audit_seq)!.hash).toBe(d.audit_id);
    for (const d of r.body.decisions) expect(d.policy_hash).toBe(r.body.policy_hash);
  });

  it("an empty batch is an empty answer", async () => {
    const r = await http(s, "POST", "/v1/decide/batch", { token: "agent", body: { actions: [] } });
    expect(r.status).toBe(200);
    expect(r.body.decisions).toEqual([]);
  });

  it("actions must be objects", async () => {
    const r = await http(s, "POST", "/v1/decide/batch", { token: "agent", body: { actions: [1, "x"] } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("invalid_request");
  });
});

describe("authentication and roles", () => {
  it("401 without a token, with WWW-Authenticate", async () => {
    const r = await http(s, "POST", "/v1/decide", { body: { action: REFUND_SMALL } });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(r.body.error.code).toBe("unauthorized");
  });

  it("401 with an unknown token or a malformed header", async () => {
    for (const raw of ["Bearer nope", "Basic Zm9vOmJhcg==", "Bearer ", "bearer example-agent-billing-bo"]) {
      const r = await http(s, "POST", "/v1/decide", { raw, body: { action: REFUND_SMALL } });
      expect(r.status, raw).toBe(401);
      expect(r.headers.get("www-authenticate")).toMatch(/invalid_token/);
    }
  });

  it("the scheme is case-insensitive", async () => {
    const r = await http(s, "POST", "/v1/decide", { raw: "bearer example-agent-billing-bot", body: { action: REFUND_SMALL } });
    expect(r.status).toBe(200);
  });

  it("403 for the wrong role", async () => {
    expect((await http(s, "POST", "/v1/decide", { token: "approver", body: { action: REFUND_SMALL } })).status).toBe(403);
    expect((await http(s, "POST", "/v1/decide/batch", { token: "approver", body: { actions: [] } })).status).toBe(403);
    expect((await http(s, "PUT", "/v1/policy", { token: "agent", body: "x", headers: { "content-type": "application/yaml" } })).status).toBe(403);
    expect((await http(s, "PUT", "/v1/policy", { token: "approver", body: "x", headers: { "content-type": "application/yaml" } })).status).toBe(403);
    expect((await http(s, "GET", "/v1/approvals", { token: "agent" })).status).toBe(403);
    expect((await http(s, "POST", "/v1/approvals/x/approve", { token: "agent" })).status).toBe(403);
    expect((await http(s, "POST", "/v1/approvals/x/deny", { token: "agent" })).status).toBe(403);
    const r = await http(s, "POST", "/v1/decide", { token: "approver", body: { action: REFUND_SMALL } });
    expect(r.body.error.code).toBe("forbidden");
  });

  it("auth is checked before the body is read", async () => {
    const r = await http(s, "POST", "/v1/decide", { body: "{not json" });
    expect(r.status).toBe(401);
  });
});

describe("client errors are 4xx with {error: {code, message}}", () => {
  it("malformed JSON → 400", async () => {
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: '{"action": {' });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/JSON/);
  });

  it("schema violations → 400", async () => {
    for (const body of [{}, { action: 5 }, { action: [] }, { action: null }, { action: {}, extra: 1 }, []]) {
      const r = await http(s, "POST", "/v1/decide", { token: "agent", body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe("invalid_request");
    }
  });

  it("prototype pollution attempts → 400", async () => {
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: '{"action":{"__proto__":{"x":1}}}' });
    expect(r.status).toBe(400);
  });

  it("empty body → 400, wrong content type → 415", async () => {
    expect((await http(s, "POST", "/v1/decide", { token: "agent", body: "", headers: { "content-type": "application/json" } })).status).toBe(400);
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: "action=1", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(r.status).toBe(415);
    expect(r.body.error.code).toBe("unsupported_media_type");
  });

  it("body over 1 MiB → 413", async () => {
    const big = JSON.stringify({ action: { tool: "x", args: { blob: "a".repeat(1024 * 1024) } } });
    const r = await http(s, "POST", "/v1/decide", { token: "agent", body: big });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe("payload_too_large");
  });

  it("unknown route → 404, wrong method → 405 with Allow", async () => {
    const r = await http(s, "GET", "/v1/nothing", { token: "agent" });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe("not_found");
    const m = await http(s, "GET", "/v1/decide", { token: "agent" });
    expect(m.status).toBe(405);
    expect(m.headers.get("allow")).toBe("POST");
    const d = await http(s, "DELETE", "/v1/approvals/abc", { token: "admin" });
    expect(d.status).toBe(405);
    expect(d.headers.get("allow")).toContain("GET");
    expect((await http(s, "POST", "/v1/policy", { token: "admin" })).status).toBe(405);
  });

  it("a half-sent request times out (408) and the server keeps serving", async () => {
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(s.port, "127.0.0.1", () => {
        sock.write(`POST /v1/decide HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer example-agent-billing-bot\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"action":`);
      });
      let got = "";
      sock.setEncoding("utf8");
      sock.on("data", (c: string) => (got += c));
      sock.on("close", () => resolve(got));
      sock.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1.1 408/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await http(s, "GET", "/healthz")).status).toBe(200);
  });

  it("garbage on the wire → 400, not a crash", async () => {
    const answer = await new Promise<string>((resolve) => {
      const sock = connect(s.port, "127.0.0.1", () => sock.write("NOT HTTP AT ALL\r\n\r\n"));
      let got = "";
      sock.setEncoding("utf8");
      sock.on("data", (c: string) => (got += c));
      sock.on("close", () => resolve(got));
      sock.on("error", () => resolve(got));
    });
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    expect((await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } })).status).toBe(200);
  });
});

describe("operations", () => {
  it("healthz and readyz need no token", async () => {
    expect((await http(s, "GET", "/healthz")).body).toEqual({ status: "ok" });
    expect((await http(s, "GET", "/readyz")).body).toEqual({ status: "ready" });
  });

  it("GET /v1/policy names the policy being served", async () => {
    const r = await http(s, "GET", "/v1/policy", { token: "agent" });
    expect(r.body).toMatchObject({ policy: "billing-agent" });
    expect(r.body.policy_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("GET /metrics aggregates the workers (Prometheus text)", async () => {
    expect((await http(s, "GET", "/metrics")).status).toBe(401);
    const r = await http(s, "GET", "/metrics", { token: "admin" });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(r.text).toMatch(/tollgate_decisions_total\{[^}]*decision="allow"[^}]*\} \d+/);
    expect(r.text).toMatch(/tollgate_audit_append_duration_seconds_count\{policy="billing-agent"\} \d+/);
    expect(r.text).toMatch(/tollgate_pending_approvals\{policy="billing-agent"\} [1-9]/);
    expect(r.text.match(/^# TYPE tollgate_decisions_total /gm)!.length).toBe(1);
  });

  it("/openapi.json is OpenAPI 3.1 and lists exactly the routes", async () => {
    const r = await http(s, "GET", "/openapi.json");
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe("3.1.0");
    expect(r.body).toEqual(JSON.parse(JSON.stringify(OPENAPI)));
    const documented = Object.entries(OPENAPI.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    const routes = ROUTES.map(([m, p]) => `${m} ${p.replace(/:([a-z]+)/g, "{$1}")}`).sort();
    expect(documented).toEqual(routes);
  });
});
