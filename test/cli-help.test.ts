// The command line helps (issue 17, "A CLI that helps"): --help on every command and subcommand,
// `tollgate help [COMMAND]`, --version; several files for check; a policy without tests; usage
// errors exit 64. And the docs cannot drift from the options: the README's and docs' option tables
// and usage lines are compared with the declarations the commands parse with (src/argv.ts).

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flag, usageLines, wantsHelp, type CommandSpec } from "../src/argv.js";
import { commandSpecs } from "../src/cli/main.js";
import { parseDuration } from "../src/duration.js";
import { MCP, parseMcpArgs } from "../src/mcp/config.js";
import { parseServeArgs, SERVE } from "../src/server/config.js";
import { ROOT, runCli } from "./cli-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "tollgate-cli-help-"));
const good = join(dir, "good.yaml");
writeFileSync(good, "tollgate: 1\nname: good\nrules:\n  - { id: a, effect: allow, when: { tool: x } }\ntests:\n  - { name: x allowed, action: { tool: x }, expect: allow }\n");
const untested = join(dir, "untested.yaml");
writeFileSync(untested, "tollgate: 1\nname: untested\nrules:\n  - { id: a, effect: allow, when: { tool: x } }\n  - { id: b, effect: allow, when: { tool: y } }\n");
const bad = join(dir, "bad.yaml");
writeFileSync(bad, "tollgate: 1\nname: bad\nrules:\n  - id: r\n    effect: deny\n    efect: x\n");

const specs = await commandSpecs();

/** Every command and subcommand: [words after tollgate, declaration]. */
function everyCommand(): [string[], CommandSpec][] {
  const out: [string[], CommandSpec][] = [];
  const walk = (words: string[], spec: CommandSpec) => {
    out.push([words, spec]);
    for (const sub of spec.subcommands ?? []) walk([...words, sub.name.split(" ").at(-1)!], sub);
  };
  for (const [name, spec] of Object.entries(specs)) walk(spec.name.startsWith(`${name} `) ? spec.name.split(" ") : [name], spec);
  return out;
}

describe("help", () => {
  it("--help, -h and tollgate help print the usage and every option of every command and subcommand (stdout, exit 0)", async () => {
    const all = everyCommand();
    expect(all.map(([w]) => w.join(" "))).toEqual(expect.arrayContaining(["check", "serve", "audit", "audit verify", "approvals list", "hook claude-code", "mcp", "replay", "lint", "eval", "test"]));
    for (const [words, spec] of all) {
      const outs = [];
      for (const args of [[...words, "--help"], [...words, "-h"], ["help", ...words]]) {
        const r = await runCli(args);
        expect({ args, code: r.code, err: r.err }).toEqual({ args, code: 0, err: "" });
        outs.push(r.out);
      }
      expect(outs[1]).toBe(outs[0]);
      expect(outs[2]).toBe(outs[0]);
      const out = outs[0]!;
      expect(out.startsWith(`usage: tollgate ${usageLines(spec)[0]}\n`), words.join(" ")).toBe(true);
      for (const [name, o] of Object.entries(spec.options)) {
        expect(out, `${words.join(" ")} --${name}`).toContain(flag(name, o));
        if (o.default !== undefined) expect(out.replace(/\s+/g, " "), `${words.join(" ")} --${name} default`).toContain(`default: ${o.default}`);
      }
      for (const sub of spec.subcommands ?? []) expect(out).toContain(`tollgate ${sub.name} `);
    }
  });

  it("works where it used to fail: check --help is no file, serve --help no unknown option; help comes before other mistakes", async () => {
    expect(await runCli(["check", "--help"])).toMatchObject({ code: 0, out: expect.stringContaining("usage: tollgate check POLICY.yaml...") });
    const serve = await runCli(["serve", "--help"]);
    expect(serve.code).toBe(0);
    for (const o of ["--shadow CANDIDATE.yaml", "--shadow-log FILE", "--persist-policy", "--[no-]watch", "--config FILE.yaml", "--hash-token TOKEN", "--max-batch N"]) expect(serve.out).toContain(o);
    expect(await runCli(["approvals", "list", "--bogus", "--help"])).toMatchObject({ code: 0, out: expect.stringContaining("usage: tollgate approvals list [OPTIONS]") });
    expect(await runCli(["audit", "help", "seal"])).toMatchObject({ code: 0, out: expect.stringContaining("--reason TEXT") });
  });

  it("tollgate --help lists every command and its usage; bare tollgate prints it on stderr, exit 64", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    for (const [name, spec] of Object.entries(specs)) {
      expect(r.out).toMatch(new RegExp(`^  ${name} +\\S`, "m"));
      for (const line of usageLines(spec)) expect(r.out).toContain(`tollgate ${line}\n`);
    }
    expect(await runCli([])).toMatchObject({ code: 64, out: "", err: r.out });
  });

  it("an unknown command or help topic: a suggestion, the commands, exit 64", async () => {
    const r = await runCli(["chek", "x.yaml"]);
    expect(r).toMatchObject({ code: 64, out: "" });
    expect(r.err).toMatch(/^tollgate: unknown command 'chek' \(did you mean 'check'\?\)\nusage: tollgate COMMAND/);
    expect((await runCli(["help", "nope"])).code).toBe(64);
    expect((await runCli(["help", "audit", "nope"])).code).toBe(64);
  });

  it("help about help is the overview (help help, help --help, help -h)", async () => {
    const overview = (await runCli(["help"])).out;
    for (const args of [["help", "help"], ["help", "--help"], ["help", "-h"], ["--help", "help"]]) {
      expect(await runCli(args), args.join(" ")).toMatchObject({ code: 0, out: overview, err: "" });
    }
    expect((await runCli(["help", "help", "serve"])).out).toBe((await runCli(["help", "serve"])).out);
  });

  it("mcp: --help before -- is the gateway's; after --, the upstream's", async () => {
    expect(wantsHelp(MCP, ["--policy", "p.yaml", "--", "server", "--help"])).toBe(false);
    const c = parseMcpArgs(["--policy", "p.yaml", "--audit", dir, "--", "server", "--help", "-h"], {}, dir);
    expect(c).not.toBe("help");
    expect(c !== "help" && c.upstreams[0]).toMatchObject({ command: "server", args: ["--help", "-h"] });
    expect(parseMcpArgs(["--policy", "p.yaml", "-h", "--", "server"], {}, dir)).toBe("help");
  });
});

