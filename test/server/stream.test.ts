// The approvals stream (GET /v1/approvals/stream, docs/approvals.md "The console") over HTTP:
// who may open it and how (bearer header, single-use ticket), what each caller sees (only what
// it may resolve), events from every worker, heartbeats... and the end: `bye` on shutdown and on
// a revoked token. The console's files at /console/. On both approvals stores: the default SQLite
// file and PostgreSQL (--approvals postgres://...). The browser scenarios: test/console/.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/server/tokens.js";
import { serveApprovalsArgs, storeKinds, usesStore } from "../approvals/helpers.js";
import { approvalsPolicy, http, startServer, tempDir } from "./helpers.js";
import type { Server } from "./helpers.js";
import { openSse } from "./sse.js";
import type { SseStream } from "./sse.js";

const POLICY = approvalsPolicy("stream-test", { timeout: "1500ms", onTimeout: "allow", reason: "Quick ones expire" });

const T = {
  agent: "stream-agent-token",
  alice: "stream-approver-alice",
  carol: "stream-approver-carol",
  admin: "stream-admin-token",
  doomed: "stream-approver-doomed",
};

function tokensYaml(withDoomed: boolean): string {
  return `tokens:
  ${hashToken(T.agent)}: { identity: billing-bot, role: agent }
  ${hashToken(T.alice)}: { identity: alice, role: approver, approvers: [finance-oncall, quick] }
  ${hashToken(T.carol)}: { identity: carol, role: approver, approvers: [other-team] }
  ${hashToken(T.admin)}: { identity: ops, role: admin }
${withDoomed ? `  ${hashToken(T.doomed)}: { identity: dora, role: approver, approvers: [finance-oncall] }\n` : ""}`;
}

let s: Server;
let tokensFile: string;
const open: SseStream[] = [];

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function stream(token: string, query = ""): Promise<SseStream> {
  const sse = await openSse(`${s.url}/v1/approvals/stream${query}`, bearer(token));
  open.push(sse);
  return sse;
}

async function ticket(token: string): Promise<string> {
  const r = await http(s, "POST", "/v1/approvals/stream/ticket", { raw: `Bearer ${token}` });
  expect(r.status).toBe(200);
  expect(r.headers.get("cache-control")).toBe("no-store");
  expect(r.body.expires_in_ms).toBe(30_000);
  expect(Math.abs(Date.parse(r.body.now) - Date.now())).toBeLessThan(60_000);
  return r.body.ticket as string;
}

async function escalate(tool: string): Promise<string> {
  const r = await http(s, "POST", "/v1/decide", { raw: `Bearer ${T.agent}`, body: { action: { tool, args: { amount: 500 } } } });
  expect(r.status).toBe(200);
  expect(r.body.decision).toBe("escalate");
  return r.body.approval_id as string;
}

for (const kind of storeKinds("test/server/stream.test.ts")) describe.skipIf(!kind.available)(`approvals stream (${kind.name})`, () => {
beforeAll(async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "policy.yaml"), POLICY);
  tokensFile = join(dir, "tokens.yaml");
  writeFileSync(tokensFile, tokensYaml(true));
  s = await startServer({ policy: join(dir, "policy.yaml"), workers: 2, tokens: tokensFile, args: await serveApprovalsArgs(kind) });
  expect(usesStore(kind, s.auditDir)).toBe(true);
});

afterAll(async () => {
  for (const o of open.splice(0)) o.close();
  if (s && s.proc.exitCode === null) await s.stop();
});

