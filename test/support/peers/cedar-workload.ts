// The Cedar comparison workload and the oracle: generated policies restricted to what
// test/support/peers/cedar-translate.ts translates exactly, their actions, and the check that
// Tollgate and Cedar (on the translated policy set) decide every action alike.

import { isAuthorized, preparsePolicySet, statefulIsAuthorized } from "@cedar-policy/cedar-wasm/nodejs";
import { Policy } from "../../../src/index.js";
import { actionContext, decisionFromCedar, ruleOrder, translatableSubset, translatePolicy, type CedarTranslation, type SkippedRule } from "./cedar-translate.js";
import { generateActions, generatePolicy } from "../workload/generate.js";

type Manifest = Record<string, unknown>;

/** The fixed principal, action and resource of every Cedar request: the decision is all in the context. */
export const CEDAR_REQUEST = {
  principal: { type: "Agent", id: "agent" },
  action: { type: "Action", id: "act" },
  resource: { type: "Tool", id: "tool" },
} as const;

export function countRules(items: unknown[]): number {
  let n = 0;
  for (const it of items as Record<string, unknown>[]) n += "group" in it ? countRules(it.rules as unknown[]) : 1;
  return n;
}

/** The first `n` rules in document order (groups emptied by the cut are dropped). */
export function truncate(items: unknown[], n: { left: number }): unknown[] {
  const out: unknown[] = [];
  for (const it of items as Record<string, unknown>[]) {
    if (n.left <= 0) break;
    if ("group" in it) {
      const inner = truncate(it.rules as unknown[], n);
      if (inner.length > 0) out.push({ ...it, rules: inner });
    } else {
      out.push(it);
      n.left--;
    }
  }
  return out;
}

/** Renames every rule id and group name with a suffix (to merge policies of different seeds). */
export function renamed(items: unknown[], suffix: string): unknown[] {
  return (items as Record<string, unknown>[]).map((it) =>
    "group" in it ? { ...it, group: `${it.group as string}${suffix}`, rules: renamed(it.rules as unknown[], suffix) } : { ...it, id: `${it.id as string}${suffix}` });
}

export interface SubsetPolicy {
  manifest: Manifest;
  /** Rules of the generated policies left out because they do not translate. */
  skipped: SkippedRule[];
  /** Rules generated in all (translated + skipped) to get there. */
  generated: number;
}

/**
 * A generated policy (test/support/workload/generate.ts) restricted by `subset` to exactly `rules` rules: generated
 * at `factor` times the size still wanted (and 1.5 times larger again while too few rules survive)
 * so that enough rules survive, cut to the first `rules` in document order; above what one
 * 10,000-rule policy yields, policies of further seeds (up to `seeds` in all) are appended (ids
 * suffixed `-sK`). Deterministic in (rules, seed).
 */
export function generateSubsetOf(
  rules: number,
  seed: number,
  subset: (m: Manifest) => { manifest: Manifest; skipped: SkippedRule[] },
  o: { seeds: number; factor: number; name: string; description: string },
): SubsetPolicy {
  const skipped: SkippedRule[] = [];
  const items: unknown[] = [];
  let have = 0;
  let generated = 0;
  let first: Manifest | undefined;
  for (let k = 0; have < rules && k < o.seeds; k++) {
    let size = Math.min(10000, Math.max(4, Math.ceil((rules - have) * o.factor)));
    let sub: ReturnType<typeof subset>;
    let m: Manifest;
    for (;;) {
      m = generatePolicy(size, seed + k);
      sub = subset(m);
      if (countRules(sub.manifest.rules as unknown[]) >= rules - have || size === 10000) break;
      size = Math.min(10000, Math.ceil(size * 1.5));
    }
    first ??= m;
    generated += size;
    skipped.push(...sub.skipped);
    const got = sub.manifest.rules as unknown[];
    const part = truncate(k === 0 ? got : renamed(got, `-s${k + 1}`), { left: rules - have });
    have += countRules(part);
    items.push(...part);
  }
  const manifest: Manifest = { ...first!, name: o.name, description: o.description, rules: items };
  return { manifest, skipped, generated };
}

/**
 * A generated policy restricted to the rules that translate to Cedar, with exactly `rules` rules
 * (generateSubsetOf; roughly half the generated rules translate: ask for 2.2 times as many, up to
 * 8 seeds).
 */
