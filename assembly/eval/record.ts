// The input record being evaluated (docs/abi.md, "Input region"). Offsets inside the record are
// checked against its size as they are read; a bad one marks the record malformed (error 5).

export let recordBase: usize = 0;
export let recordSize: u32 = 0;
export let malformed: bool = false;
/** Counter values of the record (eval/counters.ts): per counter a u32 known flag and an f64 at +8. */
export let counterValues: usize = 0;
export function setCounterValues(p: usize): void { counterValues = p; }
/** Counts records, so per-record memos (see Matcher) never outlive their record. */
export let recordSerial: u32 = 0;

export function beginRecord(base: usize, size: u32): void {
  recordBase = base;
  recordSize = size;
  malformed = false;
  recordSerial++;
}

/** Absolute address of `count` bytes at record offset `off`, or 0 (and malformed) if outside. */
// @ts-ignore: decorator
@inline export function span(off: u32, count: u64): usize {
  if (<u64>off + count > <u64>recordSize) {
    malformed = true;
    return 0;
  }
  return recordBase + <usize>off;
}
