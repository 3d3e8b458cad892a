// `tollgate serve --shadow` and /v1/policy/shadow (issue 15, "Shadow"), and ?explain=1 on
// POST /v1/decide (issue 15, "Explain"): a candidate takes every decision too, with counters of
// its own; answers, audit records and live counters are the live policy's; disagreements are
// counted in Prometheus and logged as JSON lines.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditRecords, http, startServer, tempDir } from "./helpers.js";
import type { Server } from "./helpers.js";

/** Live: 5 refunds per agent an hour; drops denied. */
const LIVE = `tollgate: 1
name: live
default: allow
approvers: { ops: { timeout: 10m } }
audit: { redact: [args.secret] }
counters:
  n: { per: [agent.id], window: 1h, when: { tool: t } }
rules:
  - { id: cap, effect: deny, reason: more than 5, when: { tool: t, $n: { gt: 5 } } }
  - { id: no-drop, effect: deny, reason: no drops, when: { tool: drop } }
`;

/** Candidate: 2 per agent an hour; drops escalate; a redacted field of its own. */
const CANDIDATE = readFileSync(join(import.meta.dirname, "../fixtures/shadow-candidate.yaml"), "utf8");

/** A stateless candidate: everything allowed. */
const OPEN = `tollgate: 1
name: open
default: allow
rules: []
`;

const lines = (path: string): any[] => (existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []); // eslint-disable-line @typescript-eslint/no-explicit-any

async function waitLines(path: string, n: number): Promise<any[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
  for (let i = 0; i < 300 && lines(path).length < n; i++) await new Promise((r) => setTimeout(r, 20));
  return lines(path);
}

