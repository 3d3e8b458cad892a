// The tool index (assembly/compile/tool-index.ts) finds a rule by the action's tool name and then
// skips the rule's `tool` test that the lookup proves TRUE (`tool: x`, `tool: [x, y]`,
// `tool: {prefix: p}`): never one it does not prove (a glob's literal prefix, a test of several
// operators, a nested condition). Decisions must equal the reference interpreter's on every
// shape, for string tools found by name or prefix, unknown names and non-string tools.

import { describe, expect, it } from "vitest";
import { Policy } from "../src/index.js";
import { ReferencePolicy } from "./support/reference/index.js";

const MANIFEST = {
  tollgate: 1,
  name: "tool-index",
  default: "deny",
  approvers: { ops: { timeout: "5m" } },
  rules: [
    { id: "exact", effect: "allow", when: { tool: "pay.get", "args.n": { lte: 10 } } },
    { id: "list", effect: "deny", reason: "r", when: { tool: ["pay.get", "pay.put"], "args.n": { gt: 100 } } },
    { id: "prefix", effect: "escalate", approver: "ops", reason: "r", when: { tool: { prefix: "pay." }, "args.n": { gt: 50 } } },
    // A glob is found by its literal prefix ("pay"); the glob itself must still be tested.
    { id: "glob", effect: "allow", when: { tool: { glob: "pay*.ok" }, "args.n": { gte: 0 } } },
    // Two operators on the tool: the index keys by the prefix, the `ne` must still be tested.
    { id: "two-ops", effect: "deny", reason: "r", when: { tool: { prefix: "fs.", ne: "fs.read" }, "args.n": { gt: 1 } } },
    // The tool test inside a combinator: not a top-level conjunct.
    { id: "nested", effect: "allow", when: { all: [{ tool: "db.q" }, { "args.n": { lt: 5 } }] } },
    // A group whose `when` carries the tool, a rule that adds the rest.
    { group: "g", when: { tool: { prefix: "net." } }, rules: [{ id: "grouped", effect: "deny", reason: "r", when: { tool: "net.get", "args.url": { contains: "evil" } } }] },
    // The same tool tested twice (own and group's): one is skipped, the other kept.
    { group: "h", when: { tool: "sh.run" }, rules: [{ id: "twice", effect: "allow", when: { tool: "sh.run", "args.n": { exists: true } } }] },
    // Groups' `tool` tests the lookup also proves (every name of the rule passes them) or does
    // not (a name outside the group's prefix; a prefix under a longer one; a glob's prefix).
    { group: "k", when: { tool: { prefix: "kv." } }, rules: [
      { group: "k2", when: { tool: { prefix: "kv.put" } }, rules: [
        { id: "kv-put", effect: "deny", reason: "r", when: { tool: ["kv.put", "kv.putx"], "args.n": { gt: 3 } } },
        { id: "kv-outside", effect: "deny", reason: "r", when: { tool: ["kv.putmany", "kv.get"], "args.n": { gt: 1 } } },
        { id: "kv-prefix", effect: "escalate", approver: "ops", reason: "r", when: { tool: { prefix: "kv.putm" }, "args.n": { lt: 0 } } },
        { id: "kv-glob", effect: "allow", when: { tool: { glob: "kv.put*y" } } },
      ] },
      { id: "kv-in-group", effect: "allow", when: { tool: { in: ["kv.get", "other"] }, "args.n": { eq: 2 } } },
      { id: "kv-eq-outside", effect: "allow", when: { tool: "other" } },
    ] },
    // An exact key whose other test is UNKNOWN for actions without args.n.
    { id: "unknown", effect: "deny", reason: "r", when: { tool: "unk.x", "args.n": { gt: 0 } } },
  ],
};

const TOOLS: unknown[] = ["kv.put", "kv.putx", "kv.putmany", "kv.putmy", "kv.puty", "kv.get", "kv.", "kv.pu", "pay.get", "pay.put", "pay.x", "payx.ok", "pay.ok", "pay", "fs.read", "fs.write", "fs", "db.q", "db.r", "net.get", "net.put", "sh.run", "unk.x", "other", "", 7, null, true, ["pay.get"], undefined];
const ARGS: unknown[] = [undefined, {}, { n: -1 }, { n: 2 }, { n: 0 }, { n: 3 }, { n: 10 }, { n: 60 }, { n: 200 }, { n: "x" }, { url: "http://evil" }, { n: 2, url: "evil" }];

describe("tool index: skipping the tool test the lookup proves", () => {
  it("decides every tool and argument shape as the reference interpreter does", () => {
    const core = Policy.fromObject(MANIFEST);
    const ref = new ReferencePolicy(MANIFEST as never);
    let n = 0;
    for (const tool of TOOLS) {
      for (const args of ARGS) {
        const action: Record<string, unknown> = {};
        if (tool !== undefined) action.tool = tool;
        if (args !== undefined) action.args = args;
        const a = core.evaluate(action);
        const b = ref.evaluate(action);
        expect({ decision: a.decision, rule: a.rule, undetermined: a.undetermined }, JSON.stringify(action)).toEqual({ decision: b.decision, rule: b.rule, undetermined: b.undetermined });
        n++;
      }
    }
    expect(n).toBe(TOOLS.length * ARGS.length);
  });

  it("still tests a glob and a second operator that the lookup does not prove", () => {
    const p = Policy.fromObject(MANIFEST);
    expect(p.evaluate({ tool: "pay.x", args: { n: 1 } }).rule).toBeNull(); // "pay*.ok" does not match
    expect(p.evaluate({ tool: "payx.ok", args: { n: 1 } }).rule).toBe("glob");
    expect(p.evaluate({ tool: "fs.read", args: { n: 5 } }).rule).toBeNull(); // ne fs.read
    expect(p.evaluate({ tool: "fs.write", args: { n: 5 } }).rule).toBe("two-ops");
    expect(p.evaluate({ tool: "unk.x" })).toMatchObject({ decision: "deny", rule: "unknown", undetermined: true });
  });

  it("explains the skipped test as evaluated (explain traces every test)", () => {
    const p = Policy.fromObject(MANIFEST);
    const e = p.explain({ tool: "pay.get", args: { n: 3 } });
    expect(e.decision.rule).toBe("exact");
    expect(JSON.stringify(e)).toContain("pay.get");
  });
});
