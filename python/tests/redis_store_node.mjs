// Driver for python/tests/test_redis_store.py: runs operations through the Node host's
// RedisCounterStore (build/dist/src/state/redis-store.js, built by `npm run build`) against the
// Redis the Python test uses, and prints each result. Reads JSON on stdin:
//   {"url", "prefix", "definitions": [[name, windowMs, definition]...], "ops": [OP...]}
//     OP: {"op": "read", "refs": [[counter, key]...], "now"}                -> [sum...]
//       | {"op": "record", "entries": [[counter, key, amount]...], "now", "pending"?: [id, expiresAt, onTimeout]}
//                                        (read the sums, commit with them)  -> null, or the sums on a conflict
//       | {"op": "resolve", "id", "resolution", "at"}                        -> true | false
//   -> [result per op]
import { RedisCounterStore } from "../../build/dist/src/state/redis-store.js";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const store = new RedisCounterStore(input.url, { prefix: input.prefix });
try {
  await store.retain(input.definitions.map(([name, windowMs, definition]) => ({ name, windowMs, definition })));
  const out = [];
  for (const op of input.ops) {
    if (op.op === "read") {
      out.push(await store.read(op.refs.map(([counter, key]) => ({ counter, key })), op.now));
    } else if (op.op === "record") {
      const entries = op.entries.map(([counter, key, amount]) => ({ counter, key, amount }));
      const refs = entries.map(({ counter, key }) => ({ counter, key }));
      const pending = op.pending ? { id: op.pending[0], expiresAt: op.pending[1], onTimeout: op.pending[2] } : undefined;
      const r = await store.commit(refs, await store.read(refs, op.now), entries, op.now, pending);
      out.push(r.ok ? null : r.sums);
    } else if (op.op === "resolve") {
      out.push(await store.resolve(op.id, op.resolution, op.at));
    } else {
      throw new Error(`unknown op ${op.op}`);
    }
  }
  process.stdout.write(JSON.stringify(out));
} finally {
  await store.close();
}
