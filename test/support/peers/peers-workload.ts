// Workloads and oracles for casbin and json-rules-engine (bench/peers.bench.ts,
// test/peers-oracle.test.ts): generated policies restricted to the rules a peer expresses, and
// the check that the peer decides every action as Tollgate does.
//   casbin: allow / not allow (its enforce is a boolean; deny and escalate are "not allowed").
//   json-rules-engine: the decision and the deciding rule.

import type { Enforcer } from "casbin";
import type { Engine } from "json-rules-engine";
import { Policy } from "../../../src/index.js";
import { casbinEnforcer, casbinSubset, translateCasbin, type CasbinTranslation } from "./casbin-translate.js";
import { generateSubsetOf, type SubsetPolicy } from "./cedar-workload.js";
import { flatRequest, isRequestError, type SkippedRule } from "./peers-context.js";
import { decisionFromRulesEngine, rulesEngine, rulesEngineOrder, rulesEngineSubset, runRulesEngine, translateRulesEngine, type RulesEngineTranslation } from "./rules-engine-translate.js";

type Manifest = Record<string, unknown>;
type SubsetFn = (m: Manifest) => { manifest: Manifest; skipped: SkippedRule[] };

export type PeerSubset = SubsetPolicy;

/** A generated policy (test/support/workload/generate.ts) restricted by `subset` to exactly `rules` rules (generateSubsetOf: 3 times the size wanted, up to 12 seeds). */
export function generateSubsetPolicy(rules: number, seed: number, subset: SubsetFn, label: string): PeerSubset {
  return generateSubsetOf(rules, seed, subset, {
    seeds: 12,
    factor: 3,
    name: `${label}-subset-${rules}`,
    description: `test/support/peers/peers-workload.ts: generatePolicy restricted to the ${label}-translatable subset (rules=${rules}, seed=${seed})`,
  });
}

export const generateCasbinSubsetPolicy = (rules: number, seed = 1) => generateSubsetPolicy(rules, seed, casbinSubset, "casbin");
export const generateRulesEngineSubsetPolicy = (rules: number, seed = 1) => generateSubsetPolicy(rules, seed, rulesEngineSubset, "json-rules-engine");

// ---------------------------------------------------------------------------------------------
// Oracles

export interface PeerDisagreement {
  peer: string;
  policy: string;
  action: unknown;
  tollgate: { decision: string; rule: string | null };
  peerAnswer: { decision: string; rule?: string | null };
}

export interface PeerOracleResult {
  checked: number;
  excluded: { action: unknown; reason: string }[];
  disagreements: PeerDisagreement[];
}

function wholeOrThrow(name: string, skipped: SkippedRule[]): void {
  if (skipped.length > 0) throw new Error(`policy ${name} does not translate whole: ${skipped.map((s) => `${s.id}: ${s.reason}`).join("; ")}`);
}

/**
 * Decides every action with Tollgate and with `ask` (the peer, on the flat request of the
 * translation's `paths`); a disagreement wherever `agree` says no. Actions the request cannot
 * encode are excluded with why.
 */
async function runPeerOracle(
  peer: string,
  manifest: Manifest,
  actions: readonly unknown[],
  policy: Policy,
  paths: readonly string[],
  ask: (req: Record<string, unknown>) => PeerDisagreement["peerAnswer"] | Promise<PeerDisagreement["peerAnswer"]>,
  agree: (t: { decision: string; rule: string | null }, p: PeerDisagreement["peerAnswer"]) => boolean,
): Promise<PeerOracleResult> {
  const out: PeerOracleResult = { checked: 0, excluded: [], disagreements: [] };
  for (const action of actions) {
    const req = flatRequest(action, paths);
    if (isRequestError(req)) {
      out.excluded.push({ action, reason: req.error });
      continue;
    }
    const t = policy.evaluate(action);
    const asked = ask(req);
    const p = asked instanceof Promise ? await asked : asked; // a synchronous peer stays synchronous
    out.checked++;
    if (!agree(t, p)) out.disagreements.push({ peer, policy: String(manifest.name), action, tollgate: { decision: t.decision, rule: t.rule }, peerAnswer: p });
  }
  return out;
}

/** casbin on the translated policy: allowed iff Tollgate allows. Pass a casbin-subset manifest. */
export async function runCasbinOracle(manifest: Manifest, actions: readonly unknown[], policy: Policy = Policy.fromObject(manifest), prepared?: { tr: CasbinTranslation; enforcer: Enforcer }): Promise<PeerOracleResult> {
  const tr = prepared?.tr ?? translateCasbin(manifest);
  wholeOrThrow(String(manifest.name), tr.skipped);
  const enforcer = prepared?.enforcer ?? (await casbinEnforcer(tr));
  return runPeerOracle("casbin", manifest, actions, policy, tr.paths,
    (req) => ({ decision: enforcer.enforceSync(req) ? "allow" : "not allowed" }),
    (t, p) => (t.decision === "allow") === (p.decision === "allow"));
}

/** json-rules-engine on the translated rules: same decision and deciding rule as Tollgate. */
export async function runRulesEngineOracle(manifest: Manifest, actions: readonly unknown[], policy: Policy = Policy.fromObject(manifest), prepared?: { tr: RulesEngineTranslation; engine: Engine }): Promise<PeerOracleResult> {
  const tr = prepared?.tr ?? translateRulesEngine(manifest);
  wholeOrThrow(String(manifest.name), tr.skipped);
  const engine = prepared?.engine ?? rulesEngine(tr);
  const order = rulesEngineOrder(tr);
  return runPeerOracle("json-rules-engine", manifest, actions, policy, tr.paths,
    async (req) => decisionFromRulesEngine(await runRulesEngine(engine, req), tr, order),
    (t, p) => t.decision === p.decision && t.rule === p.rule);
}

export function formatPeerDisagreement(d: PeerDisagreement, rules?: Record<string, string>): string {
  const shown = rules ? [d.tollgate.rule, d.peerAnswer.rule].filter((r): r is string => typeof r === "string").map((id) => `\n    ${id}: ${rules[id] ?? "?"}`).join("") : "";
  return `${d.peer}, policy ${d.policy}: action ${JSON.stringify(d.action)}\n  tollgate: ${JSON.stringify(d.tollgate)}\n  ${d.peer}: ${JSON.stringify(d.peerAnswer)}${shown}`;
}
