// Regular expressions (spec section 3): the RE2 subset, translated into an
// equivalent JavaScript RegExp with the `u` flag. The pattern is parsed into
// a small tree first so that every construct is rewritten deliberately:
//   - every character class (including `.`, `\d`, literals under `(?i)`) is
//     resolved to explicit code-point ranges, so `(?i)` is plain ASCII case
//     folding and JavaScript's own (Unicode) folding is never involved;
//   - `^` and `$` are whole-text anchors (JS without the `m` flag);
//   - `\b` `\B` are ASCII word boundaries (JS `u` mode without `i`).
// Only used on valid patterns; anything outside the subset throws.

type Range = [number, number];
export type RegexNode = Node;
type Node =
  | { type: "set"; ranges: Range[] }
  | { type: "assert"; js: "^" | "$" | "\\b" | "\\B" }
  | { type: "seq"; items: Node[] }
  | { type: "alt"; alts: Node[] }
  | { type: "repeat"; node: Node; min: number; max: number; lazy: boolean };

const MAX = 0x10ffff;
const DIGIT: Range[] = [[0x30, 0x39]];
const WORD: Range[] = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const SPACE: Range[] = [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]]; // \t \n \f \r space
const DOT: Range[] = [[0, 0x09], [0x0b, MAX]]; // any code point but \n

