// Public face of the regular-expression engine: compileRegex() and Matcher.
//
// Pipeline: parse (parser.ts) -> syntax tree (ast.ts) -> Thompson NFA over
// UTF-8 bytes (program.ts) -> matched by a lazy DFA (dfa.ts) with the NFA
// simulation (nfa.ts) as the always-correct fallback. Patterns that are plain
// literals (optionally anchored) skip the automata entirely (literal.ts).
// Everything test() touches is allocated by compile: test() never allocates.

import { Node, NodeKind, AssertKind } from "./ast";
import { appendUtf8 } from "./charclass";
import { parseRegex } from "./parser";
import { Program, compileProgram } from "./program";
import { SparseSet, nfaSearch } from "./nfa";
import { LazyDFA } from "./dfa";
import { findBytes, bytesEqual } from "./literal";

/** How a Matcher decides. */
export const MODE_AUTOMATON: i32 = 0; // lazy DFA, NFA fallback
export const MODE_SUBSTRING: i32 = 1; // the text contains `lit`
export const MODE_EXACT: i32 = 2;     // the text is `lit`
export const MODE_PREFIX: i32 = 3;    // the text starts with `lit`
export const MODE_SUFFIX: i32 = 4;    // the text ends with `lit`

/** After this many DFA give-ups in a row, the next NFA_ONLY_SEARCHES searches skip the DFA. */
const GIVE_UP_STREAK: i32 = 4;
const NFA_ONLY_SEARCHES: i32 = 256;

/** Engine selection, for differential testing. */
export const ENGINE_AUTO: i32 = 0;
export const ENGINE_NFA: i32 = 1;
export const ENGINE_DFA: i32 = 2;

export class Matcher {
  prog: Program;
  mode: i32;
  lit: StaticArray<u8>;
  litLen: i32;
  set1: SparseSet;
  set2: SparseSet;
  stack: StaticArray<i32>;
  dfa: LazyDFA;
  /** ENGINE_AUTO normally; ENGINE_NFA / ENGINE_DFA force one path (no literal shortcuts). */
  engine: i32 = ENGINE_AUTO;
  /** Searches where the DFA cache thrashed and the NFA finished the job. */
  dfaGiveUps: i32 = 0;
  /**
   * The last answer, for one input record: many rules test the same pattern on the same
   * field (the matcher is shared by every test with that pattern), so it is searched once.
   */
  memoRecord: u32 = 0;
  memoPtr: usize = 0;
  memoLen: i32 = -1;
  memoHit: bool = false;
  /** Consecutive searches where the DFA gave up. */
  giveUpStreak: i32 = 0;
  /** Searches left that skip the DFA (set after GIVE_UP_STREAK give-ups in a row). */
  nfaOnly: i32 = 0;

  constructor(prog: Program, mode: i32, lit: Array<u8>, pre: Array<u8>) {
    const litArr = new StaticArray<u8>(max(lit.length, 1));
    for (let i = 0; i < lit.length; i++) litArr[i] = lit[i];
    const preArr = new StaticArray<u8>(max(pre.length, 1));
    for (let i = 0; i < pre.length; i++) preArr[i] = pre[i];
    const n = prog.nstates;
    const set1 = new SparseSet(n);
    const set2 = new SparseSet(n);
    const stack = new StaticArray<i32>(n + 1);
    this.prog = prog;
    this.mode = mode;
    this.litLen = lit.length;
    this.lit = litArr;
    this.set1 = set1;
    this.set2 = set2;
    this.stack = stack;
    this.dfa = new LazyDFA(prog, set1, set2, stack, preArr, pre.length, mode != MODE_AUTOMATON);
  }

  /**
   * A fresh copy with its own (empty) caches, allocated now: the compiler relocates every
   * matcher the rules use next to each other once the manifest is read (compile/code.ts).
   */
  relocated(): Matcher {
    const lit = new Array<u8>(this.litLen);
    for (let i = 0; i < this.litLen; i++) lit[i] = unchecked(this.lit[i]);
    const dfa = this.dfa;
    const pre = new Array<u8>(dfa.preLen);
    for (let i = 0; i < dfa.preLen; i++) pre[i] = unchecked(dfa.pre[i]);
    const m = new Matcher(this.prog, this.mode, lit, pre);
    m.engine = this.engine;
    return m;
  }

