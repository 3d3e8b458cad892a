// `tollgate fmt [--check] POLICY.yaml...`: rewrites each policy in canonical layout (src/fmt/layout.ts:
// keys in spec order, two-space indentation, comments kept). A policy that does not load is
// reported with its errors (as `check` prints them) and left alone: exit 2. The formatted text must
// load to the same policy (the same hash: the canonical JSON of the manifest) or the file is not
// written. Writes are atomic (a temporary file beside it, then rename). With --check nothing is
// written: the files that are not formatted are listed, one per line, and the exit is 1.
//
// Its arguments are declared in FMT (src/argv.ts parses them and writes --help).

import { readPolicyFile } from "../policy-text.js";
import { statSync } from "node:fs";
import { replaceFile } from "../audit/fsutil.js";
import { formatPolicyText } from "../fmt/layout.js";
import { Policy } from "../policy.js";
import { PolicyError } from "../errors.js";
import type { CommandSpec } from "../argv.js";
import { EXIT_FAILED, EXIT_OK, EXIT_POLICY_ERROR, write, type CommandIo } from "./io.js";
import { parseOrUsage } from "./usage.js";

/** The policy in `text`, or its errors. */
function load(text: string, file: string): Policy | PolicyError {
  try {
    return Policy.fromYaml(text, { filename: file });
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
}

export const FMT = {
  name: "fmt",
  summary: "Rewrite policies in canonical layout: keys in the spec's order, two-space indentation; comments, quoting and the order of rules, tests and conditions kept. Exit 0 formatted (or already), 1 --check found unformatted files, 2 a policy does not load.",
  args: "POLICY.yaml...",
  options: { check: { type: "boolean", description: "write nothing; list the files that are not formatted and exit 1" } },
  examples: ["tollgate fmt policy.yaml", "tollgate fmt --check policies/*.yaml"],
} as const satisfies CommandSpec;

export async function fmtCommand(args: string[], io: CommandIo): Promise<number> {
  const parsed = await parseOrUsage(FMT, args, io);
  if (typeof parsed === "number") return parsed;
  const opts = { check: parsed.values.check === true, files: parsed.positionals };
  let invalid = false;
  const unformatted: string[] = [];
  for (const file of opts.files) {
    let text: string;
    try {
      text = readPolicyFile(file); // never rewrites a file it cannot read exactly
    } catch (err) {
      // readPolicyFile reports as `tollgate check` does (Policy.fromFile reads through it).
      await write(io.stderr, (err instanceof PolicyError ? err.format() : `${file}: ${(err as Error).message}`) + "\n");
      invalid = true;
      continue;
    }
    const original = load(text, file);
    if (original instanceof PolicyError) {
      await write(io.stderr, original.format() + "\n");
      invalid = true;
      continue;
    }
    const formatted = formatPolicyText(text);
    if (formatted === text) continue;
    const after = load(formatted, file);
    if (after instanceof PolicyError || after.hash !== original.hash) {
      // Never write a file whose meaning would change (e.g. an alias moved before its anchor).
      const why = after instanceof PolicyError ? `the formatted text does not load:\n${after.format()}` : "the formatted text is a different policy";
      await write(io.stderr, `tollgate fmt: ${file}: not formatted: ${why}\n`);
      invalid = true;
      continue;
    }
    if (opts.check) {
      unformatted.push(file);
      continue;
    }
    await replaceFile(file, formatted, statSync(file).mode & 0o777);
    await write(io.stdout, `formatted ${file}\n`);
  }
  if (opts.check && unformatted.length > 0) {
    await write(io.stdout, unformatted.map((f) => `${f}\n`).join(""));
    await write(io.stderr, `${unformatted.length} ${unformatted.length === 1 ? "file is" : "files are"} not formatted: run tollgate fmt ${unformatted.join(" ")}\n`);
  }
  return invalid ? EXIT_POLICY_ERROR : unformatted.length > 0 ? EXIT_FAILED : EXIT_OK;
}