export function generateCedarSubsetPolicy(rules: number, seed = 1): SubsetPolicy {
  return generateSubsetOf(rules, seed, translatableSubset, {
    seeds: 8,
    factor: 2.2,
    name: `cedar-subset-${rules}`,
    description: `test/support/peers/cedar-workload.ts: generatePolicy restricted to the Cedar-translatable subset (rules=${rules}, seed=${seed})`,
  });
}

// ---------------------------------------------------------------------------------------------
// The oracle

export interface Disagreement {
  policy: string;
  action: unknown;
  tollgate: { decision: string; rule: string | null; undetermined?: boolean };
  cedar: { decision: string; rule: string | null; cedarErrors?: unknown[] };
}

export interface OracleResult {
  checked: number;
  /** Actions that cannot be encoded exactly in a Cedar context (with why). */
  excluded: { action: unknown; reason: string }[];
  disagreements: Disagreement[];
  translation: CedarTranslation;
}

/**
 * Decides every action with Tollgate and with Cedar on the translated policy set (which must
 * translate whole: pass a subset manifest) and lists every difference in decision or deciding rule.
 * `preparsedId`: a policy set already pre-parsed (preparsePolicySet) from this manifest's translation.
 */
let psetCounter = 0;

export function runOracle(manifest: Manifest, actions: readonly unknown[], policy: Policy = Policy.fromObject(manifest), options: { parseEachCall?: boolean; preparsedId?: string } = {}): OracleResult {
  const translation = translatePolicy(manifest);
  if (translation.skipped.length > 0) throw new Error(`policy ${String(manifest.name)} does not translate whole: ${translation.skipped.map((s) => `${s.id}: ${s.reason}`).join("; ")}`);
  const psetId = options.preparsedId ?? `oracle-${++psetCounter}`;
  if (!options.parseEachCall && options.preparsedId === undefined) {
    const parsed = preparsePolicySet(psetId, { staticPolicies: translation.policies });
    if (parsed.type !== "success") throw new Error(`Cedar rejects the translation of ${String(manifest.name)}: ${JSON.stringify(parsed.errors)}`);
  }
  const order = ruleOrder(translation);
  const excluded: OracleResult["excluded"] = [];
  const disagreements: Disagreement[] = [];
  let checked = 0;
  for (const action of actions) {
    const context = actionContext(action, translation.paths);
    if ("error" in context && typeof context.error === "string") {
      excluded.push({ action, reason: context.error });
      continue;
    }
    const t = policy.evaluate(action);
    const answer = options.parseEachCall
      ? isAuthorized({ ...CEDAR_REQUEST, context: context as never, policies: { staticPolicies: translation.policies }, entities: [] })
      : statefulIsAuthorized({ ...CEDAR_REQUEST, context: context as never, preparsedPolicySetId: psetId, entities: [] });
    const c = decisionFromCedar(answer as never, translation, order);
    checked++;
    // Tollgate's own error decisions (unreadable input) have no Cedar counterpart: count as a disagreement.
    if (t.decision !== c.decision || t.rule !== c.rule || c.cedarErrors) {
      disagreements.push({ policy: String(manifest.name), action, tollgate: { decision: t.decision, rule: t.rule, undetermined: t.undetermined }, cedar: c });
    }
  }
  return { checked, excluded, disagreements, translation };
}

/** One line per disagreement, for logs. */
export function formatDisagreement(d: Disagreement, tr?: CedarTranslation): string {
  const rules = tr ? [d.tollgate.rule, d.cedar.rule].filter((r): r is string => r !== null).map((id) => `\n    ${id}: ${tr.policies[id] ?? "?"}`).join("") : "";
  return `policy ${d.policy}: action ${JSON.stringify(d.action)}\n  tollgate: ${JSON.stringify(d.tollgate)}\n  cedar:    ${JSON.stringify(d.cedar)}${rules}`;
}

/** The standard comparison workload for a size: subset policy and its generated actions. */
export function cedarWorkload(rules: number, seed: number, actions: number): { subset: SubsetPolicy; actions: Record<string, unknown>[] } {
  const subset = generateCedarSubsetPolicy(rules, seed);
  return { subset, actions: generateActions(subset.manifest, actions, seed) };
}
