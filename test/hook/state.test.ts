// Audit and counters across hook invocations: every tool call is a new process, and Claude Code
// may run several at once. The audit log records each decision durably and verifies; its records
// keep the counters (the snapshot beside it only saves reading them back); concurrent hooks take
// turns, so N at once against a limit of K allow exactly K.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CountedSeal } from "../../src/audit/counted-seal.js";
import { verifyLog } from "../../src/audit/verify.js";
import { auditRecords } from "../server/helpers.js";
import { policyFile, runHook, tempDir, toolCall } from "./helpers.js";

const LIMITED = policyFile(`tollgate: 1
name: limited
approvers:
  developer: { timeout: 10m, on_timeout: allow }
audit:
  redact: [args.content]
counters:
  shell:
    per: [session.id]
    window: 1h
    when: { tool: Bash }
rules:
  - id: shell-limit
    effect: deny
    reason: at most 5 shell commands an hour per session
    when: { tool: Bash, $shell: { gt: 5 } }
  - id: push
    effect: escalate
    approver: developer
    reason: pushes are asked
    when: { tool: Bash, args.command: { prefix: "git push" } }
  - id: shell
    effect: allow
    when: { tool: Bash }
  - id: write
    effect: allow
    when: { tool: Write }
`);

const T = 180_000;

function decisionOf(r: Awaited<ReturnType<typeof runHook>>): string {
  expect(r.code, r.err).toBe(0);
  return r.answer!.hookSpecificOutput.permissionDecision;
}

function auditDir(): string {
  return join(tempDir("tollgate-hook-audit-"), "audit");
}

