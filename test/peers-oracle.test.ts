// casbin and json-rules-engine as oracles (test/support/peers/casbin-translate.ts,
// test/support/peers/rules-engine-translate.ts): on the rules each can express, casbin must allow exactly
// what Tollgate allows, and json-rules-engine must give Tollgate's decision and deciding rule.
// Any disagreement is printed with the policy, the action and both answers.

import { describe, expect, it } from "vitest";
import { Policy } from "../src/index.js";
import { casbinSubset, translateCasbin } from "./support/peers/casbin-translate.js";
import { rulesEngineSubset, translateRulesEngine } from "./support/peers/rules-engine-translate.js";
import { formatPeerDisagreement, generateCasbinSubsetPolicy, generateRulesEngineSubsetPolicy, runCasbinOracle, runRulesEngineOracle, type PeerOracleResult } from "./support/peers/peers-workload.js";
import { generateActions } from "./support/workload/generate.js";
import { APPROVERS, EDGE_HEAD, EDGE_TAIL, edgeActions as sharedEdgeActions } from "./oracle-edge.js";

type Manifest = Record<string, unknown>;

function expectNone(r: PeerOracleResult): number {
  if (r.disagreements.length > 0) console.error(`${r.disagreements.length} disagreement(s):\n${r.disagreements.slice(0, 20).map((d) => formatPeerDisagreement(d)).join("\n")}`);
  expect(r.disagreements.map((d) => ({ action: d.action, tollgate: d.tollgate, peer: d.peerAnswer }))).toEqual([]);
  return r.checked;
}

const casbin = async (m: Manifest, actions: unknown[]) => expectNone(await runCasbinOracle(m, actions, Policy.fromObject(m)));
const jre = async (m: Manifest, actions: unknown[]) => expectNone(await runRulesEngineOracle(m, actions, Policy.fromObject(m)));

/** Values that exercise absence, every JSON type and awkward strings. */
const VALUES: unknown[] = [
  undefined, null, true, false, 0, -0, 1, -1, 499, 500, 501, 500.5, 1e300, -1e-7, "0.7", "400", "1e3",
  "", "500", "EUR", "eur", "payments.refund", "payments.", "a*b", 'q"uote', "back\\slash", "new\nline", "é", "日本", "😀x", "😀.md",
  "/workspace/a/b.txt", "/workspace/", "/etc/passwd", "/x/.env", "report.csv", "a/report.csv", "a.bc", "axbc", "bx", "ab.md", "[x]", "(x)+", "$&", "x/a.txt", "xa.txt", "b/c.md",
  [], ["admin"], ["intern", "admin"], ["support", 1, null, true], [["admin"]], [{ a: 1 }], [500, 1.5], ["EUR", "USD"],
  {}, { amount: 5 },
];

const RULES: Record<string, unknown>[] = [
  ...EDGE_HEAD,
  { id: "allow-float", effect: "allow", when: { "args.f": { gt: 0.5, lt: 1e200 } } },
  ...EDGE_TAIL,
  { id: "allow-qmark", effect: "allow", when: { "args.q": { glob: "a?c" } } },
  { id: "allow-class", effect: "allow", when: { any: [{ "args.q": { glob: "[a-c]x" } }, { "args.q": { glob: "[!a]*.md" } }, { "args.q": { glob: "?.md" } }, { "args.q": { glob: "\\[x]" } }, { "args.q": { glob: "(x)+" } }, { "args.q": { glob: "x*.txt" } }] } },
  { id: "deny-regex", effect: "deny", reason: "r", when: { "args.s": { matches: "^a+$" } } },
];

const EDGE: Manifest = { tollgate: 1, name: "edge", default: "deny", approvers: APPROVERS, rules: RULES };

const edgeActions = () => sharedEdgeActions(VALUES, ["amount", "x", "currency", "s", "path", "n", "list", "v", "b", "f", "q", "we.ird key"]);

describe("casbin translation", () => {
  it("leaves out what casbin's matchers cannot express, with the reason", () => {
    const tr = translateCasbin({ tollgate: 1, name: "x", rules: [
      { id: "re", effect: "deny", reason: "r", when: { "args.s": { matches: "a+" } } },
      { id: "len", effect: "deny", reason: "r", when: { "args.s": { len: { gt: 3 } } } },
      { id: "every", effect: "deny", reason: "r", when: { "args.l": { every: ["a"] } } },
      { id: "rdot", effect: "deny", reason: "r", when: { "args.s": { prefix: "x r.y" } } },
      { id: "dollar", effect: "deny", reason: "r", when: { "args.s": { eq: "a$&b" } } },
      { id: "ok", effect: "deny", reason: "r", when: { "args.n": { gt: 1.5 }, "args.p": { glob: "a?[b-d]" } } },
    ] });
    expect(tr.ids).toEqual(["ok"]);
    expect(tr.skipped.map((s) => s.id)).toEqual(["re", "len", "every", "rdot", "dollar"]);
  });

  it("allows exactly what Tollgate allows on absent fields, mistyped values and awkward strings", async () => {
    const { manifest, skipped } = casbinSubset(EDGE);
    expect(skipped.map((s) => s.id)).toEqual(["allow-every", "deny-regex"]);
    const actions = edgeActions();
    expect(await casbin(manifest, actions)).toBe(actions.length);
    expect(await casbin({ ...manifest, name: "edge-allow", default: "allow" }, actions.slice(0, 200))).toBe(200);
  });

  it("agrees with Tollgate on generated policies (2 seeds x 40 rules x 200 actions)", async () => {
    for (const seed of [1, 2]) {
      const { manifest } = generateCasbinSubsetPolicy(40, seed);
      expect(translateCasbin(manifest).lines.length).toBe(40);
      expect(await casbin(manifest, generateActions(manifest, 200, seed))).toBe(200);
    }
  });
});

describe("json-rules-engine translation", () => {
  it("leaves out what its built-in operators cannot express, with the reason", () => {
    const { manifest, skipped } = rulesEngineSubset(EDGE);
    expect(skipped.map((s) => s.id)).toEqual(["deny-star", "deny-quote", "deny-env", "esc-one-star", "allow-ws", "g-deny", "g-allow", "allow-qmark", "allow-class", "deny-regex"]);
    expect(translateRulesEngine(manifest).ids).toEqual(["deny-big", "deny-big-present", "esc-currency", "allow-roles", "allow-every", "allow-num-elem", "allow-null", "allow-float", "allow-unicode"]);
  });

  it("gives Tollgate's decision and rule on absent fields, mistyped values and awkward strings", async () => {
    const { manifest } = rulesEngineSubset(EDGE);
    const actions = edgeActions();
    expect(await jre(manifest, actions)).toBe(actions.length);
    expect(await jre({ ...manifest, name: "edge-allow", default: "allow" }, actions.slice(0, 200))).toBe(200);
  });

  it("agrees with Tollgate on generated policies (2 seeds x 30 rules x 150 actions)", async () => {
    for (const seed of [1, 2]) {
      const { manifest } = generateRulesEngineSubsetPolicy(30, seed);
      expect(translateRulesEngine(manifest).rules.length).toBe(30);
      expect(await jre(manifest, generateActions(manifest, 150, seed))).toBe(150);
    }
  });
});
