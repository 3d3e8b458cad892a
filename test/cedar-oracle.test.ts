// Cedar as an oracle: every action of a workload restricted to the Cedar-translatable subset of
// the language (test/support/peers/cedar-translate.ts) must get the same decision and deciding rule from
// Tollgate and from Cedar (cedar-wasm) on the translated policy set. Any disagreement is printed
// with the policy, the action and both answers.

import { describe, expect, it } from "vitest";
import { Policy } from "../src/index.js";
import { translatePolicy } from "./support/peers/cedar-translate.js";
import { cedarWorkload, formatDisagreement, runOracle } from "./support/peers/cedar-workload.js";
import { APPROVERS, EDGE_HEAD, EDGE_TAIL, edgeActions } from "./oracle-edge.js";

function expectAgreement(manifest: Record<string, unknown>, actions: unknown[], options: { parseEachCall?: boolean } = {}): number {
  const r = runOracle(manifest, actions, Policy.fromObject(manifest), options);
  if (r.disagreements.length > 0) {
    console.error(`${r.disagreements.length} disagreement(s):\n${r.disagreements.slice(0, 20).map((d) => formatDisagreement(d, r.translation)).join("\n")}`);
  }
  expect(r.disagreements.map((d) => ({ action: d.action, tollgate: d.tollgate, cedar: d.cedar }))).toEqual([]);
  return r.checked;
}

/** Values that exercise absence, every JSON type, decimals and awkward strings. */
const VALUES: unknown[] = [
  undefined, null, true, false, 0, -0, 1, -1, 499, 500, 501, 500.5, 499.99, -500.25, 0.1, 1e15, 2 ** 60, 1.23456,
  "", "500", "EUR", "eur", "payments.refund", "payments.", "Payments.refund", "a*b", 'q"uote', "back\\slash", "new\nline", "tab\t", "é", "日本", "😀x",
  "/workspace/a/b.txt", "/workspace/", "/workspace", "/etc/passwd", "/x/.env", "x/.env/y", "report.csv", "a/report.csv", "exports/a/b.csv",
  [], ["admin"], ["intern", "admin"], ["support", 1, null, true], [["admin"]], [{ a: 1 }], [500, 1.5], ["EUR", "USD"],
  {}, { amount: 5 },
];

const EDGE_POLICY = {
  tollgate: 1,
  name: "edge",
  default: "deny",
  approvers: APPROVERS,
  rules: [
    ...EDGE_HEAD,
    ...EDGE_TAIL,
    { id: "allow-all", effect: "allow", when: { "args.q": { glob: "a?c" } } }, // untranslatable: left out below
  ],
};

describe("Cedar translation", () => {
  it("leaves out what Cedar cannot express, with the reason", () => {
    const tr = translatePolicy({
      tollgate: 1, name: "x", rules: [
        { id: "re", effect: "deny", reason: "r", when: { "args.s": { matches: "a+" } } },
        { id: "len", effect: "deny", reason: "r", when: { "args.s": { len: { gt: 3 } } } },
        { id: "float", effect: "deny", reason: "r", when: { "args.n": { gt: 1.5 } } },
        { id: "qmark", effect: "deny", reason: "r", when: { "args.p": { glob: "a?" } } },
        { id: "mixed", effect: "deny", reason: "r", when: { "args.p": { glob: "*/**" } } },
        { id: "some-suffix", effect: "deny", reason: "r", when: { "args.l": { some: { suffix: "x" } } } },
        { id: "ok", effect: "deny", reason: "r", when: { "args.n": { gt: 1 } } },
      ],
    });
    expect(tr.rules.map((r) => r.id)).toEqual(["ok"]);
    expect(tr.skipped.map((s) => s.id)).toEqual(["re", "len", "float", "qmark", "mixed", "some-suffix"]);
    expect(tr.skipped[0]!.reason).toMatch(/regular expressions/);
  });

  it("agrees with Tollgate on absent fields, mistyped values and awkward strings", () => {
    const manifest = { ...EDGE_POLICY, rules: EDGE_POLICY.rules.filter((r) => (r as { id?: string }).id !== "allow-all") };
    const actions = edgeActions(VALUES, ["amount", "x", "currency", "s", "path", "n", "list", "v", "b", "we.ird key"]);
    // Actions with a number that cannot be encoded where a comparison reads it are excluded, not compared.
    const checked = expectAgreement(manifest, actions);
    expect(checked).toBeGreaterThan(actions.length * 0.8);
    expectAgreement({ ...manifest, name: "edge-allow", default: "allow" }, actions.slice(0, 120), { parseEachCall: true });
  });

  it("agrees with Tollgate on generated policies (3 seeds x 50 rules x 200 actions)", () => {
    for (const seed of [1, 2, 3]) {
      const { subset, actions } = cedarWorkload(50, seed, 200);
      expect(translatePolicy(subset.manifest).rules.length).toBe(50);
      expect(expectAgreement(subset.manifest, actions)).toBe(200);
    }
  });
});
