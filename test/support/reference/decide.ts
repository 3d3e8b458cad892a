// Decisions (spec section 4).

import { type Condition, type CounterValue, type Tri, FieldTable, compileCondition, kleeneAll } from "./condition.js";

export type Effect = "allow" | "deny" | "escalate";

export interface Decision {
  decision: Effect;
  rule: string | null;
  reason: string | null;
  undetermined: boolean;
  approver?: string;
  timeout_ms?: number;
  on_timeout?: "allow" | "deny";
  error?: string;
  /** Spec section 8 (a choice where the spec is silent, see counters.ts):
   *  the value of every counter the rules reference, null when UNKNOWN. */
  counters?: Record<string, number | null>;
  policy: string;
}

/** A rule with its effective condition and its decision fields resolved. */
export interface FlatRule {
  id: string;
  effect: Effect;
  reason: string | null;
  escalation: { approver: string; timeout_ms: number; on_timeout: "allow" | "deny" } | null;
  condition: Condition;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function durationMs(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new Error(`bad duration ${text}`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** Rules in document order, depth-first through groups; a rule's condition is
 *  the conjunction of the enclosing groups' `when`s (outermost first) and its own. */
export function flattenRules(manifest: any, table: FieldTable, counters?: ReadonlyMap<string, number>): FlatRule[] {
  const out: FlatRule[] = [];
  const walk = (items: any[], enclosing: Condition[]) => {
    for (const item of items) {
      const own = item.when === undefined ? [] : [compileCondition(item.when, table, counters)];
      const conds = [...enclosing, ...own];
      if ("group" in item) {
        walk(item.rules, conds);
        continue;
      }
      let escalation: FlatRule["escalation"] = null;
      if (item.effect === "escalate") {
        const approver = manifest.approvers[item.approver];
        escalation = {
          approver: item.approver,
          timeout_ms: durationMs(item.timeout ?? approver.timeout),
          on_timeout: approver.on_timeout ?? "deny",
        };
      }
      out.push({
        id: item.id,
        effect: item.effect,
        reason: item.reason ?? null,
        escalation,
        condition: (vs, cs) => kleeneAll(conds.map((c) => c(vs, cs))),
      });
    }
  };
  walk(manifest.rules, []);
  return out;
}

export function decide(
  rules: FlatRule[],
  values: unknown[],
  name: string,
  defaultEffect: Effect,
  counterValues?: readonly CounterValue[],
): Decision {
  const results: Tri[] = rules.map((r) => r.condition(values, counterValues));
  const first = (effect: Effect, acceptUnknown: boolean) =>
    rules.findIndex((r, i) => r.effect === effect && (results[i] === "TRUE" || (acceptUnknown && results[i] === "UNKNOWN")));

  for (const [effect, acceptUnknown] of [["deny", true], ["escalate", true], ["allow", false]] as const) {
    const i = first(effect, acceptUnknown);
    if (i < 0) continue;
    const rule = rules[i];
    const decision: Decision = {
      decision: rule.effect,
      rule: rule.id,
      reason: rule.reason,
      undetermined: results[i] === "UNKNOWN",
      ...rule.escalation, // approver, timeout_ms, on_timeout: only for escalate
      policy: name,
    };
    return decision;
  }
  return {
    decision: defaultEffect,
    rule: null,
    reason: defaultEffect === "deny" ? "no rule matched" : null,
    undetermined: false,
    policy: name,
  };
}

export function errorDecision(text: string, name: string): Decision {
  return { decision: "deny", rule: null, reason: text, undetermined: false, error: text, policy: name };
}
