// Every fenced code block of README.md, docs/*.md, python/README.md and examples/README.md is
// run here (issue 17), so that a wrong sample fails `npm test`:
//
//   ts, js      an ES module, transpiled, `import "tollgate"` resolving to this repository's
//               current src/ (a private build, as the server tests make), run with node
//   python      run with .venv/bin/python (the project's venv, tollgate installed from python/)
//   sh, bash    a bash script (set -eo pipefail); `tollgate` and `npx tollgate` are this CLI
//   console     `$ command` lines run one by one; the lines under each are what it must print
//               (`...` alone: any lines; inside a line: any text) and it must exit 0 (or exit=N)
//   yaml        a policy: `tollgate check`, and `tollgate test` when it has tests
//   json        parsed
//   text        not code (diagrams, layouts, synopses): not run, and no `$ ` prompt lines
//
// A sample runs in its own directory holding a copy of examples/ ($HOME is that directory too).
// Outputs shown in comments (`// { decision: "escalate", ... }` under a statement, `# "escalate"`
// after a Python expression, `# {"decision":...}` under a shell command) are compared with what
// the sample really gives: every key shown must match and no other key may exist unless the
// object ends with `...`; "..." or "…" stands for any value and "abc…" for a string that starts
// with "abc".
//
// `<!-- sample: ... -->` on the line(s) above a fence changes this (test/docs/blocks.ts):
// (a setup's script may write setup-replace.json, [from, to] pairs applied to the sample then)
// `setup=NAME` (test/docs/setups.ts), `exit=N`, `server=NAME` (a `tollgate serve` command: run
// until it prints its shown output, then SIGTERM, exit 0), `with-server=NAME` (a script run while
// that server runs; its port 8181 is a free port), `fragment` (JSON members), `parse (why)` (a
// YAML/JSON file that is not a policy) and `skip (why)`. A block without a language, with an
// unknown one, or with a directive its language does not take fails the test.

import { spawn } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import ts from "typescript";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { compareShown, findShown, matchLines, parseTranscript, readBlocks } from "./blocks.js";
import type { Block } from "./blocks.js";
import { SETUPS } from "./setups.js";

const ROOT = join(import.meta.dirname, "../..");
const PYTHON = join(ROOT, ".venv/bin/python");
const LANGS = new Set(["ts", "js", "python", "sh", "bash", "console", "yaml", "json", "text"]);

const blocks = readBlocks(ROOT);
const where = (b: Block) => `${b.file}:${b.line}`;

// ---------------------------------------------------------------------------------------------
// A private build of src/ as the package `tollgate` (package.json copied, so its "exports" and
// "bin" are the real ones); samples run in TREE/runs/*, where `import "tollgate"` resolves to it
// (a package's self-reference) and other packages resolve from the repository's node_modules.

let TREE = "";

function listTs(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return listTs(p);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [p] : [];
  });
}

