// "did you mean ...?" for misspelt keys and values: the closest candidate by edit distance.

import { JValue } from "../json/value";

function distance(a: string, b: string): i32 {
  const n = b.length;
  let prev = new Array<i32>(n + 1);
  let cur = new Array<i32>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a.charCodeAt(i - 1) == b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = min(min(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
    }
    const t = prev; prev = cur; cur = t;
  }
  return prev[n];
}

/** The candidate within a small edit distance of `word`, or null. */
export function closest(word: string, candidates: Array<string>): string | null {
  let best: string | null = null;
  let bestD = i32.MAX_VALUE;
  const limit = word.length <= 3 ? 1 : (word.length <= 6 ? 2 : 3);
  for (let i = 0; i < candidates.length; i++) {
    const d = distance(word.toLowerCase(), candidates[i]);
    if (d < bestD) { bestD = d; best = candidates[i]; }
  }
  return bestD <= limit ? best : null;
}

/** Whether a key of `v` outside `allowed` is the misspelling of `key` (its "did you mean"). */
export function misspelt(v: JValue, key: string, allowed: Array<string>): bool {
  for (let i = 0; i < v.keys.length; i++) {
    const k = v.keys[i];
    if (allowed.includes(k)) continue;
    const s = closest(k, allowed);
    if (s != null && s == key) return true;
  }
  return false;
}

/** " (did you mean 'x'?)" or "" (`shownPrefix` is written before the candidate, as '$' for counters). */
export function didYouMean(word: string, candidates: Array<string>, shownPrefix: string = ""): string {
  const s = closest(word, candidates);
  return s == null ? "" : " (did you mean '" + shownPrefix + s + "'?)";
}

/** "'a', 'b' or 'c'" for messages. */
export function listWords(words: Array<string>): string {
  let out = "";
  for (let i = 0; i < words.length; i++) {
    if (i > 0) out += i == words.length - 1 ? " or " : ", ";
    out += "'" + words[i] + "'";
  }
  return out;
}
