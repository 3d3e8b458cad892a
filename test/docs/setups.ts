// The named setups a doc sample can ask for with `<!-- sample: setup=NAME -->`: what the sample
// takes as given (an `action`, a file it reads) and the prose around it describes. Keep them
// small: a sample should be complete where it can be.

import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Setup {
  /** Writes files into the sample's directory (which already holds a copy of examples/). */
  files?(dir: string, root: string): void;
  /** Definitions run before a TypeScript/JavaScript sample (an ES module). */
  ts?: string;
  /** Definitions run before a Python sample, in its namespace. */
  python?: string;
  /** Makes a YAML policy fragment a whole policy. */
  wrapYaml?(text: string): string;
  /** An ES module run in the sample's directory before the sample (after `files`). */
  script?: string;
  /** Text replaced in the sample before it runs: paths of a real deployment made local. (A
   *  script may also write setup-replace.json: pairs known only once it ran, such as ids.) */
  replace?: [string, string][];
}

/**
 * A script for the approvals CLI samples: a gate on `dir` escalates `n` refunds and closes
 * (nothing holds the log then, as when no gate runs), and setup-replace.json turns the sample's
 * placeholder ids (`ids[i]`, matched with the spaces around them) into the real ones.
 */
function escalations(dir: string, placeholders: [string, number][]): string {
  return `import { writeFileSync } from "node:fs";
import { Gate } from "tollgate";
const gate = await Gate.open({ policy: "examples/billing-agent.yaml", auditDir: ${JSON.stringify(dir)} });
const ids = [];
for (let i = 0; i < 2; i++) {
  const d = await gate.check({ ...${JSON.stringify(LARGE_REFUND)}, agent: { id: "bot-" + i } });
  if (d.decision !== "escalate") throw new Error("expected an escalation, got " + JSON.stringify(d));
  ids.push(d.approval_id);
}
await gate.close();
const placeholders = ${JSON.stringify(placeholders)};
writeFileSync("setup-replace.json", JSON.stringify(placeholders.map(([p, i]) => [" " + p + " ", " " + ids[i].slice(0, Math.max(8, p.length)) + " "])));
`;
}

/** A refund the billing example allows: small, on a known order, in EUR, from an agent. */
const SMALL_REFUND = { tool: "payments.refund", agent: { id: "bot-1" }, args: { order_id: "ord_8f3k2m9q", amount: 40, currency: "EUR" } };
/** One it escalates to finance on-call. */
const LARGE_REFUND = { tool: "payments.refund", agent: { id: "bot-1" }, args: { order_id: "ord_8f3k2m9q", amount: 350, currency: "USD" } };

/** The complete lines of examples/actions.jsonl (its last line is truncated on purpose). */
const EXAMPLE_ACTIONS_TS = `const actions = (await import("node:fs")).readFileSync("examples/actions.jsonl", "utf8").split("\\n")
  .flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });\n`;
const EXAMPLE_ACTIONS_PY = `import json as __json
def __lines():
    for __l in open("examples/actions.jsonl", encoding="utf-8"):
        try:
            yield __json.loads(__l)
        except ValueError:
            pass
actions = list(__lines())
`;

