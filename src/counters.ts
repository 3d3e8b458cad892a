// The host's half of counters (spec section 8; docs/abi.md, "Counters"): reads each counter's
// key from the encoded input record (so the host and the core agree on which keys are known),
// writes the stored sums into the counter region, and after `evaluate` reads back what the core
// decided to record and the values a decision carries. No policy logic: the core evaluates
// `when`, `sum`, the values and the rules.

import {
  COUNTER_CONTRIBUTION_KNOWN, COUNTER_ENTRY_SIZE, COUNTER_KEY_KNOWN, COUNTER_RECORD, ENTRY_SIZE, RECORD_HEADER,
  TAG_NUMBER, TAG_STRING,
} from "./abi.generated.js";
import { canonicalJson, sha256Hex } from "./canonical.js";
import { encodeKey } from "./state/memory-store.js";
import type { CounterDefinition, Key } from "./state/memory-store.js";

/** A counter of the core's policy table (docs/abi.md). */
export interface CounterTableEntry {
  name: string;
  window_ms: number;
  per: string[][];
  sum: string[] | null;
  referenced: boolean;
}

/** A counter as a host uses it. */
export interface CounterInfo {
  readonly name: string;
  readonly windowMs: number;
  /** Parsed `per` paths and `sum` path. */
  readonly per: readonly (readonly string[])[];
  readonly sum: readonly string[] | null;
  /** Whether a rule reads it: a decision carries the value of every such counter. */
  readonly referenced: boolean;
  /** Name and definition as parsed (`per`, window, `when` with sorted keys, `sum`): state
   *  belongs to this (section 8, identity of state). */
  readonly definition: string;
  /** A short digest of the definition, carried by audit records. */
  readonly digest: string;
}

/** The counters of a policy, from the policy table and the manifest (for `when`). */
export function counterInfos(table: readonly CounterTableEntry[], manifest: Record<string, unknown>): CounterInfo[] {
  const declared = (manifest.counters ?? {}) as Record<string, Record<string, unknown>>;
  return table.map((c) => {
    const when = declared[c.name]?.when;
    // canonicalJson sorts keys: key order never changes a condition's meaning.
    const definition = canonicalJson([c.per, c.window_ms, when === undefined ? null : when, c.sum]);
    return Object.freeze({
      name: c.name,
      windowMs: c.window_ms,
      per: Object.freeze(c.per.map((p) => Object.freeze(p))),
      sum: c.sum === null ? null : Object.freeze(c.sum),
      referenced: c.referenced,
      definition,
      digest: sha256Hex(canonicalJson([c.name, definition])).slice(0, 16),
    });
  });
}

export function counterDefinitions(counters: readonly CounterInfo[]): CounterDefinition[] {
  return counters.map((c) => ({ name: c.name, windowMs: c.windowMs, definition: c.definition }));
}

/** A contribution the core marked for recording. */
export interface CounterEntry {
  counter: string;
  key: Key;
  amount: number;
  /** `encodeKey(key)`. */
  keyText: string;
}



/** A key as read from a record, with its text (`encodeKey(key)`): the same object (and so the
 *  same string, whose hash is computed once) every time a record holds the same key. */
export interface ReadKey {
  readonly key: Key;
  readonly text: string;
  /** Per counter (by index): a number a store may keep for this key (MemoryCounterStore#sumMemo,
   *  which checks it before use); -1 when none. */
  readonly memo: number[];
}

/** A cached key and what it was read from (`sig`, see `CounterRegion#readKey`). */
interface CachedKey extends ReadKey {
  readonly sig: string;
}

/** Keys remembered per group of counters; the cache is emptied when it reaches this size. */
const KEY_CACHE_SIZE = 16_384;

/** Reads keys from records and exchanges the counter region with the core for one policy. */
export class CounterRegion {
  /** Per counter: the record slot of each `per` path. */
  private readonly perSlots: number[][];
  /** Per counter: its group of counters with the same `per` paths (one key read per group). */
  readonly groupOf: number[];
  readonly groups: number;
  /** Per group: the record slots of its `per` paths, and the keys read lately by a hash of
   *  their bytes. Reading a key is then a hash of a few bytes and a comparison, instead of
   *  decoding UTF-8 into new strings, encoding the key's text and hashing that text again in
   *  every map it is looked up in (most of a counter's cost before). */
  private readonly groupSlots: number[][];
  private readonly keyCache: Map<number, CachedKey>[];
  private buf!: Buffer;
  private f64!: Float64Array;
  private u8!: Uint8Array;
  private u32!: Uint32Array;