describe("approvals stream: who may open it", () => {
  it("with the bearer header: approvers and admins; agents 403; an unknown token or none 401", async () => {
    const a = await stream(T.alice);
    expect(a.status).toBe(200);
    expect(a.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(a.headers.get("cache-control")).toBe("no-store");
    const snap = await a.next((e) => e.event === "snapshot");
    expect(snap.data.who).toEqual({ identity: "alice", role: "approver", approvers: ["finance-oncall", "quick"] });
    expect(Number.isNaN(Date.parse(snap.data.now))).toBe(false);
    expect((await stream(T.admin)).status).toBe(200);
    const head = await fetch(`${s.url}/v1/approvals/stream`, { method: "HEAD", headers: bearer(T.alice) });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const agent = await openSse(`${s.url}/v1/approvals/stream`, bearer(T.agent));
    expect(agent.status).toBe(403);
    expect((await openSse(`${s.url}/v1/approvals/stream`, bearer("nope"))).status).toBe(401);
    expect((await openSse(`${s.url}/v1/approvals/stream`)).status).toBe(401);
  });

  it("with a ticket: once, and agents get none", async () => {
    const t = await ticket(T.alice);
    const first = await openSse(`${s.url}/v1/approvals/stream?ticket=${t}`);
    open.push(first);
    expect(first.status).toBe(200);
    expect((await first.next((e) => e.event === "snapshot")).data.who.identity).toBe("alice");
    const again = await http(s, "GET", `/v1/approvals/stream?ticket=${t}`);
    expect(again.status).toBe(401);
    expect(again.body.error.message).toMatch(/unknown, used or expired stream ticket/);
    expect((await http(s, "GET", "/v1/approvals/stream?ticket=made-up")).status).toBe(401);
    const agent = await http(s, "POST", "/v1/approvals/stream/ticket", { raw: `Bearer ${T.agent}` });
    expect(agent.status).toBe(403);
    expect((await http(s, "POST", "/v1/approvals/stream/ticket")).status).toBe(401);
    expect((await http(s, "GET", "/v1/approvals/stream/ticket", { raw: `Bearer ${T.alice}` })).status).toBe(405);
  });
});

describe("approvals stream: events", () => {
  it("each caller hears the approvals it may resolve, from whichever worker decided them, created then resolved with its record", async () => {
    // Several streams each, on separate connections: with two workers, both serve some.
    const alices = await Promise.all([1, 2, 3, 4].map(() => stream(T.alice)));
    const carol = await stream(T.carol);
    const admin = await stream(T.admin);
    for (const x of [...alices, carol, admin]) await x.next((e) => e.event === "snapshot");
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await escalate("payments.refund"));
    const other = await escalate("other");
    for (const x of alices) {
      for (const id of ids) {
        const e = await x.next((e) => e.event === "approval" && e.data.approval.id === id);
        expect(e.data.type).toBe("created");
        expect(e.data.approval).toMatchObject({ state: "pending", approver: "finance-oncall", rule: "big-refund", agent: "billing-bot" });
        expect(e.data.approval.action).toMatchObject({ tool: "payments.refund", agent: { id: "billing-bot" } });
      }
    }
    await carol.next((e) => e.event === "approval" && e.data.approval.id === other);
    await admin.next((e) => e.event === "approval" && e.data.approval.id === other);
    await admin.next((e) => e.event === "approval" && e.data.approval.id === ids[0]);
    // Resolved: heard once its audit record is written.
    const ok = await http(s, "POST", `/v1/approvals/${ids[0]}/approve`, { raw: `Bearer ${T.alice}`, body: { note: "fine" } });
    expect(ok.status).toBe(200);
    for (const x of alices) {
      const e = await x.next((e) => e.event === "approval" && e.data.type === "resolved" && e.data.approval.id === ids[0]);
      expect(e.data.approval).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice", note: "fine" });
      expect(e.data.approval.resolution_seq).toBeGreaterThan(0);
    }
    // Carol heard nothing of finance-oncall's; alice nothing of other-team's.
    await admin.next((e) => e.event === "approval" && e.data.type === "resolved" && e.data.approval.id === ids[0]);
    expect(carol.events.some((e) => e.event === "approval" && e.data.approval.approver !== "other-team")).toBe(false);
    for (const x of alices) expect(x.events.some((e) => e.event === "approval" && e.data.approval.id === other)).toBe(false);
    // A new stream starts with them: pending ones in `pending`, the resolved one in `history`.
    const late = await stream(T.alice, "?history=10");
    const snap = (await late.next((e) => e.event === "snapshot")).data;
    const pendingIds = snap.pending.map((a: { id: string }) => a.id);
    for (const id of ids.slice(1)) expect(pendingIds).toContain(id);
    expect(pendingIds).not.toContain(ids[0]);
    expect(pendingIds).not.toContain(other);
    expect(snap.history.map((a: { id: string }) => a.id)).toContain(ids[0]);
    expect(snap.history.length).toBeLessThanOrEqual(10);
  });

  it("an expiry is heard as resolved, state expired, outcome on_timeout", async () => {
    const a = await stream(T.alice);
    await a.next((e) => e.event === "snapshot");
    const id = await escalate("quick");
    await a.next((e) => e.event === "approval" && e.data.type === "created" && e.data.approval.id === id);
    const e = await a.next((e) => e.event === "approval" && e.data.type === "resolved" && e.data.approval.id === id, 10_000);
    expect(e.data.approval).toMatchObject({ state: "expired", outcome: "allow", resolved_by: "timeout" });
  });

  it("a stream whose token is revoked (tokens file reloaded on SIGHUP) ends with bye revoked", async () => {
    const doomed = await stream(T.doomed);
    const kept = await stream(T.alice);
    await doomed.next((e) => e.event === "snapshot");
    await kept.next((e) => e.event === "snapshot");
    writeFileSync(tokensFile, tokensYaml(false));
    s.proc.kill("SIGHUP");
    const bye = await doomed.next((e) => e.event === "bye");
    expect(bye.data.code).toBe("revoked");
    await doomed.ended;
    const id = await escalate("payments.refund");
    await kept.next((e) => e.event === "approval" && e.data.approval.id === id);
  });
});

describe("the console's files", () => {
  it("are public, with a strict content security policy; /console and /console/ are the page", async () => {
    for (const path of ["/console/", "/console"]) {
      const r = await fetch(s.url + path);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/html/);
      expect(r.headers.get("content-security-policy")).toMatch(/default-src 'none'; script-src 'self'/);
      expect(await r.text()).toContain('<script type="module" src="/console/console.js"></script>');
    }
    const js = await fetch(`${s.url}/console/console.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect((await fetch(`${s.url}/console/../package.json`)).status).toBe(404);
    expect((await fetch(`${s.url}/console/missing.js`)).status).toBe(404);
  });
});

describe("shutdown", () => {
  it("ends every stream with bye shutdown, and the server exits 0", async () => {
    const a = await stream(T.alice);
    const b = await stream(T.admin);
    await a.next((e) => e.event === "snapshot");
    await b.next((e) => e.event === "snapshot");
    const code = s.stop();
    for (const x of [a, b]) {
      expect((await x.next((e) => e.event === "bye")).data.code).toBe("shutdown");
      await x.ended;
    }
    expect(await code).toBe(0);
  });
});
});
