// Shared by the tests that run the command line or child processes: `tollgate` run in-process
// with its output captured, and TypeScript transpiled for a child process to run.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import ts from "typescript";
import { main } from "../src/cli/main.js";

/** The repository root. */
export const ROOT = join(import.meta.dirname, "..");

/** Runs `tollgate args...` in-process with an empty stdin; its exit code and what it wrote. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (err += d));
  const code = await main(args, { stdin: Readable.from([]), stdout, stderr });
  return { code, out, err };
}

/**
 * Node 20 cannot run TypeScript: transpiles `sources` (paths from the repository root) into a new
 * folder `node_modules/.cache/<prefix>XXXXXX` (inside the repo, so that packages resolve from
 * node_modules), at the same relative paths, as an ES module package. Returns the folder.
 */
export function transpileForChild(prefix: string, sources: readonly string[]): string {
  mkdirSync(join(ROOT, "node_modules/.cache"), { recursive: true });
  const out = mkdtempSync(join(ROOT, `node_modules/.cache/${prefix}`));
  for (const src of sources) {
    const js = ts.transpileModule(readFileSync(join(ROOT, src), "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const dest = join(out, src.replace(/\.ts$/, ".js"));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  writeFileSync(join(out, "package.json"), '{"type":"module"}');
  return out;
}
