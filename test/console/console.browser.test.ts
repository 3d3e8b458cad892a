// The approvals web console in a real browser (headless Chromium from Debian's `chromium`,
// driven by playwright-core; test/support/services/chromium.ts): against `tollgate serve` with
// two workers — sign-in, a wrong token and an agent's, live arrival of an escalation made while
// the page is open (and no polling), approve and deny with a note by keyboard and by mouse
// (checked in the server's state and the audit log), expiry while the page is open, two
// approvers racing on one approval, a phone-sized screen. On both approvals stores: the default
// SQLite file and PostgreSQL (--approvals postgres://...); one browser for both.
//
// TOLLGATE_CONSOLE_SCREENSHOT=docs/images/console.png makes the last test save the README's
// screenshot there.

import { resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/server/tokens.js";
import { storeKinds } from "../approvals/helpers.js";
import { chromiumBrowser, launchChromium } from "../support/services/chromium.js";
import { approvalsPolicy, auditRecords, http, root, startOnStore } from "../server/helpers.js";
import type { Server } from "../server/helpers.js";

const availability = chromiumBrowser("test/console/console.browser.test.ts");

const POLICY = approvalsPolicy("console-test", { timeout: "6s", onTimeout: "deny", reason: "Quick ones expire in seconds" }, "audit:\n  redact: [args.card_number]\n");

const T = { agent: "console-agent", alice: "console-alice", bob: "console-bob" };
const TOKENS = `tokens:
  ${hashToken(T.agent)}: { identity: billing-bot, role: agent }
  ${hashToken(T.alice)}: { identity: alice, role: approver, approvers: [finance-oncall, quick] }
  ${hashToken(T.bob)}: { identity: bob, role: approver, approvers: [finance-oncall, quick] }
`;

let s: Server;
let browser: Browser;
const contexts: BrowserContext[] = [];

async function escalate(tool: string, args: Record<string, unknown> = { amount: 500 }): Promise<string> {
  const r = await http(s, "POST", "/v1/decide", { raw: `Bearer ${T.agent}`, body: { action: { tool, args } } });
  expect(r.status).toBe(200);
  expect(r.body.decision).toBe("escalate");
  return r.body.approval_id as string;
}

async function approval(id: string) {
  const r = await http(s, "GET", `/v1/approvals/${id}`, { raw: `Bearer ${T.alice}` });
  expect(r.status).toBe(200);
  return r.body;
}

/** A new browser context (its own storage) with a page on the console. */
async function newPage(viewport = { width: 1280, height: 900 }): Promise<Page> {
  const ctx = await browser.newContext({ viewport });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${s.url}/console/`);
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("Approver token").fill(token);
  await page.keyboard.press("Enter");
}

async function signedIn(token: string, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await newPage(viewport);
  await signIn(page, token);
  await page.locator(".conn-live").waitFor();
  return page;
}

const card = (page: Page, id: string) => page.locator(`article.card[data-id="${id}"]`);
const resolvedItem = (page: Page, id: string) => page.locator(`li.resolved[data-id="${id}"]`);

describe.skipIf(!availability.available)("the approvals console in a browser", () => {
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

for (const kind of storeKinds("test/console/console.browser.test.ts")) describe.skipIf(!kind.available)(`on ${kind.name}`, () => {
  beforeAll(async () => {
    s = await startOnStore(kind, POLICY, { workers: 2, files: { "tokens.yaml": TOKENS } });
  });

  afterAll(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
    if (s) expect(await s.stop()).toBe(0);
  });

  it("a wrong token and an agent's token are refused with a message; the form stays", async () => {
    const page = await newPage();
    await signIn(page, "not-a-token");
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/Sign-in failed: unknown bearer token/);
    await expect.poll(() => page.getByLabel("Approver token").isVisible()).toBe(true);
    await signIn(page, T.agent);
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/This token may not approve: role 'agent'/);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it("sign-in shows who, the live state and what was already pending", async () => {
    const before = await escalate("payments.refund", { amount: 300, order_id: "ord_before" });
    const page = await signedIn(T.alice);
    await expect.poll(() => page.locator(".who").textContent()).toMatch(/Signed in as alice \(finance-oncall, quick\)/);
    await card(page, before).waitFor();
    expect(await card(page, before).textContent()).toContain("ord_before");
    await expect.poll(() => page.title()).toMatch(/^\(\d+\) Tollgate approvals$/);
  });

  it("an escalation made while the page is open arrives live, with its details, and the page does not poll", async () => {
    const page = await signedIn(T.alice);
    const requests: string[] = [];
    page.on("request", (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
    const id = await escalate("payments.refund", { amount: 420, order_id: "ord_live", card_number: "4111111111111111" });
    const c = card(page, id);
    await c.waitFor({ timeout: 10_000 });
    const text = (await c.textContent())!;
    expect(text).toContain("payments.refund");
    expect(text).toContain("billing-bot");
    expect(text).toContain("big-refund");
    expect(text).toContain("Refunds over 200 need finance");
    expect(text).toMatch(/Expires in 1[45]:\d\d, then deny/);
    // Pretty-printed, redacted as the policy says.
    const action = (await c.locator("pre.action").textContent())!;
    expect(JSON.parse(action)).toEqual({ tool: "payments.refund", agent: { id: "billing-bot" }, args: { amount: 420, order_id: "ord_live", card_number: "[redacted]" } });
    expect(action).toContain('\n  "args": {');
    // The countdown runs.
    const first = await c.locator(".clock").textContent();
    await expect.poll(() => c.locator(".clock").textContent(), { timeout: 5_000 }).not.toBe(first);
    // Over the last seconds: no request at all (the stream is already open).
    expect(requests).toEqual([]);
  });

  it("approve with a note, by keyboard alone: the server has it approved by alice, with its audit record", async () => {
    const page = await signedIn(T.alice);
    const id = await escalate("payments.refund", { amount: 250, order_id: "ord_keyboard" });
    const c = card(page, id);
    await c.waitFor();
    // Tab to the note from the card's last focusable element before it (the Action summary).
    await c.locator("summary").focus();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe(`note-${id}`);
    await page.keyboard.type("checked the order with the customer");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Approve");
    await page.keyboard.press("Enter");
    const done = resolvedItem(page, id);
    await done.waitFor();
    expect(await done.textContent()).toMatch(/approved.*approved by alice/);
    expect(await done.textContent()).toContain("checked the order with the customer");
    await expect.poll(() => card(page, id).count()).toBe(0);
    const a = await approval(id);
    expect(a).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice", note: "checked the order with the customer" });
    const rec = auditRecords(s.auditDir).find((r) => r.seq === a.resolution_seq)!;
    expect(rec.hash).toBe(a.resolution_hash);
    expect(rec.decision).toMatchObject({ decision: "allow", approval: { id, state: "approved", by: "alice", note: "checked the order with the customer" } });
    // The audit link: the records' seq and hash.
    await done.locator("summary", { hasText: "Audit records" }).click();
    expect(await done.locator(".audit").textContent()).toContain(a.resolution_hash);
    // ... and the records themselves, as the server's log holds them (GET /v1/approvals/{id}/records).
    await done.getByRole("button", { name: "Show the audit records" }).click();
    const shown = done.locator(".record");
    await expect.poll(() => shown.count()).toBe(2);
    expect(await shown.nth(0).getAttribute("data-seq")).toBe(String(a.decision_seq));
    expect(JSON.parse((await shown.nth(1).locator("pre").textContent())!)).toEqual(rec);
  });

  it("deny with a note: the server has it denied, with its audit record", async () => {
    const page = await signedIn(T.alice);
    const id = await escalate("payments.refund", { amount: 999, order_id: "ord_deny" });
    const c = card(page, id);
    await c.waitFor();
    await c.getByLabel("Note (optional)").fill("not this one: duplicate refund");
    await c.getByRole("button", { name: "Deny" }).click();
    const done = resolvedItem(page, id);
    await done.waitFor();
    expect(await done.textContent()).toMatch(/denied.*denied by alice.*outcome deny/);
    await expect.poll(() => page.locator(".notice-ok").first().textContent()).toMatch(/Denied: payments.refund for billing-bot/);
    const a = await approval(id);
    expect(a).toMatchObject({ state: "denied", outcome: "deny", resolved_by: "alice", note: "not this one: duplicate refund" });
    const rec = auditRecords(s.auditDir).find((r) => r.seq === a.resolution_seq)!;
    expect(rec.decision).toMatchObject({ decision: "deny", approval: { id, state: "denied", by: "alice", note: "not this one: duplicate refund", decision_seq: a.decision_seq } });
  });

  it("an approval that expires while the page is open counts down, then moves to the history as expired", async () => {
    const page = await signedIn(T.alice);
    const id = await escalate("quick");
    const c = card(page, id);
    await c.waitFor();
    expect(await c.textContent()).toMatch(/Expires in 0:0[1-6], then deny/);
    const done = resolvedItem(page, id);
    await done.waitFor({ timeout: 15_000 });
    expect(await done.textContent()).toMatch(/expired.*outcome deny/);
    await expect.poll(() => card(page, id).count()).toBe(0);
    expect(await approval(id)).toMatchObject({ state: "expired", outcome: "deny", resolved_by: "timeout" });
  });

  it("two approvers racing on one approval: exactly one wins, the other is told who did", async () => {
    const [pa, pb] = await Promise.all([signedIn(T.alice), signedIn(T.bob)]);
    const id = await escalate("payments.refund", { amount: 777, order_id: "ord_race" });
    await Promise.all([card(pa, id).waitFor(), card(pb, id).waitFor()]);
    await card(pa, id).getByLabel("Note (optional)").fill("alice says yes");
    await card(pb, id).getByLabel("Note (optional)").fill("bob says no");
    // Both clicks at once (a click through the locator would wait for each page in turn, and the
    // first resolution's event could take the card off the other page before its click).
    const approve = await card(pa, id).getByRole("button", { name: "Approve" }).elementHandle();
    const deny = await card(pb, id).getByRole("button", { name: "Deny" }).elementHandle();
    await Promise.all([approve!.evaluate((b) => (b as HTMLButtonElement).click()), deny!.evaluate((b) => (b as HTMLButtonElement).click())]);
    await Promise.all([resolvedItem(pa, id).waitFor(), resolvedItem(pb, id).waitFor()]);
    const a = await approval(id);
    expect(["alice", "bob"]).toContain(a.resolved_by);
    const [winner, loser] = a.resolved_by === "alice" ? [pa, pb] : [pb, pa];
    expect(a.state).toBe(a.resolved_by === "alice" ? "approved" : "denied");
    await expect.poll(() => winner.locator(".notice-ok").first().textContent()).toMatch(/^(Approved|Denied): payments.refund/);
    // The loser is told by its refused request — and, when the winner's event reached its page
    // first, also that the approval went while it was writing a note: either order, both shown.
    const refused = new RegExp(`Could not (approve|deny) payments.refund for billing-bot: approval ${id} was already ${a.state} by ${a.resolved_by}`);
    await expect.poll(() => loser.locator(".notice-error").allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(refused)]));
    expect(await winner.locator(".notice-error").count()).toBe(0);
    // Both show the one outcome; one transition record.
    for (const p of [pa, pb]) expect(await resolvedItem(p, id).textContent()).toContain(`${a.state} by ${a.resolved_by}`);
    expect(auditRecords(s.auditDir).filter((r) => (r.decision.approval as { id?: string } | undefined)?.id === id)).toHaveLength(1);
  });

  it("someone else resolving an approval while you write a note: the card goes, and you are told", async () => {
    const page = await signedIn(T.alice);
    const id = await escalate("payments.refund", { amount: 310, order_id: "ord_draft" });
    await card(page, id).waitFor();
    await card(page, id).getByLabel("Note (optional)").fill("let me check the order first");
    const r = await http(s, "POST", `/v1/approvals/${id}/deny`, { raw: `Bearer ${T.bob}`, body: { note: "fraud" } });
    expect(r.status).toBe(200);
    await expect.poll(() => page.locator(".notice-error").first().textContent()).toMatch(/payments.refund for billing-bot was denied by bob before you sent your note \(“let me check the order first”\)/);
    await expect.poll(() => card(page, id).count()).toBe(0);
    expect(await resolvedItem(page, id).textContent()).toContain("fraud");
  });

  it("is readable on a phone: one column, nothing wider than the screen, buttons within reach", async () => {
    await escalate("payments.refund", { amount: 640, order_id: "ord_phone", note: "a long value ".repeat(20) });
    const page = await signedIn(T.alice, { width: 390, height: 844 });
    await page.locator("article.card").first().waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const box = (await page.locator("article.card").first().getByRole("button", { name: "Approve" }).boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    expect(box.height).toBeGreaterThanOrEqual(44);
  });

  it("signing out forgets the token", async () => {
    const page = await signedIn(T.alice);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Approver token").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    const out = process.env.TOLLGATE_CONSOLE_SCREENSHOT;
    if (out && kind.name === "sqlite") { // one picture
      // The README's picture: a few pending approvals and some history.
      await escalate("payments.refund", { amount: 1250, order_id: "ord_7f3a9c", currency: "EUR", card_number: "4111111111111111" });
      await escalate("quick", { host: "db-prod-2", command: "systemctl restart postgres" });
      const shot = await signedIn(T.alice, { width: 1280, height: 860 });
      await shot.locator("article.card").nth(1).waitFor();
      await shot.screenshot({ path: resolve(root, out) });
    }
  });
});
});
