// Test harness for the regex and glob matchers (compiled by test/regex.test.ts).
// Raw exports over a static buffer: the host writes a pattern (UTF-16 code
// units) or a text (UTF-8 bytes) at bufPtr(), then calls compile/test.

import { compileRegex, CompiledPattern } from "../../assembly/regex/index";
import { compileGlob } from "../../assembly/glob";

const BUF_SIZE: i32 = 1 << 21;
// On the heap (not memory.data) so the module does not depend on the
// initialMemory of whatever asconfig.json sits in the working directory.
const bufArr = new StaticArray<u8>(BUF_SIZE);
const buf = changetype<usize>(bufArr);

const patterns = new Array<CompiledPattern>();
let lastError: string = "";

export function bufPtr(): usize {
  return buf;
}

export function bufSize(): i32 {
  return BUF_SIZE;
}

/** kind 0: regex, 1: glob. Pattern: `units` UTF-16 code units at bufPtr(). Returns a handle or -1. */
export function compile(kind: i32, units: i32): i32 {
  const s = String.UTF16.decodeUnsafe(buf, <usize>units << 1);
  const cp = kind == 0 ? compileRegex(s) : compileGlob(s);
  if (cp.error != null) {
    lastError = cp.error!;
    return -1;
  }
  patterns.push(cp);
  return patterns.length - 1;
}

/** Copies the last error (UTF-16) to bufPtr() and returns its length in code units. */
export function lastErrorToBuf(): i32 {
  const n = lastError.length;
  memory.copy(buf, changetype<usize>(lastError), <usize>n << 1);
  return n;
}

/** engine 0: Matcher.test (auto), 1: NFA only, 2: DFA only (-1 = cache gave up). Text at bufPtr(). */
export function test(h: i32, len: i32, engine: i32): i32 {
  const m = patterns[h].matcher!;
  if (engine == 1) return m.testNFA(buf, len) ? 1 : 0;
  if (engine == 2) return m.testDFA(buf, len);
  return m.test(buf, len) ? 1 : 0;
}

/** Runs Matcher.test `iters` times on the same text; returns the number of matches. */
export function testMany(h: i32, len: i32, iters: i32): i32 {
  const m = patterns[h].matcher!;
  let n = 0;
  for (let i = 0; i < iters; i++) if (m.test(buf, len)) n++;
  return n;
}

export function mode(h: i32): i32 {
  return patterns[h].matcher!.mode;
}

export function programSize(h: i32): i32 {
  return patterns[h].matcher!.prog.nstates;
}

export function dfaFlushes(h: i32): i32 {
  return patterns[h].matcher!.dfa.totalFlushes;
}

export function dfaGiveUps(h: i32): i32 {
  return patterns[h].matcher!.dfaGiveUps;
}

/** Shrinks the DFA cache of pattern h to `states` states (testing flushes and give-ups). */
export function limitDfa(h: i32, states: i32): void {
  patterns[h].matcher!.dfa.limitStates(states);
}

export function reset(): void {
  patterns.length = 0;
}

/** Address of a fresh 1-byte allocation: with the stub (bump) runtime, the difference between two probes is what was allocated in between. */
export function probeAlloc(): usize {
  return changetype<usize>(new StaticArray<u8>(1));
}
