// Shared by the oracle tests (test/cedar-oracle.test.ts, test/peers-oracle.test.ts): the edge
// policy's rules that every translation is tried on, and the edge actions built from a list of
// awkward values.

export const APPROVERS = { oncall: { timeout: "15m" } };

/** The edge rules up to the group (each test inserts its own rules after these). */
export const EDGE_HEAD: Record<string, unknown>[] = [
  { id: "deny-big", effect: "deny", reason: "r", when: { "args.amount": { gt: 500 } } },
  { id: "deny-big-present", effect: "deny", reason: "r", when: { "args.x": { exists: true, gte: 1000 } } },
  { id: "esc-currency", effect: "escalate", approver: "oncall", reason: "r", when: { "args.currency": { not_in: ["EUR", "USD"] } } },
  { id: "deny-star", effect: "deny", reason: "r", when: { "args.s": { prefix: "a*" } } },
  { id: "deny-quote", effect: "deny", reason: "r", when: { any: [{ "args.s": { suffix: 'e"' } }, { "args.s": { contains: "\\" } }] } },
  { id: "deny-env", effect: "deny", reason: "r", when: { "args.path": { glob: "**/.env" } } },
  { id: "esc-one-star", effect: "escalate", approver: "oncall", reason: "r", when: { "args.path": { glob: "*.csv" }, not: { "agent.roles": { contains: "admin" } } } },
  { id: "allow-ws", effect: "allow", when: { "args.path": { glob: "/workspace/{a,b}/**" } } },
  { id: "allow-roles", effect: "allow", when: { "agent.roles": { some: { in: ["admin", "sre"] } }, "args.amount": { lte: 500 } } },
  { id: "allow-every", effect: "allow", when: { "agent.roles": { every: ["support", "intern"] }, "args.n": { ne: 3 } } },
  { id: "allow-num-elem", effect: "allow", when: { "args.list": { contains: 500 } } },
  { id: "allow-null", effect: "allow", when: { "args.v": null, "args.b": { in: [true, "x", 7] } } },
];

/** The group and the rule after it. */
export const EDGE_TAIL: Record<string, unknown>[] = [
  { group: "g", when: { tool: { prefix: "pay" } }, rules: [
    { id: "g-deny", effect: "deny", reason: "r", when: { not: { "args.amount": { lt: 0 } } } },
    { id: "g-allow", effect: "allow", when: { "args.amount": { exists: false } } },
  ] },
  { id: "allow-unicode", effect: "allow", when: { 'args["we.ird key"]': { eq: "日本" } } },
];

/** Every other field harmless (no deny or escalate rule TRUE or UNKNOWN), so that the value decides. */
const QUIET = { amount: 1, currency: "EUR", s: "zzz", path: "/srv/x.txt" };

/** Malformed actions, then four actions for each of `values` at each of the `keys` under args. */
export function edgeActions(values: readonly unknown[], keys: readonly string[]): unknown[] {
  const actions: unknown[] = [{}, { args: "not an object" }, { args: null }, { tool: 5 }];
  let k = 0;
  for (const key of keys) {
    for (const v of values) {
      const w = values[(k++ * 7) % values.length];
      actions.push({ tool: k % 3 === 0 ? "payments.refund" : "db.query", args: { [key]: v, amount: k % 2 ? w : 100 }, agent: { roles: values[k % values.length] } });
      actions.push({ args: { [key]: v } });
      actions.push({ tool: "db.query", args: { ...QUIET, [key]: v }, agent: { roles: ["admin"] } });
      actions.push({ tool: "db.query", args: { ...QUIET, [key]: v } });
    }
  }
  return actions;
}
