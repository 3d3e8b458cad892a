// YAML (1.2 core schema) -> a JSON value for the core, keeping the node tree so that the core's
// JSON pointers map back to file:line:column.

import { createRequire } from "node:module";
import type { Document, Node as YamlNode, ParsedNode, Scalar, YAMLError } from "yaml";
import { MAX_ALIAS_EXPANSIONS, MAX_MANIFEST_BYTES, MAX_YAML_DEPTH, Messages } from "./abi.generated.js";
import { inPositionOrder } from "./errors.js";
import type { PolicyProblem } from "./errors.js";
import { parseYamlDocument } from "./yaml-document.js";
import { fastYamlValue } from "./yaml-fast.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export { MAX_MANIFEST_BYTES } from "./abi.generated.js";

let yamlPackage: typeof import("yaml") | undefined;

/**
 * The `yaml` package, loaded at the first parse, not with this module: it is most of what loading
 * the Policy API costs a new process, and a policy loaded from JSON (`Policy.fromJson`, the
 * hook's cache) never parses YAML. (Node resolves `import` and `require` of it to the same file.)
 */
function Y(): typeof import("yaml") {
  return (yamlPackage ??= createRequire(import.meta.url)("yaml") as typeof import("yaml"));
}

export interface LoadedYaml {
  value: Json;
  /** Position of the node named by a JSON pointer (`at: "key"` = the mapping key of that entry). */
  locate(pointer: string, at: "key" | "value"): { line: number; column: number };
}

export type YamlResult = { ok: true; yaml: LoadedYaml } | { ok: false; problems: PolicyProblem[] };

export function loadYaml(text: string, file: string): YamlResult {
  const tooLarge = sizeProblem(text, file);
  if (tooLarge !== null) return tooLarge;
  text = lineBreaks(text);
  const unprintable = unprintableProblem(text, file);
  if (unprintable !== null) return unprintable;
  // The common case (src/yaml-fast.ts), ~10x faster; positions, only asked for when there is
  // something to place (an error, a lint finding), come from the `yaml` package's reading.
  const value = fastYamlValue(text);
  if (value !== undefined) {
    let exact: LoadedYaml | undefined;
    return {
      ok: true,
      yaml: {
        value,
        locate(pointer, at) {
          if (exact === undefined) {
            const slow = readExactly(text, file);
            // Never seen (test/property/yaml-fast.test.ts holds the readers equal); were it to
            // happen, the error being placed is still reported, at the start of the file.
            if (!slow.ok) return { line: 1, column: 1 };
            exact = slow.yaml;
          }
          return exact.locate(pointer, at);
        },
      },
    };
  }
  return readExactly(text, file);
}

/** The `yaml` package's reading: the authority for values, errors and positions. */
export function loadYamlExactly(text: string, file: string): YamlResult {
  const tooLarge = sizeProblem(text, file);
  if (tooLarge !== null) return tooLarge;
  text = lineBreaks(text);
  return unprintableProblem(text, file) ?? readExactly(text, file);
}

/** Characters a YAML stream may not hold (YAML 1.2 c-printable: C0 controls but tab and line
 *  breaks, DEL, C1 controls, U+FFFE, U+FFFF), and NEL, LS and PS (U+0085, U+2028, U+2029),
 *  characters in YAML 1.2 but line breaks to PyYAML. The yaml package reads them all; the Python host's reader refuses them
 *  or breaks a line at NEL: both hosts refuse them here, at the first one, so they never read a
 *  manifest differently. (Lone surrogates are refused later, where the manifest is made
 *  canonical JSON.) */
const UNPRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u2028\u2029\uFFFE\uFFFF]/;

/** The characters of UNPRINTABLE that JSON.stringify and the yaml package write as they are
 *  (both escape C0 controls). */
const WRITTEN_RAW = /[\x7F-\x9F\u2028\u2029\uFFFE\uFFFF]/g;

/**
 * `text` with DEL, the C1 controls and U+FFFE/U+FFFF written as `\uXXXX` escapes: for a text in
 * which they can only be inside double-quoted strings (JSON from JSON.stringify, or what the yaml
 * package writes for a loaded policy, whose only way to hold them is an escape in double quotes),
 * where the escape says the same and the text becomes one a YAML reader takes.
 */
