// The manifest as a tree of JSON values. Built once per compile; never used while evaluating.

export const enum JKind { Null, False, True, Number, String, Array, Object }

// Scalars share these empty lists: a manifest has hundreds of thousands of values, and the
// core never frees what compile allocates (stub runtime), so every byte per value counts.
const NO_VALUES = new Array<JValue>(0);
const NO_KEYS = new Array<string>(0);

export class JValue {
  kind: JKind;
  num: f64 = 0;
  str: string = "";
  items: Array<JValue> = NO_VALUES;   // array elements
  keys: Array<string> = NO_KEYS;      // object keys, in document order
  values: Array<JValue> = NO_VALUES;  // object values, parallel to keys

  constructor(kind: JKind) {
    this.kind = kind;
    if (kind == JKind.Array) this.items = [];
    else if (kind == JKind.Object) {
      this.keys = [];
      this.values = [];
    }
  }

  get isObject(): bool { return this.kind == JKind.Object; }
  get isArray(): bool { return this.kind == JKind.Array; }
  get isString(): bool { return this.kind == JKind.String; }
  get isNumber(): bool { return this.kind == JKind.Number; }
  get isBool(): bool { return this.kind == JKind.True || this.kind == JKind.False; }
  get isScalar(): bool { return this.kind != JKind.Array && this.kind != JKind.Object; }

  /** Index of `key` in an object, or -1. */
  indexOf(key: string): i32 {
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] == key) return i;
    return -1;
  }

  get(key: string): JValue | null {
    const i = this.indexOf(key);
    return i < 0 ? null : this.values[i];
  }

  /** The JSON type name used in error messages. */
  get typeName(): string {
    switch (this.kind) {
      case JKind.Null: return "null";
      case JKind.False:
      case JKind.True: return "a boolean";
      case JKind.Number: return "a number";
      case JKind.String: return "a string";
      case JKind.Array: return "a list";
      default: return "a mapping";
    }
  }
}
