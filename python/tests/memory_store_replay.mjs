// Driver for python/tests/test_memory_store.py: replays operations through the Node host's
// MemoryCounterStore (build/dist/src/state/memory-store.js, built by `npm run build`) and prints
// what the Python store must reproduce. Reads JSON on stdin:
//   {"keys": [KEY...]}                      -> {"keys": [encodeKey(KEY) or {"error": NAME}...]}
//   {"sequences": [{"definitions": [[name, windowMs, definition]...], "keys": [KEY...], "ops": [OP...]}...]}
//     OP: {"op": "record", "now", "entries": [[counter, key, amount]...], "pending": null | [id, expiresAt, onTimeout]}
//       | {"op": "resolve", "id", "outcome", "at"}
//       | {"op": "retain", "definitions": [...]}
//       | {"op": "sum", "now"}                (only the sums below)
//     -> {"sequences": [[[result, clock, [sum per current counter x key...], size]...]...]}
//   where result is null (record, retain, sum), the boolean of resolve, or {"error": NAME} when
//   the call threw; the sums are taken after every op at the op's time.
import { MemoryCounterStore, encodeKey } from "../../build/dist/src/state/memory-store.js";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const defs = (list) => list.map(([name, windowMs, definition]) => ({ name, windowMs, definition }));
const attempt = (f) => {
  try {
    const r = f();
    return r === undefined ? null : r;
  } catch (e) {
    return { error: e instanceof Error ? e.constructor.name : String(e) };
  }
};

const out = {};
if (input.keys !== undefined) out.keys = input.keys.map((k) => attempt(() => encodeKey(k)));
if (input.sequences !== undefined) {
  out.sequences = input.sequences.map((seq) => {
    let current = defs(seq.definitions);
    const store = new MemoryCounterStore(current);
    return seq.ops.map((op) => {
      let result = null;
      let now;
      switch (op.op) {
        case "record":
          now = op.now;
          result = attempt(() =>
            store.record(
              op.entries.map(([counter, key, amount]) => ({ counter, key, amount })),
              op.now,
              op.pending === null ? undefined : { id: op.pending[0], expiresAt: op.pending[1], onTimeout: op.pending[2] },
            ),
          );
          break;
        case "resolve":
          now = op.at;
          result = attempt(() => store.resolve(op.id, op.outcome, op.at));
          break;
        case "retain": {
          now = store.clock;
          const next = defs(op.definitions);
          result = attempt(() => store.retain(next));
          if (result === null) current = next;
          break;
        }
        case "sum":
          now = op.now;
          break;
        default:
          throw new Error(`unknown op ${op.op}`);
      }
      if (!Number.isFinite(now)) now = 0;
      const sums = [];
      for (const d of current) for (const k of seq.keys) sums.push(store.sum(d.name, k, now));
      const size = store.size();
      return [result, store.clock, sums, [size.entries, size.keys, size.pending, size.heap]];
    });
  });
}
process.stdout.write(JSON.stringify(out));