export function normalize(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

export function negate(ranges: Range[]): Range[] {
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of normalize(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX) out.push([next, MAX]);
  return out;
}

/** Adds the other ASCII case of every ASCII letter in the set. */
function foldAscii(ranges: Range[]): Range[] {
  const out = [...ranges];
  for (const [lo, hi] of ranges) {
    const a = Math.max(lo, 0x61), b = Math.min(hi, 0x7a); // a-z -> A-Z
    if (a <= b) out.push([a - 32, b - 32]);
    const c = Math.max(lo, 0x41), d = Math.min(hi, 0x5a); // A-Z -> a-z
    if (c <= d) out.push([c + 32, d + 32]);
  }
  return normalize(out);
}

const PUNCT = /^[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]$/; // ASCII, not a letter or digit

export function parseRegex(pattern: string): { node: Node } {
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  let i = 0;
  let fold = false;
  const fail = (why: string): never => {
    throw new Error(`unsupported regex ${JSON.stringify(pattern)} at ${i}: ${why}`);
  };
  const peek = (k = 0) => (i + k < cps.length ? String.fromCodePoint(cps[i + k]) : "");
  if (pattern.startsWith("(?i)")) {
    fold = true;
    i = 4;
  }
  const set = (ranges: Range[]): Node => ({ type: "set", ranges: fold ? foldAscii(ranges) : normalize(ranges) });

  function parseAlt(): Node {
    const alts = [parseSeq()];
    while (peek() === "|") {
      i++;
      alts.push(parseSeq());
    }
    return alts.length === 1 ? alts[0] : { type: "alt", alts };
  }

  function parseSeq(): Node {
    const items: Node[] = [];
    while (i < cps.length && peek() !== "|" && peek() !== ")") {
      let atom = parseAtom();
      const rep = parseRepeat();
      if (rep) {
        if (atom.type === "assert") fail("repeated assertion");
        atom = { type: "repeat", node: atom, ...rep };
        if (parseRepeat()) fail("double repetition");
      }
      items.push(atom);
    }
    return { type: "seq", items };
  }

  // `* + ? {n} {n,} {n,m}`, each optionally lazy; a `{` that does not start a
  // valid repetition is a literal (as in RE2).
  function parseRepeat(): { min: number; max: number; lazy: boolean } | null {
    let min: number, max: number;
    const c = peek();
    if (c === "*") [min, max] = [0, Infinity];
    else if (c === "+") [min, max] = [1, Infinity];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(String.fromCodePoint(...cps.slice(i, i + 16)));
      if (!m) return null;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      if (min > 1000 || (max !== Infinity && (max > 1000 || max < min))) fail("bad repetition count");
      i += m[0].length - 1;
    } else return null;
    i++;
    const lazy = peek() === "?";
    if (lazy) i++;
    return { min, max, lazy };
  }

  function parseAtom(): Node {
    const c = peek();
    i++;
    switch (c) {
      case "(": {
        if (peek() === "?") {
          if (peek(1) !== ":") fail("only (?:...) groups are supported");
          i += 2;
        }
        const inner = parseAlt();
        if (peek() !== ")") fail("missing )");
        i++;
        return inner;
      }
      case ".":
        return set(DOT);
      case "^":
        return { type: "assert", js: "^" };
      case "$":
        return { type: "assert", js: "$" };
      case "[":
        return parseClass();
      case "\\": {
        const e = peek();
        if (e === "b" || e === "B") {
          i++;
          return { type: "assert", js: e === "b" ? "\\b" : "\\B" };
        }
        return set(parseEscape());
      }
      case "*": case "+": case "?":
        return fail("missing argument to repetition operator");
      default:
        return set([[cps[i - 1], cps[i - 1]]]);
    }
  }

  // After a backslash: a class escape or a single character.
  function parseEscape(): Range[] {
    const e = peek();
    i++;
    switch (e) {
      case "d": return DIGIT;
      case "D": return negate(DIGIT);
      case "w": return WORD;
      case "W": return negate(WORD);
      case "s": return SPACE;
      case "S": return negate(SPACE);
      case "n": return [[0x0a, 0x0a]];
      case "r": return [[0x0d, 0x0d]];
      case "t": return [[0x09, 0x09]];
      case "x": {
        const hex = peek() + peek(1);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail("\\x needs two hex digits");
        i += 2;
        const v = parseInt(hex, 16);
        return [[v, v]];
      }
      default:
        if (!PUNCT.test(e)) fail(`unsupported escape \\${e}`);
        return [[e.codePointAt(0)!, e.codePointAt(0)!]];
    }
  }

  // `[...]` / `[^...]`; a `]` first is literal; `-` first or last is literal.
  function parseClass(): Node {
    const negated = peek() === "^";
    if (negated) i++;
    const ranges: Range[] = [];
    let first = true;
    while (true) {
      if (i >= cps.length) fail("missing ]");
      if (peek() === "]" && !first) break;
      first = false;
      const lo = classChar();
      if (peek() === "-" && peek(1) !== "]" && peek(1) !== "") {
        i++;
        const hi = classChar();
        if (lo.length !== 1 || hi.length !== 1 || lo[0][0] !== lo[0][1] || hi[0][0] !== hi[0][1]) fail("bad range");
        if (hi[0][0] < lo[0][0]) fail("bad range order");
        ranges.push([lo[0][0], hi[0][0]]);
      } else {
        ranges.push(...lo);
      }
    }
    i++; // the closing ]
    const items = fold ? foldAscii(ranges) : normalize(ranges);
    return { type: "set", ranges: negated ? negate(items) : items };
  }

  function classChar(): Range[] {
    const c = cps[i++];
    if (c === 0x5c) return parseEscape();
    return [[c, c]];
  }

  const node = parseAlt();
  if (i < cps.length) fail("unmatched )");
  return { node };
}

const cp = (n: number) => `\\u{${n.toString(16)}}`;

export function toJsSource(node: Node): string {
  switch (node.type) {
    case "set":
      if (node.ranges.length === 1 && node.ranges[0][0] === node.ranges[0][1]) return cp(node.ranges[0][0]);
      return "[" + node.ranges.map(([lo, hi]) => (lo === hi ? cp(lo) : `${cp(lo)}-${cp(hi)}`)).join("") + "]";
    case "assert":
      return node.js;
    case "seq":
      return node.items.map(toJsSource).join("");
    case "alt":
      return "(?:" + node.alts.map(toJsSource).join("|") + ")";
    case "repeat": {
      const count = node.max === Infinity ? `{${node.min},}` : `{${node.min},${node.max}}`;
      return `(?:${toJsSource(node.node)})${count}${node.lazy ? "?" : ""}`;
    }
  }
}

/** Compiles a spec regular expression into a JS RegExp that searches for it. */
export function compileRegex(pattern: string): RegExp {
  return new RegExp(toJsSource(parseRegex(pattern).node), "u");
}
