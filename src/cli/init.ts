// `tollgate init [--force] [NAME]`: writes a commented starter policy with tests to NAME.yaml (or
// policy.yaml), refusing to replace an existing file unless --force, and prints what it wrote and
// the commands to run next. The starter loads, passes `tollgate test` and `tollgate lint` and is in
// `tollgate fmt` layout (test/cli/init.test.ts). Its first line points editors at the JSON Schema
// (schema/tollgate.schema.json), so that the VS Code YAML extension completes keys and operators.
//
// Its arguments are declared in INIT (src/argv.ts parses them and writes --help).

import { existsSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { replaceFile } from "../audit/fsutil.js";
import type { CommandSpec } from "../argv.js";
import { EXIT_FAILED, EXIT_OK, write, type CommandIo } from "./io.js";
import { parseOrUsage } from "./usage.js";

/** The schema file of the running package (schema/ beside src/ or build/dist/src/). */
function schemaFile(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "schema", "tollgate.schema.json");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return null;
}

/** How the policy file at `file` names the schema: a path relative to it (as the YAML extension reads it). */
export function schemaReference(file: string): string {
  const schema = schemaFile();
  if (schema === null) return "node_modules/tollgate/schema/tollgate.schema.json";
  const from = dirname(resolve(file));
  const rel = relative(from, schema).split(sep).join("/");
  // Sharing no folder but the root (an npx cache, a global install): an absolute file URL.
  if (rel.split("/").filter((s) => s === "..").length >= from.split(sep).filter(Boolean).length) return pathToFileURL(schema).href;
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/** A policy name (1-128 of A-Za-z0-9._-) made from a file name. */
function policyName(file: string): string {
  const base = basename(file).replace(/\.ya?ml$/i, "").replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 128);
  return base === "" || base === "policy" ? "my-agent" : base;
}

/** The starter policy written to `file`. */
export function starterPolicy(file: string): string {
  return `# yaml-language-server: $schema=${schemaReference(file)}
#
# A starter Tollgate policy, written by \`tollgate init\`. Edit it, then:
#   tollgate test ${file}          runs the tests at the end of this file
#   tollgate lint ${file}          finds rules that can never decide, unused declarations...
#   tollgate eval ${file} < actions.jsonl   decides one JSON action per line
# An action is JSON such as {"tool": "payments.refund", "args": {"amount": 120}, "agent": {"id": "bot-1"}}.
tollgate: 1 # the policy language version
name: ${policyName(file)}
description: Starter policy for an agent that queries a database and issues refunds
default: deny # when no rule applies: deny (fail closed)

# Who decides an escalation, and how long they have.
approvers:
  oncall:
    timeout: 15m
    on_timeout: deny # nobody answered in time: the action is refused

audit:
  redact: [ args.password ] # audit records keep "[redacted]", never this field's value

# Windowed sums over earlier decisions, read in rules as $name.
counters:
  refunds_per_hour:
    per: [ agent.id ] # one count per agent
    window: 1h
    when: { tool: payments.refund }

# Every rule is considered: a deny that applies wins, then an escalate, then an allow.
# A deny or escalate rule that reads a missing field applies too (fail closed).
rules:
  - id: no-destructive-sql
    effect: deny
    reason: Destructive SQL is never allowed
    when:
      tool: db.query
      args.sql: { matches: "(?i)\\\\b(drop|truncate|delete)\\\\b" }

  - id: refund-rate
    effect: deny
    reason: More than 5 refunds an hour
    when: { tool: payments.refund, $refunds_per_hour: { gt: 5 } } # this would be the 6th

  - id: large-refund
    effect: escalate # a human decides: the approver declared above
    approver: oncall
    reason: Refunds over 500 need a human
    when: { tool: payments.refund, args.amount: { gt: 500 } }

  - id: database-reads
    effect: allow
    when: { tool: db.query }

  - id: small-refunds
    effect: allow
    when: { tool: payments.refund, args.amount: { lte: 500 } }

# \`tollgate test\` runs these: each action must get the decision (and rule) expected.
tests:
  - name: a query is allowed
    action: { tool: db.query, args: { sql: SELECT * FROM orders, password: hunter2 } }
    expect: allow
    rule: database-reads
  - name: destructive SQL is denied
    action: { tool: db.query, args: { sql: DROP TABLE orders } }
    expect: deny
    rule: no-destructive-sql
  - name: a small refund is allowed
    action: { tool: payments.refund, agent: { id: bot-1 }, args: { amount: 40 } }
    expect: allow
    rule: small-refunds
  - name: a large refund escalates
    action: { tool: payments.refund, agent: { id: bot-1 }, args: { amount: 900 } }
    expect: escalate
    rule: large-refund
  - name: any other tool is denied by default
    action: { tool: shell.exec, args: { cmd: ls } }
    expect: deny
    rule: null
  - name: the sixth refund in an hour is denied
    # A sequence: its steps share the counters.
    steps:
      - { at: 0m, action: &refund { tool: payments.refund, agent: { id: bot-1 }, args: { amount: 10 } }, expect: allow }
      - { at: 1m, action: *refund, expect: allow }
      - { at: 2m, action: *refund, expect: allow }
      - { at: 3m, action: *refund, expect: allow }
      - { at: 4m, action: *refund, expect: allow }
      - { at: 5m, action: *refund, expect: deny, rule: refund-rate }
      - { at: 65m, action: *refund, expect: allow } # the first five are out of the window
`;
}

export const INIT = {
  name: "init",
  summary: "Write a commented starter policy with tests to NAME.yaml (or policy.yaml), with its first line pointing editors at the JSON Schema; then run tollgate test and tollgate eval on it.",
  args: "[NAME]",
  options: { force: { type: "boolean", description: "replace the file if it exists" } },
  examples: ["tollgate init", "tollgate init billing-agent"],
} as const satisfies CommandSpec;

export async function initCommand(args: string[], io: CommandIo): Promise<number> {
  const parsed = await parseOrUsage(INIT, args, io);
  if (typeof parsed === "number") return parsed;
  const opts = { force: parsed.values.force === true, name: parsed.positionals[0] };
  const file = opts.name === undefined ? "policy.yaml" : /\.ya?ml$/i.test(opts.name) ? opts.name : `${opts.name}.yaml`;
  if (existsSync(file) && !opts.force) {
    await write(io.stderr, `tollgate init: ${file} exists; not replaced (--force replaces it)\n`);
    return EXIT_FAILED;
  }
  if (!existsSync(dirname(resolve(file)))) {
    await write(io.stderr, `tollgate init: ${dirname(file)}: no such directory\n`);
    return EXIT_FAILED;
  }
  await replaceFile(file, starterPolicy(file));
  await write(
    io.stdout,
    `wrote ${file}: a starter policy (5 rules, 6 tests) with an approver, a redacted field and a counter\n` +
      `next:\n` +
      `  tollgate test ${file}\n` +
      `  echo '{"tool": "payments.refund", "agent": {"id": "bot-1"}, "args": {"amount": 900}}' | tollgate eval ${file}\n`,
  );
  return EXIT_OK;
}