export const SETUPS: Record<string, Setup> = {
  /** `action` (a small refund), `actions` (examples/actions.jsonl), `text` (a policy's YAML). */
  billing: {
    ts:
      `const action = ${JSON.stringify(SMALL_REFUND)};\n` +
      EXAMPLE_ACTIONS_TS +
      `const text = (await import("node:fs")).readFileSync("examples/billing-agent.yaml", "utf8");\n`,
    python: `action = ${JSON.stringify(SMALL_REFUND)}\n` + EXAMPLE_ACTIONS_PY,
  },
  /** For the gate samples: `action` (allowed), `order`, `refund(order)` and `run(action)`. */
  gate: {
    ts:
      `const action = ${JSON.stringify(SMALL_REFUND)};\n` +
      `const order = action.args.order_id;\n` +
      `const refund = async (order) => ({ refunded: order });\n` +
      `const run = async (action) => ({ ran: action.tool });\n`,
    python: `action = ${JSON.stringify(SMALL_REFUND)}\n`,
  },
  /** An open `gate` on the billing example, `action` (escalates) and `run(action)`. */
  "gate-escalation": {
    ts:
      `const { Gate: __Gate } = await import("tollgate");\n` +
      `const gate = await __Gate.open({ policy: "examples/billing-agent.yaml", auditDir: "./audit" });\n` +
      `const action = ${JSON.stringify(LARGE_REFUND)};\n` +
      `const run = async (action) => ({ ran: action.tool });\n`,
  },
  /** `candidate.yaml`: the billing example with its small-refund threshold lowered from 200 to 40. */
  "replay-candidate": {
    files(dir) {
      const text = readFileSync(join(dir, "examples/billing-agent.yaml"), "utf8");
      const lowered = text.replace("args.amount: { gt: 0, lte: 200 }", "args.amount: { gt: 0, lte: 40 }").replace("args.amount: { gt: 200 } }", "args.amount: { gt: 40 } }");
      if (lowered === text || lowered.split("40 }").length !== 3) throw new Error("replay-candidate: the billing example's thresholds moved; update test/docs/setups.ts");
      writeFileSync(join(dir, "candidate.yaml"), lowered);
    },
  },
  /**
   * `./audit`: an audit log of 45 records (the billing example's gate), its witness in
   * `/mnt/other/` (here `other/`) and a copy of its public key in `~/keys/audit.pub`.
   */
  /** Two pending approvals in ./audit (the README's approvals CLI: ids 1df6 and 1df6d420). */
  "pending-approvals": { script: escalations("./audit", [["1df6d420", 1], ["1df6", 0]]) },
  /** Two pending approvals of the MCP gateway's log in ~/.local/state/tollgate/mcp/fs/audit ($HOME is the sample's directory). */
  "mcp-approvals": { script: escalations(".local/state/tollgate/mcp/fs/audit", [["ID", 0]]) },
  "audit-log": {
    files(dir) {
      mkdirSync(join(dir, "other"));
    },
    script: `import { copyFileSync, mkdirSync } from "node:fs";
import { Gate } from "tollgate";
const gate = await Gate.open({ policy: "examples/billing-agent.yaml", auditDir: "./audit", audit: { witness: "other/tollgate-checkpoint.json" } });
for (let i = 0; i < 45; i++) await gate.check({ tool: "payments.get_invoice", agent: { id: "bot-1" }, args: { invoice: i } });
await gate.close();
mkdirSync("keys");
copyFileSync("audit/audit.pub", "keys/audit.pub");
`,
    replace: [["/mnt/other/", "other/"]],
  },
  /** `action` (a small refund) and an empty directory `other/` for the witness kept in `/mnt/other/`. */
  "witness-dir": {
    python: `action = ${JSON.stringify(SMALL_REFUND)}\n`,
    files(dir) {
      mkdirSync(join(dir, "other"));
    },
    replace: [["/mnt/other/", "other/"]],
  },
  /** `policies/billing.yaml` with a typo (`efect`) on line 14. */
  "typo-policy": {
    files(dir) {
      mkdirSync(join(dir, "policies"));
      writeFileSync(
        join(dir, "policies/billing.yaml"),
        [
          "tollgate: 1",
          "name: billing",
          "default: deny",
          "approvers:",
          "  finance-oncall: { timeout: 15m, on_timeout: deny }",
          "rules:",
          "  - group: payments",
          "    when: { tool: { prefix: payments. } }",
          "    rules:",
          "      - id: small-refund",
          "        effect: allow",
          "        when: { tool: payments.refund, args.amount: { lte: 200 } }",
          "      - id: large-refund",
          "        efect: escalate",
          "        approver: finance-oncall",
          "        when: { tool: payments.refund, args.amount: { gt: 200 } }",
          "",
        ].join("\n"),
      );
    },
  },
  /** A project with `.claude/tollgate.yaml` (the coding-agent example), as docs/hooks.md sets up. */
  "claude-project": {
    files(dir) {
      mkdirSync(join(dir, ".claude"));
      copyFileSync(join(dir, "examples/coding-agent.yaml"), join(dir, ".claude/tollgate.yaml"));
    },
    replace: [["/tmp/tollgate-try", "tollgate-try"]], // a first try: a new audit log
  },
  /** A rule of a policy, as it sits under `rules:` (indented two spaces), with an approver `me`. */
  "rule-fragment": {
    wrapYaml: (text) => "tollgate: 1\nname: fragment\ndefault: deny\napprovers:\n  me: { timeout: 10m }\nrules:\n" + text,
  },
  /** Counters, rules and tests of a policy: the header (allow by default, approver finance-oncall). */
  "counters-fragment": {
    wrapYaml: (text) => "tollgate: 1\nname: fragment\ndefault: allow\napprovers:\n  finance-oncall: { timeout: 15m }\n" + text,
  },
};
