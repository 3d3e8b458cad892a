// Command-line options, declared once per command (in the command's own file): the declaration is
// what node:util parseArgs parses with, and what the usage line and the --help text are written
// from, so that help cannot drift from what is accepted (test/cli-help.test.ts also holds the
// README's and docs' option tables to it). Shared by the CLI (src/cli/), `tollgate serve`'s options
// (src/server/config.ts), the MCP gateway's (src/mcp/config.ts) and the coding-agent hook's
// (src/hook/options.ts): it sits below them all and imports nothing but node:util, so that the
// hook, which starts once per tool call, pays nothing for it.

import { parseArgs } from "node:util";

export interface OptionSpec {
  readonly type: "string" | "boolean";
  /** A one-letter alias (`-n`). */
  readonly short?: string;
  /** The value's name in help (`FILE`, `N`, `URL`); default: the choices as `a|b`, else `VALUE`. */
  readonly arg?: string;
  /** The values accepted (parseCommand refuses any other). */
  readonly choices?: readonly string[];
  /** What applies when the option is absent, as help shows it (`8181`, `one per core`). */
  readonly default?: string;
  /** The option must be given: shown without brackets, and checked by parseCommand. */
  readonly required?: boolean;
  /** May be given several times (the values in order). */
  readonly multiple?: boolean;
  /** A boolean that is on by default: `--no-NAME` turns it off (help shows `--[no-]NAME`). */
  readonly negatable?: boolean;
  /** One sentence or two, lower case, no final period. */
  readonly description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export interface CommandSpec {
  /** The words after `tollgate`: "check", "approvals list", "hook claude-code". */
  readonly name: string;
  /** What it does, in one line. */
  readonly summary: string;
  /** The positional arguments as usage shows them: `NAME` (required), `[NAME]` (optional), a
   *  trailing `...` for one or more; their number is checked by parseCommand. */
  readonly args?: string;
  readonly options: OptionSpecs;
  /** Usage lines written by hand (each after `tollgate `) where the generated one would be too long
   *  to read; a test checks they name only declared options. */
  readonly synopsis?: readonly string[];
  /** Everything after `--` belongs to the command (what it names): not parsed, not checked. */
  readonly passThrough?: string;
  /** Paragraphs printed after the options. */
  readonly details?: string;
  readonly examples?: readonly string[];
  readonly subcommands?: readonly CommandSpec[];
}

/** A command line that does not fit the declaration; the message says why. */
export class UsageError extends Error {
  override name = "UsageError";
}

type ValueOf<O extends OptionSpec> = O["type"] extends "boolean" ? boolean : O["multiple"] extends true ? string[] : string;
/** The values parseCommand returns for a declaration (`as const satisfies OptionSpecs`). */
export type Values<T extends OptionSpecs> = { -readonly [K in keyof T]?: ValueOf<T[K]> };

export interface Parsed<T extends OptionSpecs> {
  values: Values<T>;
  positionals: string[];
  /** What followed `--` (commands with passThrough). */
  rest: string[];
  /** --help or -h was given (before any `--`): print the help, and nothing else is checked. */
  help: boolean;
}

const HELP: OptionSpec = { type: "boolean", short: "h", description: "show this help" };

type NodeOptions = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>;

function nodeOptions(options: OptionSpecs): NodeOptions {
  const out: NodeOptions = {};
  for (const [name, o] of Object.entries({ ...options, help: HELP })) {
    out[name] = { type: o.type, ...(o.short !== undefined && { short: o.short }), ...(o.multiple === true && { multiple: true }) };
  }
  return out;
}

/** Whether --help or -h is among the options (not an option's value, nor after `--`). */
export function wantsHelp(spec: CommandSpec, argv: readonly string[]): boolean {
  const { tokens } = parseArgs({ args: [...argv], options: nodeOptions(spec.options), strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind === "option-terminator") return false;
    if (t.kind === "option" && t.name === "help") return true;
  }
  return false;
}

/** The positional arguments `spec.args` allows: at least min, at most max. */
export function arity(spec: CommandSpec): { min: number; max: number } {
  const words = (spec.args ?? "").split(/\s+/).filter((w) => w !== "");
  let min = 0;
  let max = 0;
  for (const w of words) {
    if (!w.startsWith("[")) min++;
    max = w.endsWith("...") || w.endsWith("...]") ? Number.POSITIVE_INFINITY : max + 1;
  }
  return { min, max };
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** The closest of `names` to `word`, if close enough to be a typo. */
export function suggest(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const n of names) {
    const d = distance(word, n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/**
 * Parses a command's arguments with its declaration (node:util parseArgs, strict): unknown options,
 * a missing value, a value not among the choices, a missing required option (unless
 * `checkRequired` is false: the command checks them itself) and the wrong number of positional
 * arguments throw UsageError. With --help, returns at once with `help` set.
 */
export function parseCommand<T extends OptionSpecs>(spec: CommandSpec & { readonly options: T }, argv: readonly string[], { checkRequired = true } = {}): Parsed<T> {
  let args = [...argv];
  let rest: string[] = [];
  if (spec.passThrough !== undefined) {
    const sep = args.indexOf("--");
    if (sep >= 0) [args, rest] = [args.slice(0, sep), args.slice(sep + 1)];
  }
  if (wantsHelp(spec, args)) return { values: {}, positionals: [], rest, help: true };
  const negatable = Object.values(spec.options).some((o) => o.negatable === true);
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args, options: nodeOptions(spec.options), strict: true, allowPositionals: true, allowNegative: negatable }));
  } catch (err) {
    const e = err as Error & { code?: string };
    const unknown = e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? /'(--?[^']*)'/.exec(e.message)?.[1] : undefined;
    if (unknown !== undefined) {
      const names = Object.keys(spec.options).map((n) => `--${n}`);
      const close = suggest(unknown.split("=")[0]!, names);
      throw new UsageError(`Unknown option '${unknown}'${close !== undefined ? ` (did you mean ${close}?)` : ""}`);
    }
    throw new UsageError(e.message.split("\n")[0]!);
  }
  for (const [name, o] of Object.entries(spec.options)) {
    const v = values[name];
    if (o.choices !== undefined && v !== undefined) {
      for (const x of Array.isArray(v) ? v : [v]) {
        if (typeof x === "string" && !o.choices.includes(x)) throw new UsageError(`--${name} takes ${o.choices.join(", ")}, not '${x}'`);
      }
    }
    if (checkRequired && o.required === true && (v === undefined || v === "")) throw new UsageError(`--${name} ${o.arg ?? "VALUE"} is required`);
  }
  const { min, max } = arity(spec);
  if (positionals.length > max) {
    const where = spec.passThrough !== undefined ? ` (${spec.passThrough} goes after --)` : "";
    throw new UsageError(`unexpected argument '${positionals[max]}'${where}`);
  }
  if (positionals.length < min) throw new UsageError(`missing ${spec.args}`);
  delete values.help;
  return { values: values as Values<T>, positionals, rest, help: false };
}

