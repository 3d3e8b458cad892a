// A small, obviously correct reference interpreter of the policy language
// (/work/shared/spec/policy-language.md). Test oracle only: never used by the
// product. The manifest is assumed valid.

import { FieldTable } from "./condition.js";
import { type Decision, type Effect, type FlatRule, decide, errorDecision, flattenRules } from "./decide.js";
import { ERROR_TEXT, readFields } from "./input.js";

export type { Decision } from "./decide.js";

export class ReferencePolicy {
  readonly name: string;
  readonly defaultEffect: Effect;
  readonly rules: FlatRule[];
  /** Every field path the policy reads, parsed; one slot each. */
  readonly fields: string[][];

  constructor(manifest: any) {
    const table = new FieldTable();
    this.name = manifest.name;
    this.defaultEffect = manifest.default ?? "deny";
    this.rules = flattenRules(manifest, table);
    this.fields = table.fields;
  }

  evaluate(action: unknown): Decision {
    const read = readFields(action, this.fields);
    if ("error" in read) return errorDecision(ERROR_TEXT[read.error], this.name);
    return decide(this.rules, read.values, this.name, this.defaultEffect);
  }

  evaluateBatch(actions: readonly unknown[]): Decision[] {
    return actions.map((a) => this.evaluate(a));
  }
}
