// `tollgate hook claude-code --control-plane URL`: the decision, its audit record and the counters
// live in a real `tollgate serve`; the hook only forwards the action and maps the answer. Any
// trouble with the server (refused token, server down) is a deny.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditRecords, startServer, TOKENS } from "../server/helpers.js";
import type { Server } from "../server/helpers.js";
import { policyFile, runHook, tempDir, toolCall } from "./helpers.js";

const POLICY = policyFile(`tollgate: 1
name: served
approvers:
  developer: { timeout: 10m }
counters:
  shell:
    per: [session.id]
    window: 1h
    when: { tool: Bash }
rules:
  - id: shell-limit
    effect: deny
    reason: at most 4 shell commands an hour per session
    when: { tool: Bash, $shell: { gt: 4 } }
  - id: no-rm
    effect: deny
    reason: no recursive delete
    when: { tool: Bash, args.command: { prefix: "rm -rf" } }
  - id: push
    effect: escalate
    approver: developer
    reason: pushes are asked
    when: { tool: Bash, args.command: { prefix: "git push" } }
  - id: shell
    effect: allow
    when: { tool: Bash }
`);

const T = 180_000;
let server: Server;

beforeAll(async () => {
  server = await startServer({ policy: POLICY });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

function decisionOf(r: Awaited<ReturnType<typeof runHook>>): string {
  expect(r.code, r.err).toBe(0);
  return r.answer!.hookSpecificOutput.permissionDecision;
}

describe("tollgate hook claude-code --control-plane", () => {
  it("maps the server's decisions (allow, ask, deny) and the server audits them", async () => {
    const env = { TOLLGATE_TOKEN: TOKENS.agent };
    const hook = (command: string, session: string) => runHook(["claude-code", "--control-plane", server.url], toolCall("Bash", { command }, { session_id: session }), { env });
    const [allow, ask, deny] = await Promise.all([hook("ls", "cp-1"), hook("git push", "cp-2"), hook("rm -rf /", "cp-3")]);
    expect(decisionOf(allow)).toBe("allow");
    expect(decisionOf(ask)).toBe("ask");
    expect(ask.answer!.hookSpecificOutput.permissionDecisionReason).toMatch(/^Tollgate: rule push of policy served asks for approval \(approver: developer\): pushes are asked \[audit seq \d+\]$/);
    expect(decisionOf(deny)).toBe("deny");
    expect(deny.answer!.hookSpecificOutput.permissionDecisionReason).toContain("denied by rule no-rm of policy served: no recursive delete");
    const actions = auditRecords(server.auditDir).map((r) => r.action);
    expect(actions).toContainEqual(expect.objectContaining({ tool: "Bash", args: { command: "git push" }, session: { id: "cp-2" }, context: expect.objectContaining({ hook: "claude-code" }) }));
  }, T);

  it("keeps counters at the server: N concurrent hooks against a limit of 4 allow exactly 4", async () => {
    const tokenFile = join(tempDir("tollgate-hook-token-"), "token");
    writeFileSync(tokenFile, `${TOKENS.agent}\n`);
    const n = 12;
    const runs = await Promise.all(Array.from({ length: n }, () => runHook(["claude-code", "--control-plane", server.url, "--token-file", tokenFile], toolCall("Bash", { command: "ls" }, { session_id: "cp-limit" }))));
    const decisions = runs.map(decisionOf);
    expect(decisions.filter((d) => d === "allow")).toHaveLength(4);
    expect(decisions.filter((d) => d === "deny")).toHaveLength(n - 4);
  }, T);

  it("denies when the server refuses the token, when there is no token, and when the server is down", async () => {
    const call = toolCall("Bash", { command: "ls" });
    const [refused, none] = await Promise.all([
      runHook(["claude-code", "--control-plane", server.url], call, { env: { TOLLGATE_TOKEN: "not-a-token" } }),
      runHook(["claude-code", "--control-plane", server.url], call, { env: { TOLLGATE_TOKEN: undefined } }),
    ]);
    expect(decisionOf(refused)).toBe("deny");
    expect(refused.answer!.hookSpecificOutput.permissionDecisionReason).toContain("the control plane answered 401");
    expect(decisionOf(none)).toBe("deny");
    expect(none.answer!.hookSpecificOutput.permissionDecisionReason).toContain("no token for the control plane");
    const down = await runHook(["claude-code", "--control-plane", "http://127.0.0.1:9"], call, { env: { TOLLGATE_TOKEN: TOKENS.agent } });
    expect(decisionOf(down)).toBe("deny");
    expect(down.answer!.hookSpecificOutput.permissionDecisionReason).toContain("cannot reach the control plane at http://127.0.0.1:9");
  }, T);
});