export function escapeWrittenRaw(text: string): string {
  return text.replace(WRITTEN_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function unprintableProblem(text: string, file: string): YamlResult | null {
  const m = UNPRINTABLE.exec(text);
  if (m === null) return null;
  const at = m.index;
  const code = text.charCodeAt(at).toString(16).padStart(4, "0");
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < at; i = text.indexOf("\n", i + 1)) line++;
  const column = at - (text.lastIndexOf("\n", at - 1) + 1) + 1;
  return { ok: false, problems: [{ file, line, column, message: Messages.unprintableCharacter(`U+${code.toUpperCase()}`, code) }] };
}

function sizeProblem(text: string, file: string): YamlResult | null {
  if (Buffer.byteLength(text, "utf8") <= MAX_MANIFEST_BYTES) return null;
  return { ok: false, problems: [{ file, line: 1, column: 1, message: Messages.manifestTooLarge }] };
}

/** A lone CR is a line break in YAML 1.2 (as CRLF and LF are), which the parser does not take:
 *  made an LF, one character for one, so offsets and positions do not move. */
function lineBreaks(text: string): string {
  // A byte order mark is not part of the first line (editors do not show it): without it, the
  // positions on line 1 are those a person sees, and the Python host's (whose reader drops it).
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text = text.replace(/\r(?!\n)/g, "\n");
  // A file's last line break, there or not (editors differ), changes nothing: without it, a block
  // scalar ending the file lost its clipped line break in the Python host's reader and kept it in
  // the package's, and an unclosed `"...\"` there was read as closed. Added at the end: no
  // offset moves.
  return text === "" || text.endsWith("\n") ? text : text + "\n";
}

/** loadYamlExactly on text already checked for size and with its line breaks made LF or CRLF. */
function readExactly(text: string, file: string): YamlResult {
  const lineCounter = new (Y().LineCounter)();
  // (The package's reading, with its lexer repaired for comment lines: src/yaml-document.ts.)
  const doc = parseYamlDocument(text, {
    lineCounter,
    version: "1.2",
    schema: "core",
    uniqueKeys: true,
    prettyErrors: false,
    keepSourceTokens: false,
  });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  // A directive the package only warns of (unknown, or a YAML version other than 1.1 and 1.2)
  // is an error, as it is to PyYAML and so in the Python host: a manifest loads in both or in
  // neither. So is a second %YAML directive (YAML 1.2, 6.8.1).
  // So is an anchor or alias ending in `:` (the package warns "ambiguous"): `&a: b` is the value
  // "b" anchored as `a:` to it, and a mapping with no key to PyYAML, which refuses that.
  const refused = [...doc.errors, ...doc.warnings.filter((w) => w.code === "BAD_DIRECTIVE" || w.code === "BAD_ALIAS")];
  const twice = secondYamlDirective(text);
  if (refused.length > 0 || twice >= 0) {
    const problems = refused.map((e) => ({ file, ...pos(e.pos[0]), message: yamlMessage(e) }));
    if (twice >= 0) problems.push({ file, ...pos(twice), message: "found duplicate %YAML directive" });
    return {
      ok: false,
      // In position order, as every list of errors (the package reports an inner duplicate key
      // before the outer one that holds it).
      problems: inPositionOrder(problems),
    };
  }
  const problems: PolicyProblem[] = [];
  const converter = new JsonConverter(doc, (node, message) => {
    problems.push({ file, ...pos(node.range?.[0] ?? 0), message });
  });
  let value: Json;
  try {
    value = converter.convert(doc.contents as YamlNode | null);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return { ok: false, problems: [{ file, line: 1, column: 1, message: TOO_DEEP }] };
  }
  if (problems.length > 0) return { ok: false, problems: inPositionOrder(problems) };
  return {
    ok: true,
    yaml: {
      value,
      locate(pointer, at) {
        return pos(locateOffset(doc, pointer, at));
      },
    },
  };
}

const CORE_TAG = "tag:yaml.org,2002:";

/**
 * The tag of a scalar whose value does not fit it (`!!float 1`, `!!bool yes`) or that the core
 * schema does not have (`!foo`), as written; null for the others. The yaml package keeps such a
 * value as its string and only warns (TAG_RESOLVE_FAILED): a deny rule's `eq: !!float 1` would then
 * silently never match 1. An error instead, as in the Python host (yaml_schema.UnresolvedTag).
 * The non-specific `!` makes a string (YAML 1.2, 6.9.1), as `!!str` does.
 */
function unfitTag(node: Scalar): string | null {
  const tag = node.tag;
  if (tag === undefined || tag === "!" || tag === `${CORE_TAG}str` || typeof node.value !== "string") return null;
  return tag.startsWith(CORE_TAG) ? `!!${tag.slice(CORE_TAG.length)}` : tag;
}

/** When the YAML nests deeper than a parser's stack allows (hundreds of levels; 64 are legal). */
const TOO_DEEP = Messages.yamlTooDeep;

/**
 * A yaml package error as a problem's message, told apart by its `code`: the composer running out
 * of stack (RESOURCE_EXHAUSTION: the nesting) and a second document (MULTIPLE_DOCS) get our own
 * texts; any other keeps the package's message (its first line, without a position: those end
 * with a code frame and "at line L, column C" when prettyErrors is on).
 */
/** The offset of a second `%YAML` directive among the lines before the document, or -1. */
function secondYamlDirective(text: string): number {
  let seen = false;
  for (let at = 0; at < text.length; ) {
    const end = text.indexOf("\n", at);
    const line = text.slice(at, end === -1 ? text.length : end);
    if (line.startsWith("%YAML ") || line.startsWith("%YAML\t")) {
      if (seen) return at;
      seen = true;
    } else if (!(line.startsWith("%") || line.startsWith("#") || line.trim() === "")) {
      return -1; // the document (or its `---`) starts: directives are only before it
    }
    if (end === -1) break;
    at = end + 1;
  }
  return -1;
}

function yamlMessage(error: YAMLError): string {
  switch (error.code) {
    case "RESOURCE_EXHAUSTION": return TOO_DEEP;
    case "MULTIPLE_DOCS": return Messages.multipleDocuments;
  }
  const first = error.message.split("\n")[0] ?? error.message;
  return first.replace(/ at line \d+, column \d+:?$/, "");
}

/** A UTF-16 surrogate not in a pair: an escape such as "\ud800" in the YAML (or JSON) text. Such
 *  a string has no UTF-8 form (spec section 1 compares strings as UTF-8): a policy error at its
 *  node (Messages.loneSurrogate), where canonical JSON would otherwise fail without a position. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

class JsonConverter {
  private expansions = 0;
  /** Mappings and sequences being converted, one inside the other. */
  private depth = 0;
  /** Aliased nodes being expanded right now: meeting one again is a cycle (`a: &x [*x]`). */
  private expanding = new Set<YamlNode>();
  constructor(private doc: Document, private report: (node: YamlNode, message: string) => void) {}

  /** Each alias's anchored node, found in one pass over the document. The package's own
   *  `Alias.resolve` walks the whole document for every alias: 10,000 aliases took 15 s. */
  private targets: Map<YamlNode, YamlNode | undefined> | null = null;

  /** The node `alias` refers to: the last one anchored with its name before it (YAML 1.2). */
  private targetOf(alias: YamlNode & { source: string }): YamlNode | undefined {
    if (this.targets === null) {
      const targets = (this.targets = new Map<YamlNode, YamlNode | undefined>());
      const last = new Map<string, YamlNode>();
      Y().visit(this.doc, {
        Node: (_key, n) => {
          if (Y().isAlias(n)) targets.set(n, last.get(n.source));
          else if (typeof n.anchor === "string" && n.anchor !== "") last.set(n.anchor, n);
        },
      });
    }
    return this.targets.get(alias);
  }

  convert(node: YamlNode | null | undefined): Json {
    if (node == null) return null;
    if (Y().isAlias(node)) {
      if (++this.expansions > MAX_ALIAS_EXPANSIONS) {
        this.report(node, Messages.tooManyAliases);
        return null;
      }
      const target = this.targetOf(node);
      if (!target) {
        this.report(node, Messages.aliasWithoutAnchor(node.source));
        return null;
      }
      if (this.expanding.has(target)) {
        this.report(node, `alias *${node.source} refers to a node that contains it`);
        return null;
      }
      this.expanding.add(target);
      try {
        return this.convert(target);
      } finally {
        this.expanding.delete(target);
      }
    }
    if (Y().isScalar(node)) return this.scalar(node);
    // Nesting is bounded by MAX_YAML_DEPTH, not by the stack (which the caller's depth changes):
    // both hosts refuse the same manifests. The RangeError is reported as TOO_DEEP.
    if (Y().isSeq(node) || Y().isMap(node)) {
      if (++this.depth > MAX_YAML_DEPTH) throw new RangeError("MAX_YAML_DEPTH");
      try {
        return this.collection(node);
      } finally {
        this.depth--;
      }
    }
    this.report(node, Messages.unsupportedNode);
    return null;
  }

  private collection(node: YamlNode): Json {
    if (Y().isSeq(node)) return node.items.map((item) => this.convert(item as YamlNode));
    if (Y().isMap(node)) {
      const out: { [key: string]: Json } = Object.create(null);
      for (const pair of node.items) {
        // An alias key is the scalar it refers to (`*k : 1`), as in the Python host; problems
        // are placed at the key as written.
        const written = pair.key as YamlNode | null;
        let keyNode = written;
        if (written != null && Y().isAlias(written)) {
          keyNode = this.targetOf(written) ?? null;
          if (keyNode === null) {
            this.report(written, Messages.aliasWithoutAnchor(written.source));
            continue;
          }
        }
        if (written == null || keyNode == null) {
          this.report(written ?? node, Messages.emptyKey); // (the package leaves no key node)
          continue;
        }
        if (!Y().isScalar(keyNode)) {
          this.report(written, Messages.keyNotScalar);
          continue;
        }
        // No key at all (`: a`, or what is left of `? 'a' b` or `a: [x]: y`, which the package
        // reads without an error): refused, as by the Python host's reader, not read as "null".
        if (keyNode.type === "PLAIN" && keyNode.source === "" && keyNode.tag === undefined) {
          this.report(written, Messages.emptyKey);
          continue;
        }
        const unfit = unfitTag(keyNode);
        if (unfit !== null) {
          this.report(written, Messages.unresolvedTag(unfit));
          continue;
        }
        const kv = keyNode.value;
        if ((typeof kv === "object" && kv !== null) || typeof kv === "symbol") {
          // A `!!binary`, `!!timestamp` or `!!merge` key: no string a field could be named by
          // (the Python host's reader gives another text): an error, as such a value is.
          this.report(written, Messages.unsupportedValue(typeof kv));
          continue;
        }
        const key = String(kv ?? "null");
        if (LONE_SURROGATE.test(key)) {
          this.report(written, Messages.loneSurrogate);
          continue;
        }
        if (Object.prototype.hasOwnProperty.call(out, key)) {
          this.report(written, Messages.duplicateKey(key));
          continue;
        }
        out[key] = this.convert(pair.value as YamlNode | null);
      }
      // Plain prototype so that JSON.stringify and canonicalize treat it as an ordinary object.
      // Defined, not assigned: `obj["__proto__"] = v` would set the prototype and drop the key
      // (a condition on the field `__proto__` would vanish and the rule match more: fail open).
      const plain: { [key: string]: Json } = {};
      for (const key of Object.keys(out)) Object.defineProperty(plain, key, { value: out[key], enumerable: true, writable: true, configurable: true });
      return plain;
    }
    this.report(node, Messages.unsupportedNode);
    return null;
  }

  private scalar(node: Scalar): Json {
    const unfit = unfitTag(node);
    if (unfit !== null) {
      this.report(node, Messages.unresolvedTag(unfit));
      return null;
    }
    const v = node.value;
    if (typeof v === "string" && LONE_SURROGATE.test(v)) {
      this.report(node, Messages.loneSurrogate);
      return null;
    }
    if (v === null || typeof v === "boolean" || typeof v === "string") return v;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) {
        this.report(node, Messages.notJsonNumber(String(node.source ?? v)));
        return null;
      }
      return v;
    }
    if (typeof v === "bigint") {
      // An integer beyond a double (310 digits and more) is no more a JSON number than 1e999.
      const n = Number(v);
      if (!Number.isFinite(n)) {
        this.report(node, Messages.notJsonNumber(String(node.source ?? v)));
        return null;
      }
      return n;
    }
    this.report(node, Messages.unsupportedValue(typeof v));
    return null;
  }
}

function decodeToken(token: string): string {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** Offset of the node a JSON pointer names; falls back to the deepest node that exists. */
function locateOffset(doc: Document, pointer: string, at: "key" | "value"): number {
  let node = doc.contents as ParsedNode | null;
  let keyNode: ParsedNode | null = null;
  const tokens = pointer === "" ? [] : pointer.slice(1).split("/").map(decodeToken);
  for (const token of tokens) {
    while (node && Y().isAlias(node)) node = node.resolve(doc) as ParsedNode | null;
    if (node && Y().isMap(node)) {
      const pair = node.items.find((p) => Y().isPair(p) && Y().isScalar(p.key) && String((p.key as Scalar).value ?? "null") === token);
      if (!pair) break;
      keyNode = pair.key as ParsedNode;
      node = (pair.value as ParsedNode | null) ?? keyNode;
    } else if (node && Y().isSeq(node)) {
      const item = node.items[Number(token)] as ParsedNode | undefined;
      if (!item) break;
      keyNode = null;
      node = item;
    } else break;
  }
  if (at === "key" && keyNode) return keyNode.range[0];
  return node?.range?.[0] ?? 0;
}
