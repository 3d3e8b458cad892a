// The distinct counter+keys the decisions of one turn read from a shared store, numbered in the
// order first seen: one read for the turn, and each decision's sums found by slot. Used by the
// library's SharedDecider (shared-decide.ts) and the server workers (server/stateful-decide.ts).

import type { CounterRef } from "../policy.js";
import { encodeKey } from "../state/memory-store.js";

export class TurnRefs {
  /** Each distinct counter+key, at its slot. */
  readonly refs: CounterRef[] = [];
  private readonly index = new Map<string, Map<string, number>>();

  /** The slots of `refs`, adding the ones not seen yet in this turn. */
  add(refs: readonly CounterRef[]): number[] {
    return refs.map((r) => {
      const text = r.keyText ?? encodeKey(r.key);
      let keys = this.index.get(r.counter);
      if (keys === undefined) this.index.set(r.counter, (keys = new Map()));
      let slot = keys.get(text);
      if (slot === undefined) {
        slot = this.refs.length;
        keys.set(text, slot);
        this.refs.push(r);
      }
      return slot;
    });
  }

  /** The slot of a counter+key (by its encoded key), or undefined if the turn did not read it. */
  slotOf(counter: string, keyText: string): number | undefined {
    return this.index.get(counter)?.get(keyText);
  }
}
