// Writes the fields of an action that the policy reads into input records of the core's
// linear memory (docs/abi.md, "Input region"). Only the paths of the field table are read.

import {
  ENTRY_SIZE, ErrorCode, MAX_ARRAY_DEPTH, MAX_DATA_BYTES, RECORD_HEADER,
  TAG_ABSENT, TAG_ARRAY, TAG_FALSE, TAG_NULL, TAG_NUMBER, TAG_OBJECT, TAG_STRING, TAG_TRUE,
} from "./abi.generated.js";

export { MAX_DATA_BYTES } from "./abi.generated.js";

/** Record did not fit in what is left of the region: flush the batch and encode it again. */
export const NO_ROOM = -1;

const ABSENT: unique symbol = Symbol("absent");

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

type FieldWriter = (action: Record<string, unknown>, encoder: ActionEncoder, base: number) => void;

interface PathNode {
  children: Map<string, PathNode>;
  slot: number; // -1 when no field ends here
}

/** Objects whose field-table children number at least this are visited key by key (see below). */
const KEYED_MIN_CHILDREN = 6;

/**
 * Generates one function per policy that reads every field-table path of an action, visiting
 * each intermediate object once (`args` for `args.amount` and `args.sql`), and writes each value
 * into its slot. Only own keys of plain objects are followed: a key that also names an
 * Object.prototype member (toString, __proto__...) gets an explicit own-property check.
 *
 * `ordered` reads the paths in field-table order with literal property names. Actions of many
 * tools give an object such as `args` many shapes, so each of those reads is a megamorphic
 * lookup, and a big policy reads dozens of paths of which an action has a handful. Otherwise
 * (`ordered` false) an object with at least KEYED_MIN_CHILDREN paths below it is read the other
 * way round: every slot below it starts absent and the object's keys (for-in: own enumerable
 * ones, which is all a JSON object has) are looked up in a table of the policy's keys, so the
 * cost follows the action, not the policy. An action that fails to encode is encoded again in
 * order, so that its error is the one the field-table order gives.
 */
export function compileFieldWriter(fields: readonly (readonly string[])[], ordered = true): FieldWriter {
  const root: PathNode = { children: new Map(), slot: -1 };
  fields.forEach((path, slot) => {
    let node = root;
    for (const key of path) {
      let next = node.children.get(key);
      if (!next) node.children.set(key, (next = { children: new Map(), slot: -1 }));
      node = next;
    }
    node.slot = slot;
  });
  const lines: string[] = [];
  const tables: Map<string, number>[] = [];
  let locals = 0;
  const read = (obj: string, key: string) => {
    const k = JSON.stringify(key);
    return key in Object.prototype ? `(hasOwn.call(${obj}, ${k}) ? ${obj}[${k}] : undefined)` : `${obj}[${k}]`;
  };
  const slotsBelow = (node: PathNode, out: number[]) => {
    for (const child of node.children.values()) {
      if (child.slot >= 0) out.push(child.slot);
      slotsBelow(child, out);
    }
    return out;
  };
  // `value` holds the child's value, or undefined when it is absent.
  const visitChild = (child: PathNode, value: string) => {
    if (child.slot >= 0) {
      lines.push(`if (!w.value(base + ${RECORD_HEADER + ENTRY_SIZE * child.slot}, ${value} === undefined ? ABSENT : ${value}, 0)) return;`);
    }
    if (child.children.size > 0) {
      const inner = `o${locals++}`;
      lines.push(`const ${inner} = isPlainObject(${value}) ? ${value} : undefined;`);
      visit(child, inner);
    }
  };
  const visit = (node: PathNode, obj: string) => {
    if (!ordered && node.children.size >= KEYED_MIN_CHILDREN) {
      for (const slot of slotsBelow(node, [])) lines.push(`u32[(base + ${RECORD_HEADER + ENTRY_SIZE * slot}) >> 2] = 0;`);
      const table = new Map<string, number>();
      const t = tables.length;
      tables.push(table);
      const k = `k${locals++}`;
      lines.push(`if (${obj} !== undefined) for (const ${k} in ${obj}) {`);
      lines.push(`switch (tables[${t}].get(${k})) {`);
      for (const [key, child] of node.children) {
        table.set(key, table.size);
        const value = `v${locals++}`;
        lines.push(`case ${table.size - 1}: {`);
        if (key in Object.prototype) lines.push(`if (!hasOwn.call(${obj}, ${k})) break;`);
        lines.push(`const ${value} = ${obj}[${k}];`);
        visitChild(child, value);
        lines.push(`break; }`);
      }
      lines.push(`}}`);
      return;
    }
    for (const [key, child] of node.children) {
      const value = `v${locals++}`;
      // `obj` is a plain object or undefined (an absent or non-object step on the way).
      lines.push(`const ${value} = ${obj} === undefined ? undefined : ${read(obj, key)};`);
      visitChild(child, value);
    }
  };
  visit(root, "a");
  const factory = new Function("ABSENT", "isPlainObject", "hasOwn", "tables",
    `return function writeFields(a, w, base) {\nconst u32 = w.u32;\n${lines.join("\n")}\n};`);
  return factory(ABSENT, isPlainObject, Object.prototype.hasOwnProperty, tables) as FieldWriter;
}

export class ActionEncoder {
  private readonly writeFields: FieldWriter;
  private readonly writeFieldsOrdered: FieldWriter;
  private readonly fieldCount: number;
  private u8!: Uint8Array;
  /** @internal read by the generated field writer */
  u32!: Uint32Array;
  private f64!: Float64Array;
  private readonly textEncoder = new TextEncoder();
  // State of the record being written.
  private base = 0;
  private data = 0;
  private limit = 0;
  private budgetEnd = 0;
  private failure = 0; // an ErrorCode, or NO_ROOM