describe("tollgate hook claude-code --audit", () => {
  it("records every decision (redacted) in a log that verifies, and names the record in the reason", async () => {
    const dir = auditDir();
    const hook = (tool: string, input: Record<string, unknown>) => runHook(["claude-code", "--policy", LIMITED, "--audit", dir], toolCall(tool, input));
    const answers = [];
    answers.push(await hook("Bash", { command: "ls" }));
    answers.push(await hook("Write", { file_path: "/tmp/a.txt", content: "SECRET=1" }));
    answers.push(await hook("Bash", { command: "git push" }));
    expect(answers.map(decisionOf)).toEqual(["allow", "allow", "ask"]);
    expect(answers.map((a) => a.answer!.hookSpecificOutput.permissionDecisionReason.match(/\[audit seq (\d+)\]$/)?.[1])).toEqual(["1", "2", "3"]);
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 3 });
    const records = auditRecords(dir);
    expect(records.map((r) => r.decision.decision)).toEqual(["allow", "allow", "escalate"]);
    expect(records[0]!.action).toEqual({
      tool: "Bash",
      args: { command: "ls" },
      agent: { id: "claude-code" },
      session: { id: "sess-1" },
      context: { hook: "claude-code", cwd: "/tmp", tool_use_id: "toolu_01", permission_mode: "default", project_dir: "/tmp" },
    });
    expect(records[1]!.action.args).toEqual({ file_path: "/tmp/a.txt", content: "[redacted]" });
    expect(readFileSync(join(dir, records.length > 0 ? "audit-00000000000000000001.jsonl" : ""), "utf8")).not.toContain("SECRET=1");
  }, T);

  it("keeps counters across invocations, per session, and rebuilds them from the log without the snapshot", async () => {
    const dir = auditDir();
    const hook = (session: string) => runHook(["claude-code", "--policy", LIMITED, "--audit", dir], toolCall("Bash", { command: "ls" }, { session_id: session }));
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(decisionOf(await hook("a")));
    expect(seen).toEqual(["allow", "allow", "allow", "allow", "allow", "deny"]);
    expect(decisionOf(await hook("b"))).toBe("allow"); // another session, another key
    expect(existsSync(join(dir, "hook-state.json"))).toBe(true);

    // The snapshot is only a shortcut: gone, stale or damaged, the log says the same.
    const { rmSync } = await import("node:fs");
    rmSync(join(dir, "hook-state.json"));
    expect(decisionOf(await hook("a"))).toBe("deny");
    // Sealed with the log's key: opened with it, it holds the store's operations.
    const seal = await CountedSeal.load(dir);
    const sealed = JSON.parse(readFileSync(join(dir, "hook-state.json"), "utf8")) as { sealed: string };
    const snap = seal.open(sealed) as { seq: number; ops: unknown[] };
    expect(snap.ops).toHaveLength(6); // 5 allows of a, 1 of b; refusals spend nothing
    // Emptied (sealed again with the right key, but stale) or emptied in the clear (not sealed):
    // the log says the same.
    writeFileSync(join(dir, "hook-state.json"), JSON.stringify(seal.seal({ ...snap, seq: snap.seq - 1, ops: [] })));
    expect(decisionOf(await hook("a"))).toBe("deny");
    const now = seal.open(JSON.parse(readFileSync(join(dir, "hook-state.json"), "utf8"))) as { seq: number; ops: unknown[] };
    writeFileSync(join(dir, "hook-state.json"), JSON.stringify({ ...now, ops: [] }));
    expect(decisionOf(await hook("a"))).toBe("deny");
    // An edited byte of the sealed text: it does not open, and the log says the same.
    const raw = Buffer.from((JSON.parse(readFileSync(join(dir, "hook-state.json"), "utf8")) as { sealed: string }).sealed, "base64");
    raw[20]! ^= 1;
    writeFileSync(join(dir, "hook-state.json"), JSON.stringify({ sealed: raw.toString("base64") }));
    expect(decisionOf(await hook("a"))).toBe("deny");
    writeFileSync(join(dir, "hook-state.json"), "{not json");
    expect(decisionOf(await hook("b"))).toBe("allow");
    const records = auditRecords(dir);
    expect(records.map((r) => r.decision.decision)).toEqual(["allow", "allow", "allow", "allow", "allow", "deny", "allow", "deny", "deny", "deny", "deny", "allow"]);
    expect(records[5]!.decision).toMatchObject({ rule: "shell-limit", counters: { shell: 6 } });
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 12 });
  }, T);

  it("a counter keyed by a redacted field: sealed in the records and the snapshot, counted all the same", async () => {
    const dir = auditDir();
    const secretSession = "sess-SECRET-7f3a";
    const policy = policyFile(readFileSync(LIMITED, "utf8").replace("redact: [args.content]", "redact: [args.content, session.id]"));
    const hook = () => runHook(["claude-code", "--policy", policy, "--audit", dir], toolCall("Bash", { command: "ls" }, { session_id: secretSession }));
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(decisionOf(await hook()));
    const { rmSync } = await import("node:fs");
    rmSync(join(dir, "hook-state.json")); // rebuilt from the log's sealed keys
    for (let i = 0; i < 2; i++) seen.push(decisionOf(await hook()));
    expect(seen).toEqual(["allow", "allow", "allow", "allow", "allow", "deny"]);
    for (const f of ["audit-00000000000000000001.jsonl", "hook-state.json"]) expect(readFileSync(join(dir, f), "utf8")).not.toContain(secretSession);
    const records = auditRecords(dir);
    expect((records[0]!.decision as unknown as { counted: { add: unknown[][] } }).counted.add[0]![2]).toEqual({ sealed: expect.any(String) });
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: 6 });
  }, T);

  it("counts an asked (escalated) action as pending, as the gate does", async () => {
    const dir = auditDir();
    const hook = (command: string) => runHook(["claude-code", "--policy", LIMITED, "--audit", dir], toolCall("Bash", { command }));
    const seen: string[] = [];
    for (const c of ["git push", "git push", "ls", "ls", "ls", "ls"]) seen.push(decisionOf(await hook(c)));
    expect(seen).toEqual(["ask", "ask", "allow", "allow", "allow", "deny"]);
  }, T);

  it("denies when the audit log cannot be written (fail closed)", async () => {
    const file = join(tempDir("tollgate-hook-audit-"), "a-file");
    writeFileSync(file, "not a directory");
    const r = await runHook(["claude-code", "--policy", LIMITED, "--audit", file], toolCall("Bash", { command: "ls" }));
    expect(decisionOf(r)).toBe("deny");
    expect(r.answer!.hookSpecificOutput.permissionDecisionReason).toMatch(/fail closed/);
  }, T);

  it("denies when the audit log does not verify (an edited record), and writes nothing", async () => {
    const dir = auditDir();
    const hook = () => runHook(["claude-code", "--policy", LIMITED, "--audit", dir], toolCall("Bash", { command: "ls" }));
    expect(decisionOf(await hook())).toBe("allow");
    const seg = join(dir, "audit-00000000000000000001.jsonl");
    writeFileSync(seg, readFileSync(seg, "utf8").replace('"command":"ls"', '"command":"la"'));
    const r = await hook();
    expect(decisionOf(r)).toBe("deny");
    expect(auditRecords(dir)).toHaveLength(1);
  }, T);

  it("N concurrent hook processes against a limit of 5 allow exactly 5, and the log verifies", async () => {
    const dir = auditDir();
    const n = 16;
    const runs = await Promise.all(Array.from({ length: n }, () => runHook(["claude-code", "--policy", LIMITED, "--audit", dir], toolCall("Bash", { command: "ls" }))));
    const decisions = runs.map(decisionOf);
    expect(decisions.filter((d) => d === "allow")).toHaveLength(5);
    expect(decisions.filter((d) => d === "deny")).toHaveLength(n - 5);
    for (const r of runs.filter((x) => x.answer!.hookSpecificOutput.permissionDecision === "deny")) {
      expect(r.answer!.hookSpecificOutput.permissionDecisionReason).toContain("rule shell-limit");
    }
    expect(await verifyLog(dir)).toMatchObject({ ok: true, records: n });
    const counted = auditRecords(dir).map((r) => (r.decision as { counters?: { shell: number } }).counters?.shell);
    expect(counted).toEqual([1, 2, 3, 4, 5, ...Array.from({ length: n - 5 }, () => 6)]);
  }, T);
});
