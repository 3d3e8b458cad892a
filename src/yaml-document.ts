// The `yaml` package's parseDocument, with one repair to its lexer, for every YAML file Tollgate
// reads with the package (policies, the server's and the MCP proxy's configuration, token files).
//
// The package's lexer tracks how far the node to come must be indented (`indentNext`) and lowers
// it at each line less indented. It also did so at a line with no content: a comment line whose
// `#` is followed by a non-blank character (`#comment`, `#- old_tool`), a tab-indented comment,
// or a blank line before a comment line. The node after such a line was then read against the
// lower indentation: a plain scalar ran on over the next entry, so
//
//     -
//     #commented out
//      no
//     - x
//
// read as ["no - x"] instead of ["no", "x"] (and `a:\n#c\n no\nb: 1` was refused). PyYAML (the
// Python host) and src/yaml-fast.ts read it as the spec says: a comment or blank line is only
// separation (YAML 1.2, s-l-comments). The repaired lexer puts `indentNext` back after such a
// line; every other line is lexed by the package's own code. (The package's flow collections
// already ignore comment lines for indentation: its `line[0] !== '#'`.)

import { createRequire } from "node:module";
import type { Document, DocumentOptions, LineCounter, ParseOptions, SchemaOptions } from "yaml";

let yamlPackage: typeof import("yaml") | undefined;
function Y(): typeof import("yaml") {
  return (yamlPackage ??= createRequire(import.meta.url)("yaml") as typeof import("yaml"));
}

/** The lexer's own state this repair reads (private in the package's types). */
interface LexerState {
  buffer: string;
  pos: number;
  indentNext: number;
}

type LineStart = (this: LexerState) => Generator<string, string | null>;

let RepairedLexer: (new () => InstanceType<typeof import("yaml").Lexer>) | undefined;

function repairedLexer(): new () => InstanceType<typeof import("yaml").Lexer> {
  if (RepairedLexer !== undefined) return RepairedLexer;
  const Base = Y().Lexer;
  const lineStart = (Base.prototype as unknown as { parseLineStart?: LineStart }).parseLineStart;
  // The package is pinned (package.json); a version without this method must fail loudly here,
  // not lex without the repair.
  if (typeof lineStart !== "function") throw new Error("the yaml package's Lexer has no parseLineStart: src/yaml-document.ts needs updating for this version");
  class Repaired extends Base {}
  Object.defineProperty(Repaired.prototype, "parseLineStart", {
    value: function* parseLineStart(this: LexerState): Generator<string, string | null> {
      const start = this.pos;
      const before = this.indentNext;
      const next = yield* lineStart.call(this);
      if (this.indentNext < before && holdsNoContent(this.buffer, start, this.pos)) this.indentNext = before;
      return next;
    },
  });
  return (RepairedLexer = Repaired);
}

/** Whether the line from `start` held only the spaces consumed up to `pos`, then nothing but
 *  blanks and perhaps a comment. (A `---` or `- ` consumes more than spaces: not such a line.) */
function holdsNoContent(buffer: string, start: number, pos: number): boolean {
  for (let i = start; i < pos; i++) if (buffer[i] !== " ") return false;
  let i = pos;
  while (buffer[i] === " " || buffer[i] === "\t") i++;
  const ch = buffer[i];
  return ch === undefined || ch === "#" || ch === "\n" || ch === "\r";
}

export type YamlDocumentOptions = ParseOptions & DocumentOptions & SchemaOptions & { lineCounter?: LineCounter };

/** The package's parseDocument (its public-api.js), lexed by the repaired lexer: the first
 *  document, with a MULTIPLE_DOCS error if there is another. */
export function parseYamlDocument(source: string, options: YamlDocumentOptions = {}): Document.Parsed {
  const { Parser, Composer, YAMLParseError } = Y();
  const parser = new Parser(options.lineCounter?.addNewLine);
  (parser as unknown as { lexer: unknown }).lexer = new (repairedLexer())();
  const composer = new Composer(options);
  let doc: Document.Parsed | undefined;
  for (const next of composer.compose(parser.parse(source), true, source.length)) {
    if (doc === undefined) doc = next;
    else {
      doc.errors.push(new YAMLParseError([next.range[0], next.range[1]], "MULTIPLE_DOCS", "Source contains multiple documents; please use YAML.parseAllDocuments()"));
      break;
    }
  }
  return doc!; // compose(…, true) always ends with a document
}

/** The package's `parse` (the first document's value; its first error thrown), lexed by the
 *  repaired lexer. */
export function parseYaml(source: string, options: YamlDocumentOptions = {}): unknown {
  const doc = parseYamlDocument(source, options);
  if (doc.errors.length > 0) throw doc.errors[0];
  return doc.toJS();
}
