// Glob patterns (spec section 3), matched whole, over Unicode code points:
//   *      any run of characters except "/" (possibly empty)
//   **     any run of characters, "/" included (possibly empty)
//   ?      one character other than "/"
//   [...]  one character of the class (ranges a-z), [!...] not of it; never "/"
//   {a,b}  one of the literal alternatives
//   \c     the character c, literally

export type GlobToken =
  | { type: "lit"; text: number[] }
  | { type: "star" }
  | { type: "dstar" }
  | { type: "any" }
  | { type: "class"; negated: boolean; ranges: [number, number][] }
  | { type: "alt"; options: number[][] };

const SLASH = 0x2f;

export function parseGlob(pattern: string): GlobToken[] {
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  const ch = (k: number) => (k < cps.length ? String.fromCodePoint(cps[k]) : "");
  const tokens: GlobToken[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`invalid glob ${JSON.stringify(pattern)}: ${why}`);
  };
  // One possibly escaped character.
  const literal = (): number => {
    if (ch(i) === "\\") {
      if (i + 1 >= cps.length) fail("trailing backslash");
      i++;
    }
    return cps[i++];
  };
  while (i < cps.length) {
    const c = ch(i);
    if (c === "*") {
      if (ch(i + 1) === "*") {
        tokens.push({ type: "dstar" });
        i += 2;
      } else {
        tokens.push({ type: "star" });
        i += 1;
      }
    } else if (c === "?") {
      tokens.push({ type: "any" });
      i++;
    } else if (c === "[") {
      i++;
      const negated = ch(i) === "!";
      if (negated) i++;
      const ranges: [number, number][] = [];
      while (ch(i) !== "]") {
        if (i >= cps.length) fail("missing ]");
        const lo = literal();
        let hi = lo;
        if (ch(i) === "-" && ch(i + 1) !== "]" && i + 1 < cps.length) {
          i++;
          hi = literal();
        }
        ranges.push([lo, hi]);
      }
      i++;
      tokens.push({ type: "class", negated, ranges });
    } else if (c === "{") {
      i++;
      const options: number[][] = [[]];
      while (ch(i) !== "}") {
        if (i >= cps.length) fail("missing }");
        if (ch(i) === ",") {
          options.push([]);
          i++;
        } else {
          options[options.length - 1].push(literal());
        }
      }
      i++;
      tokens.push({ type: "alt", options });
    } else {
      tokens.push({ type: "lit", text: [literal()] });
    }
  }
  return tokens;
}

function classHas(token: Extract<GlobToken, { type: "class" }>, c: number): boolean {
  if (c === SLASH) return false;
  const inRanges = token.ranges.some(([lo, hi]) => lo <= c && c <= hi);
  return token.negated ? !inRanges : inRanges;
}

function startsWithAt(s: number[], at: number, text: number[]): boolean {
  return text.every((c, k) => s[at + k] === c);
}

/** Whether the whole of `s` is matched by the tokens (memoised recursion). */
export function globMatch(tokens: GlobToken[], value: string): boolean {
  const s = Array.from(value, (c) => c.codePointAt(0)!);
  const memo = new Map<number, boolean>();
  const match = (t: number, at: number): boolean => {
    const key = t * (s.length + 1) + at;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (t === tokens.length) {
      result = at === s.length;
    } else {
      const token = tokens[t];
      switch (token.type) {
        case "lit":
          result = startsWithAt(s, at, token.text) && match(t + 1, at + token.text.length);
          break;
        case "any":
          result = at < s.length && s[at] !== SLASH && match(t + 1, at + 1);
          break;
        case "class":
          result = at < s.length && classHas(token, s[at]) && match(t + 1, at + 1);
          break;
        case "alt":
          result = token.options.some((o) => startsWithAt(s, at, o) && match(t + 1, at + o.length));
          break;
        case "star":
        case "dstar": {
          // Try every run length; `*` stops before the first "/".
          result = false;
          for (let end = at; end <= s.length; end++) {
            if (match(t + 1, end)) {
              result = true;
              break;
            }
            if (end < s.length && token.type === "star" && s[end] === SLASH) break;
          }
          break;
        }
      }
    }
    memo.set(key, result);
    return result;
  };
  return match(0, 0);
}
