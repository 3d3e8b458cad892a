// An action that cannot be recorded faithfully is denied before it reaches the engine, on
// /v1/decide and /v1/decide/batch (issue 11, finding 1): a lone surrogate in a value or a key,
// nesting deeper than 512. On the old code these were decided normally (allowed, or escalated
// with an approval whose action was "[not JSON]") and recorded as "[not JSON]".

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UNRECORDABLE_TEXT } from "../../src/audit/recordable.js";
import { auditRecords, http, REFUND_ESCALATE, REFUND_SMALL, startServer, TOKENS } from "./helpers.js";
import type { Server } from "./helpers.js";

let s: Server;

beforeAll(async () => {
  s = await startServer({ workers: 1 });
});
afterAll(async () => {
  expect(await s.stop()).toBe(0);
});

const DENY = { decision: "deny", rule: null, reason: UNRECORDABLE_TEXT, undetermined: false, error: UNRECORDABLE_TEXT, policy: "billing-agent" };

/** REFUND_SMALL (allowed) / REFUND_ESCALATE as JSON text with `extra` spliced into args. */
const withArgs = (action: object, extra: string) => JSON.stringify(action).replace('"args":{', `"args":{${extra},`);
const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

const UNRECORDABLE: Record<string, string> = {
  "a lone surrogate in a value": withArgs(REFUND_SMALL, '"memo":"\\ud800"'),
  "a lone surrogate in a key": withArgs(REFUND_SMALL, '"\\udc00":1'),
  "nesting 600 deep": withArgs(REFUND_SMALL, `"x":${deep(600)}`),
  "an escalating action with a lone surrogate": withArgs(REFUND_ESCALATE, '"memo":"x\\udfff"'),
};

function denyCount(metrics: string): number {
  const m = /^tollgate_decisions_total\{[^}]*decision="deny"[^}]*rule="\(default\)"[^}]*\} (\d+)$/m.exec(metrics);
  return m ? Number(m[1]) : 0;
}

describe("actions that cannot be recorded faithfully", () => {
  it("POST /v1/decide: denied with error (never allowed or escalated), recorded as that deny, counted", async () => {
    const before = denyCount((await http(s, "GET", "/metrics", { token: "admin" })).text);
    for (const [what, action] of Object.entries(UNRECORDABLE)) {
      const r = await http(s, "POST", "/v1/decide", { token: "agent", body: `{"action":${action}}` });
      expect(r.status, what).toBe(200);
      expect(r.body, what).toMatchObject(DENY);
      expect(r.body.approval_id, what).toBeUndefined();
      const rec = auditRecords(s.auditDir).find((x) => x.seq === r.body.audit_seq)!;
      expect(rec.hash).toBe(r.body.audit_id);
      expect(rec.action, what).toBe("[not JSON]");
      expect(rec.decision, what).toEqual(DENY);
    }
    const after = denyCount((await http(s, "GET", "/metrics", { token: "admin" })).text);
    expect(after - before).toBe(Object.keys(UNRECORDABLE).length);
    // The same actions without the offending part: allowed and escalated as usual.
    expect((await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } })).body.decision).toBe("allow");
    expect((await http(s, "POST", "/v1/decide", { token: "agent", body: `{"action":${withArgs(REFUND_SMALL, `"x":${deep(500)}`)}}` })).body.decision).toBe("allow");
  });

  it("POST /v1/decide/batch: each such action is that deny, the others are decided as usual, in order", async () => {
    const actions = [JSON.stringify(REFUND_SMALL), ...Object.values(UNRECORDABLE), JSON.stringify(REFUND_ESCALATE)];
    const r = await http(s, "POST", "/v1/decide/batch", { token: "agent", body: `{"actions":[${actions.join(",")}]}` });
    expect(r.status).toBe(200);
    const ds = r.body.decisions as Record<string, unknown>[];
    expect(ds.map((d) => d.decision)).toEqual(["allow", "deny", "deny", "deny", "deny", "escalate"]);
    for (const d of ds.slice(1, 5)) {
      expect(d).toMatchObject(DENY);
      expect(d.approval_id).toBeUndefined();
    }
    expect(typeof ds[5]!.approval_id).toBe("string");
    const recs = auditRecords(s.auditDir);
    const seqs = ds.map((d) => d.audit_seq as number);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    expect(seqs.map((q) => recs.find((x) => x.seq === q)!.action === "[not JSON]")).toEqual([false, true, true, true, true, false]);
    // All of a batch unrecordable: nothing is evaluated, all denied.
    const all = await http(s, "POST", "/v1/decide/batch", { token: "agent", body: `{"actions":[${Object.values(UNRECORDABLE).join(",")}]}` });
    expect(all.body.decisions.map((d: { error?: string }) => d.error)).toEqual(Object.values(UNRECORDABLE).map(() => UNRECORDABLE_TEXT));
  });

  it("an approval note with a lone surrogate is refused (400, the documented shape); the approval stays pending", async () => {
    const d = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_ESCALATE } });
    expect(d.body.decision).toBe("escalate");
    const r = await http(s, "POST", `/v1/approvals/${d.body.approval_id}/approve`, { token: "approver", body: '{"note":"looks fine \\ud800"}' });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: { code: "invalid_request", message: expect.stringMatching(/^note: contains a lone surrogate/) } });
    const a = await http(s, "GET", `/v1/approvals/${d.body.approval_id}`, { token: "approver" });
    expect(a.body).toMatchObject({ state: "pending", note: null });
    const ok = await http(s, "POST", `/v1/approvals/${d.body.approval_id}/deny`, { token: "approver", body: { note: "paired is fine \ud83d\ude00" } });
    expect(ok.body).toMatchObject({ state: "denied", note: "paired is fine \ud83d\ude00" });
  });

  it("a body whose bytes are not UTF-8 is refused (400), never read with U+FFFD: neither an action nor a note", async () => {
    const raw = (path: string, token: string, bytes: Buffer) =>
      fetch(`${s.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: new Uint8Array(bytes) });
    /** `text` as UTF-8 with the byte `byte` in place of its "@". */
    const withByte = (text: string, byte: number) => {
      const [head, tail] = text.split("@");
      return Buffer.concat([Buffer.from(head!, "utf8"), Buffer.from([byte]), Buffer.from(tail!, "utf8")]);
    };
    const records = auditRecords(s.auditDir).length;
    const body = withByte(`{"action":${withArgs(REFUND_SMALL, '"memo":"x@"')}}`, 0xff);
    const r = await raw("/v1/decide", TOKENS.agent, body);
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: { code: "bad_request", message: "the body is not valid UTF-8" } });
    expect(auditRecords(s.auditDir).length).toBe(records); // nothing decided, nothing recorded

    const d = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_ESCALATE } });
    const note = withByte('{"note":"fine @("}', 0xc3); // C3 28: a lead byte without its continuation
    const n = await raw(`/v1/approvals/${d.body.approval_id}/approve`, TOKENS.approver, note);
    expect(n.status).toBe(400);
    expect((await http(s, "GET", `/v1/approvals/${d.body.approval_id}`, { token: "approver" })).body).toMatchObject({ state: "pending", note: null });
  });
});
