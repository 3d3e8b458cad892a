// `contains` on strings: Knuth-Morris-Pratt, so a search is linear in the text whatever the operand.

export class Substring {
  ptr: usize;
  len: i32;
  private fail: StaticArray<i32>;

  constructor(ptr: usize, len: i32) {
    this.ptr = ptr;
    this.len = len;
    const fail = new StaticArray<i32>(max(len, 1));
    let k = 0;
    for (let i = 1; i < len; i++) {
      while (k > 0 && load<u8>(ptr + <usize>i) != load<u8>(ptr + <usize>k)) k = unchecked(fail[k - 1]);
      if (load<u8>(ptr + <usize>i) == load<u8>(ptr + <usize>k)) k++;
      unchecked(fail[i] = k);
    }
    this.fail = fail;
  }

  /** Whether the operand occurs in the bytes [text, text+n). Never allocates. */
  foundIn(text: usize, n: i32): bool {
    const m = this.len;
    if (m == 0) return true;
    if (m > n) return false;
    const p = this.ptr;
    const first = load<u8>(p);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const c = load<u8>(text + <usize>i);
      if (k == 0) {
        if (c != first) continue;
        k = 1;
      } else {
        while (k > 0 && c != load<u8>(p + <usize>k)) k = unchecked(this.fail[k - 1]);
        if (c == load<u8>(p + <usize>k)) k++;
      }
      if (k == m) return true;
    }
    return false;
  }
}
