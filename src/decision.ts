// Decision objects (spec section 4), built from the core's compact results and policy table.

import type { CounterTableEntry } from "./counters.js";
import { EFFECT_BY_CODE, ERROR_TEXT, ErrorCode, FLAG_ERROR, FLAG_UNDETERMINED, Messages } from "./abi.generated.js";

export type Effect = "allow" | "deny" | "escalate";

export interface Decision {
  readonly decision: Effect;
  readonly rule: string | null;
  readonly reason: string | null;
  readonly undetermined: boolean;
  readonly approver?: string;
  readonly timeout_ms?: number;
  readonly on_timeout?: "allow" | "deny";
  readonly error?: string;
  /** The value of every counter the policy's rules read, null when UNKNOWN (spec section 8). */
  readonly counters?: Readonly<Record<string, number | null>>;
  readonly policy: string;
}

/** One rule of the core's policy table (docs/abi.md). */
export interface RuleInfo {
  readonly id: string;
  readonly effect: Effect;
  readonly reason: string | null;
  readonly approver: string | null;
  readonly timeout_ms: number | null;
  readonly on_timeout: "allow" | "deny" | null;
}

export interface PolicyTable {
  abi: number;
  name: string;
  default: "allow" | "deny";
  rules: RuleInfo[];
  fields: string[][];
  redact: string[][];
  counters?: CounterTableEntry[];
}

// Error codes shared by record status and results, their fixed texts (docs/abi.md): generated
// from abi/constants.json.
export { ErrorCode, ERROR_TEXT } from "./abi.generated.js";

/**
 * Every decision a policy can produce, precomputed and frozen: turning a result into a
 * decision is then a table lookup.
 */
export class DecisionTable {
  private readonly byRule: Decision[];
  private readonly byRuleUndetermined: Decision[];
  private readonly defaultDecision: Decision;
  private readonly errors = new Map<number, Decision>();

  constructor(private readonly table: PolicyTable) {
    const policy = table.name;
    this.byRule = table.rules.map((r) => ruleDecision(r, false, policy));
    this.byRuleUndetermined = table.rules.map((r) => ruleDecision(r, true, policy));
    this.defaultDecision = Object.freeze({
      decision: table.default,
      rule: null,
      reason: table.default === "deny" ? Messages.defaultDenyReason : null,
      undetermined: false,
      policy,
    });
  }

  /** Decodes one 8-byte result (docs/abi.md, "Result region"). */
  fromResult(decisionCode: number, flags: number, errorCode: number, ruleIndex: number): Decision {
    if ((flags & FLAG_ERROR) !== 0) return this.error(errorCode);
    if (ruleIndex < 0) {
      if (EFFECT_BY_CODE[decisionCode] !== this.table.default) return this.error(ErrorCode.Malformed);
      return this.defaultDecision;
    }
    const d = (flags & FLAG_UNDETERMINED) !== 0 ? this.byRuleUndetermined[ruleIndex] : this.byRule[ruleIndex];
    return d ?? this.error(ErrorCode.Malformed);
  }

  error(code: number): Decision {
    let d = this.errors.get(code);
    if (!d) {
      const text = ERROR_TEXT[code] ?? ERROR_TEXT[ErrorCode.Malformed]!;
      d = Object.freeze({ decision: "deny", rule: null, reason: text, undetermined: false, error: text, policy: this.table.name });
      this.errors.set(code, d);
    }
    return d;
  }
}

function ruleDecision(r: RuleInfo, undetermined: boolean, policy: string): Decision {
  if (r.effect === "escalate") {
    return Object.freeze({
      decision: r.effect,
      rule: r.id,
      reason: r.reason,
      undetermined,
      approver: r.approver!,
      timeout_ms: r.timeout_ms!,
      on_timeout: r.on_timeout!,
      policy,
    });
  }
  return Object.freeze({ decision: r.effect, rule: r.id, reason: r.reason, undetermined, policy });
}
