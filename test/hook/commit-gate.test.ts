// The hook's timeout and its record (src/hook/run.ts, audited.ts): once the hook has answered (or
// is about to) deny for a call that took too long, its decision is not appended — no record may say
// allow for a call the agent was refused. The timeout itself always answers: past it Claude Code
// would let the tool run.

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decideAudited } from "../../src/hook/audited.js";
import { Policy } from "../../src/policy.js";
import { auditRecords } from "../server/helpers.js";
import { tempDir } from "./helpers.js";

const POLICY = Policy.fromYaml("tollgate: 1\nname: all\ndefault: allow\nrules: []\n");

describe("the hook's commit gate", () => {
  it("answered already (timed out): the decision is not recorded, and the call fails (a deny)", async () => {
    const dir = join(tempDir("tollgate-gate-"), "audit");
    await expect(decideAudited(POLICY, { tool: "Bash" }, dir, Date.now() + 10_000, { begin: () => false })).rejects.toThrow(/nothing was recorded/);
    expect(auditRecords(dir)).toHaveLength(0);
  });

  it("not answered: recorded, and the gate was asked exactly once, right before the append", async () => {
    const dir = join(tempDir("tollgate-gate-"), "audit");
    let asked = 0;
    const d = await decideAudited(POLICY, { tool: "Bash" }, dir, Date.now() + 10_000, { begin: () => ++asked > 0 });
    expect(d.decision).toBe("allow");
    expect(asked).toBe(1);
    expect(auditRecords(dir)).toHaveLength(1);
  });
});