  /** True when the pattern matches the UTF-8 bytes at [ptr, ptr+len). Never allocates. */
  test(ptr: usize, len: i32): bool {
    if (this.engine == ENGINE_AUTO) {
      const m = this.mode;
      if (m != MODE_AUTOMATON) {
        const n = this.litLen;
        const lp = changetype<usize>(this.lit);
        if (m == MODE_SUBSTRING) return findBytes(ptr, len, 0, lp, n) >= 0;
        if (len < n) return false;
        if (m == MODE_EXACT) return len == n && bytesEqual(ptr, lp, n);
        if (m == MODE_PREFIX) return bytesEqual(ptr, lp, n);
        return bytesEqual(ptr + <usize>(len - n), lp, n);
      }
    } else if (this.engine == ENGINE_NFA) {
      return this.testNFA(ptr, len);
    }
    const dfa = this.dfa;
    if (this.nfaOnly > 0) {
      // the DFA thrashed on the last searches: let the NFA answer for a while
      this.nfaOnly--;
      return this.testNFA(ptr, len);
    }
    const r = dfa.search(ptr, len);
    if (r >= 0) {
      this.giveUpStreak = 0;
      return r != 0;
    }
    // The DFA cache thrashed: the NFA carries on from where it stopped.
    this.dfaGiveUps++;
    if (++this.giveUpStreak >= GIVE_UP_STREAK) {
      this.giveUpStreak = 0;
      this.nfaOnly = NFA_ONLY_SEARCHES;
    }
    const s = dfa.resumeState;
    if (s < 0) return this.testNFA(ptr, len);
    return nfaSearch(this.prog, this.set1, this.set2, this.stack, ptr, len,
      dfa.resumeAt, dfa.kernelPtr(s), unchecked(dfa.kLen[s]));
  }

  /** The NFA simulation alone (slow path, always available). */
  testNFA(ptr: usize, len: i32): bool {
    return nfaSearch(this.prog, this.set1, this.set2, this.stack, ptr, len, 0, 0, 0);
  }

  /** The lazy DFA alone: 1 match, 0 no match, -1 the cache thrashed. */
  testDFA(ptr: usize, len: i32): i32 {
    return this.dfa.search(ptr, len);
  }
}

export class CompiledPattern {
  matcher: Matcher | null = null;
  error: string | null = null;

  static ok(m: Matcher): CompiledPattern {
    const c = new CompiledPattern();
    c.matcher = m;
    return c;
  }

  static fail(msg: string): CompiledPattern {
    const c = new CompiledPattern();
    c.error = msg;
    return c;
  }
}

@inline function isAssert(n: Node, kind: i32): bool {
  return n.kind == NodeKind.Assert && n.assertKind == kind;
}

/**
 * Builds a Matcher for a syntax tree (shared by regular expressions and
 * globs). `anchored`: the tree is known to match only from offset 0.
 * `what` names the language in errors ("regular expression" / "glob").
 */
export function buildMatcher(root: Node, anchored: bool, what: string): CompiledPattern {
  const cr = compileProgram(root, anchored);
  if (cr.error != null) {
    // a glob has no counted repetition: its only remedy is a shorter pattern
    const remedy = !cr.tooLarge ? "" : what == "glob" ? " (use a shorter pattern)" : " (reduce nested or counted repetition)";
    return CompiledPattern.fail("invalid " + what + ": " + cr.error! + remedy);
  }
  const prog = cr.prog!;

  // Literal analysis: [^] literal* [$]  -> a byte-string test.
  let items: Array<Node>;
  if (root.kind == NodeKind.Concat) items = root.subs;
  else if (root.kind == NodeKind.Empty) items = new Array<Node>();
  else {
    items = new Array<Node>();
    items.push(root);
  }
  let lead = 0;
  let trail = items.length;
  const bol = trail > 0 && isAssert(items[0], AssertKind.Bol);
  if (bol) lead = 1;
  const eol = trail > lead && isAssert(items[trail - 1], AssertKind.Eol);
  if (eol) trail--;
  let allLit = true;
  for (let i = lead; i < trail; i++) {
    if (items[i].literalCp() < 0) {
      allLit = false;
      break;
    }
  }
  const lit = new Array<u8>();
  const pre = new Array<u8>();
  let mode = MODE_AUTOMATON;
  if (allLit) {
    for (let i = lead; i < trail; i++) appendUtf8(items[i].literalCp(), lit);
    mode = bol ? (eol ? MODE_EXACT : MODE_PREFIX) : (eol ? MODE_SUFFIX : MODE_SUBSTRING);
  } else {
    // a literal every match starts with: the DFA skips ahead to it
    for (let i = 0; i < items.length; i++) {
      const cp = items[i].literalCp();
      if (cp < 0) break;
      appendUtf8(cp, pre);
    }
  }
  return CompiledPattern.ok(new Matcher(prog, mode, lit, pre));
}

/**
 * Compiles a regular expression of the spec's RE2 subset, with unanchored
 * search semantics (it holds if the expression matches any substring).
 */
export function compileRegex(pattern: string): CompiledPattern {
  const pr = parseRegex(pattern);
  if (pr.error != null) return CompiledPattern.fail(pr.error!);
  return buildMatcher(pr.node!, false, "regular expression");
}
