// Lint, patterns that are plain strings (spec section 3): a `matches` whose expression is a
// literal (letters and escaped punctuation only, optionally anchored by ^ and $) and a `glob`
// without any wildcard. `matches` is a search, so an unanchored literal is `contains`, `^lit`
// is `prefix`, `lit$` is `suffix` and `^lit$` is `eq`, each the same on a string value (they
// differ on other values: `eq` is FALSE on a number, where `matches` is UNKNOWN; `contains` on
// an array compares elements); a glob without wildcards matches only the string itself (`eq`).
// Anything else (a flag such as `(?i)`, classes, escapes like \d or \b, braces) stays silent.

import { allOperators, counterWhens, fieldSites, type RuleSite, type When } from "./manifest.js";
import type { Finding } from "./finding.js";

const REGEX_META = new Set([".", "[", "]", "(", ")", "{", "}", "*", "+", "?", "|", "^", "$"]);

/** The literal a regular expression matches and how it is anchored, or null if not a literal. */
export function regexLiteral(re: string): { text: string; start: boolean; end: boolean } | null {
  let body = re;
  const start = body.startsWith("^");
  if (start) body = body.slice(1);
  let end = false;
  if (body.endsWith("$")) {
    let slashes = 0;
    for (let i = body.length - 2; i >= 0 && body[i] === "\\"; i--) slashes++;
    if (slashes % 2 === 0) {
      end = true;
      body = body.slice(0, -1);
    }
  }
  let text = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "\\") {
      const n = body[i + 1];
      if (n === undefined || !/^[!-\/:-@\[-`{-~]$/.test(n)) return null; // escaped ASCII punctuation only
      text += n;
      i++;
    } else if (REGEX_META.has(c)) return null;
    else text += c;
  }
  return text === "" ? null : { text, start, end };
}

/** The string a glob matches when it has no wildcard, or null. */
export function globLiteral(glob: string): string | null {
  let text = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "\\") {
      const n = glob[i + 1];
      if (n === undefined) return null;
      text += n;
      i++;
    } else if ("*?[]{}".includes(c)) return null;
    else text += c;
  }
  return text;
}

export function patternFindings(manifest: unknown, rules: readonly RuleSite[]): Finding[] {
  const whens: When[] = [];
  const seen = new Set<string>();
  for (const r of rules) for (const w of r.whens) if (!seen.has(w.pointer)) (seen.add(w.pointer), whens.push(w));
  whens.push(...counterWhens(manifest));
  const out: Finding[] = [];
  for (const w of whens) {
    for (const site of fieldSites(w.cond, w.pointer)) {
      for (const o of allOperators(site.test, site.pointer)) {
        if (typeof o.operand !== "string") continue;
        if (o.op === "matches") {
          const lit = regexLiteral(o.operand);
          if (lit === null) continue;
          const op = lit.start && lit.end ? "eq" : lit.start ? "prefix" : lit.end ? "suffix" : "contains";
          const why = op === "contains" ? " (matches is a search: it holds wherever the text occurs)" : "";
          out.push({
            family: "literal-pattern", pointer: o.pointer, at: "value",
            message: `matches ${JSON.stringify(o.operand)} is a plain string${why}: use ${op}: ${JSON.stringify(lit.text)}, the same on a string value`,
          });
        } else if (o.op === "glob") {
          const lit = globLiteral(o.operand);
          if (lit === null) continue;
          out.push({
            family: "literal-pattern", pointer: o.pointer, at: "value",
            message: `glob ${JSON.stringify(o.operand)} has no wildcard and matches only that string: use eq: ${JSON.stringify(lit)} (or prefix: ${JSON.stringify(lit)} if a prefix was meant)`,
          });
        }
      }
    }
  }
  return out;
}
