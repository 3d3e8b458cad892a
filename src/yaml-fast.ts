// The fast path of reading a policy's YAML (issue 18): js-yaml's event parser, with the values
// built here by the same YAML 1.2 core schema rules as the `yaml` package resolves them (src/yaml.ts
// is the authority). It takes only the common case — one document of mappings, sequences and
// scalars, without anchors, aliases, tags or directives — and gives up (undefined) on anything else,
// on any parse error and on every value src/yaml.ts reports as a problem; the caller then takes
// the `yaml` package's path, which gives the same value or the error with its position. It
// records no positions: those come from that path too, only when there is an error to place.
//
// test/property/yaml-fast.test.ts holds both paths equal on generated and mangled documents.

import { createRequire } from "node:module";
import type { Event, ScalarEvent } from "js-yaml";

/** A JSON value (src/yaml.ts's Json, which this module cannot import: yaml.ts imports it). */
type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

let jsYaml: typeof import("js-yaml") | undefined;

/** js-yaml, loaded at the first parse (as src/yaml.ts loads `yaml`): a policy from JSON never needs it. */
function J(): typeof import("js-yaml") {
  return (jsYaml ??= createRequire(import.meta.url)("js-yaml") as typeof import("js-yaml"));
}

// js-yaml's event and style numbers (EVENT_ID, SCALAR_STYLE): constants, so the loop below
// compares small integers.
const DOCUMENT = 1, SEQUENCE = 2, MAPPING = 3, SCALAR = 4, POP = 6;
const PLAIN = 1, DOUBLE_QUOTED = 3;

/** Nesting beyond this gives up: the `yaml` path reports depth its own way. */
const MAX_DEPTH = 96;

/** The `yaml` package's core schema tests (schema/core, schema/common/null), in its order. */
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;
/** Could be anything but a string: the first character of every non-empty match above. */
const MAYBE_NOT_STRING = /^[-+.~0-9nNtTfF]/;

/** A UTF-16 surrogate not in a pair (src/yaml.ts reports it). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Characters where the two readers were seen to differ: tabs (`yaml` refuses them as
 *  indentation, js-yaml does not) and byte order marks (`yaml` refuses some that js-yaml skips). */
const UNUSUAL = /[\t\ufeff]/;

/** Document markers other than one `---` opening the text (`...` then content is one document to
 *  js-yaml and two to `yaml`; an indented ` ---` starts a document for one, a scalar for the
 *  other): the readers' ideas of a document's edges may differ, so the fast path gives up. */
function unusualMarkers(text: string): boolean {
  MARKER.lastIndex = 0;
  const first = MARKER.exec(text);
  if (first === null) return false;
  if (first[0] !== "---" || first.index !== firstContent(text)) return true;
  return MARKER.exec(text) !== null;
}

/** A line that is, after blanks, `---` or `...` and a blank, a line break (CRLF too) or the end. */
const MARKER = /^[ ]*(?:---|\.\.\.)(?=[ \r\n]|$)/gm;