  constructor(
    readonly counters: readonly CounterInfo[],
    fields: readonly (readonly string[])[],
    private readonly memory: WebAssembly.Memory,
    private readonly region: number,
  ) {
    const slotOf = new Map(fields.map((f, i) => [JSON.stringify(f), i]));
    this.perSlots = counters.map((c) => c.per.map((p) => {
      const slot = slotOf.get(JSON.stringify(p));
      if (slot === undefined) throw new Error(`the core's field table lacks counter '${c.name}''s per path ${JSON.stringify(p)}`);
      return slot;
    }));
    const signature = new Map<string, number>();
    this.groupOf = this.perSlots.map((s) => {
      const k = s.join(",");
      let g = signature.get(k);
      if (g === undefined) signature.set(k, (g = signature.size));
      return g;
    });
    this.groups = signature.size;
    this.groupSlots = [];
    this.groupOf.forEach((g, i) => (this.groupSlots[g] ??= this.perSlots[i]!));
    this.keyCache = this.groupSlots.map(() => new Map());
    this.views();
  }

  /** The key of group `g` (the counters with the same `per` paths) in the encoded record at
   *  `record`, with its text; null when it is UNKNOWN (a `per` value absent or neither a string
   *  nor a number). Equal to `keyAt` for any counter of the group.
   *
   *  A key is remembered by its signature: per part, the byte "N" and the 8 bytes of the number
   *  (0 for -0), or "S", 4 bytes of length and the string's UTF-8 bytes (equal bytes, equal
   *  strings: the encoder writes well-formed UTF-8), held as a one-byte string (its bytes are
   *  inline, one memory access from the cache entry: with thousands of keys, each dependent
   *  access is a likely cache miss, the main cost here). */
  readKey(record: number, g: number): ReadKey | null {
    const slots = this.groupSlots[g]!;
    const u8 = this.u8;
    const u32 = this.u32;
    let h = 0x811c9dc5;
    let size = 0;
    for (let k = 0; k < slots.length; k++) {
      const e = record + RECORD_HEADER + slots[k]! * ENTRY_SIZE;
      const tag = u8[e]!;
      if (tag === TAG_NUMBER) {
        const w = (e + 8) >> 2;
        const zero = this.f64[w >> 1] === 0;
        h = Math.imul(h ^ 1, 0x01000193);
        h = Math.imul(h ^ (zero ? 0 : u32[w]!), 0x01000193);
        h = Math.imul(h ^ (zero ? 0 : u32[w + 1]!), 0x01000193);
        size += 9;
      } else if (tag === TAG_STRING) {
        const at = record + u32[(e + 4) >> 2]!;
        const len = u32[(e + 8) >> 2]!;
        h = Math.imul(h ^ 2, 0x01000193);
        h = Math.imul(h ^ len, 0x01000193);
        for (let i = at, end = at + len; i < end; i++) h = Math.imul(h ^ u8[i]!, 0x01000193);
        size += 5 + len;
      } else return null;
    }
    h &= 0x3fffffff; // a small integer: the map hashes it without boxing
    const cache = this.keyCache[g]!;
    const hit = cache.get(h);
    if (hit !== undefined && hit.sig.length === size && this.same(hit.sig, record, slots)) return hit;
    const key: (string | number)[] = new Array(slots.length);
    const bytes = Buffer.allocUnsafe(size);
    let p = 0;
    for (let k = 0; k < slots.length; k++) {
      const e = record + RECORD_HEADER + slots[k]! * ENTRY_SIZE;
      if (u8[e] === TAG_NUMBER) {
        const v = this.f64[(e + 8) >> 3]!;
        key[k] = v;
        bytes[p] = 78; // "N"
        if (v === 0) bytes.fill(0, p + 1, p + 9);
        else bytes.set(u8.subarray(e + 8, e + 16), p + 1);
        p += 9;
      } else {
        const at = record + u32[(e + 4) >> 2]!;
        const len = u32[(e + 8) >> 2]!;
        key[k] = this.buf.toString("utf8", at, at + len);
        bytes[p] = 83; // "S"
        bytes.writeUInt32LE(len, p + 1);
        bytes.set(u8.subarray(at, at + len), p + 5);
        p += 5 + len;
      }
    }
    // latin1: one character per byte, in a flat string.
    const sig = bytes.toString("latin1");
    const read: CachedKey = { key: Object.freeze(key), text: encodeKey(key), sig, memo: new Array<number>(this.counters.length).fill(-1) };
    if (cache.size >= KEY_CACHE_SIZE) cache.clear();
    cache.set(h, read);
    return read;
  }

