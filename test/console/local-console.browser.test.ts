// `tollgate approvals console --db FILE` (the web console for an embedded gate's SQLite
// approvals) in headless Chromium: the generated token signs in through the URL's fragment,
// an escalation of a Gate in this process arrives live, approving it in the page resolves it in
// the file, and the gate (which owns the audit log) records it and wakes its waiter.
//
// SQLite only, on purpose: this console is for an embedded gate's SQLite file (it sees other
// processes' changes through PRAGMA data_version); with PostgreSQL, `tollgate serve` serves the
// console at /console/ (test/console/console.browser.test.ts runs it on both stores), and
// `approvals console --db postgres://...` is refused, saying so (the last test here).

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Gate } from "../../src/gate/gate.js";
import { Policy } from "../../src/policy.js";
import { runCli } from "../cli-helpers.js";
import { chromiumBrowser, launchChromium } from "../support/services/chromium.js";
import { auditRecords, buildCli, http, tempDir } from "../server/helpers.js";

const availability = chromiumBrowser("test/console/local-console.browser.test.ts");

const POLICY = `tollgate: 1
name: local-console
default: allow
approvers:
  finance-oncall: { timeout: 15m, on_timeout: deny }
  other-team: { timeout: 15m }
rules:
  - id: big-refund
    effect: escalate
    approver: finance-oncall
    reason: Refunds over 200 need finance
    when: { tool: payments.refund, args.amount: { gt: 200 } }
  - id: other
    effect: escalate
    approver: other-team
    reason: Another team's
    when: { tool: other }
`;

describe.skipIf(!availability.available)("tollgate approvals console --db", () => {
  let gate: Gate;
  let dir: string;
  let proc: ChildProcess;
  let url = "";
  let token = "";
  let browser: Browser;

  beforeAll(async () => {
    dir = tempDir();
    gate = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: join(dir, "audit"), approvals: join(dir, "approvals.db"), audit: { batchWindowMs: 0 } });
    proc = spawn(process.execPath, [buildCli(), "approvals", "console", "--db", join(dir, "approvals.db"), "--port", "0", "--by", "alice", "--approver", "finance-oncall"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    proc.stdout!.setEncoding("utf8");
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the console did not start: ${out}`)), 30_000);
      proc.stdout!.on("data", (c: string) => {
        out += c;
        const u = /at (http:\/\/127\.0\.0\.1:\d+\/console\/)\n/.exec(out);
        const t = /token \(made up now, valid while this runs\): (\S+)\n/.exec(out);
        if (u && t) {
          clearTimeout(timer);
          url = u[1]!;
          token = t[1]!;
          resolve();
        }
      });
      proc.once("exit", (code) => reject(new Error(`the console exited with ${code}: ${out}`)));
    });
    expect(out).toContain("signs in as alice (for finance-oncall)");
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    await gate?.close();
  });

  it("serves the same API rules: its token only, approvers see their own", async () => {
    const base = url.replace(/\/console\/$/, "");
    expect((await http(base, "POST", "/v1/approvals/stream/ticket", { raw: "Bearer wrong" })).status).toBe(401);
    expect((await http(base, "POST", "/v1/approvals/stream/ticket", { raw: `Bearer ${token}` })).status).toBe(200);
    const other = await gate.check({ tool: "other", agent: { id: "billing-bot" } });
    expect(other.decision).toBe("escalate");
    const list = await http(base, "GET", "/v1/approvals", { raw: `Bearer ${token}` });
    expect(list.status).toBe(200);
    expect(list.body.approvals.map((a: { id: string }) => a.id)).not.toContain(other.approval_id);
    expect((await http(base, "POST", `/v1/approvals/${other.approval_id}/approve`, { raw: `Bearer ${token}` })).status).toBe(403);
  });

  it("signs in through the URL's fragment, shows a new escalation live, and an approval there is recorded by the gate", async () => {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${url}#token=${token}`);
    await page.locator(".conn-live").waitFor();
    expect(new URL(page.url()).hash).toBe(""); // taken out of the address bar
    expect(await page.locator(".who").textContent()).toMatch(/Signed in as alice \(finance-oncall\)/);
    const d = await gate.check({ tool: "payments.refund", agent: { id: "billing-bot" }, args: { amount: 900, order_id: "ord_local" } });
    expect(d.decision).toBe("escalate");
    const id = d.approval_id!;
    const card = page.locator(`article.card[data-id="${id}"]`);
    await card.waitFor({ timeout: 10_000 });
    expect(await card.textContent()).toContain("ord_local");
    const waiting = gate.approvals.wait(id, { timeoutMs: 20_000 });
    await card.getByLabel("Note (optional)").fill("approved from the local console");
    await card.getByRole("button", { name: "Approve" }).click();
    const done = await waiting;
    expect(done).toMatchObject({ state: "approved", resolved_by: "alice", note: "approved from the local console" });
    expect(done.resolution_seq).not.toBeNull();
    const rec = auditRecords(join(dir, "audit")).find((r) => r.seq === done.resolution_seq)!;
    expect(rec.decision).toMatchObject({ decision: "allow", approval: { id, state: "approved", by: "alice" } });
    // The page hears of the record too.
    const item = page.locator(`li.resolved[data-id="${id}"]`);
    await item.locator("summary", { hasText: "Audit records" }).click();
    await expect.poll(() => item.locator(".audit").textContent(), { timeout: 10_000 }).toContain(done.resolution_hash!);
    await page.close();
  });
});

describe("tollgate approvals console --db postgres://...", () => {
  it("is refused (a usage error, before connecting), pointing to tollgate serve's /console/", async () => {
    const r = await runCli(["approvals", "console", "--db", "postgres://tollgate@127.0.0.1:1/approvals", "--port", "0"]);
    expect(r.code).toBe(64);
    expect(r.out).toBe("");
    expect(r.err).toContain("'console' serves a SQLite file (--db FILE); with PostgreSQL, use tollgate serve's /console/");
  });
});