  constructor(fields: readonly (readonly string[])[], memory: WebAssembly.Memory) {
    this.writeFieldsOrdered = compileFieldWriter(fields, true);
    this.writeFields = compileFieldWriter(fields, false);
    this.fieldCount = fields.length;
    this.refresh(memory);
  }

  /** Re-creates the views; needed only if memory grew (it never does after compile). */
  refresh(memory: WebAssembly.Memory): void {
    this.u8 = new Uint8Array(memory.buffer);
    this.u32 = new Uint32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
  }

  /** Writes a header-only record carrying an error code; returns the next record's offset. */
  writeStatus(pos: number, code: number): number {
    this.u32[pos >> 2] = RECORD_HEADER;
    this.u32[(pos + 4) >> 2] = code;
    return pos + RECORD_HEADER;
  }

  /** The status of the record at `pos`: 0 when it was encoded, else its error code. */
  statusAt(pos: number): number {
    return this.u32[(pos + 4) >> 2]!;
  }

  /**
   * Encodes `action` as a record at `pos` (8-aligned) in a region ending at `end`.
   * Returns the offset after the record, or NO_ROOM if it might fit in an empty region.
   */
  encode(action: unknown, pos: number, end: number): number {
    if (!isPlainObject(action)) return pos + RECORD_HEADER > end ? NO_ROOM : this.writeStatus(pos, ErrorCode.NotObject);
    const n = this.fieldCount;
    const dataStart = pos + RECORD_HEADER + n * ENTRY_SIZE;
    if (dataStart > end) return NO_ROOM;
    this.base = pos;
    this.data = dataStart;
    this.budgetEnd = dataStart + MAX_DATA_BYTES;
    this.limit = Math.min(this.budgetEnd, end);
    this.failure = 0;
    this.writeFields(action, this, pos);
    if (this.failure !== 0) {
      // the first error in field-table order is the one to report (docs/abi.md)
      this.data = dataStart;
      this.failure = 0;
      this.writeFieldsOrdered(action, this, pos);
    }
    if (this.failure !== 0) {
      if (this.failure === NO_ROOM) return NO_ROOM;
      return this.writeStatus(pos, this.failure);
    }
    const size = (this.data - pos + 7) & ~7;
    if (pos + size > end) return NO_ROOM;
    this.u32[pos >> 2] = size;
    this.u32[(pos + 4) >> 2] = 0;
    return pos + size;
  }

  private fail(code: number): false {
    // Running out of the region (not of the 1 MiB budget) means "retry in an empty region".
    this.failure = code === ErrorCode.TooLarge && this.limit < this.budgetEnd ? NO_ROOM : code;
    return false;
  }

  /** Writes one value entry at `e`; false (with `failure` set) stops the record. */
  value(e: number, v: unknown, depth: number): boolean {
    const u32 = this.u32;
    switch (typeof v) {
      case "string": return this.writeString(e, v);
      case "number":
        if (!Number.isFinite(v)) return this.fail(ErrorCode.NotJsonValue);
        u32[e >> 2] = TAG_NUMBER;
        u32[(e + 4) >> 2] = 0;
        this.f64[(e + 8) >> 3] = v;
        return true;
      case "boolean":
        u32[e >> 2] = v ? TAG_TRUE : TAG_FALSE;
        return true;
      case "symbol":
        if (v === ABSENT) { u32[e >> 2] = TAG_ABSENT; return true; }
        return this.fail(ErrorCode.NotJsonValue);
      case "object":
        if (v === null) { u32[e >> 2] = TAG_NULL; return true; }
        if (Array.isArray(v)) return this.writeArray(e, v, depth + 1);
        if (isPlainObject(v)) { u32[e >> 2] = TAG_OBJECT; return true; }
        return this.fail(ErrorCode.NotJsonValue);
      case "undefined": // only inside arrays (a getter never returns it): JSON.stringify makes it null
        u32[e >> 2] = TAG_NULL;
        return true;
      default:
        return this.fail(ErrorCode.NotJsonValue);
    }
  }

  private writeString(e: number, s: string): boolean {
    const u8 = this.u8;
    let p = this.data;
    const n = s.length;
    let ascii = n <= 256 && p + n <= this.limit;
    if (ascii) {
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) { ascii = false; break; }
        u8[p + i] = c;
      }
    }
    let written: number;
    if (ascii) {
      written = n;
    } else {
      const r = this.textEncoder.encodeInto(s, u8.subarray(p, this.limit));
      if (r.read < n) return this.fail(ErrorCode.TooLarge);
      written = r.written;
    }
    const u32 = this.u32;
    u32[e >> 2] = TAG_STRING;
    u32[(e + 4) >> 2] = p - this.base;
    u32[(e + 8) >> 2] = written;
    u32[(e + 12) >> 2] = 0;
    this.data = p + written;
    return true;
  }

  private writeArray(e: number, a: readonly unknown[], depth: number): boolean {
    if (depth > MAX_ARRAY_DEPTH) return this.fail(ErrorCode.TooDeep);
    const count = a.length;
    const run = (this.data + 7) & ~7;
    if (run + count * ENTRY_SIZE > this.limit) return this.fail(ErrorCode.TooLarge);
    this.data = run + count * ENTRY_SIZE;
    const u32 = this.u32;
    u32[e >> 2] = TAG_ARRAY;
    u32[(e + 4) >> 2] = run - this.base;
    u32[(e + 8) >> 2] = count;
    u32[(e + 12) >> 2] = 0;
    for (let i = 0; i < count; i++) {
      if (!this.value(run + i * ENTRY_SIZE, a[i], depth)) return false;
    }
    return true;
  }
}
