// The code samples of the README and docs/ (issue 17): every fenced block, with the
// `<!-- sample: ... -->` directives written just above it, and the outputs the samples show.
// Used by test/docs/samples.test.ts, which runs the blocks.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The Markdown files whose fenced blocks are samples, from the repository root. */
export function sampleFiles(root: string): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs, "python/README.md", "examples/README.md"];
}

export interface Directives {
  /** `skip (reason)`: not run; the reason is required. */
  skip?: string;
  /** `setup=NAME`: files, definitions or a wrapper from SETUPS in samples.test.ts. */
  setup?: string;
  /** `exit=N`: the exit status a console transcript's commands end with (default 0). */
  exit?: number;
  /** `server=NAME`: a long-running `tollgate serve`: run until it prints its expected output. */
  server?: string;
  /** `with-server=NAME`: run while the block `server=NAME` runs, in the same directory. */
  withServer?: string;
  /** `fragment`: a JSON block that is a member list (`"key": value, ...`), parsed inside `{}`. */
  fragment?: boolean;
  /** `parse (reason)`: a YAML/JSON file that is not a policy: only parsed. */
  parse?: string;
}

export interface Block {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** The block's text, its fence's indentation removed, ending with a newline (or empty). */
  text: string;
  directives: Directives;
  /** The text of the `<!-- sample: ... -->` comment, if any. */
  marker?: string;
}

const FENCE = /^( *)(`{3,}|~{3,})\s*([^`\s]*)?.*$/;
const MARKER = /^\s*<!--\s*sample:(.*?)-->\s*$/;

/** Parses a marker's directives; throws on anything it does not know. */
export function parseDirectives(spec: string, where: string): Directives {
  const d: Directives = {};
  let rest = spec.trim();
  while (rest) {
    let m: RegExpMatchArray | null;
    if ((m = rest.match(/^(skip|parse)\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)/))) {
      const reason = m[2].trim();
      if (!reason) throw new Error(`${where}: '${m[1]}' needs a reason in parentheses`);
      if (m[1] === "skip") d.skip = reason;
      else d.parse = reason;
    } else if ((m = rest.match(/^(setup|server|with-server)=([\w-]+)/))) {
      if (m[1] === "setup") d.setup = m[2];
      else if (m[1] === "server") d.server = m[2];
      else d.withServer = m[2];
    } else if ((m = rest.match(/^exit=(\d+)/))) {
      d.exit = Number(m[1]);
    } else if ((m = rest.match(/^fragment\b/))) {
      d.fragment = true;
    } else {
      throw new Error(`${where}: unknown sample directive at '${rest}'`);
    }
    rest = rest.slice(m[0].length).trim();
  }
  return d;
}