describe("--version", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };

  it("prints package.json's version (-V too), in-process and from the built binary", async () => {
    expect(await runCli(["--version"])).toEqual({ code: 0, out: `${pkg.version}\n`, err: "" });
    expect(await runCli(["-V"])).toEqual({ code: 0, out: `${pkg.version}\n`, err: "" });
    const r = spawnSync(process.execPath, [join(ROOT, "bin/tollgate.js"), "--version"], { encoding: "utf8" });
    expect({ status: r.status, out: r.stdout }).toEqual({ status: 0, out: `${pkg.version}\n` });
  });
});

describe("tollgate check with several files", () => {
  it("reports each (FILE: ok: N rules); exit 0 when all load", async () => {
    expect(await runCli(["check", good, untested])).toEqual({ code: 0, out: `${good}: ok: 1 rules\n${untested}: ok: 2 rules\n`, err: "" });
  });

  it("exit 2 if any fails, the others still reported", async () => {
    const r = await runCli(["check", good, bad, untested]);
    expect(r.code).toBe(2);
    expect(r.out).toBe(
      `${good}: ok: 1 rules\n` +
        `${bad}:4:5: error: missing required key 'reason' in deny rule\n` +
        `${bad}:6:5: error: unknown key 'efect' in rule (did you mean 'effect'?)\n` +
        `${untested}: ok: 2 rules\n`,
    );
  });

  it("one file: the output is unchanged (ok: N rules)", async () => {
    expect(await runCli(["check", untested])).toEqual({ code: 0, out: "ok: 2 rules\n", err: "" });
  });
});

