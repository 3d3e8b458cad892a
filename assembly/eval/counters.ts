// Counters (spec section 8) for the record being decided: each counter's key (known or not),
// its contribution (0, a known amount, or UNKNOWN) and its value, the stored window sum the
// host wrote into the counter region plus the contribution. Rules read the values through
// CondOp.Counter (eval/condition.ts); the host records what the entries mark (docs/abi.md,
// "Counters"). Nothing here allocates.

import {
  COUNTER_CONTRIBUTION_KNOWN, COUNTER_ENTRY_SIZE, COUNTER_KEY_KNOWN, COUNTER_RECORD, DECISION_DENY, ENTRY_SIZE,
  RECORD_HEADER, TAG_NUMBER, TAG_STRING,
} from "../abi";
import { CounterInfo } from "../manifest/manifest";
import { evalCond, FALSE, UNKNOWN } from "./condition";
import { counterValues, recordBase } from "./record";

// @ts-ignore: decorator
@inline function slotAddress(slot: i32): usize {
  return recordBase + <usize>(RECORD_HEADER + slot * ENTRY_SIZE);
}

/**
 * Fills the counter region at `region` (one entry per counter) and the values rules read.
 * Runs after beginRecord and before decide.
 */
export function evalCounters(counters: StaticArray<CounterInfo>, region: usize): void {
  for (let i = 0; i < counters.length; i++) {
    const c = unchecked(counters[i]);
    const entry = region + <usize>(i * COUNTER_ENTRY_SIZE);
    let keyKnown = true;
    const slots = c.perSlots;
    for (let k = 0; k < slots.length; k++) {
      const tag = load<u8>(slotAddress(unchecked(slots[k])));
      if (tag != TAG_NUMBER && tag != TAG_STRING) { keyKnown = false; break; }
    }
    let known = true;
    let amount: f64 = 0;
    const holds = c.when.code == 0 ? 2 : evalCond(c.when.code);
    if (holds == UNKNOWN) known = false;
    else if (holds != FALSE) {
      if (c.sumSlot < 0) amount = 1;
      else {
        const e = slotAddress(c.sumSlot);
        // A JSON number is finite (the host refuses NaN and infinities); a negative amount must
        // never earn budget back, so it is UNKNOWN like an absent or non-number one.
        if (load<u8>(e) == TAG_NUMBER && load<f64>(e, 8) >= 0) amount = load<f64>(e, 8) + 0; // -0 counts 0
        else known = false;
      }
    }
    const flags: u8 = (keyKnown ? COUNTER_KEY_KNOWN : 0) | (known ? COUNTER_CONTRIBUTION_KNOWN : 0);
    const valueKnown = keyKnown && known;
    const value = valueKnown ? load<f64>(entry, 8) + amount : 0;
    store<u8>(entry, flags);
    store<f64>(entry, known ? amount : 0, 16);
    store<f64>(entry, value, 24);
    const v = counterValues + (<usize>i << 4);
    store<u32>(v, valueKnown ? 1 : 0);
    store<f64>(v, value, 8);
  }
}

/** Marks the entries the host must record for a decision (allow or escalate, no error). */
export function markRecords(counters: StaticArray<CounterInfo>, region: usize, decision: u8, error: bool): void {
  for (let i = 0; i < counters.length; i++) {
    const entry = region + <usize>(i * COUNTER_ENTRY_SIZE);
    const flags = load<u8>(entry);
    const record = !error && decision != DECISION_DENY
      && flags == (COUNTER_KEY_KNOWN | COUNTER_CONTRIBUTION_KNOWN) && load<f64>(entry, 16) != 0;
    if (record) store<u8>(entry, flags | COUNTER_RECORD);
  }
}

/** An entry for a record that was not evaluated (an error): nothing known, nothing recorded. */
export function clearCounters(count: i32, region: usize): void {
  for (let i = 0; i < count; i++) {
    const entry = region + <usize>(i * COUNTER_ENTRY_SIZE);
    store<u8>(entry, 0);
    store<f64>(entry, 0, 16);
    store<f64>(entry, 0, 24);
  }
}