/** Every fenced code block of a Markdown text (CommonMark fences, also indented in lists). */
export function findBlocks(file: string, markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(FENCE);
    if (!open) continue;
    const indent = open[1].length;
    const fence = open[2];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const t = lines[j];
      const close = t.match(/^( *)(`{3,}|~{3,})\s*$/);
      if (close && close[2][0] === fence[0] && close[2].length >= fence.length) break;
      body.push(t.slice(Math.min(indent, t.length - t.trimStart().length)));
    }
    if (j >= lines.length) throw new Error(`${file}:${i + 1}: unclosed code fence`);
    // The marker: the nearest non-blank line above the fence.
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === "") k--;
    const m = k >= 0 ? lines[k].match(MARKER) : null;
    const where = `${file}:${i + 1}`;
    blocks.push({
      file,
      line: i + 1,
      lang: (open[3] ?? "").toLowerCase(),
      text: body.length ? body.join("\n") + "\n" : "",
      directives: m ? parseDirectives(m[1], where) : {},
      marker: m ? m[1].trim() : undefined,
    });
    i = j;
  }
  return blocks;
}

export function readBlocks(root: string): Block[] {
  return sampleFiles(root).flatMap((f) => findBlocks(f, readFileSync(join(root, f), "utf8")));
}

// ---------------------------------------------------------------------------------------------
// Shown outputs: `// { decision: "escalate", ... }` after a statement, `# "escalate"` after a
// Python expression, `# {"decision":...}` after a shell command. An output is a JavaScript
// literal (JSON, or object literals with bare keys; True/False/None for Python); `...` stands for
// "more keys" in an object, "..." or "…" for any value, "abc…" for a string starting "abc".

const REST_KEY = "__sample_rest__";

/** Splits a line into its code and its comment (`//` or `#`), outside string literals. */
export function splitComment(line: string, marker: "//" | "#"): { code: string; comment: string | null } {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'" || c === "`") {
      quote = c;
    } else if (line.startsWith(marker, i)) {
      return { code: line.slice(0, i), comment: line.slice(i + marker.length) };
    }
  }
  return { code: line, comment: null };
}

/** Rewrites `...` outside strings (an abridged object) and Python's literals for eval. */
function toJs(text: string, python: boolean): string {
  let out = "";
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      out += c;
    } else if (text.startsWith("...", i) || c === "…") {
      out += `"${REST_KEY}": 1`;
      i += c === "…" ? 0 : 2;
    } else if (python && (c === "(" || c === ")")) {
      out += c === "(" ? "[" : "]"; // a tuple is shown as a list is compared
    } else if (python && /[A-Za-z_]/.test(c) && !/[\w$]/.test(text[i - 1] ?? "")) {
      const word = /^[A-Za-z_]\w*/.exec(text.slice(i))![0];
      out += word === "True" ? "true" : word === "False" ? "false" : word === "None" ? "null" : word;
      i += word.length - 1;
    } else {
      out += c;
    }
  }
  return out;
}

