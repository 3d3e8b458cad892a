// A lint finding: what a family reports, before positions are resolved.

export type Family = "shadowed" | "untested-field" | "unused-approver" | "unused-counter" | "literal-pattern" | "unknown-test-rule";

export interface Finding {
  family: Family;
  /** JSON pointer of the rule, test or declaration concerned. */
  pointer: string;
  /** The node itself ("value") or its mapping key ("key"). */
  at: "key" | "value";
  message: string;
  /** The rule concerned, when there is one. */
  rule?: string;
  /** For a shadowed rule: the rule that shadows it. */
  by?: string;
  byPointer?: string;
}
