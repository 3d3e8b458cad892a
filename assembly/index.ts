// The exported ABI of the core and nothing else; docs/abi.md is its specification.

import {
  ABI_VERSION, COUNTER_ENTRY_SIZE, ENTRY_SIZE, ERR_MALFORMED, ERR_NONE, ERR_TOO_LARGE, FLAG_ERROR, MAX_DATA_BYTES,
  MAX_KNOWN_STATUS, MAX_RESULTS_PER_CALL, RECORD_HEADER, RESULT_SIZE, DECISION_DENY, TRACE_ENTRY_SIZE,
} from "./abi";
import { CodeBlock, emitRules } from "./compile/code";
import { Evaluation, readImage, writeImage } from "./compile/image";
import { Rule } from "./compile/program";
import { toolConstraints, ToolIndex } from "./compile/tool-index";
import { JsonParser } from "./json/parser";
import { ErrorList } from "./common/diagnostics";
import { CounterInfo, ManifestReader } from "./manifest/manifest";
import { policyTable } from "./policy-table";
import { decide, Outcome } from "./eval/decide";
import { beginRecord, setCounterValues } from "./eval/record";
import { clearCounters, evalCounters, markRecords } from "./eval/counters";
import { ExplainTable, prepareExplain } from "./compile/explain-tree";
import { explainRecord } from "./eval/explain";

let manifestBuf: ArrayBuffer | null = null;
let report: ArrayBuffer = new ArrayBuffer(0);
let compiled = false;
let attempted = false;

let index: ToolIndex | null = null;
let defaultDecision: u8 = DECISION_DENY;
let fieldCount: i32 = 0;
// The input and result regions: raw heap blocks (fresh pages are already zero, so no fill).
let inputStart: usize = 0;
let inputSize: i32 = 0;
let resultStart: usize = 0;
const outcome = new Outcome();
// Counters (spec section 8): with any, one record per evaluate call, and the counter region.
let counters: StaticArray<CounterInfo> = new StaticArray<CounterInfo>(0);
let counterStart: usize = 0;
// Explain (docs/abi.md, "Explain"): the rules, and what explain_prepare builds on first use.
let rules: Array<Rule> = [];
let explainTable: ExplainTable | null = null;
// Images (docs/abi.md, "Images"): what this instance compiled, kept for image_size; the image once
// written; and whether this instance loaded one (it then has no rule trees: no explain).
let compiledCode: CodeBlock | null = null;
let compiledEval: Evaluation | null = null;
let image: usize = 0;
let imageBuf: usize = 0;
let imageCapacity: i32 = 0;
let fromImage = false;
let traceStart: usize = 0;
let marks: StaticArray<u32> = new StaticArray<u32>(0);
let markSerial: u32 = 0;

export function abi_version(): i32 { return ABI_VERSION; }

export function manifest_buffer(len: i32): usize {
  const buf = new ArrayBuffer(max(len, 0));
  manifestBuf = buf;
  return changetype<usize>(buf);
}

export function compile(len: i32): i32 {
  if (attempted) return -1;
  attempted = true;
  const buf = manifestBuf;
  if (buf == null || len < 0 || len > buf.byteLength) {
    const errors = new ErrorList();
    errors.value("", "no manifest was written with manifest_buffer");
    report = String.UTF8.encode(errors.toJson());
    return 1;
  }
  const parser = new JsonParser(changetype<usize>(buf), len);
  const doc = parser.parse();
  if (doc == null) {
    const errors = new ErrorList();
    errors.value("", <string>parser.error);
    report = String.UTF8.encode(errors.toJson());
    return 1;
  }
  const reader = new ManifestReader();
  if (!reader.read(doc)) {
    report = String.UTF8.encode(reader.errors.toJson());
    return reader.errors.count;
  }
  const m = reader.m;
  const whens = new Array<Rule>(m.counters.length);
  for (let i = 0; i < m.counters.length; i++) whens[i] = m.counters[i].when;
  const toolSlot = m.fields.find(["tool"]);
  const constraints = toolConstraints(m.rules, toolSlot); // sets the rules' impliedConds
  compiledCode = emitRules(m.rules, whens);
  const e = new Evaluation(new ToolIndex(toolSlot, m.rules, constraints), m.defaultDecision, m.fields.count,
    StaticArray.fromArray<CounterInfo>(m.counters));
  compiledEval = e;
  rules = m.rules;
  report = String.UTF8.encode(policyTable(m));
  manifestBuf = null;
  begin(e);
  return 0;
}

/** Makes `e` the policy this instance decides with, and allocates the regions evaluate uses. */
function begin(e: Evaluation): void {
  index = e.index;
  defaultDecision = e.defaultDecision;
  fieldCount = e.fieldCount;
  counters = e.counters;
  // One maximal record always fits (docs/abi.md); the region is 8-byte aligned.
  inputSize = RECORD_HEADER + fieldCount * ENTRY_SIZE + MAX_DATA_BYTES + 64 * 1024;
  inputStart = (heap.alloc(<usize>inputSize + 8) + 7) & ~<usize>7;
  resultStart = heap.alloc(<usize>(MAX_RESULTS_PER_CALL * RESULT_SIZE));
  if (counters.length > 0) {
    counterStart = (heap.alloc(<usize>(counters.length * COUNTER_ENTRY_SIZE) + 8) + 7) & ~<usize>7;
    memory.fill(counterStart, 0, <usize>(counters.length * COUNTER_ENTRY_SIZE));
    const values = (heap.alloc(<usize>(counters.length * 16) + 8) + 7) & ~<usize>7;
    memory.fill(values, 0, <usize>(counters.length * 16));
    setCounterValues(values);
  }
  compiled = true;
}