describe("tollgate test on a policy without tests", () => {
  it("says so on stderr and exits 0; --require-tests exits 1", async () => {
    expect(await runCli(["test", untested])).toEqual({ code: 0, out: "0 passed, 0 failed\n", err: `no tests in ${untested}\n` });
    expect(await runCli(["test", "--require-tests", untested])).toEqual({ code: 1, out: "0 passed, 0 failed\n", err: `no tests in ${untested} (--require-tests)\n` });
    const json = await runCli(["test", "--format", "json", "--require-tests", untested]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject({ passed: 0, failed: 0 });
    expect(await runCli(["test", "--require-tests", good])).toMatchObject({ code: 0, out: "1 passed, 0 failed\n", err: "" });
  });
});

describe("usage errors", () => {
  it("an unknown option, a missing or extra argument, a bad choice: why, the usage, exit 64", async () => {
    const cases: [string[], RegExp][] = [
      [["check"], /^tollgate check: missing POLICY\.yaml\.\.\.\nusage: tollgate check POLICY\.yaml\.\.\.\n/],
      [["check", "--bogus", good], /^tollgate check: Unknown option '--bogus'\nusage: tollgate check /],
      [["eval", "--explian", good], /Unknown option '--explian' \(did you mean --explain\?\)\nusage: tollgate eval /],
      [["eval", good, "a", "b"], /unexpected argument 'b'/],
      [["eval", "--format", "json", good], /^tollgate eval: --format goes with --explain \(decisions are printed as JSON lines\)\nusage: tollgate eval /],
      [["test", "--format", "yaml", good], /--format takes text, json, not 'yaml'\nusage: tollgate test /],
      [["test", good, good], /unexpected argument/],
      [["lint"], /missing POLICY\.yaml\.\.\./],
      [["lint", "--fix", good], /Unknown option '--fix'/],
      [["replay", good], /missing CANDIDATE\.yaml SOURCE\.\.\./],
      [["replay", "--examples", "many", good, dir], /--examples takes a number/],
      [["audit"], /^usage: tollgate audit verify /],
      [["audit", "verify"], /missing DIR/],
      [["audit", "verify", dir, "--witnes", "x"], /did you mean --witness\?/],
      [["audit", "seal", dir], /--reason TEXT is required/],
      [["audit", "tail", dir, "-x"], /Unknown option '-x'/],
      [["approvals", "list", "--db", "x", "--stat", "all"], /did you mean --state\?/],
      [["approvals", "show", "--db", "x"], /missing ID/],
      [["approvals", "show", "a", "b", "--db", "x"], /unexpected argument 'b'/],
      [["serve", "--bogus"], /^tollgate serve: Unknown option '--bogus'\nusage: tollgate serve --policy FILE/],
      [["serve", "--policy", good, "extra"], /unexpected argument 'extra'/],
      [["serve", "--port"], /argument missing/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect({ args, code: r.code, out: r.out }).toEqual({ args, code: 64, out: "" });
      expect(r.err, args.join(" ")).toMatch(message);
      expect(r.err, args.join(" ")).toMatch(/^usage: tollgate /m);
    }
  });

  it("stays 2 where it is documented so: a serve configuration that cannot be used, mcp options (docs/mcp.md), a hook misuse (blocks the tool call)", async () => {
    expect((await runCli(["serve", "--port", "x", "--audit-dir", dir])).code).toBe(2);
    expect((await runCli(["mcp", "--bogus", "--", "x"])).code).toBe(2);
    expect((await runCli(["hook", "claude-code", "--bogus"])).code).toBe(2);
  });
});

// ---- the docs and the declarations ----

const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

/** The rows of the first Markdown table after `heading` (cells split on unescaped |). */
function table(text: string, heading: RegExp): string[][] {
  const at = text.search(heading);
  expect(at, String(heading)).toBeGreaterThanOrEqual(0);
  const lines = text.slice(at).split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  const rows: string[][] = [];
  for (const l of lines.slice(start)) {
    if (!l.startsWith("|")) break;
    rows.push(l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows.slice(2); // the header and the |---| line
}

/** The options a cell names (`--name ARG` in code spans), negations resolved against `spec`. */
function optionsIn(cell: string, spec: CommandSpec): string[] {
  return [...cell.matchAll(/`--([a-z][a-z-]*)/g)].map((m) => (m[1]!.startsWith("no-") && spec.options[m[1]!.slice(3)]?.negatable ? m[1]!.slice(3) : m[1]!));
}

describe("the docs list exactly the options the commands define", () => {
  it("README: the `tollgate serve` options table: every option, none else, the same defaults", () => {
    const rows = table(read("README.md"), /## Run the control plane[\s\S]*?### Options/);
    const documented = new Map<string, string>();
    for (const [options, def] of rows) for (const name of optionsIn(options!, SERVE)) documented.set(name, def!.replace(/`/g, ""));
    expect([...documented.keys()].sort()).toEqual(Object.keys(SERVE.options).sort());
    for (const [name, o] of Object.entries(SERVE.options)) expect({ name, default: documented.get(name) }).toEqual({ name, default: o.required ? "required" : (o.default ?? "") });
  });

  it("serve's defaults as help shows them are the defaults it applies", () => {
    const r = parseServeArgs(["--policy", "p.yaml", "--audit-dir", "audit", "--tokens", "t.yaml"], "/srv");
    if (!("config" in r)) throw new Error("expected a config");
    const config = r.config as unknown as Record<string, unknown>;
    let checked = 0;
    for (const [name, o] of Object.entries(SERVE.options)) {
      if (o.default === undefined) continue;
      const key = name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
      const ms = parseDuration(o.default);
      const [field, expected] =
        o.default === "none" ? [key, undefined]
        : o.default === "on" || o.default === "off" ? [key, o.default === "on"]
        : /^\d+$/.test(o.default) ? [key, Number(o.default)]
        : ms !== null && `${key}Ms` in config ? [`${key}Ms`, ms]
        : o.default.startsWith("one per core") ? [key, availableParallelism()]
        : [key, o.default.replace("<audit-dir>", "/srv/audit")];
      expect({ name, value: config[field] }).toEqual({ name, value: expected });
      checked++;
    }
    expect(checked).toBeGreaterThan(15);
  });

  it("docs/mcp.md: the options table names every `tollgate mcp` option, none else", () => {
    const rows = table(read("docs/mcp.md"), /\| key \| command line \| default \| what \|/);
    const documented = new Set(rows.flatMap(([, cli]) => optionsIn(cli!, MCP)));
    expect([...documented].sort()).toEqual(Object.keys(MCP.options).sort());
  });

  it("docs/approvals.md and docs/audit.md show the usage lines the declarations make", () => {
    const approvals = read("docs/approvals.md");
    for (const line of usageLines(specs.approvals!)) expect(approvals).toContain(`\ntollgate ${line}\n`);
    const audit = read("docs/audit.md");
    for (const line of usageLines(specs.audit!)) expect(audit).toContain(`tollgate ${line}`);
  });

  it("every `tollgate COMMAND ...` in the README and docs uses only options that COMMAND defines", () => {
    const problems: string[] = [];
    let seen = 0;
    for (const file of DOCS) {
      const text = read(file);
      // Code: fenced blocks' lines and inline code spans.
      const code = [...text.matchAll(/```[^\n]*\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split("\n"));
      const prose = text.replace(/```[^\n]*\n[\s\S]*?```/g, "");
      code.push(...[...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!));
      for (const snippet of code) {
        for (const m of snippet.matchAll(/\btollgate ([a-z]+)((?: +[^ |;#()&]+)*)/g)) {
          const top = specs[m[1]!];
          if (!top) continue;
          const words = m[2]!.trim().split(/ +/);
          const end = words.indexOf("--");
          const args = end >= 0 ? words.slice(0, end) : words;
          const spec = top.name === "hook claude-code" ? top : subcommand(top, args);
          const allowed = new Set(["help", ...Object.keys(spec.options), ...(spec.subcommands ?? []).flatMap((s) => Object.keys(s.options))]);
          const shorts = new Set(["h", ...Object.values(spec.options).flatMap((o) => (o.short ? [o.short] : []))]);
          for (const a of args) {
            const long = /^--([a-z][a-z-]*)/.exec(a)?.[1];
            const short = /^-([a-zA-Z])$/.exec(a)?.[1];
            const ok = long !== undefined ? allowed.has(long) || (long.startsWith("no-") && spec.options[long.slice(3)]?.negatable === true) : short === undefined || shorts.has(short);
            if (!ok) problems.push(`${file}: \`tollgate ${m[1]}${m[2]}\`: ${a} is not an option of tollgate ${spec.name}`);
          }
          seen++;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(seen).toBeGreaterThan(50);
  });

  it("hand-written synopses name only declared options", () => {
    for (const [words, spec] of everyCommand()) {
      for (const line of spec.synopsis ?? []) {
        for (const m of line.matchAll(/--([a-z][a-z-]*)/g)) expect(Object.keys(spec.options), `${words.join(" ")}: ${line}`).toContain(m[1]);
      }
    }
  });
});

function subcommand(spec: CommandSpec, words: string[]): CommandSpec {
  const sub = spec.subcommands?.find((s) => s.name.split(" ").at(-1) === words[0]);
  return sub ? subcommand(sub, words.slice(1)) : spec;
}