/** Offset of the first line that is not blank or a comment. */
function firstContent(text: string): number {
  const m = /^(?:[ ]*(?:#[^\r\n]*)?\r?\n)*/.exec(text);
  return m === null ? 0 : m[0].length;
}

/** Gives up: caught by fastYamlValue. */
class GiveUp extends Error {}
const GIVE_UP = new GiveUp("not the common case");
/** Keys longer than this (in UTF-16 units of the source, quotes aside) go to the `yaml` package. */
const LONG_KEY = 1000;

/** A plain scalar's value under the core schema, as the `yaml` package resolves it. */
export function resolvePlain(text: string): Value {
  if (text === "") return null;
  if (!MAYBE_NOT_STRING.test(text)) return text;
  if (NULL.test(text)) return null;
  if (BOOL.test(text)) return text[0] === "t" || text[0] === "T";
  // An integer beyond a double is not a JSON number: src/yaml.ts reports it where it is.
  if (INT_OCT.test(text)) return finite(parseInt(text.substring(2), 8));
  if (INT.test(text)) return finite(parseInt(text, 10));
  if (INT_HEX.test(text)) return finite(parseInt(text.substring(2), 16));
  if (FLOAT_NAN.test(text)) throw GIVE_UP; // not a JSON number: src/yaml.ts reports it
  if (FLOAT_EXP.test(text) || FLOAT.test(text)) {
    const x = parseFloat(text);
    if (!Number.isFinite(x)) throw GIVE_UP; // 1e999
    return x;
  }
  return text;
}

/**
 * The value of `text` when it is the common case and the `yaml` path would give exactly this
 * value without a problem; else undefined (take that path). Never throws.
 */
export function fastYamlValue(text: string): Value | undefined {
  if (UNUSUAL.test(text) || LONE_SURROGATE.test(text) || unusualMarkers(text)) return undefined;
  let events: Event[];
  try {
    events = J().parseEvents(text, { maxDepth: MAX_DEPTH });
  } catch {
    return undefined;
  }
  try {
    return new Builder(text, events).document();
  } catch {
    return undefined; // GiveUp, or a stack overflow
  }
}

class Builder {
  private i = 0;
  constructor(private readonly source: string, private readonly events: Event[]) {}

  /** Exactly one document, without directives; an empty one is null. */
  document(): Value {
    const ev = this.events;
    if (ev.length === 0) return null;
    const doc = ev[0]!;
    if (doc.type !== DOCUMENT || doc.directives.length > 0) throw GIVE_UP;
    this.i = 1;
    const value = this.at(ev[this.i]!).type === POP ? null : this.node();
    if (this.events[this.i++]?.type !== POP || this.i !== ev.length) throw GIVE_UP;
    return value;
  }

  private at(e: Event | undefined): Event {
    if (e === undefined) throw GIVE_UP;
    return e;
  }

  private node(): Value {
    const e = this.at(this.events[this.i++]);
    switch (e.type) {
      case SCALAR: {
        if (e.anchorStart !== -1 || e.tagStart !== -1) throw GIVE_UP;
        return this.scalar(e);
      }
      case SEQUENCE: {
        if (e.anchorStart !== -1 || e.tagStart !== -1) throw GIVE_UP;
        const out: Value[] = [];
        while (this.at(this.events[this.i]).type !== POP) out.push(this.node());
        this.i++;
        return out;
      }
      case MAPPING: {
        if (e.anchorStart !== -1 || e.tagStart !== -1) throw GIVE_UP;
        const out: { [key: string]: Value } = {};
        while (this.at(this.events[this.i]).type !== POP) {
          const k = this.at(this.events[this.i++]);
          // A key that is not a scalar, carries properties, is empty (where the readers' ideas of
          // compact mappings differ) or is `__proto__` (which an assignment would not store as a
          // key): the `yaml` path.
          if (k.type !== SCALAR || k.anchorStart !== -1 || k.tagStart !== -1 || k.valueStart === -1) throw GIVE_UP;
          // A long key: YAML 1.2 limits an implicit key to 1024 characters, which this reader
          // does not check (the `yaml` package does, and says where).
          if (k.valueEnd - k.valueStart > LONG_KEY) throw GIVE_UP;
          const key = this.keyText(k);
          if (key === "__proto__" || Object.prototype.hasOwnProperty.call(out, key)) throw GIVE_UP;
          out[key] = this.node();
        }
        this.i++;
        return out;
      }
      default:
        throw GIVE_UP; // an alias, or a second document
    }
  }

  private scalar(e: ScalarEvent): Value {
    // Block scalars, and flow scalars over several lines (folding, escaped line breaks): the
    // readers were seen to fold some differently.
    if (e.style > DOUBLE_QUOTED || (!e.fast && e.valueStart !== -1 && this.source.includes("\n", e.valueStart) && this.source.indexOf("\n", e.valueStart) < e.valueEnd)) throw GIVE_UP;
    if (e.style === PLAIN) return resolvePlain(this.text(e));
    const s = this.text(e);
    // Escapes (`"\ud800"`) can make a lone surrogate: src/yaml.ts reports it.
    if (e.style === DOUBLE_QUOTED && LONE_SURROGATE.test(s)) throw GIVE_UP;
    return s;
  }

  /** A mapping key as src/yaml.ts writes it: `String(value ?? "null")`. */
  private keyText(e: ScalarEvent): string {
    const v = this.scalar(e);
    return v === null ? "null" : String(v);
  }

  private text(e: ScalarEvent): string {
    if (e.valueStart === -1) return "";
    return e.fast ? this.source.slice(e.valueStart, e.valueEnd) : J().getScalarValue(this.source, e);
  }
}

function finite(x: number): number {
  if (!Number.isFinite(x)) throw GIVE_UP;
  return x;
}
