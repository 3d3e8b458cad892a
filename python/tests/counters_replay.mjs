// Driver for python/tests/test_counters.py: loads policies with counters in the Node host
// (build/dist/src/index.js, built by `npm run build`), replays operations through them and prints
// what the Python host must reproduce. Reads JSON on stdin:
//   {"cases": [{"text": MANIFEST_YAML, "ops": [OP...]}...]}
//     OP: {"op": "step", "action", "now", "id"}      -> [decision, entries, pending]
//       | {"op": "line", "line", "now"}              -> decision (evaluateLines, one line)
//       | {"op": "resolve", "id", "resolution", "at"} -> boolean
//       | {"op": "refs", "action"}                   -> [[counter, key]...]
//   -> {"cases": [{"errors": [[line, column, message]...]}
//                 | {"counters": [[name, windowMs, per, sum, referenced, definition, digest]...],
//                    "stateful", "results": [RESULT | {"error": NAME}...], "size": [entries, keys,
//                    pending, heap] | null, "tests": [[name, [[step, decision]...]]...]}...]}
// A decision is printed as JSON.stringify prints it (key order kept), an entry as
// [counter, key, amount].
import { Policy, PolicyError } from "../../build/dist/src/index.js";
import { runPolicyTests } from "../../build/dist/src/policy-tests.js";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const attempt = (f) => {
  try {
    const r = f();
    return r === undefined ? null : r;
  } catch (e) {
    return { error: e instanceof Error ? e.constructor.name : String(e) };
  }
};

const entries = (list) => list.map((e) => [e.counter, e.key, e.amount]);

const out = input.cases.map(({ text, ops }) => {
  let policy;
  try {
    policy = Policy.fromYaml(text, { filename: "generated.yaml" });
  } catch (e) {
    if (e instanceof PolicyError) return { errors: e.errors.map((p) => [p.line, p.column, p.message]) };
    throw e;
  }
  const results = ops.map((op) => attempt(() => {
    switch (op.op) {
      case "step": {
        const s = policy.step(op.action, { now: op.now, pendingId: op.id });
        return [s.decision, entries(s.entries), s.pending];
      }
      case "line":
        return policy.evaluateLines([op.line], { now: op.now })[0];
      case "resolve":
        return policy.resolve(op.id, op.resolution, op.at);
      case "refs":
        return policy.counterRefs(op.action).map((r) => [r.counter, r.key]);
      default:
        throw new Error(`unknown op ${op.op}`);
    }
  }));
  const size = policy.state === null ? null : policy.state.size();
  return {
    counters: policy.counters.map((c) => [c.name, c.windowMs, c.per, c.sum, c.referenced, c.definition, c.digest]),
    stateful: policy.stateful,
    results,
    size: size === null ? null : [size.entries, size.keys, size.pending, size.heap],
    tests: runPolicyTests(policy).map((r) => [r.name, r.failures.map((f) => [f.step, f.actual])]),
  };
});
process.stdout.write(JSON.stringify({ cases: out }));
