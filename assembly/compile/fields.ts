// The field table: every distinct path the policy reads gets one slot of the input record.

export class FieldTable {
  paths: Array<Array<string>> = [];
  private keys: Map<string, i32> = new Map();

  slotOf(segments: Array<string>): i32 {
    const key = segments.join("\u0000");
    if (this.keys.has(key)) return this.keys.get(key);
    const slot = this.paths.length;
    this.paths.push(segments);
    this.keys.set(key, slot);
    return slot;
  }

  /** Slot of a path if the policy reads it, else -1. */
  find(segments: Array<string>): i32 {
    const key = segments.join("\u0000");
    return this.keys.has(key) ? this.keys.get(key) : -1;
  }

  get count(): i32 { return this.paths.length; }
}
