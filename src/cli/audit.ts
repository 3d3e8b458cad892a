// `tollgate audit verify DIR [--public-key FILE]`, `tollgate audit tail DIR [-n N]`,
// `tollgate audit show DIR --seq N`: checking and reading an audit log (docs/audit.md).

import { readFile } from "node:fs/promises";
import { findRecord, tailLines } from "../audit/read.js";
import { verifyLog } from "../audit/verify.js";
import type { VerifyOptions } from "../audit/verify.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, write } from "./io.js";
import type { CommandIo } from "./main.js";

export const AUDIT_USAGE = "tollgate audit verify DIR [--public-key FILE] | tail DIR [-n N] | show DIR --seq N";

/** Parses `DIR [--flag VALUE]` with the one flag a subcommand allows; null on a usage error. */
function parse(args: string[], flag: string | null, alias?: string): { dir: string; value: string | undefined } | null {
  let dir: string | undefined;
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (flag !== null && (a === flag || a === alias)) {
      if (value !== undefined || i + 1 >= args.length) return null;
      value = args[++i];
    } else if (flag !== null && a.startsWith(`${flag}=`)) {
      if (value !== undefined) return null;
      value = a.slice(flag.length + 1);
    } else if (dir === undefined && !a.startsWith("-")) {
      dir = a;
    } else {
      return null;
    }
  }
  return dir === undefined ? null : { dir, value };
}

function count(text: string | undefined): number | null {
  if (text === undefined || !/^\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

export async function auditCommand(args: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  const usage = async () => {
    await write(io.stderr, `usage: ${AUDIT_USAGE}\n`);
    return EXIT_USAGE;
  };
  if (sub === "verify") {
    const p = parse(rest, "--public-key");
    if (!p) return usage();
    const options: VerifyOptions = {};
    if (p.value !== undefined) {
      try {
        options.publicKey = await readFile(p.value, "utf8");
      } catch (err) {
        await write(io.stderr, `${p.value}:1: error: cannot read the public key: ${(err as Error).message}\n`);
        return EXIT_FAILED;
      }
    }
    const r = await verifyLog(p.dir, options);
    if (!r.ok) {
      await write(io.stderr, `${r.file}:${r.line}: error: ${r.message}\n`);
      return EXIT_FAILED;
    }
    await write(io.stdout, `ok: ${r.records} records in ${r.segments} segments\n`);
    return EXIT_OK;
  }
  if (sub === "tail") {
    const p = parse(rest, "-n", "--lines");
    if (!p) return usage();
    const n = p.value === undefined ? 10 : count(p.value);
    if (n === null) return usage();
    const lines = await tailLines(p.dir, n);
    if (lines.length > 0) await write(io.stdout, lines.join("\n") + "\n");
    return EXIT_OK;
  }
  if (sub === "show") {
    const p = parse(rest, "--seq");
    const seq = count(p?.value);
    if (!p || seq === null) return usage();
    const found = await findRecord(p.dir, seq);
    if (!found) {
      await write(io.stderr, `tollgate: no record with seq ${seq} in ${p.dir}\n`);
      return EXIT_FAILED;
    }
    await write(io.stdout, `# ${found.file}:${found.line}\n${JSON.stringify(JSON.parse(found.text), null, 2)}\n`);
    return EXIT_OK;
  }
  return usage();
}