/**
 * After a successful compile: writes the evaluation image (docs/abi.md, "Images") on first use
 * and returns its byte length, or -1 when this instance compiled nothing. May grow memory.
 */
export function image_size(): i32 {
  const e = compiledEval;
  if (e == null) return -1;
  if (image == 0) image = writeImage(e, changetype<CodeBlock>(compiledCode));
  return load<i32>(image, 8);
}

export function image_ptr(): usize { return image; }

/** Reserves `len` bytes (8-byte aligned) for an image to load; may grow memory. */
export function image_buffer(len: i32): usize {
  imageBuf = (heap.alloc(<usize>max(len, 0) + 8) + 7) & ~<usize>7;
  imageCapacity = max(len, 0);
  return imageBuf;
}

/**
 * Loads the image of `len` bytes written at image_buffer() in place of compiling: 0 on success,
 * -1 if this instance already compiled or loaded, or the bytes are not an image of this ABI.
 * May grow memory.
 */
export function load_image(len: i32): i32 {
  if (attempted || imageBuf == 0 || len < 0 || len > imageCapacity) return -1;
  attempted = true;
  const e = readImage(imageBuf, len);
  if (e == null) return -1;
  fromImage = true;
  begin(e);
  return 0;
}

export function report_ptr(): usize { return changetype<usize>(report); }
export function report_len(): i32 { return report.byteLength; }
export function field_count(): i32 { return fieldCount; }
export function input_ptr(): usize { return compiled ? inputStart : 0; }
export function input_capacity(): i32 { return compiled ? inputSize : 0; }
export function result_ptr(): usize { return compiled ? resultStart : 0; }
export function result_capacity(): i32 { return compiled ? (counters.length > 0 ? 1 : MAX_RESULTS_PER_CALL) : 0; }
export function counter_count(): i32 { return compiled ? counters.length : 0; }
export function counter_ptr(): usize { return compiled ? counterStart : 0; }

export function evaluate(count: i32): i32 {
  if (!compiled || count < 0 || count > MAX_RESULTS_PER_CALL) return -1;
  const stateful = counters.length > 0;
  if (stateful && count > 1) return -1;
  const idx = changetype<ToolIndex>(index);
  const start = inputStart;
  const end = start + <usize>inputSize;
  const minSize = <u32>(RECORD_HEADER + fieldCount * ENTRY_SIZE);
  let pos = start;
  let out = resultStart;
  let lost = false; // a bad size makes every later record unreachable
  for (let i = 0; i < count; i++, out += RESULT_SIZE) {
    let error: i32 = ERR_NONE;
    let size: u32 = 0;
    if (lost || pos + RECORD_HEADER > end) {
      error = ERR_MALFORMED;
      lost = true;
    } else {
      size = load<u32>(pos);
      const status = load<u32>(pos, 4);
      if (size < <u32>RECORD_HEADER || (size & 7) != 0 || <u64>pos + <u64>size > <u64>end) {
        error = ERR_MALFORMED;
        lost = true;
      } else if (status != 0) {
        error = status <= <u32>MAX_KNOWN_STATUS ? <i32>status : ERR_MALFORMED;
      } else if (size < minSize) {
        error = ERR_MALFORMED;
      } else if (size - minSize > <u32>MAX_DATA_BYTES) {
        error = ERR_TOO_LARGE;
      }
    }
    if (error != ERR_NONE) {
      store<u8>(out, DECISION_DENY);
      store<u8>(out, FLAG_ERROR, 1);
      store<u16>(out, <u16>error, 2);
      store<i32>(out, -1, 4);
      if (stateful) clearCounters(counters.length, counterStart);
    } else {
      beginRecord(pos, size);
      if (stateful) evalCounters(counters, counterStart);
      decide(idx, defaultDecision, outcome);
      if (stateful) markRecords(counters, counterStart, outcome.decision, outcome.error != 0);
      store<u8>(out, outcome.decision);
      store<u8>(out, outcome.flags, 1);
      store<u16>(out, outcome.error, 2);
      store<i32>(out, outcome.rule, 4);
    }
    if (!lost) pos += <usize>size;
  }
  return count;
}


/**
 * Builds what explain needs, on first use (a policy never explained pays nothing): the table of
 * JSON pointers and the trace buffer. Returns the table's byte length, or -1 before a successful
 * compile. May grow memory (once): a host re-creates its views after it.
 */
export function explain_prepare(): i32 {
  if (!compiled || fromImage) return -1;
  let t = explainTable;
  if (t == null) {
    t = prepareExplain(rules);
    explainTable = t;
    traceStart = (heap.alloc(<usize>t.maxEntries * TRACE_ENTRY_SIZE + 8) + 7) & ~<usize>7;
    marks = new StaticArray<u32>(rules.length);
  }
  return t.json.byteLength;
}

export function explain_table_ptr(): usize {
  const t = explainTable;
  return t == null ? 0 : changetype<usize>(t.json);
}

export function explain_ptr(): usize { return explainTable == null ? 0 : traceStart; }

/**
 * Decides the one record at input_ptr() exactly as evaluate(1) does (result, counter region),
 * then writes the trace of every candidate rule at explain_ptr(). Returns the number of trace
 * entries (0 when the result is an error), or -1 before explain_prepare.
 */
export function explain(): i32 {
  if (!compiled || explainTable == null) return -1;
  if (evaluate(1) != 1) return -1;
  if ((load<u8>(resultStart, 1) & FLAG_ERROR) != 0) return 0;
  beginRecord(inputStart, load<u32>(inputStart));
  return explainRecord(changetype<ToolIndex>(index), rules, marks, ++markSerial, traceStart);
}
