// `tollgate replay`: decisions of audit logs and actions files under a candidate policy, counters
// replayed at record time, compared with the recorded decisions or with --against's.

import { appendFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { Policy } from "../../src/policy.js";
import { readLines } from "../../src/cli/lines.js";
import { LineSplitter } from "../../src/replay/lines.js";
import type { Line } from "../../src/replay/lines.js";
import type { ReplayResult } from "../../src/replay/report.js";
import { runCli } from "../cli-helpers.js";
import { policyFile, T0, tempDir, writeLog } from "./helpers.js";
import type { LogStep } from "./helpers.js";

const CURRENT = `tollgate: 1
name: refunds
default: deny
approvers:
  finance: { timeout: 1h }
audit:
  redact: [args.card_number]
rules:
  - { id: big, effect: escalate, approver: finance, reason: big refund, when: { tool: refund, args.amount: { gt: 500 } } }
  - { id: refund, effect: allow, when: { tool: refund } }
  - { id: read, effect: allow, when: { tool: read } }
`;

/** CURRENT plus a rate limit (more than 3 refunds an hour per agent) and a daily budget. */
const CANDIDATE = `tollgate: 1
name: refunds
default: deny
approvers:
  finance: { timeout: 1h }
audit:
  redact: [args.card_number]
counters:
  refunds_per_hour:
    per: [agent.id]
    window: 1h
    when: { tool: refund }
  spent_per_day:
    per: [agent.id]
    window: 1d
    when: { tool: refund }
    sum: args.amount
rules:
  - { id: too-many, effect: deny, reason: more than 3 refunds an hour, when: { tool: refund, $refunds_per_hour: { gt: 3 } } }
  - { id: budget, effect: deny, reason: over the daily budget, when: { tool: refund, $spent_per_day: { gt: 1000 } } }
  - { id: big, effect: escalate, approver: finance, reason: big refund, when: { tool: refund, args.amount: { gt: 500 } } }
  - { id: refund, effect: allow, when: { tool: refund } }
  - { id: read, effect: allow, when: { tool: read } }
`;

/** Reads args.card_number: records that hold it redacted cannot be replayed exactly. */
const CARD_RULE = CURRENT.replace("rules:\n", "rules:\n  - { id: no-cards, effect: deny, reason: card number, when: { args.card_number: { exists: true, matches: \"^[0-9 ]{13,19}$\" } } }\n");

const MIN = 60_000;
const refund = (agent: string, amount: number, extra: Record<string, unknown> = {}) => ({ tool: "refund", agent: { id: agent }, args: { amount, ...extra } });

async function logOf(steps: LogStep[], yaml = CURRENT): Promise<string> {
  const dir = tempDir("replay-log");
  await writeLog(dir, Policy.fromYaml(yaml), steps);
  return dir;
}

function files(): { dir: string; current: string; candidate: string } {
  const dir = tempDir("replay-policies");
  return { dir, current: policyFile(dir, "current.yaml", CURRENT), candidate: policyFile(dir, "candidate.yaml", CANDIDATE) };
}

async function replayJson(args: string[]): Promise<{ code: number; r: ReplayResult; err: string }> {
  const { code, out, err } = await runCli(["replay", "--format", "json", ...args]);
  return { code, r: JSON.parse(out) as ReplayResult, err };
}

describe("tollgate replay of an audit directory", () => {
  it("replays counters at record time: a rate limit changes only what history trips", async () => {
    const steps: LogStep[] = [];
    // Agent a: 5 refunds a minute apart (the 4th and 5th are over 3 an hour); agent b: 5 refunds
    // two hours apart (never more than 1 an hour); reads in between count nothing.
    for (let i = 0; i < 5; i++) {
      steps.push({ action: refund("a", 10 + i), at: T0 + i * MIN });
      steps.push({ action: { tool: "read", agent: { id: "a" } }, at: T0 + i * MIN + 1 });
    }
    for (let i = 0; i < 5; i++) steps.push({ action: refund("b", 20), at: T0 + 10 * MIN + i * 120 * MIN });
    const log = await logOf(steps);
    const f = files();
    const { code, r } = await replayJson([f.candidate, log]);
    expect(code).toBe(1);
    expect(r.totals).toMatchObject({ actions: 15, changed: 2, unchanged: 13, skipped: 0 });
    expect(r.totals.before).toEqual({ allow: 15, deny: 0, escalate: 0 });
    expect(r.totals.after).toEqual({ allow: 13, deny: 2, escalate: 0 });
    expect(r.changes).toHaveLength(1);
    const c = r.changes[0]!;
    expect(c).toMatchObject({ from: { decision: "allow", rule: "refund" }, to: { decision: "deny", rule: "too-many" }, count: 2, inexact: 0 });
    // seq 7 and 9: the 4th and 5th refunds of agent a
    expect(c.examples.map((e) => e.seq)).toEqual([7, 9]);
    // the recorded action (keys sorted, as canonical JSON), tool first
    expect(c.examples[0]!.action).toBe('{"tool":"refund","agent":{"id":"a"},"args":{"amount":13}}');
    expect(r.sources[0]).toMatchObject({ source: log, kind: "audit", actions: 15, changed: 2 });
    expect(r.sources[0]!.recordedPolicies).toEqual([{ name: "refunds", hash: Policy.fromYaml(CURRENT).hash, records: 15 }]);
    expect(r.against).toBeNull();

    const { out } = await runCli(["replay", f.candidate, log]);
    expect(out).toContain("15 actions replayed: 2 changed (13.33%), 13 unchanged");
    expect(out).toMatch(/allow refund\s+→\s+deny too-many\s+2/);
    expect(out).toContain(`${log} seq 7: {"tool":"refund","agent":{"id":"a"},"args":{"amount":13}}`);
    expect(out).toMatch(/2 decisions change\n$/);
  });

  it("replays each decision at the time it was decided (counted.at), not when its record was appended", async () => {
    // The limit's policy itself wrote the log (at most 1 refund a second). Every other refund's
    // record is appended 5 ms after its decision; the next refund comes 1,002 ms after the
    // previous decision: the entry had left the window live. Replayed at the records' ts it would
    // still be in (3 ms left), and the refund denied.
    const steps: LogStep[] = [];
    for (let i = 0; i < 5; i++) steps.push({ action: refund("a", 10), at: T0 + i * 1002, appendedAt: T0 + i * 1002 + (i % 2 === 0 ? 5 : 0) });
    const oneAnHour = CANDIDATE.replace("$refunds_per_hour: { gt: 3 }", "$refunds_per_hour: { gt: 1 }").replace("window: 1h", "window: 1s");
    const log = await logOf(steps, oneAnHour);
    const f = files();
    const { code, r } = await replayJson([policyFile(f.dir, "one.yaml", oneAnHour), log]);
    expect(r.totals).toMatchObject({ actions: 5, changed: 0, unchanged: 5 });
    expect(r.totals.before).toEqual({ allow: 5, deny: 0, escalate: 0 });
    expect(code).toBe(0);
  });

  it("settles escalations' pending contributions with the approval transitions in the log", async () => {
    // 800 escalates (big); 300 two minutes later. The candidate's daily budget (more than 1000)
    // trips on the 300 only if the 800 still counts: approved, or still pending; not if denied.
    const run = async (transition: "approved" | "denied" | null): Promise<ReplayResult> => {
      const steps: LogStep[] = [{ action: refund("a", 800), at: T0 }];
      if (transition !== null) steps.push({ resolve: 0, state: transition, at: T0 + MIN });
      steps.push({ action: refund("a", 300), at: T0 + 2 * MIN });
      const { r } = await replayJson([files().candidate, await logOf(steps)]);
      return r;
    };
    const denied = await run("denied");
    expect(denied.totals).toMatchObject({ actions: 2, changed: 0, transitions: 1 });
    const approved = await run("approved");
    expect(approved.totals).toMatchObject({ actions: 2, changed: 1, transitions: 1 });
    expect(approved.changes[0]).toMatchObject({ from: { decision: "allow", rule: "refund" }, to: { decision: "deny", rule: "budget" }, count: 1 });
    const pending = await run(null);
    expect(pending.totals).toMatchObject({ actions: 2, changed: 1, transitions: 0 });
    // An escalation that expired into deny stops counting at its expiry: after the hour it is gone.
    const steps: LogStep[] = [{ action: refund("a", 800), at: T0 }, { resolve: 0, state: "expired", at: T0 + 60 * MIN }, { action: refund("a", 300), at: T0 + 61 * MIN }];
    const { r: expired } = await replayJson([files().candidate, await logOf(steps)]);
    expect(expired.totals).toMatchObject({ actions: 2, changed: 0, transitions: 1 });
  });

  it("counts records whose redacted fields the candidate reads, and says which paths", async () => {
    const steps: LogStep[] = [
      { action: refund("a", 10, { card_number: "4111 1111 1111 1111" }), at: T0 },
      { action: refund("a", 11), at: T0 + 1 },
      { action: refund("a", 12, { card_number: "x" }), at: T0 + 2 },
    ];
    const log = await logOf(steps);
    expect(readFileSync(join(log, readdirSync(log).find((n) => n.startsWith("audit-"))!), "utf8")).toContain('"card_number":"[redacted]"');
    const f = files();
    const card = policyFile(f.dir, "card.yaml", CARD_RULE);
    const { code, r } = await replayJson([card, log]);
    // "[redacted]" does not match the card rule: nothing changes, but 2 records are not exact
    expect(code).toBe(0);
    expect(r.redacted).toEqual({ records: 2, changed: 0, paths: [{ path: "args.card_number", records: 2 }] });
    const { out } = await runCli(["replay", card, log]);
    expect(out).toContain('2 records cannot be replayed exactly: they hold "[redacted]" (audit.redact) at paths the candidate reads (0 of them changed):\n  args.card_number: 2 records');
    // A candidate that does not read the redacted path replays them exactly.
    const { r: exact } = await replayJson([f.current, log]);
    expect(exact.redacted.records).toBe(0);
  });

  it("--against takes the old decisions from the current policy instead of the records", async () => {
    const steps: LogStep[] = [];
    for (let i = 0; i < 5; i++) steps.push({ action: refund("a", 10), at: T0 + i * MIN });
    const log = await logOf(steps);
    const f = files();
    // The candidate against itself: nothing changes, although the records disagree with it.
    const same = await replayJson(["--against", f.candidate, f.candidate, log]);
    expect(same.code).toBe(0);
    expect(same.r.totals).toMatchObject({ actions: 5, changed: 0 });
    expect(same.r.against).toMatchObject({ name: "refunds", file: f.candidate });
    const vsCurrent = await replayJson(["--against", f.current, f.candidate, log]);
    expect(vsCurrent.code).toBe(1);
    expect(vsCurrent.r.totals.changed).toBe(2);
  });

  it("exit 0 with the recorded policy itself; the events of the log are not decisions", async () => {
    const log = await logOf([{ action: refund("a", 10), at: T0 }, { action: refund("a", 900), at: T0 + 1 }, { action: { tool: "nope" }, at: T0 + 2 }]);
    const { code, out } = await runCli(["replay", files().current, log]);
    expect(code).toBe(0);
    expect(out).toContain("3 actions replayed: 0 changed (0%), 3 unchanged");
    expect(out).toMatch(/no decision changes\n$/);
  });
});

describe("tollgate replay of an actions file", () => {
  const lines = (n: number) => Array.from({ length: n }, () => JSON.stringify(refund("a", 10))).join("\n") + "\n";

  it("needs --against, then compares both policies' decisions (counters within the run)", async () => {
    const f = files();
    const actions = join(f.dir, "actions.jsonl");
    writeFileSync(actions, lines(5) + "not json\n\n" + JSON.stringify({ tool: "read" }) + "\r\n");
    const without = await runCli(["replay", f.candidate, actions]);
    expect(without.code).toBe(2);
    expect(without.err).toContain("--against CURRENT.yaml");
    const { code, r } = await replayJson(["--against", f.current, f.candidate, actions]);
    expect(code).toBe(1);
    expect(r.totals).toMatchObject({ actions: 6, changed: 2, skipped: 2 });
    expect(r.changes[0]!.examples.map((e) => e.line)).toEqual([4, 5]);
    expect(r.skipped).toEqual([
      { reason: "line is not JSON", count: 1, examples: [{ source: actions, file: actions, line: 6 }] },
      { reason: "empty line", count: 1, examples: [{ source: actions, file: actions, line: 7 }] },
    ]);
    // stdin
    const stdout = new PassThrough();
    let out = "";
    stdout.on("data", (d) => (out += d));
    const code2 = await main(["replay", "--format", "json", "--against", f.current, f.candidate, "-"], { stdin: Readable.from([Buffer.from(lines(4))]), stdout, stderr: new PassThrough() });
    expect(code2).toBe(1);
    expect((JSON.parse(out) as ReplayResult).totals).toMatchObject({ actions: 4, changed: 1 });
  });

  it("decides a huge line (20 MB, across read chunks) like any other", async () => {
    const f = files();
    const actions = join(f.dir, "huge.jsonl");
    writeFileSync(actions, JSON.stringify(refund("a", 10, { note: "x".repeat(20 * 1024 * 1024) })) + "\n" + JSON.stringify(refund("b", 900)) + "\n");
    const { code, r } = await replayJson(["--against", f.current, f.current, actions]);
    expect(code).toBe(0);
    expect(r.totals).toMatchObject({ actions: 2, changed: 0, skipped: 0 });
    expect(r.totals.after).toEqual({ allow: 1, deny: 0, escalate: 1 });
  });

  it("skips a line over the limit without holding it, and reports invalid UTF-8", () => {
    const split = new LineSplitter(10);
    const out: Line[] = [];
    split.push(Buffer.from('{"a":1}\n0123456789ABC'), out);
    split.push(Buffer.from("DEF\n12345678\r\n"), out);
    split.push(Buffer.from([0xff, 0x0a, 0x7b]), out);
    split.end(out);
    expect(out).toEqual([
      { line: 1, text: '{"a":1}', bytes: 7 },
      { line: 2, text: null, bytes: 16, tooLong: true },
      { line: 3, text: "12345678", bytes: 8 },
      { line: 4, text: null, bytes: 1, tooLong: false },
      { line: 5, text: "{", bytes: 1 },
    ]);
  });

  it("ends a line at \"\\n\", \"\\r\\n\" or a lone \"\\r\", as tollgate eval does, across chunks", async () => {
    const split = new LineSplitter();
    const out: Line[] = [];
    const chunks = ["a\rb\r\nc\r", "\nd\r", "e\n\r\r", "\nf"];
    for (const chunk of chunks) split.push(Buffer.from(chunk), out);
    split.end(out);
    expect(out.map((l) => l.text)).toEqual(["a", "b", "c", "d", "e", "", "", "f"]);
    const evalLines: string[] = [];
    for await (const line of readLines(Readable.from(chunks.map((c) => Buffer.from(c))))) evalLines.push(line);
    expect(out.map((l) => l.text)).toEqual(evalLines);
  });
});

describe("tollgate replay: bad input, exit codes, output", () => {
  it("refuses a log that does not verify (an edited record), and one whose chain breaks with --no-verify", async () => {
    const steps: LogStep[] = [];
    for (let i = 0; i < 4; i++) steps.push({ action: refund("a", 10 + i), at: T0 + i });
    const log = await logOf(steps);
    const seg = join(log, readdirSync(log).find((n) => n.startsWith("audit-"))!);
    const text = readFileSync(seg, "utf8");
    writeFileSync(seg, text.replace('"amount":11', '"amount":99'));
    const f = files();
    const edited = await runCli(["replay", f.candidate, log]);
    expect(edited.code).toBe(2);
    expect(edited.out).toBe("");
    expect(edited.err).toMatch(new RegExp(`^tollgate replay: ${seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: the audit log does not verify, refusing to replay it: hash mismatch`));
    // A deleted record: refused by verify, and by the chain itself without verify.
    const lines = text.split("\n");
    writeFileSync(seg, [lines[0], lines[2], lines[3], ""].join("\n"));
    expect((await runCli(["replay", f.candidate, log])).code).toBe(2);
    const noVerify = await runCli(["replay", "--no-verify", f.candidate, log]);
    expect(noVerify.code).toBe(2);
    expect(noVerify.err).toContain(`${seg}:2: seq 3 follows seq 1: the log changed (verify it)`);
    // Garbage appended after the last record: not a record.
    writeFileSync(seg, text);
    appendFileSync(seg, "garbage\n");
    const garbage = await runCli(["replay", "--no-verify", f.candidate, log]);
    expect(garbage.code).toBe(2);
    expect(garbage.err).toContain(`${seg}:5: not a JSON line`);
  });

  it("a bad policy is file:line:col and exit 2; a missing source exit 2; misuse exit 64", async () => {
    const f = files();
    const bad = policyFile(f.dir, "bad.yaml", CURRENT.replace("effect: allow, when: { tool: read }", "efect: allow, when: { tool: read }"));
    const r = await runCli(["replay", bad, f.dir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: error: `));
    const badAgainst = await runCli(["replay", "--against", bad, f.candidate, f.dir]);
    expect(badAgainst.code).toBe(2);
    const missing = await runCli(["replay", f.candidate, join(f.dir, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("nope:1: no such file or directory");
    const notALog = await runCli(["replay", f.candidate, f.dir]);
    expect(notALog.code).toBe(2);
    expect(notALog.err).toContain("not an audit log");
    expect((await runCli(["replay", f.candidate])).code).toBe(64);
    expect((await runCli(["replay", "--bogus", f.candidate, f.dir])).code).toBe(64);
  });

  it("--format json is one JSON document with totals, changes, examples, redacted paths and sources", async () => {
    const log = await logOf([1, 2, 3, 4].map((i) => ({ action: refund("a", i, { card_number: "1" }), at: T0 + i })));
    const f = files();
    const { code, out } = await runCli(["replay", "--format", "json", "--examples", "1", policyFile(f.dir, "c.yaml", CANDIDATE.replace("{ tool: refund, $refunds_per_hour", "{ args.card_number: { exists: true }, tool: refund, $refunds_per_hour")), log]);
    expect(code).toBe(1);
    expect(out.endsWith("}\n") && out.indexOf("\n") === out.length - 1).toBe(true);
    const r = JSON.parse(out) as ReplayResult;
    expect(Object.keys(r).sort()).toEqual(["against", "candidate", "changes", "notes", "redacted", "skipped", "sources", "totals"]);
    expect(r.changes).toEqual([
      {
        from: { decision: "allow", rule: "refund" },
        to: { decision: "deny", rule: "too-many" },
        count: 1,
        inexact: 1,
        examples: [{ source: log, file: expect.stringContaining("audit-"), line: 4, seq: 4, action: '{"tool":"refund","agent":{"id":"a"},"args":{"amount":4,"card_number":"[redacted]"}}', redacted: ["args.card_number"] }],
      },
    ]);
    expect(r.redacted).toEqual({ records: 4, changed: 1, paths: [{ path: "args.card_number", records: 4 }] });
  });

  it("draws a progress bar on a terminal only", async () => {
    const steps: LogStep[] = [];
    for (let i = 0; i < 3; i++) steps.push({ action: refund("a", 10), at: T0 + i });
    const log = await logOf(steps);
    const f = files();
    const run = async (tty: boolean): Promise<string> => {
      const stderr = new PassThrough() as PassThrough & { isTTY?: boolean };
      if (tty) stderr.isTTY = true;
      let err = "";
      stderr.on("data", (d) => (err += d));
      const code = await main(["replay", f.current, log], { stdin: Readable.from([]), stdout: new PassThrough(), stderr });
      expect(code).toBe(0);
      return err;
    };
    const onTty = await run(true);
    expect(onTty).toContain("\r\x1b[K");
    expect(onTty).toMatch(/\] 100%/);
    expect(onTty).toMatch(/3 actions, [\d,]+\/s/);
    expect(onTty.endsWith("\r\x1b[K")).toBe(true); // erased before the report
    expect(await run(false)).toBe("");
  });
});
