// Parser for RE2's search-test corpus (/work/shared/corpora/re2-search.txt,
// Go's src/regexp/testdata/re2-search.txt). See that folder's README.md.
//
// Layout: a `strings` line, then Go-quoted texts one per line; a `regexps`
// line, then for each Go-quoted expression one result line per text. A result
// line has four `;`-separated fields (full match, search, longest full match,
// longest search); `-` means no match. Tollgate's `matches` is the search:
// the second field decides.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Re2Case {
  /** The text decoded as UTF-8 (with U+FFFD where `bytes` is not valid UTF-8). */
  text: string;
  /** The exact bytes of the Go string. */
  bytes: Uint8Array;
  /** RE2's answer for an unanchored search. */
  matches: boolean;
}

export interface Re2Regex {
  regex: string;
  cases: Re2Case[];
}

const utf8 = new TextEncoder();

function hexVal(c: string): number {
  const v = parseInt(c, 16);
  if (Number.isNaN(v)) throw new Error(`bad hex digit ${JSON.stringify(c)}`);
  return v;
}

/** Decodes a Go interpreted string literal ("...") to its bytes. */
export function unquoteGo(quoted: string): Uint8Array {
  if (quoted.length < 2 || quoted[0] !== '"' || quoted[quoted.length - 1] !== '"') {
    throw new Error(`not a Go string literal: ${quoted}`);
  }
  const s = quoted.slice(1, -1);
  const out: number[] = [];
  const pushCp = (cp: number) => {
    for (const b of utf8.encode(String.fromCodePoint(cp))) out.push(b);
  };
  for (let i = 0; i < s.length; ) {
    const c = s[i]!;
    if (c !== "\\") {
      const cp = s.codePointAt(i)!;
      pushCp(cp);
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const e = s[i + 1];
    if (e === undefined) throw new Error(`trailing backslash in ${quoted}`);
    i += 2;
    switch (e) {
      case "a": out.push(7); break;
      case "b": out.push(8); break;
      case "f": out.push(12); break;
      case "n": out.push(10); break;
      case "r": out.push(13); break;
      case "t": out.push(9); break;
      case "v": out.push(11); break;
      case "\\": out.push(0x5c); break;
      case "'": out.push(0x27); break;
      case '"': out.push(0x22); break;
      case "x": {
        out.push(hexVal(s[i]!) * 16 + hexVal(s[i + 1]!));
        i += 2;
        break;
      }
      case "u":
      case "U": {
        const n = e === "u" ? 4 : 8;
        const hex = s.slice(i, i + n);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) throw new Error(`bad \\${e} escape in ${quoted}`);
        pushCp(parseInt(hex, 16));
        i += n;
        break;
      }
      default: {
        if (e >= "0" && e <= "7") {
          const oct = s.slice(i - 1, i + 2);
          if (!/^[0-7]{3}$/.test(oct)) throw new Error(`bad octal escape in ${quoted}`);
          out.push(parseInt(oct, 8));
          i += 2;
          break;
        }
        throw new Error(`unknown escape \\${e} in ${quoted}`);
      }
    }
  }
  return Uint8Array.from(out);
}

/** Is `bytes` well-formed UTF-8 (no surrogates, no overlongs)? */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export function parseRe2Search(text: string): Re2Regex[] {
  const lines = text.split("\n");
  const out: Re2Regex[] = [];
  const decoder = new TextDecoder("utf-8");
  let strings: Uint8Array[] = [];
  let mode: "none" | "strings" | "regexps" = "none";
  let current: Re2Regex | null = null;
  let resultIndex = 0;
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.replace(/\r$/, "");
    const where = `re2-search.txt:${ln + 1}`;
    if (line === "" || line.startsWith("#")) continue;
    if (line === "strings") {
      if (current && resultIndex !== strings.length) throw new Error(`${where}: missing result lines`);
      mode = "strings";
      strings = [];
      current = null;
      continue;
    }
    if (line === "regexps") {
      mode = "regexps";
      current = null;
      continue;
    }
    if (mode === "none") continue; // header such as "Regexp.SearchTests"
    if (mode === "strings") {
      strings.push(unquoteGo(line));
      continue;
    }
    // regexps block
    if (line.startsWith('"')) {
      if (current && resultIndex !== strings.length) throw new Error(`${where}: missing result lines`);
      current = { regex: decoder.decode(unquoteGo(line)), cases: [] };
      out.push(current);
      resultIndex = 0;
      continue;
    }
    if (!current) throw new Error(`${where}: result line without an expression`);
    const fields = line.split(";");
    if (fields.length !== 4) throw new Error(`${where}: expected 4 fields, got ${line}`);
    if (resultIndex >= strings.length) throw new Error(`${where}: too many result lines`);
    const bytes = strings[resultIndex++]!;
    current.cases.push({ text: decoder.decode(bytes), bytes, matches: fields[1] !== "-" });
  }
  if (current && resultIndex !== strings.length) throw new Error("re2-search.txt: missing result lines at end");
  return out;
}

/**
 * Where the corpus is: `shared/` sits beside the repository (as in CI's checkout), or at the
 * workplace's /work/shared. Missing data is an error, never a silent skip.
 */
export function re2CorpusPath(): string {
  const candidates = [
    fileURLToPath(new URL("../../../shared/corpora/re2-search.txt", import.meta.url)),
    "/work/shared/corpora/re2-search.txt",
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`RE2 corpus not found; looked in ${candidates.join(", ")}`);
  return found;
}