/** The value a shown output denotes, or `undefined` when the text is not one (prose). */
export function parseShown(text: string, python = false): { value: unknown } | undefined {
  const t = text.trim();
  if (!/^([{["'0-9]|-[0-9]|true\b|false\b|null\b|True\b|False\b|None\b)/.test(t) && !(python && t.startsWith("("))) return undefined;
  try {
    // Our own documentation's literal, evaluated with no scope: a bare name throws (prose).
    const value: unknown = new Function(`"use strict"; return (${toJs(t, python)});`)();
    return { value };
  } catch {
    return undefined;
  }
}

function isWildcard(s: string): boolean {
  return s === "..." || s === "…";
}

/** Where `actual` differs from the shown `expected`; empty when it matches. */
export function compareShown(actual: unknown, expected: unknown, path = "$"): string[] {
  if (typeof expected === "string") {
    if (isWildcard(expected)) return [];
    if (expected.endsWith("…") && typeof actual === "string") {
      return actual.startsWith(expected.slice(0, -1)) ? [] : [`${path}: ${JSON.stringify(actual)} does not start with ${JSON.stringify(expected.slice(0, -1))}`];
    }
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array, got ${JSON.stringify(actual)}`];
    if (actual.length !== expected.length) return [`${path}: expected ${expected.length} items, got ${actual.length}: ${JSON.stringify(actual)}`];
    return expected.flatMap((e, i) => compareShown(actual[i], e, `${path}[${i}]`));
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return [`${path}: expected an object, got ${JSON.stringify(actual)}`];
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const out: string[] = [];
    for (const k of Object.keys(e)) {
      if (k === REST_KEY) continue;
      if (!(k in a)) out.push(`${path}.${k}: missing (expected ${JSON.stringify(e[k])})`);
      else out.push(...compareShown(a[k], e[k], `${path}.${k}`));
    }
    if (!(REST_KEY in e)) {
      for (const k of Object.keys(a)) if (!(k in e)) out.push(`${path}.${k}: not shown (${JSON.stringify(a[k])}); show it or abridge with ...`);
    }
    return out;
  }
  return Object.is(actual, expected) || actual === expected ? [] : [`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

export interface Shown {
  /** 0-based line of the sample the output belongs to (the statement's or command's last line). */
  line: number;
  value: unknown;
  /** The output as written. */
  text: string;
}

/**
 * The outputs shown in comments of a code sample: a trailing comment on a code line, or comment
 * lines right under it, that read as a literal (several comment lines are joined until they do).
 */
export function findShown(text: string, marker: "//" | "#"): Shown[] {
  const lines = text.split("\n");
  const python = marker === "#";
  const out: Shown[] = [];
  const commentOnly = (l: string) => l.trimStart().startsWith(marker);
  const commentText = (l: string) => l.trimStart().slice(marker.length);
  for (let i = 0; i < lines.length; i++) {
    if (commentOnly(lines[i]) || lines[i].trim() === "") continue;
    const { comment } = splitComment(lines[i], marker);
    let parts: string[];
    let next: number;
    if (comment !== null && parseStart(comment, python)) {
      parts = [comment];
      next = i + 1;
    } else if (i + 1 < lines.length && commentOnly(lines[i + 1]) && parseStart(commentText(lines[i + 1]), python)) {
      parts = [commentText(lines[i + 1])];
      next = i + 2;
    } else {
      continue;
    }
    // Join continuation comment lines until the text reads as a literal.
    let shown = readLiteral(parts.join(" "), python);
    while (!shown && next < lines.length && commentOnly(lines[next])) {
      parts.push(commentText(lines[next++]));
      shown = readLiteral(parts.join(" "), python);
    }
    if (!shown) {
      if (/^\s*[{[]/.test(parts[0]) && !/^\s*\{\s*[\w$]+\s*(,\s*[\w$]+\s*)*\}/.test(parts[0])) {
        throw new Error(`line ${i + 1}: a shown output that does not parse: ${parts.join(" ").trim()}`);
      }
      continue; // prose, e.g. `// { decision, entries, pending }`
    }
    out.push({ line: i, value: shown.value, text: parts.join("\n").trim() });
  }
  return out;
}

function parseStart(comment: string, python: boolean): boolean {
  return /^\s*([{["]|-?[0-9]|true\b|false\b|null\b|True\b|False\b|None\b)/.test(comment) || (python && /^\s*\(/.test(comment));
}

/** A literal from the start of `text`, up to an optional `; prose` after it. */
function readLiteral(text: string, python: boolean): { value: unknown } | undefined {
  const whole = parseShown(text, python);
  if (whole) return whole;
  const semi = splitAtSemicolon(text);
  return semi === null ? undefined : parseShown(semi, python);
}

function splitAtSemicolon(text: string): string | null {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ";") return text.slice(0, i);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Console transcripts: `$ command` lines (with `\` continuation lines), then what they print.

export interface Transcript {
  command: string;
  output: string[];
}

export function parseTranscript(text: string): Transcript[] {
  const lines = text.replace(/\n$/, "").split("\n");
  const out: Transcript[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith("$ ")) {
      if (!out.length) throw new Error(`console block line ${i + 1}: output before any '$ ' command`);
      out[out.length - 1].output.push(lines[i]);
      continue;
    }
    let command = lines[i].slice(2);
    while (command.endsWith("\\") && i + 1 < lines.length) command += "\n" + lines[++i];
    out.push({ command, output: [] });
  }
  return out;
}

/**
 * Whether printed lines match shown ones: a shown line `...` (alone) stands for any number of
 * lines; inside a line, `...` or `…` stands for any text. Trailing blanks are ignored.
 */
export function matchLines(actual: string[], shown: string[]): boolean {
  const a = actual.map((l) => l.trimEnd());
  while (a.length && a[a.length - 1] === "") a.pop();
  const s = shown.map((l) => l.trimEnd());
  while (s.length && s[s.length - 1] === "") s.pop();
  const res = s.map((l) =>
    l.trim() === "..." ? null : new RegExp("^" + l.split(/\.\.\.|…/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$"),
  );
  const memo = new Map<string, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    if (memo.has(key)) return memo.get(key)!;
    let r: boolean;
    if (j === res.length) r = i === a.length;
    else if (res[j] === null) r = go(i, j + 1) || (i < a.length && go(i + 1, j));
    else r = i < a.length && res[j]!.test(a[i]) && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}
