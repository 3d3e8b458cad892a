// Spec section 4: deny > escalate > allow, the first rule in document order within each,
// UNKNOWN deny/escalate rules apply (fail closed), UNKNOWN never allows; else the default.

import {
  DECISION_ALLOW, DECISION_DENY, DECISION_ESCALATE, ENTRY_SIZE, ERR_MALFORMED, ERR_NONE,
  FLAG_ERROR, FLAG_UNDETERMINED, RECORD_HEADER, TAG_STRING,
} from "../abi";
import { ToolIndex } from "../compile/tool-index";
import { evalCond, TRUE, UNKNOWN } from "./condition";
import { malformed, recordBase, span } from "./record";

export class Outcome {
  decision: u8 = 0;
  flags: u8 = 0;
  error: u16 = 0;
  rule: i32 = -1;
}

let bestIndex: i32 = 0;
let bestUnknown: bool = false;

/** Finds, among `count` candidate sources, the first rule of `effect` that applies. */
function firstHit(index: ToolIndex, count: i32, effect: i32, unknownApplies: bool): bool {
  bestIndex = i32.MAX_VALUE;
  bestUnknown = false;
  const sources = index.sources;
  for (let s = 0; s < count; s++) {
    // a bucket (compile/tool-index.ts): count per effect, then (index, code) pairs per effect
    const b = unchecked(sources[s]);
    let skip: i32 = 0;
    for (let e = 0; e < effect; e++) skip += load<i32>(b + (<usize>e << 2));
    const n = load<i32>(b + (<usize>effect << 2));
    let p = b + 12 + (<usize>skip << 3);
    for (let i = 0; i < n; i++, p += 8) {
      const ruleIndex = load<i32>(p);
      if (ruleIndex >= bestIndex) break;
      const r = evalCond(<usize>load<u32>(p, 4));
      if (r == TRUE || (r == UNKNOWN && unknownApplies)) {
        bestIndex = ruleIndex;
        bestUnknown = r == UNKNOWN;
        break;
      }
    }
  }
  return bestIndex != i32.MAX_VALUE;
}

/** The tool index's candidate sources for the record at recordBase (its tool, if the index has a
 *  slot for it): what `decide` and the explain path (eval/explain.ts) evaluate. */
// @ts-ignore: decorator
@inline export function candidatesOf(index: ToolIndex): i32 {
  if (index.toolSlot >= 0) {
    const e = recordBase + <usize>(RECORD_HEADER + index.toolSlot * ENTRY_SIZE);
    const tag = load<u8>(e);
    let ptr: usize = 0;
    let len: i32 = 0;
    if (tag == TAG_STRING) {
      len = <i32>load<u32>(e, 8);
      ptr = span(load<u32>(e, 4), <u64>len);
    }
    return ptr == 0 && tag == TAG_STRING ? index.candidates(0, 0, 0) : index.candidates(tag, ptr, len);
  }
  return index.candidates(0, 0, 0);
}

/** Decides the record at recordBase (already bounds-checked by the caller) into `out`. */
export function decide(index: ToolIndex, defaultDecision: u8, out: Outcome): void {
  const count = candidatesOf(index);

  out.error = <u16>ERR_NONE;
  out.flags = 0;
  if (firstHit(index, count, DECISION_DENY, true)) {
    out.decision = DECISION_DENY;
    out.rule = bestIndex;
  } else if (firstHit(index, count, DECISION_ESCALATE, true)) {
    out.decision = DECISION_ESCALATE;
    out.rule = bestIndex;
  } else if (firstHit(index, count, DECISION_ALLOW, false)) {
    out.decision = DECISION_ALLOW;
    out.rule = bestIndex;
  } else {
    out.decision = defaultDecision;
    out.rule = -1;
    bestUnknown = false;
  }
  if (bestUnknown) out.flags = FLAG_UNDETERMINED;
  if (malformed) {
    out.decision = DECISION_DENY;
    out.flags = FLAG_ERROR;
    out.error = <u16>ERR_MALFORMED;
    out.rule = -1;
  }
}