  /** Whether the record holds the key of signature `sig` (of the right length; its hash matched). */
  private same(sig: string, record: number, slots: readonly number[]): boolean {
    const u8 = this.u8;
    const u32 = this.u32;
    let p = 0;
    for (let k = 0; k < slots.length; k++) {
      const e = record + RECORD_HEADER + slots[k]! * ENTRY_SIZE;
      if (u8[e] === TAG_NUMBER) {
        if (sig.charCodeAt(p) !== 78) return false; // "N"
        if (this.f64[(e + 8) >> 3] === 0) {
          for (let i = 1; i <= 8; i++) if (sig.charCodeAt(p + i) !== 0) return false;
        } else {
          for (let i = 1; i <= 8; i++) if (sig.charCodeAt(p + i) !== u8[e + 7 + i]) return false;
        }
        p += 9;
      } else {
        const at = record + u32[(e + 4) >> 2]!;
        const len = u32[(e + 8) >> 2]!;
        if (sig.charCodeAt(p) !== 83) return false; // "S"
        if ((sig.charCodeAt(p + 1) | (sig.charCodeAt(p + 2) << 8) | (sig.charCodeAt(p + 3) << 16) | (sig.charCodeAt(p + 4) << 24)) >>> 0 !== len) return false;
        p += 5;
        for (let i = 0; i < len; i++) if (sig.charCodeAt(p + i) !== u8[at + i]) return false;
        p += len;
      }
    }
    return true;
  }

  /** Memory never grows after compile (docs/abi.md), so the views are made once. */
  private views(): void {
    this.u8 = new Uint8Array(this.memory.buffer);
    this.buf = Buffer.from(this.memory.buffer);
    this.u32 = new Uint32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
  }

  /** The key of counter `i` in the encoded record at `record`, or null when it is UNKNOWN
   *  (a `per` value absent or neither a string nor a number). */
  keyAt(record: number, i: number): Key | null {
    const slots = this.perSlots[i]!;
    const key: (string | number)[] = new Array(slots.length);
    for (let k = 0; k < slots.length; k++) {
      const e = record + RECORD_HEADER + slots[k]! * ENTRY_SIZE;
      const tag = this.u8[e]!;
      if (tag === TAG_NUMBER) key[k] = this.f64[(e + 8) >> 3]!;
      else if (tag === TAG_STRING) {
        const off = this.u32[(e + 4) >> 2]!;
        const len = this.u32[(e + 8) >> 2]!;
        key[k] = this.buf.toString("utf8", record + off, record + off + len);
      } else return null;
    }
    return key;
  }

  /** Writes the stored window sum of counter `i` for the record's key. */
  setSum(i: number, sum: number): void {
    this.f64[(this.region + i * COUNTER_ENTRY_SIZE + 8) >> 3] = sum;
  }

  flags(i: number): number {
    return this.u8[this.region + i * COUNTER_ENTRY_SIZE]!;
  }

  /** The value of counter `i` for the decided record, or null when UNKNOWN. */
  value(i: number): number | null {
    const f = this.flags(i);
    const known = COUNTER_KEY_KNOWN | COUNTER_CONTRIBUTION_KNOWN;
    return (f & known) === known ? this.f64[(this.region + i * COUNTER_ENTRY_SIZE + 24) >> 3]! : null;
  }

  /** The contribution of counter `i` for the decided record, or null when UNKNOWN. */
  contribution(i: number): number | null {
    return (this.flags(i) & COUNTER_CONTRIBUTION_KNOWN) !== 0 ? this.f64[(this.region + i * COUNTER_ENTRY_SIZE + 16) >> 3]! : null;
  }

  /** The contributions the core marked for recording (allow or escalate), with their keys as
   *  read per group (`read[g]`, null when UNKNOWN). */
  recorded(read: readonly (ReadKey | null)[]): CounterEntry[] {
    const out: CounterEntry[] = [];
    for (let i = 0; i < this.counters.length; i++) {
      if ((this.flags(i) & COUNTER_RECORD) === 0) continue;
      const r = read[this.groupOf[i]!];
      if (r === null || r === undefined) throw new Error(`counter '${this.counters[i]!.name}': the core recorded a contribution for an unknown key`);
      out.push({ counter: this.counters[i]!.name, key: r.key, amount: this.f64[(this.region + i * COUNTER_ENTRY_SIZE + 16) >> 3]!, keyText: r.text });
    }
    return out;
  }
}

/** `counter` + encoded key: one text per (counter, key). */
export function refText(counter: string, key: Key): string {
  return `${counter}\u0000${encodeKey(key)}`;
}
