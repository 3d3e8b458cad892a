// `tollgate approvals list|show|approve|deny`, with --db a SQLite file or a postgres:// URL:
// output, exit codes, and the owner noticing a resolution made on the command line (polling or
// LISTEN/NOTIFY, one audit record, the waiter woken).

import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Approval } from "../../src/approvals/approval.js";
import { Approvals } from "../../src/approvals/approvals.js";
import { tailLines } from "../../src/audit/read.js";
import { Gate } from "../../src/gate/gate.js";
import { Policy } from "../../src/policy.js";
import { tempDir } from "../audit/helpers.js";
import { runCli as run } from "../cli-helpers.js";
import { escalate, fakeAudit, input, openStore, pending, storeKinds } from "./helpers.js";

const owners: Approvals[] = [];
const gates: Gate[] = [];
beforeEach(() => {
  vi.stubEnv("TOLLGATE_APPROVALS", ""); // whatever the shell running the tests has
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(owners.splice(0).map((m) => m.close()));
  await Promise.all(gates.splice(0).map((g) => g.close()));
});

const POLICY = `tollgate: 1
name: cli-record
default: allow
approvers:
  finance: { timeout: 10m, on_timeout: deny }
rules:
  - { id: big, effect: escalate, approver: finance, reason: over budget, when: { tool: pay, args.amount: { gt: 100 } } }
`;

