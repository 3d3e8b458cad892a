// The operand of `in` / `not_in`: a hashed set of scalars (open addressing, built once).

import { Const, equalsConst, hashValue } from "./constant";

export class ValueSet {
  private slots: StaticArray<i32>;   // index into `items`, or -1
  private mask: u32;
  items: Array<Const> = [];

  constructor(items: Array<Const>) {
    let cap: i32 = 8;
    while (cap < items.length * 2) cap <<= 1;
    this.slots = new StaticArray<i32>(cap);
    for (let i = 0; i < cap; i++) unchecked(this.slots[i] = -1);
    this.mask = <u32>(cap - 1);
    for (let i = 0; i < items.length; i++) {
      const c = items[i];
      if (this.find(c.tag, c.num, c.ptr, c.len) >= 0) continue;
      let s = c.hash & this.mask;
      while (unchecked(this.slots[s]) >= 0) s = (s + 1) & this.mask;
      unchecked(this.slots[s] = this.items.length);
      this.items.push(c);
    }
  }

  /** Index of the member equal to the value, or -1. Never allocates. */
  find(tag: u8, num: f64, ptr: usize, len: i32): i32 {
    let s = hashValue(tag, num, ptr, len) & this.mask;
    while (true) {
      const idx = unchecked(this.slots[s]);
      if (idx < 0) return -1;
      if (equalsConst(unchecked(this.items[idx]), tag, num, ptr, len)) return idx;
      s = (s + 1) & this.mask;
    }
  }

  has(tag: u8, num: f64, ptr: usize, len: i32): bool {
    return this.find(tag, num, ptr, len) >= 0;
  }
}