function buildTree(): string {
  mkdirSync(join(ROOT, "node_modules/.cache"), { recursive: true });
  const out = mkdtempSync(join(ROOT, "node_modules/.cache/tollgate-docs-"));
  for (const file of listTs(join(ROOT, "src"))) {
    const js = ts.transpileModule(readFileSync(file, "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const dest = join(out, "build/dist", file.slice(ROOT.length + 1).replace(/\.ts$/, ".js"));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  copyFileSync(join(ROOT, "build/tollgate.wasm"), join(out, "build/tollgate.wasm"));
  copyFileSync(join(ROOT, "package.json"), join(out, "package.json"));
  mkdirSync(join(out, "bin"));
  copyFileSync(join(ROOT, "bin/tollgate.js"), join(out, "bin/tollgate.js"));
  // `tollgate` and `npx tollgate` on the PATH of shell samples; any other npx would go online.
  mkdirSync(join(out, "shim"));
  writeFileSync(join(out, "shim/tollgate"), `#!/bin/sh\nexec "${process.execPath}" "${join(out, "bin/tollgate.js")}" "$@"\n`, { mode: 0o755 });
  writeFileSync(
    join(out, "shim/npx"),
    `#!/bin/sh\nif [ "$1" = tollgate ]; then shift; exec "${join(out, "shim/tollgate")}" "$@"; fi\n` +
      `echo "doc samples run offline: only 'npx tollgate' is available, not 'npx $*'" >&2\nexit 127\n`,
    { mode: 0o755 },
  );
  for (const tool of ["npm", "pip", "pip3"]) {
    writeFileSync(join(out, "shim", tool), `#!/bin/sh\necho "doc samples run offline and install nothing: not '${tool} $*' (mark the block skip)" >&2\nexit 127\n`, { mode: 0o755 });
  }
  writeFileSync(
    join(out, "runner.mjs"),
    [
      'import { writeFileSync } from "node:fs";',
      'import { pathToFileURL } from "node:url";',
      "const results = [];",
      "globalThis.__expect = (value, line) => { results.push({ line, value: JSON.parse(JSON.stringify(value ?? null)) }); return value; };",
      "try { await import(pathToFileURL(process.argv[2]).href); }",
      "finally { writeFileSync(process.argv[3], JSON.stringify(results)); }",
      "process.exit(0);",
      "",
    ].join("\n"),
  );
  mkdirSync(join(out, "runs"));
  return out;
}

beforeAll(() => {
  TREE = buildTree();
});
afterAll(() => {
  if (TREE && !process.env.TOLLGATE_KEEP_DOC_RUNS) rmSync(TREE, { recursive: true, force: true });
});

function runDir(b: Block): string {
  const dir = join(TREE, "runs", `${b.file.replace(/[/.]/g, "_")}-${b.line}`);
  mkdirSync(dir);
  cpSync(join(ROOT, "examples"), join(dir, "examples"), { recursive: true });
  const setup = b.directives.setup ? SETUPS[b.directives.setup] : undefined;
  setup?.files?.(dir, ROOT);
  return dir;
}

function setupOf(b: Block) {
  const name = b.directives.setup;
  if (name === undefined) return undefined;
  const s = SETUPS[name];
  if (!s) throw new Error(`${where(b)}: no setup '${name}' in test/docs/setups.ts`);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function run(cmd: string, args: string[], cwd: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      cwd,
      env: { ...process.env, HOME: cwd, PATH: `${join(TREE, "shim")}:${process.env.PATH}`, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // its own process group: a timeout kills what the sample started too
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => killGroup(p.pid, "SIGKILL"), opts.timeoutMs ?? 30_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    p.stdin.end(opts.input ?? "");
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pid !== undefined) process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function failed(b: Block, what: string, r: Ran): Error {
  return new Error(`${where(b)}: ${what} (exit ${r.code})\n--- stdout\n${r.out}\n--- stderr\n${r.err}`);
}

function checkShown(b: Block, shown: { line: number; text: string; value: unknown }, actual: unknown): void {
  const diffs = compareShown(actual, shown.value);
  if (diffs.length) {
    throw new Error(`${b.file}:${b.line + 1 + shown.line}: the output shown differs from the real one:\n  ${diffs.join("\n  ")}\nshown: ${shown.text}\nreal:  ${JSON.stringify(actual)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Languages

async function runJs(b: Block, dir: string): Promise<void> {
  const shown = findShown(b.text, "//");
  const sf = ts.createSourceFile("sample.ts", b.text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  // Each shown output belongs to the expression statement that ends on its line: record its value.
  const edits: { start: number; end: number; text: string }[] = [];
  for (const s of shown) {
    let stmt: ts.ExpressionStatement | undefined;
    const visit = (n: ts.Node): void => {
      if (ts.isExpressionStatement(n) && sf.getLineAndCharacterOfPosition(n.getEnd()).line === s.line) stmt = n;
      n.forEachChild(visit);
    };
    visit(sf);
    if (!stmt) throw new Error(`${b.file}:${b.line + 1 + s.line}: an output is shown, but no expression statement ends on this line`);
    const e = stmt.expression;
    edits.push({ start: e.getStart(), end: e.getEnd(), text: `__expect((${e.getText()}), ${s.line})` });
  }
  let source = b.text;
  for (const e of edits.sort((x, y) => y.start - x.start)) source = source.slice(0, e.start) + e.text + source.slice(e.end);
  const prelude = setupOf(b)?.ts ?? "";
  const { outputText, diagnostics } = ts.transpileModule(prelude + source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    reportDiagnostics: true,
  });
  if (diagnostics?.length) throw new Error(`${where(b)}: ${diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")).join("; ")}`);
  writeFileSync(join(dir, "sample.mjs"), outputText);
  const r = await run(process.execPath, [join(TREE, "runner.mjs"), join(dir, "sample.mjs"), join(dir, "results.json")], dir);
  if (r.code !== 0) throw failed(b, "the sample failed", r);
  compareResults(b, shown, join(dir, "results.json"));
}

function compareResults(b: Block, shown: ReturnType<typeof findShown>, file: string): void {
  const results = JSON.parse(readFileSync(file, "utf8")) as { line: number; value: unknown }[];
  for (const s of shown) {
    const got = results.filter((r) => r.line === s.line);
    if (!got.length) throw new Error(`${b.file}:${b.line + 1 + s.line}: the statement whose output is shown never ran`);
    for (const g of got) checkShown(b, s, g.value);
  }
}

async function runPython(b: Block, dir: string): Promise<void> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run node scripts/ensure-venv.mjs (npm test does)`);
  const shown = findShown(b.text, "#");
  writeFileSync(join(dir, "sample.py"), b.text);
  writeFileSync(join(dir, "prelude.py"), setupOf(b)?.python ?? "");
  const r = await run(PYTHON, [join(import.meta.dirname, "run_python_sample.py"), "sample.py", "prelude.py", "results.json", ...shown.map((s) => String(s.line + 1))], dir);
  if (r.code !== 0) throw failed(b, "the sample failed", r);
  compareResults(
    b,
    shown.map((s) => ({ ...s, line: s.line + 1 })),
    join(dir, "results.json"),
  );
}

/**
 * Bash text for a shell sample: each command whose output is shown writes its stdout to
 * $SAMPLE_OUT/<line> (and prints it); the test compares the files with the shown outputs.
 */
function instrumentShell(text: string, shown: ReturnType<typeof findShown>): string {
  const lines = text.replace(/\n$/, "").split("\n");
  for (const s of [...shown].sort((x, y) => y.line - x.line)) {
    let start = s.line;
    while (start > 0 && lines[start - 1].trimEnd().endsWith("\\")) start--;
    lines[start] = "{ " + lines[start];
    lines[s.line] = lines[s.line] + `\n} > "$SAMPLE_OUT/${s.line}"; cat "$SAMPLE_OUT/${s.line}"`;
  }
  return lines.join("\n") + "\n";
}

function readOutput(b: Block, s: { line: number; text: string; value: unknown }, file: string): void {
  const text = readFileSync(file, "utf8").trim();
  let actual: unknown;
  try {
    actual = JSON.parse(text);
  } catch {
    throw new Error(`${b.file}:${b.line + 1 + s.line}: a JSON output is shown, the command printed: ${text}`);
  }
  checkShown(b, s, actual);
}

async function runShell(b: Block, dir: string, text = b.text): Promise<void> {
  const shown = findShown(text, "#");
  mkdirSync(join(dir, ".sample-out"));
  const script = `set -eo pipefail\nSAMPLE_OUT=${JSON.stringify(join(dir, ".sample-out"))}\n` + instrumentShell(text, shown) + "wait\n";
  writeFileSync(join(dir, "sample.sh"), script);
  const r = await run("bash", ["sample.sh"], dir, { timeoutMs: 60_000 });
  if (r.code !== 0) throw failed(b, "the script failed", r);
  for (const s of shown) readOutput(b, s, join(dir, ".sample-out", String(s.line)));
}

async function runConsole(b: Block, dir: string): Promise<void> {
  for (const t of parseTranscript(b.text)) {
    const r = await run("bash", ["-c", `set -o pipefail\n${t.command}`], dir, { timeoutMs: 60_000 });
    const printed = (r.out + r.err).split("\n");
    const want = b.directives.exit ?? 0;
    if (r.code !== want) throw failed(b, `$ ${t.command}: exit ${r.code}, the sample says ${want}`, r);
    if (!matchLines(printed, t.output)) {
      throw new Error(`${where(b)}: $ ${t.command}\nprints:\n${printed.join("\n")}\nthe sample shows:\n${t.output.join("\n")}`);
    }
  }
}

interface Started {
  stop(): Promise<number | null>;
}

/** Starts a `server=NAME` block's command in `dir` and waits until it prints its shown output. */
async function startServerBlock(b: Block, dir: string, port: number): Promise<Started> {
  const text = b.text.replace(/\b8181\b/g, String(port));
  const shown = findShown(text, "#");
  if (shown.length !== 1) throw new Error(`${where(b)}: a server= block shows one output line (its start)`);
  const command = text.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n");
  const p = spawn("bash", ["-c", `exec ${command}`], { cwd: dir, env: { ...process.env, HOME: dir, PATH: `${join(TREE, "shim")}:${process.env.PATH}` }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const exited = new Promise<number | null>((resolve) => p.on("close", (code) => resolve(code)));
  let out = "";
  let err = "";
  p.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const misses: string[] = [];
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${where(b)}: the server did not print its shown output within 20 s\n${out}\n${err}\n${misses.join("\n")}`)), 20_000);
    let buf = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      buf += d;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let v: unknown;
        try {
          v = JSON.parse(line);
        } catch {
          continue;
        }
        const diffs = compareShown(v, shown[0].value);
        if (!diffs.length) {
          clearTimeout(timer);
          resolve();
        } else misses.push(diffs.join("; "));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${where(b)}: the server exited (${code}) before printing its shown output\n${out}\n${err}\n${misses.join("\n")}`));
    });
  });
  try {
    await started;
  } catch (e) {
    killGroup(p.pid, "SIGKILL");
    throw e;
  }
  return {
    stop: async () => {
      p.kill("SIGTERM"); // the server alone: it stops its workers itself (graceful shutdown)
      const timer = setTimeout(() => killGroup(p.pid, "SIGKILL"), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

async function runServerBlock(b: Block, dir: string): Promise<void> {
  const server = await startServerBlock(b, dir, await freePort());
  expect(await server.stop(), `${where(b)}: exit status after SIGTERM`).toBe(0);
}

async function runWithServer(b: Block, dir: string): Promise<void> {
  const serverBlock = blocks.find((x) => x.directives.server === b.directives.withServer);
  if (!serverBlock) throw new Error(`${where(b)}: no block has server=${b.directives.withServer}`);
  const port = await freePort();
  const server = await startServerBlock(serverBlock, dir, port);
  try {
    await runShell(b, dir, b.text.replace(/\b8181\b/g, String(port)));
  } finally {
    expect(await server.stop(), `${where(serverBlock)}: exit status after SIGTERM`).toBe(0);
  }
}

async function runYaml(b: Block, dir: string): Promise<void> {
  if (b.directives.parse) {
    parseYaml(b.text, { uniqueKeys: true });
    return;
  }
  const wrap = setupOf(b)?.wrapYaml;
  const text = wrap ? wrap(b.text) : b.text;
  writeFileSync(join(dir, "policy.yaml"), text);
  const check = await run("tollgate", ["check", "policy.yaml"], dir);
  if (check.code !== 0) throw failed(b, "tollgate check", check);
  if ((parseYaml(text) as { tests?: unknown }).tests !== undefined) {
    const t = await run("tollgate", ["test", "policy.yaml"], dir);
    if (t.code !== 0) throw failed(b, "tollgate test", t);
  }
}

function runJson(b: Block): void {
  JSON.parse(b.directives.fragment ? `{${b.text}}` : b.text);
}

function runText(b: Block): void {
  const prompt = b.text.split("\n").findIndex((l) => l.startsWith("$ "));
  if (prompt >= 0) throw new Error(`${b.file}:${b.line + 1 + prompt}: a text block with a '$ ' command: make it a console block`);
}

/** What is wrong with a block's language and directives, if anything. */
function problem(b: Block): string | undefined {
  const d = b.directives;
  if (!b.lang) return "a fence without a language: say what it is (text, console, sh, ts, python, yaml, json...)";
  if (!LANGS.has(b.lang)) return `unknown language '${b.lang}' (test/docs/samples.test.ts runs: ${[...LANGS].join(", ")})`;
  if (d.skip !== undefined) return Object.keys(d).length === 1 ? undefined : "skip takes no other directive";
  if (d.parse !== undefined && b.lang !== "yaml" && b.lang !== "json") return "parse is for yaml and json blocks";
  if (d.fragment && b.lang !== "json") return "fragment is for json blocks";
  if ((d.server || d.withServer) && b.lang !== "sh" && b.lang !== "bash") return "server/with-server are for sh blocks";
  if (d.exit !== undefined && b.lang !== "console") return "exit= is for console blocks";
  if (d.setup !== undefined && !SETUPS[d.setup]) return `no setup '${d.setup}' in test/docs/setups.ts`;
  if (b.lang === "text" && Object.keys(d).length) return "a text block is not run: it takes no directive";
  return undefined;
}

async function runBlock(block: Block): Promise<void> {
  const p = problem(block);
  if (p) throw new Error(`${where(block)}: ${p}`);
  const setup = setupOf(block);
  let b = block;
  for (const [from, to] of setup?.replace ?? []) {
    if (!b.text.includes(from)) throw new Error(`${where(b)}: setup ${b.directives.setup} replaces '${from}', which the sample does not contain`);
    b = { ...b, text: b.text.split(from).join(to) };
  }
  switch (b.lang) {
    case "text":
      return runText(b);
    case "json":
      return runJson(b);
  }
  const dir = runDir(b);
  if (setup?.script) {
    writeFileSync(join(dir, "setup.mjs"), setup.script);
    const r = await run(process.execPath, ["setup.mjs"], dir);
    if (r.code !== 0) throw failed(b, `setup ${b.directives.setup}`, r);
    // What only the setup knows (an approval's id): it writes the replacements it makes.
    const made = join(dir, "setup-replace.json");
    if (existsSync(made)) {
      for (const [from, to] of JSON.parse(readFileSync(made, "utf8")) as [string, string][]) {
        if (!b.text.includes(from)) throw new Error(`${where(b)}: setup ${b.directives.setup} replaces '${from}', which the sample does not contain`);
        b = { ...b, text: b.text.split(from).join(to) };
      }
    }
  }
  switch (b.lang) {
    case "ts":
    case "js":
      return runJs(b, dir);
    case "python":
      return runPython(b, dir);
    case "console":
      return runConsole(b, dir);
    case "yaml":
      return runYaml(b, dir);
    default:
      if (b.directives.server) return runServerBlock(b, dir);
      if (b.directives.withServer) return runWithServer(b, dir);
      return runShell(b, dir);
  }
}

// ---------------------------------------------------------------------------------------------

describe("doc samples", () => {
  test("every fenced block has a known language, and every skip a reason", () => {
    const problems = blocks.flatMap((b) => {
      const p = problem(b);
      return p ? [`${where(b)}: ${p}`] : [];
    });
    expect(problems).toEqual([]);
    const count = (f: (b: Block) => boolean) => blocks.filter(f).length;
    const skipped = blocks.filter((b) => b.directives.skip !== undefined);
    console.log(
      `doc samples: ${blocks.length} blocks; run ${count((b) => b.lang !== "text" && b.lang !== "json" && !b.directives.skip && !b.directives.parse)}, ` +
        `parsed ${count((b) => !b.directives.skip && (b.lang === "json" || !!b.directives.parse))}, text ${count((b) => b.lang === "text")}, skipped ${skipped.length}:\n` +
        skipped.map((b) => `  ${where(b)} [${b.lang}]: ${b.directives.skip}`).join("\n"),
    );
  });

  // As test/server/redis-state.test.ts: `npm test` makes .venv first; `vitest run` alone may not.
  const noPython = !existsSync(PYTHON) && process.env.TOLLGATE_REQUIRE_SERVICES !== "1";
  for (const b of blocks) {
    const name = `${where(b)} [${b.lang || "?"}]`;
    if (b.directives.skip !== undefined && !problem(b)) test.skip(`${name}: ${b.directives.skip}`, () => {});
    else if (b.lang === "python" && noPython) test.skip(`${name}: no .venv (node scripts/ensure-venv.mjs; npm test makes it)`, () => {});
    else test.concurrent(name, () => runBlock(b));
  }
});