/** The records of the log in `dir` that are transitions of approval `id`. */
async function transitions(dir: string, id: string): Promise<unknown[]> {
  return (await tailLines(dir, 1_000_000)).map((l) => JSON.parse(l)).filter((r) => r.decision?.approval?.id === id);
}

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

  it("list filters by state and approver, and prints one JSON array with --json", async () => {
    const { db, b, c } = await seeded();
    const all = await run(["approvals", "list", "--db", db, "--state", "all", "--json"]);
    expect(all.code).toBe(0);
    const rows = JSON.parse(all.out) as Approval[];
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.map((r) => r.state).sort()).toEqual(["denied", "pending", "pending"]);
    const denied = await run(["approvals", "list", "--db", db, "--state", "denied", "--json"]);
    expect(JSON.parse(denied.out)).toMatchObject([{ id: c.id, state: "denied", resolved_by: "bob", note: "not today" }]);
    const sec = await run(["approvals", "list", "--db", db, "--approver", "security", "--json"]);
    expect((JSON.parse(sec.out) as Approval[]).map((r) => r.id)).toEqual([b.id]);
    expect((await run(["approvals", "list", "--db", db, "--state", "expired"])).out).toBe("no approvals\n");
    expect(JSON.parse((await run(["approvals", "list", "--db", db, "--state", "expired", "--json"])).out)).toEqual([]);
    expect(JSON.parse((await run(["approvals", "list", "--db", db, "--state", "all", "--limit", "1", "--json"])).out)).toHaveLength(1);
  });

  it("takes a unique prefix of an id (at least 4 characters); an ambiguous one lists the candidates", async () => {
    const { db, a } = await seeded();
    const store = await openStore(db);
    const ids = ["abcd1111-0000-4000-8000-000000000001", "abcd2222-0000-4000-8000-000000000002", "ab_d3333-0000-4000-8000-000000000003", "ABCE4444-0000-4000-8000-000000000004"];
    try {
      for (const id of ids) await store.insert(pending(id, Date.now()));
      expect(await store.idsWithPrefix("abcd", 5)).toEqual(ids.slice(0, 2));
      expect(await store.idsWithPrefix("ab_d", 5)).toEqual([ids[2]]); // _ is literal
      expect(await store.idsWithPrefix("ab%", 5)).toEqual([]); // so is %
      expect(await store.idsWithPrefix("abce", 5)).toEqual([]); // case counts
      expect(await store.idsWithPrefix("abcd", 1)).toHaveLength(1);
    } finally {
      await store.close();
    }
    const shown = await run(["approvals", "show", a.id.slice(0, 8), "--db", db, "--json"]);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out)).toMatchObject({ id: a.id });
    const ambiguous = await run(["approvals", "approve", "abcd", "--db", db, "--by", "alice"]);
    expect(ambiguous).toMatchObject({ code: 1, out: "" });
    expect(ambiguous.err).toBe(`tollgate: approval id prefix 'abcd' is ambiguous; it matches:\n  ${ids[0]}\n  ${ids[1]}\ngive more of the id\n`);
    expect((await run(["approvals", "deny", "ab_d", "--db", db, "--by", "bob"])).out).toMatch(new RegExp(`^denied ${ids[2]} `));
    const unique = await run(["approvals", "approve", "abcd1", "--db", db, "--by", "alice"]);
    expect(unique.code).toBe(0);
    expect(unique.out).toMatch(new RegExp(`^approved ${ids[0]} \\(outcome allow\\)`));
    expect(await run(["approvals", "show", "abc", "--db", db])).toMatchObject({ code: 1, err: `tollgate: approval abc not found in ${db}\n` }); // too short
    expect(await run(["approvals", "show", "abcf", "--db", db])).toMatchObject({ code: 1, err: `tollgate: approval abcf not found in ${db}\n` });
  });

  it("--db defaults from $TOLLGATE_APPROVALS (a file or a URL); none at all is a usage error", async () => {
    const { db, a } = await seeded();
    vi.stubEnv("TOLLGATE_APPROVALS", db);
    const r = await run(["approvals", "show", a.id, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ id: a.id });
    vi.stubEnv("TOLLGATE_APPROVALS", "");
    const none = await run(["approvals", "list"]);
    expect(none.code).toBe(64);
    expect(none.err).toContain("tollgate approvals list: which approvals store? give --db FILE|postgres://..., or --audit-dir DIR (DIR/approvals.db), or set $TOLLGATE_APPROVALS\n");
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
    expect(ok.out).toMatch(new RegExp(`^approved ${a.id} \\(outcome allow\\) by alice at \\S+Z\\n`));
    expect(await m.get(a.id)).toMatchObject({ state: "approved", outcome: "allow", resolved_by: "alice", note: "known customer" });
    const again = await run(["approvals", "deny", a.id, "--db", db, "--by", "bob"]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(new RegExp(`^tollgate: approval ${a.id} was already approved by alice at \\S+Z \\(note: known customer\\)\\n$`));
    expect((await run(["approvals", "deny", b.id, "--db", db, "--by", "bob"])).code).toBe(0);
    expect(await m.get(b.id)).toMatchObject({ state: "denied", outcome: "deny" });
    expect((await run(["approvals", "approve", c.id, "--db", db, "--by", "alice"])).err).toContain(`was already denied by bob`);
    const missing = await run(["approvals", "approve", "nope", "--db", db, "--by", "alice"]);
    expect(missing).toMatchObject({ code: 1, err: `tollgate: approval nope not found in ${db}\n` });
    expect(ok.out).toContain("audit record: written by the process that owns the audit log (at once if it runs, else when it next opens)\n");
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
    expect((await run(["help", "approvals"])).out).toContain("tollgate approvals approve ID --by NAME [--db FILE|postgres://...] [--audit-dir DIR]");
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

describe("the audit record of a resolution made on the command line", () => {
  /** A gate on `dir` (approvals: `db`, else DIR/approvals.db) with one escalated action; the gate is closed. */
  async function escalated(dir: string, db?: string): Promise<string> {
    const g = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir, ...(db !== undefined && { approvals: db }) });
    try {
      const d = await g.check({ tool: "pay", agent: { id: "bot" }, args: { amount: 500 } });
      expect(d.decision).toBe("escalate");
      return d.approval_id!;
    } finally {
      await g.close();
    }
  }

  it("no gate runs: --audit-dir writes it at once, the gate that opens later writes nothing more, the log verifies", async () => {
    const dir = tempDir("cli-record");
    const db = kind.name === "sqlite" ? undefined : await kind.fresh("cli-record");
    const id = await escalated(dir, db);
    const where = db === undefined ? [] : ["--db", db];
    const r = await run(["approvals", "approve", id.slice(0, 8), "--audit-dir", dir, ...where, "--by", "alice", "--note", "ok"]);
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toMatch(new RegExp(`^approved ${id} \\(outcome allow\\) by alice at \\S+Z\\naudit record: seq \\d+, hash [0-9a-f]{64} in ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n$`));
    const seq = Number(/seq (\d+)/.exec(r.out)![1]);
    expect(existsSync(join(dir, "audit.lock"))).toBe(false); // closed
    const records = await transitions(dir, id);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ seq, decision: { decision: "allow", approval: { id, state: "approved", by: "alice", note: "ok" } } });
    const shown = await run(["approvals", "show", id, "--audit-dir", dir, ...where, "--json"]);
    expect(JSON.parse(shown.out)).toMatchObject({ id, state: "approved", resolution_seq: seq });
    // The gate opens on the same log and store: nothing left to record.
    const g = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir, ...(db !== undefined && { approvals: db }) });
    await g.approvals.idle();
    await new Promise((res) => setTimeout(res, 300));
    await g.close();
    expect(await transitions(dir, id)).toHaveLength(1);
    expect(await run(["audit", "verify", dir])).toMatchObject({ code: 0 });
  });

  it("a gate holds the log: the command does not write the record, the gate does", async () => {
    const dir = tempDir("cli-record-held");
    const db = kind.name === "sqlite" ? undefined : await kind.fresh("cli-record-held");
    const g = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir, ...(db !== undefined && { approvals: db }) });
    gates.push(g);
    const d = await g.check({ tool: "pay", agent: { id: "bot" }, args: { amount: 500 } });
    const waiting = g.approvals.wait(d.approval_id!);
    const where = db === undefined ? [] : ["--db", db];
    const r = await run(["approvals", "deny", d.approval_id!, "--audit-dir", dir, ...where, "--by", "bob"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`audit record: the audit log in ${dir} is open (process ${process.pid}): its owner writes the record\n`);
    expect(await waiting).toMatchObject({ state: "denied", resolution_seq: expect.any(Number) });
    gates.splice(0);
    await g.close();
    expect(await transitions(dir, d.approval_id!)).toHaveLength(1);
    expect(await run(["audit", "verify", dir])).toMatchObject({ code: 0 });
  });

  it.runIf(kind.name === "sqlite")("--audit-dir alone names DIR/approvals.db", async () => {
    const dir = tempDir("cli-record-db");
    const m = await Approvals.open({ store: join(dir, "approvals.db"), pollMs: 0 });
    owners.push(m);
    const a = await m.create(input());
    const r = await run(["approvals", "show", a.id, "--audit-dir", dir, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ id: a.id });
    // No log there yet: approve does not start one (only the gate does), and says who writes the record.
    const ok = await run(["approvals", "approve", a.id, "--audit-dir", dir, "--by", "alice"]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(`audit record: no audit log in ${dir}; the process that owns the audit log writes it when it next opens\n`);
    expect(existsSync(join(dir, "audit.key"))).toBe(false);
  });

  it.runIf(kind.name === "sqlite")("--db or $TOLLGATE_APPROVALS naming DIR/approvals.db: the log beside it is the approval's, so the record is written at once", async () => {
    const dir = tempDir("cli-record-beside");
    const id = await escalated(dir);
    const db = join(dir, "approvals.db");
    const r = await run(["approvals", "approve", id, "--db", db, "--by", "alice"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`audit record: seq \\d+, hash [0-9a-f]{64} in ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n$`));
    expect(await transitions(dir, id)).toHaveLength(1);

    const id2 = await escalated(dir);
    vi.stubEnv("TOLLGATE_APPROVALS", db);
    const e = await run(["approvals", "deny", id2, "--by", "bob"]);
    expect(e.code).toBe(0);
    expect(e.out).toContain("audit record: seq ");
    expect(await transitions(dir, id2)).toHaveLength(1);
    expect(await run(["audit", "verify", dir])).toMatchObject({ code: 0 });
  });

  it.runIf(kind.name === "sqlite")("a log beside the file that did not record the escalation is left alone", async () => {
    // The approvals of the gate on `dir`, copied beside another gate's log (same seqs, other records).
    const dir = tempDir("cli-record-theirs");
    const id = await escalated(dir);
    const other = tempDir("cli-record-other");
    await escalated(other);
    const db = join(other, "copied.db");
    copyFileSync(join(dir, "approvals.db"), db);
    const before = await tailLines(other, 1_000_000);
    const r = await run(["approvals", "approve", id, "--db", db, "--by", "alice"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("audit record: written by the process that owns the audit log");
    expect(await tailLines(other, 1_000_000)).toEqual(before);
  });
});
});