const metric = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("tollgate serve --shadow (one worker: exact shadow counters)", () => {
  let s: Server;
  let dir: string;
  let log: string;

  beforeAll(async () => {
    dir = tempDir();
    writeFileSync(join(dir, "live.yaml"), LIVE);
    writeFileSync(join(dir, "candidate.yaml"), CANDIDATE);
    log = join(dir, "review.jsonl");
    s = await startServer({ policy: join(dir, "live.yaml"), auditDir: join(dir, "audit"), args: ["--shadow", join(dir, "candidate.yaml"), "--shadow-log", log, "--no-watch"] });
  }, 30_000);
  afterAll(async () => {
    await s?.stop();
  });

  it("answers with the live policy; a tighter candidate never denies live; disagreements counted and logged", async () => {
    const state = await http(s, "GET", "/v1/policy/shadow", { token: "admin" });
    expect(state.body).toMatchObject({ shadowing: true, policy: "candidate", log });

    const answers = [];
    for (let i = 0; i < 6; i++) answers.push((await http(s, "POST", "/v1/decide", { token: "agent", body: { action: { tool: "t", args: { secret: "s", token: "k" } } } })).body);
    // Live (its own counters, in the primary): 5 allowed, the 6th denied by `cap`.
    expect(answers.map((a) => a.decision)).toEqual(["allow", "allow", "allow", "allow", "allow", "deny"]);
    expect(answers[5].rule).toBe("cap");
    expect(answers.every((a) => a.policy === "live")).toBe(true);
    // Live counters untouched by the candidate: the counters carried by live decisions go 1..5.
    expect(answers.map((a) => a.counters?.n)).toEqual([1, 2, 3, 4, 5, 6]);
    const drop = (await http(s, "POST", "/v1/decide/batch", { token: "agent", body: { actions: [{ tool: "drop" }, { tool: "other" }] } })).body;
    expect(drop.decisions.map((d: { decision: string }) => d.decision)).toEqual(["deny", "allow"]);

    // The candidate denied the 3rd to 5th (allow → deny) and escalated the drop (deny → escalate).
    const got = await waitLines(log, 4);
    expect(got.map((l) => [l.live.decision, l.live.rule, l.shadow.decision, l.shadow.rule])).toEqual([
      ["allow", null, "deny", "tight-cap"],
      ["allow", null, "deny", "tight-cap"],
      ["allow", null, "deny", "tight-cap"],
      ["deny", "no-drop", "escalate", "drop-review"],
    ]);
    expect(got.map((l) => l.audit_seq)).toEqual([answers[2].audit_seq, answers[3].audit_seq, answers[4].audit_seq, drop.decisions[0].audit_seq]);
    expect(got[0].audit_id).toBe(answers[2].audit_id);
    expect(got[0].action).toEqual({ tool: "t", agent: { id: "billing-bot" }, args: { secret: "[redacted]", token: "[redacted]" } });
    expect(got[0].shadow).toMatchObject({ policy: "candidate", reason: "more than 2" });

    const m = (await http(s, "GET", "/metrics", { token: "admin" })).text;
    expect(metric(m, 'tollgate_shadow_disagreements_total{live="allow",shadow="deny",rule="tight-cap"}')).toBe(3);
    expect(metric(m, 'tollgate_shadow_disagreements_total{live="deny",shadow="escalate",rule="drop-review"}')).toBe(1);
    expect(metric(m, "tollgate_shadow_decisions_total")).toBe(8);

    // The audit log holds live decisions only, and no approval was opened for the shadow's escalation.
    const records = auditRecords(join(dir, "audit"));
    expect(records.every((r) => (r.decision as { policy?: string }).policy === "live")).toBe(true);
    const pending = await http(s, "GET", "/v1/approvals?state=pending", { token: "admin" });
    expect(pending.body.approvals).toEqual([]);
  });

  it("?explain=1: admins get the explanation of the recorded decision; agents get 403 and nothing is decided", async () => {
    const before = auditRecords(join(dir, "audit")).length;
    const refused = await http(s, "POST", "/v1/decide?explain=1", { token: "agent", body: { action: { tool: "drop" } } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("forbidden");
    expect(refused.body.error.message).toMatch(/explain/);
    expect(auditRecords(join(dir, "audit")).length).toBe(before);

    const bad = await http(s, "POST", "/v1/decide?explain=yes", { token: "admin", body: { action: { tool: "drop" } } });
    expect(bad.status).toBe(400);

    // A policy with counters: explained with the very sums the recorded decision read.
    const r = await http(s, "POST", "/v1/decide?explain=1", { token: "admin", body: { action: { tool: "t", agent: { id: "explained" }, args: { secret: "x" } } } });
    expect(r.status).toBe(200);
    const { explanation, ...decision } = r.body;
    expect(decision).toMatchObject({ decision: "allow", policy: "live", counters: { n: 1 } });
    expect(explanation.decision).toEqual({ decision: "allow", rule: null, reason: null, undetermined: false, counters: { n: 1 }, policy: "live" });
    expect(explanation.counters).toEqual([{ name: "n", value: 1, contribution: 1 }]);
    expect(explanation.rules.map((x: { id: string }) => x.id)).toEqual(["cap"]);
    const rec = auditRecords(join(dir, "audit")).find((x) => x.seq === decision.audit_seq)!;
    expect(rec.decision.decision).toBe("allow");

    const d = await http(s, "POST", "/v1/decide?explain=1", { token: "admin", body: { action: { tool: "drop" } } });
    expect(d.body.decision).toBe("deny");
    expect(d.body.explanation.decision.rule).toBe("no-drop");
    expect(d.body.explanation.closest).toEqual([]); // no allow rule

    const plain = await http(s, "POST", "/v1/decide?explain=0", { token: "agent", body: { action: { tool: "other" } } });
    expect(plain.status).toBe(200);
    expect(plain.body.explanation).toBeUndefined();
  });
});

describe("PUT/GET/DELETE /v1/policy/shadow", () => {
  let s: Server;
  let dir: string;
  let log: string;

  beforeAll(async () => {
    dir = tempDir();
    writeFileSync(join(dir, "live.yaml"), LIVE);
    s = await startServer({ policy: join(dir, "live.yaml"), auditDir: join(dir, "audit"), workers: 2, args: ["--no-watch"] });
    log = join(dir, "audit-shadow.jsonl"); // the default: beside the audit directory
  }, 30_000);
  afterAll(async () => {
    await s?.stop();
  });

  it("admins only; a bad candidate is a 422 with FILE:LINE:COL and changes nothing", async () => {
    expect((await http(s, "GET", "/v1/policy/shadow", { token: "admin" })).body).toEqual({ shadowing: false, log });
    const yaml = { "content-type": "application/yaml" };
    expect((await http(s, "PUT", "/v1/policy/shadow", { body: OPEN, headers: yaml })).status).toBe(401);
    for (const who of ["agent", "approver"] as const) {
      expect((await http(s, "PUT", "/v1/policy/shadow", { token: who, body: OPEN, headers: yaml })).status).toBe(403);
      expect((await http(s, "DELETE", "/v1/policy/shadow", { token: who })).status).toBe(403);
      expect((await http(s, "GET", "/v1/policy/shadow", { token: who })).status).toBe(403);
    }
    const bad = await http(s, "PUT", "/v1/policy/shadow", { token: "admin", body: "tollgate: 1\nname: x\ndefault: maybe\nrules: []\n", headers: yaml });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe("invalid_policy");
    expect(bad.body.error.message).toMatch(/^<PUT \/v1\/policy\/shadow>:3:10: error: /m);
    expect(bad.body.error.details.problems[0]).toMatchObject({ line: 3, column: 10 });
    expect((await http(s, "PUT", "/v1/policy/shadow", { token: "admin", body: OPEN, headers: { "content-type": "application/json" } })).status).toBe(415);
    expect((await http(s, "PUT", "/v1/policy/shadow", { token: "admin", body: " ", headers: yaml })).status).toBe(400);
    const same = await http(s, "PUT", "/v1/policy/shadow", { token: "admin", body: LIVE, headers: yaml });
    expect(same.status).toBe(409);
    expect(same.body.error.code).toBe("same_policy");
    expect((await http(s, "GET", "/v1/policy/shadow", { token: "admin" })).body.shadowing).toBe(false);
  });

  it("PUT starts shadowing in every worker (metrics summed over workers), DELETE stops it", async () => {
    const yaml = { "content-type": "application/yaml" };
    const put = await http(s, "PUT", "/v1/policy/shadow", { token: "admin", body: OPEN, headers: yaml });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ shadowing: true, policy: "open", rules: 0, log });
    // Separate connections, so both workers are likely to serve some; the total is what counts.
    const answers = await Promise.all(Array.from({ length: 10 }, () => http(s, "POST", "/v1/decide", { token: "agent", body: { action: { tool: "drop" } }, headers: { connection: "close" } })));
    expect(answers.every((a) => a.body.decision === "deny" && a.body.rule === "no-drop")).toBe(true);
    expect(await waitLines(log, 10)).toHaveLength(10);
    const m = (await http(s, "GET", "/metrics", { token: "admin" })).text;
    expect(metric(m, 'tollgate_shadow_disagreements_total{live="deny",shadow="allow",rule="(default)"}')).toBe(10);

    const del = await http(s, "DELETE", "/v1/policy/shadow", { token: "admin" });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ shadowing: false, log });
    await http(s, "POST", "/v1/decide", { token: "agent", body: { action: { tool: "drop" } } });
    await new Promise((r) => setTimeout(r, 100));
    expect(lines(log)).toHaveLength(10);
    expect((await http(s, "DELETE", "/v1/policy/shadow", { token: "admin" })).status).toBe(200); // nothing to stop
  });

  it("survives a live reload; ends when the candidate itself is promoted", async () => {
    const yaml = { "content-type": "application/yaml" };
    expect((await http(s, "PUT", "/v1/policy/shadow", { token: "admin", body: CANDIDATE, headers: yaml })).status).toBe(200);
    const other = LIVE.replace("name: live", "name: live-2");
    expect((await http(s, "PUT", "/v1/policy", { token: "admin", body: other, headers: yaml })).body.changed).toBe(true);
    expect((await http(s, "GET", "/v1/policy/shadow", { token: "admin" })).body).toMatchObject({ shadowing: true, policy: "candidate" });
    expect((await http(s, "PUT", "/v1/policy", { token: "admin", body: CANDIDATE, headers: yaml })).body.changed).toBe(true);
    // Shadowing reads as stopped at once; the log line follows once every worker has dropped the
    // candidate, and reaches this test through a pipe: both are waited for (a loaded machine).
    const stopped = () => s.lines.some((l) => l.includes('"shadowing stopped"') && l.includes("promoted"));
    for (let i = 0; i < 250; i++) {
      if (stopped() && !(await http(s, "GET", "/v1/policy/shadow", { token: "admin" })).body.shadowing) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await http(s, "GET", "/v1/policy/shadow", { token: "admin" })).body.shadowing).toBe(false);
    expect(stopped()).toBe(true);
  });
});
