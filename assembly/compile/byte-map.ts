// A hash map from byte strings to small integers (open addressing, built once, probed without
// allocating). Keys are kept alive in `keys`.

import { hashBytes } from "./constant";

export class ByteMap {
  private slots: StaticArray<i32> = new StaticArray<i32>(0);
  private mask: u32 = 0;
  private keys: Array<ArrayBuffer> = [];
  private hashes: Array<u32> = [];

  get size(): i32 { return this.keys.length; }

  /** The id of `key`, inserting it if new. Compile time only. */
  intern(key: ArrayBuffer): i32 {
    const ptr = changetype<usize>(key);
    const len = key.byteLength;
    const found = this.find(ptr, len, hashBytes(ptr, len));
    if (found >= 0) return found;
    const id = this.keys.length;
    this.keys.push(key);
    this.hashes.push(hashBytes(ptr, len));
    if (id * 2 >= this.slots.length) this.rehash(max(16, this.slots.length * 2));
    else this.place(id);
    return id;
  }

  /** The id of the bytes [ptr, ptr+len) whose FNV-1a hash is `hash`, or -1. */
  find(ptr: usize, len: i32, hash: u32): i32 {
    if (this.slots.length == 0) return -1;
    let s = hash & this.mask;
    while (true) {
      const id = unchecked(this.slots[s]);
      if (id < 0) return -1;
      if (unchecked(this.hashes[id]) == hash) {
        const k = unchecked(this.keys[id]);
        if (k.byteLength == len && memory.compare(changetype<usize>(k), ptr, <usize>len) == 0) return id;
      }
      s = (s + 1) & this.mask;
    }
  }

  private place(id: i32): void {
    let s = unchecked(this.hashes[id]) & this.mask;
    while (unchecked(this.slots[s]) >= 0) s = (s + 1) & this.mask;
    unchecked(this.slots[s] = id);
  }

  private rehash(cap: i32): void {
    this.slots = new StaticArray<i32>(cap);
    for (let i = 0; i < cap; i++) unchecked(this.slots[i] = -1);
    this.mask = <u32>(cap - 1);
    for (let i = 0; i < this.keys.length; i++) this.place(i);
  }
}
