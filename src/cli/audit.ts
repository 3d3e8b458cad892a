// `tollgate audit verify|seal|tail|show`: checking, sealing and reading an audit log
// (docs/audit.md).

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { findRecord, tailLines } from "../audit/read.js";
import { sealLog } from "../audit/seal.js";
import { verifyLog, verifyReport } from "../audit/verify.js";
import type { VerifyOptions } from "../audit/verify.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, write, type CommandIo } from "./io.js";

export const AUDIT_USAGE =
  "tollgate audit verify DIR [--public-key FILE] [--witness FILE|URL] [--allow-unsigned-tail] | seal DIR --reason TEXT [--public-key FILE] [--witness FILE|URL] | tail DIR [-n N] | show DIR --seq N";

/** verify and seal: DIR and their options; null on a usage error. */
function parseCheckArgs(args: string[], seal: boolean): { dir: string; publicKey?: string; witness?: string; allowUnsignedTail: boolean; reason?: string } | null {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: seal
        ? { "public-key": { type: "string" }, witness: { type: "string" }, reason: { type: "string" } }
        : { "public-key": { type: "string" }, witness: { type: "string" }, "allow-unsigned-tail": { type: "boolean" } },
    });
    if (positionals.length !== 1) return null;
    const v = values as Record<string, string | boolean | undefined>;
    if (seal && (typeof v.reason !== "string" || v.reason.trim() === "")) return null;
    return {
      dir: positionals[0]!,
      publicKey: v["public-key"] as string | undefined,
      witness: v.witness as string | undefined,
      allowUnsignedTail: v["allow-unsigned-tail"] === true,
      reason: v.reason as string | undefined,
    };
  } catch {
    return null;
  }
}

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
  if (sub === "verify" || sub === "seal") {
    const p = parseCheckArgs(rest, sub === "seal");
    if (!p) return usage();
    const options: VerifyOptions = { allowUnsignedTail: p.allowUnsignedTail };
    if (p.witness !== undefined) options.witness = p.witness;
    if (p.publicKey !== undefined) {
      try {
        options.publicKey = await readFile(p.publicKey, "utf8");
      } catch (err) {
        await write(io.stderr, `${p.publicKey}:1: error: cannot read the public key: ${(err as Error).message}\n`);
        return EXIT_FAILED;
      }
    }
    if (sub === "seal") {
      let sealed;
      try {
        sealed = await sealLog(p.dir, { reason: p.reason!, publicKey: options.publicKey, witness: options.witness });
      } catch (err) {
        await write(io.stderr, `tollgate: cannot seal ${p.dir}: ${(err as Error).message}\n`);
        return EXIT_FAILED;
      }
      if (!sealed.sealed) {
        await write(io.stdout, `nothing to seal: ${verifyReport(sealed.verify)}`);
        return EXIT_OK;
      }
      await write(io.stdout, `sealed at seq ${sealed.seq}: ${sealed.found}\n`);
      if (sealed.witnessError !== undefined) await write(io.stderr, `warning: the seal's checkpoint did not reach the witness: ${sealed.witnessError}\n`);
      return EXIT_OK;
    }
    const r = await verifyLog(p.dir, options);
    if (!r.ok) {
      await write(io.stderr, `${r.file}:${r.line}: error: ${r.message}\n`);
      return EXIT_FAILED;
    }
    await write(io.stdout, verifyReport(r));
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
