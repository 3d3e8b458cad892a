// `tollgate audit verify|seal|tail|show`: checking, sealing and reading an audit log
// (docs/audit.md).

import { readFile } from "node:fs/promises";
import { subcommand, type CommandSpec } from "../argv.js";
import { findRecord, followLines, tail } from "../audit/read.js";
import { sealLog } from "../audit/seal.js";
import { verifyLog, verifyReport } from "../audit/verify.js";
import type { VerifyOptions } from "../audit/verify.js";
import { EXIT_FAILED, EXIT_OK, write, type CommandIo } from "./io.js";
import { parseOrUsage, usageError } from "./usage.js";

const PUBLIC_KEY = { type: "string", arg: "FILE", default: "DIR/audit.pub", description: "verify the signatures with this public key (SPKI PEM), kept outside the audit directory" } as const;
const WITNESS = { type: "string", arg: "FILE|URL", description: "also check the log against the checkpoint kept by this witness (the file, or the URL, `tollgate serve --audit-witness` wrote to)" } as const;

const VERIFY = {
  name: "audit verify",
  summary: "Check an audit log: hash chain, segments, canonical records, signed checkpoint (and witness); `ok: N records in M segments`, or the first problem as FILE:LINE: error: MESSAGE (exit 1).",
  args: "DIR",
  options: {
    "public-key": PUBLIC_KEY,
    witness: WITNESS,
    "allow-unsigned-tail": { type: "boolean", description: "accept records after the last checkpoint (a live log has up to one checkpoint interval of them)" },
  },
} as const satisfies CommandSpec;

const SEAL = {
  name: "audit seal",
  summary: "Continue past damage, visibly: when verify fails, write a signed seal record (with the reason) from which the log verifies again; the writer must be stopped. Nothing is written when verify passes.",
  args: "DIR",
  options: {
    reason: { type: "string", arg: "TEXT", required: true, description: "why (kept in the seal record, shown by every later verify)" },
    "public-key": PUBLIC_KEY,
    witness: WITNESS,
  },
} as const satisfies CommandSpec;

const TAIL = {
  name: "audit tail",
  summary: "Print the last records as written (JSON lines); with -f, then every record appended, as it is written.",
  args: "DIR",
  options: {
    lines: { type: "string", short: "n", arg: "N", default: "10", description: "how many records" },
    follow: { type: "boolean", short: "f", description: "keep printing the records a running writer appends, across segments, until interrupted (Ctrl-C)" },
  },
} as const satisfies CommandSpec;

const SHOW = {
  name: "audit show",
  summary: "Print one record, indented, after a `# FILE:LINE` line (exit 1 if there is none).",
  args: "DIR",
  options: { seq: { type: "string", arg: "N", required: true, description: "the record's seq" } },
} as const satisfies CommandSpec;

export const AUDIT: CommandSpec = {
  name: "audit",
  summary: "Check, seal and read an audit log. See docs/audit.md.",
  options: {},
  subcommands: [VERIFY, SEAL, TAIL, SHOW],
};

function count(text: string | undefined): number | null {
  if (text === undefined || !/^\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/** Aborted on SIGINT/SIGTERM (and then no longer listening): how `tail -f` stops on a terminal. */
function interrupted(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return { signal: controller.signal, dispose: () => (process.off("SIGINT", stop), process.off("SIGTERM", stop)) };
}

/** `signal` stops `tail -f` (default: SIGINT or SIGTERM). */
export async function auditCommand(args: string[], io: CommandIo, signal?: AbortSignal): Promise<number> {
  const { spec, args: rest } = subcommand(AUDIT, args);
  const sub = spec.name.split(" ")[1];
  if (sub === undefined) return usageError(AUDIT, args[0] === undefined ? undefined : `unknown command '${args[0]}'`, io);
  if (sub === "verify" || sub === "seal") {
    const parsed = sub === "seal" ? await parseOrUsage(SEAL, rest, io, AUDIT) : await parseOrUsage(VERIFY, rest, io, AUDIT);
    if (typeof parsed === "number") return parsed;
    const v: { "public-key"?: string; witness?: string; "allow-unsigned-tail"?: boolean; reason?: string } = parsed.values;
    if (sub === "seal" && v.reason!.trim() === "") return usageError(SEAL, "--reason must say why", io, AUDIT);
    const p = { dir: parsed.positionals[0]!, publicKey: v["public-key"], witness: v.witness, allowUnsignedTail: v["allow-unsigned-tail"] === true, reason: v.reason };
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
    const parsed = await parseOrUsage(TAIL, rest, io, AUDIT);
    if (typeof parsed === "number") return parsed;
    const n = parsed.values.lines === undefined ? 10 : count(parsed.values.lines);
    if (n === null) return usageError(TAIL, `-n takes a number of records, not '${parsed.values.lines}'`, io, AUDIT);
    const dir = parsed.positionals[0]!;
    const found = await tail(dir, n).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT" && err.code !== "ENOTDIR") throw err;
      await write(io.stderr, `tollgate: no audit log at ${dir}\n`);
      return null;
    });
    if (found === null) return EXIT_FAILED;
    const { lines, end } = found;
    if (lines.length > 0) await write(io.stdout, lines.join("\n") + "\n");
    if (parsed.values.follow === true) {
      const stop = signal === undefined ? interrupted() : { signal, dispose: () => {} };
      try {
        await followLines(dir, end, (more) => write(io.stdout, more.join("\n") + "\n"), { signal: stop.signal });
      } finally {
        stop.dispose();
      }
    }
    return EXIT_OK;
  }
  const parsed = await parseOrUsage(SHOW, rest, io, AUDIT);
  if (typeof parsed === "number") return parsed;
  const dir = parsed.positionals[0]!;
  const seq = count(parsed.values.seq);
  if (seq === null) return usageError(SHOW, `--seq takes a record's number, not '${parsed.values.seq}'`, io, AUDIT);
  const found = await findRecord(dir, seq);
  if (!found) {
    await write(io.stderr, `tollgate: no record with seq ${seq} in ${dir}\n`);
    return EXIT_FAILED;
  }
  await write(io.stdout, `# ${found.file}:${found.line}\n${JSON.stringify(JSON.parse(found.text), null, 2)}\n`);
  return EXIT_OK;
}
