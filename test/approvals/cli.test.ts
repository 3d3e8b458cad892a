// `tollgate approvals list|show|approve|deny`, with --db a SQLite file or a postgres:// URL:
// output, exit codes, and the owner noticing a resolution made on the command line (polling or
// LISTEN/NOTIFY, one audit record, the waiter woken).

import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { Approval } from "../../src/approvals/approval.js";
import { Approvals } from "../../src/approvals/approvals.js";
import { runCli as run } from "../cli-helpers.js";
import { escalate, fakeAudit, input, storeKinds } from "./helpers.js";

const owners: Approvals[] = [];
afterEach(async () => {
  await Promise.all(owners.splice(0).map((m) => m.close()));
});

for (const kind of storeKinds("test/approvals/cli.test.ts")) describe.skipIf(!kind.available)(`tollgate approvals (${kind.name})`, () => {
async function seeded(): Promise<{ db: string; m: Approvals; a: Approval; b: Approval; c: Approval }> {
  const db = await kind.fresh("approvals-cli");
  const m = await Approvals.open({ store: db, pollMs: 0 });
  owners.push(m);
  const a = await m.create(input(escalate("deny", 3_600_000)));
  const b = await m.create(input({ ...escalate("allow", 3_600_000), approver: "security" }));
  const c = await m.create(input(escalate("deny", 3_600_000)));
  await m.deny(c.id, { by: "bob", note: "not today" });
  return { db, m, a, b, c };
}

describe("commands", () => {
  it("list shows pending approvals as a table by default", async () => {
    const { db, a, b } = await seeded();
    const r = await run(["approvals", "list", "--db", db]);
    expect(r).toMatchObject({ code: 0, err: "" });
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+STATE\s+APPROVER\s+RULE\s+POLICY\s+CREATED\s+EXPIRES\s+OUTCOME\s+BY$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0]).sort()).toEqual([a.id, b.id].sort());
    expect(lines[1]).toContain("pending");
  });

  it("list filters by state and approver, and prints JSON lines with --json", async () => {
    const { db, b, c } = await seeded();
    const all = await run(["approvals", "list", "--db", db, "--state", "all", "--json"]);
    expect(all.code).toBe(0);
    expect(all.out.trim().split("\n").map((l) => JSON.parse(l).state).sort()).toEqual(["denied", "pending", "pending"]);
    const denied = await run(["approvals", "list", "--db", db, "--state", "denied", "--json"]);
    expect(JSON.parse(denied.out)).toMatchObject({ id: c.id, state: "denied", resolved_by: "bob", note: "not today" });
    const sec = await run(["approvals", "list", "--db", db, "--approver", "security", "--json"]);
    expect(sec.out.trim().split("\n").map((l) => JSON.parse(l).id)).toEqual([b.id]);
    expect((await run(["approvals", "list", "--db", db, "--state", "expired"])).out).toBe("no approvals\n");
    expect((await run(["approvals", "list", "--db", db, "--state", "all", "--limit", "1", "--json"])).out.trim().split("\n")).toHaveLength(1);
  });

  it("show prints one approval, readable or as JSON", async () => {
    const { db, a, c } = await seeded();
    const r = await run(["approvals", "show", a.id, "--db", db]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^id:\\s+${a.id}\\n`));
    expect(r.out).toMatch(/state:\s+pending\n/);
    expect(r.out).toMatch(/approver:\s+finance-oncall\n/);
    expect(r.out).toContain(`(on timeout: deny)`);
    expect(r.out).toContain(`"tool": "payments.refund"`);
    const j = await run(["approvals", "show", c.id, "--db", db, "--json"]);
    expect(JSON.parse(j.out)).toMatchObject({ id: c.id, state: "denied", note: "not today" });
    expect((await run(["approvals", "show", c.id, "--db", db])).out).toMatch(/note:\s+not today\n/);
    const missing = await run(["approvals", "show", "nope", "--db", db]);
    expect(missing).toMatchObject({ code: 1, out: "" });
    expect(missing.err).toBe(`tollgate: approval nope not found in ${db}\n`);
  });

  it("approve and deny resolve once; a second resolution exits 1 with who and when", async () => {
    const { db, m, a, b, c } = await seeded();
    const ok = await run(["approvals", "approve", a.id, "--db", db, "--by", "alice", "--note", "known customer"]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(new RegExp(`^approved ${a.id} \\(outcome allow\\) by alice at \\S+Z\\n$`));
    expect(await m.get(a.id)).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice", note: "known customer" });
    const again = await run(["approvals", "deny", a.id, "--db", db, "--by", "bob"]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(new RegExp(`^tollgate: approval ${a.id} was already approved by alice at \\S+Z \\(note: known customer\\)\\n$`));
    expect((await run(["approvals", "deny", b.id, "--db", db, "--by", "bob"])).code).toBe(0);
    expect(await m.get(b.id)).toMatchObject({ state: "denied", outcome: "deny" });
    expect((await run(["approvals", "approve", c.id, "--db", db, "--by", "alice"])).err).toContain(`was already denied by bob`);
    const missing = await run(["approvals", "approve", "nope", "--db", db, "--by", "alice"]);
    expect(missing).toMatchObject({ code: 1, err: "tollgate: approval nope not found\n" });
  });

  it("approve/deny with a note or by that holds a lone surrogate exits 1; the approval stays pending", async () => {
    const { db, m, a } = await seeded();
    const r = await run(["approvals", "approve", a.id, "--db", db, "--by", "alice", "--note", "ok \ud800"]);
    expect(r).toMatchObject({ code: 1, out: "" });
    expect(r.err).toBe(`tollgate: 'note' contains a lone surrogate (it is not Unicode text and cannot be stored or recorded as it is)\n`);
    expect((await run(["approvals", "deny", a.id, "--db", db, "--by", "\udc00"])).code).toBe(1);
    expect(await m.get(a.id)).toMatchObject({ state: "pending", note: null });
  });

  it("exits 64 on bad usage and 1 on a missing database (without creating it)", async () => {
    const { db, a } = await seeded();
    for (const args of [
      ["approvals"],
      ["approvals", "frob", "--db", db],
      ["approvals", "list"],
      ["approvals", "list", "--db", db, "--state", "done"],
      ["approvals", "list", "--db", db, "--limit", "x"],
      ["approvals", "list", "--db", db, "--by", "alice"],
      ["approvals", "list", "--db", db, "extra"],
      ["approvals", "approve", a.id, "--db", db],
      ["approvals", "approve", "--db", db, "--by", "alice"],
      ["approvals", "deny", a.id, "b", "--db", db, "--by", "alice"],
      ["approvals", "show", a.id, "--db", db, "--bogus"],
      ["approvals", "show", a.id, "--db"],
    ]) {
      const r = await run(args);
      expect({ args, code: r.code }).toEqual({ args, code: 64 });
      expect(r.err).toContain("usage: tollgate approvals list");
    }
    if (kind.name === "sqlite") {
      const gone = `${db}.missing`;
      const r = await run(["approvals", "list", "--db", gone]);
      expect(r).toMatchObject({ code: 1, err: `tollgate: no approvals database at ${gone}\n` });
      expect(existsSync(gone)).toBe(false);
    } else {
      const r = await run(["approvals", "list", "--db", "postgres://nobody:secret@127.0.0.1:1/none"]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^tollgate: cannot open postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none: /);
    }
    expect((await run(["help", "approvals"])).out).toContain("tollgate approvals approve ID --db FILE|postgres://... --by NAME");
    expect(await run(["approvals", "--help"])).toMatchObject({ code: 0, out: expect.stringContaining("usage: tollgate approvals list") });
  });

  it("the owner notices a CLI resolution: one audit record, then the waiter wakes", async () => {
    const db = await kind.fresh("approvals-cli-owner");
    const audit = fakeAudit();
    const m = await Approvals.open({ store: db, audit, pollMs: 20 });
    owners.push(m);
    const a = await m.create(input());
    const waiting = m.wait(a.id);
    expect((await run(["approvals", "approve", a.id, "--db", db, "--by", "alice"])).code).toBe(0);
    const done = await waiting;
    expect(done).toMatchObject({ id: a.id, state: "approved", resolved_by: "alice", resolution_seq: 1001 });
    expect(audit.calls).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(audit.calls).toHaveLength(1);
    const shown = await run(["approvals", "show", a.id, "--db", db]);
    expect(shown.out).toMatch(/resolution:\s+audit seq 1001, hash/);
  });
});
});