/** The subcommand `argv[0]` names (and the arguments after it), else the command itself. */
export function subcommand(spec: CommandSpec, argv: readonly string[]): { spec: CommandSpec; args: string[] } {
  const sub = spec.subcommands?.find((s) => s.name.split(" ").at(-1) === argv[0]);
  return sub ? subcommand(sub, argv.slice(1)) : { spec, args: [...argv] };
}

function valueName(o: OptionSpec): string {
  return o.arg ?? (o.choices ? o.choices.join("|") : "VALUE");
}

/** How an option is written in usage and help: `--name FILE`, `--[no-]watch`. */
export function flag(name: string, o: OptionSpec): string {
  if (o.type === "boolean") return o.negatable ? `--[no-]${name}` : `--${name}`;
  return `--${name} ${valueName(o)}`;
}

/** The usage lines of a command (each after `tollgate `), or of every subcommand of a group. */
export function usageLines(spec: CommandSpec): string[] {
  if (spec.subcommands) return spec.subcommands.flatMap(usageLines);
  if (spec.synopsis) return [...spec.synopsis];
  const opts = Object.entries(spec.options);
  const short = (n: string, o: OptionSpec): string => (o.short === undefined ? flag(n, o) : `-${o.short}${o.type === "string" ? ` ${valueName(o)}` : ""}`);
  const required = opts.filter(([, o]) => o.required).map(([n, o]) => short(n, o));
  const optional = opts.filter(([, o]) => !o.required);
  const shown = optional.length > 5 ? ["[OPTIONS]"] : optional.map(([n, o]) => `[${short(n, o)}]`);
  return [[spec.name, spec.args ?? "", ...required, ...shown].filter((w) => w !== "").join(" ")];
}

/** `usage: tollgate ...`, one line per form, aligned. */
export function formatUsage(spec: CommandSpec, prog = "tollgate"): string {
  return `usage: ${usageLines(spec).map((l) => `${prog} ${l}`).join("\n       ")}\n`;
}

const WIDTH = 100;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines.length > 0 ? lines : [""];
}

/** Two columns: `  left   text` with the text wrapped; a long left cell puts the text below it. */
export function columns(rows: readonly (readonly [string, string])[], indent = 2, max = 26): string {
  const width = Math.min(max, Math.max(...rows.map(([l]) => l.length))) + 2;
  const pad = " ".repeat(indent + width);
  let out = "";
  for (const [left, text] of rows) {
    const lines = wrap(text, WIDTH - indent - width);
    if (left.length + 2 > width) out += `${" ".repeat(indent)}${left}\n${lines.map((l) => pad + l).join("\n")}\n`;
    else out += `${" ".repeat(indent)}${left.padEnd(width)}${lines.join(`\n${pad}`)}\n`;
  }
  return out;
}

/** The text of an option in help: its description, then whether it is required or its default. */
export function describeOption(o: OptionSpec): string {
  const notes = [o.required ? "required" : o.default !== undefined ? `default: ${o.default}` : "", o.multiple ? "may be repeated" : ""].filter((n) => n !== "");
  return notes.length > 0 ? `${o.description} (${notes.join("; ")})` : o.description;
}

/** The --help text of a command (or of a group: its subcommands). */
export function formatHelp(spec: CommandSpec, prog = "tollgate"): string {
  let out = `${formatUsage(spec, prog)}\n${wrap(spec.summary, WIDTH).join("\n")}\n`;
  if (spec.subcommands) {
    out += `\ncommands:\n${columns(spec.subcommands.map((s) => [s.name.split(" ").at(-1)!, s.summary]))}`;
    out += `\n'${prog} ${spec.name} COMMAND --help' shows a command's options.\n`;
  } else {
    const rows = Object.entries(spec.options).map(([n, o]): [string, string] => [`${o.short ? `-${o.short}, ` : ""}${flag(n, o)}`, describeOption(o)]);
    rows.push(["-h, --help", HELP.description]);
    out += `\noptions:\n${columns(rows)}`;
  }
  if (spec.details) out += `\n${spec.details.replace(/\n*$/, "\n")}`;
  if (spec.examples && spec.examples.length > 0) out += `\nexamples:\n${spec.examples.map((e) => `  ${e}\n`).join("")}`;
  return out;
}
