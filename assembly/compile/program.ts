// The compiled form of conditions and tests: small trees of plain objects built once per
// policy and walked by eval/condition.ts without allocating.

import { Matcher } from "../regex/index";
import { Const } from "./constant";
import { ValueSet } from "./value-set";
import { Substring } from "./substring";

export const enum CondOp { All, Any, Not, Field }

// Leaves share one empty child list: compile memory is never freed (stub runtime).
const NO_CONDS = new StaticArray<Cond>(0);
const NO_TESTS = new StaticArray<Test>(0);

export class Cond {
  op: CondOp;
  children: StaticArray<Cond> = NO_CONDS;
  slot: i32 = -1;                       // Field: which slot of the input record
  test: Test | null = null;             // Field: the test on that value

  constructor(op: CondOp) { this.op = op; }
}

export const enum TestOp {
  All, Eq, Ne, In, NotIn, Gt, Gte, Lt, Lte, Prefix, Suffix, Contains, Glob, Matches, Exists, Len, Some, Every,
}

export class Test {
  op: TestOp;
  children: StaticArray<Test> = NO_TESTS;  // All: every operator of a mapping
  inner: Test | null = null;            // Len, Some, Every
  constant: Const | null = null;        // Eq, Ne, Contains, Prefix, Suffix
  set: ValueSet | null = null;          // In, NotIn
  num: f64 = 0;                         // Gt, Gte, Lt, Lte
  flag: bool = false;                   // Exists
  matcher: Matcher | null = null;       // Glob, Matches
  substring: Substring | null = null;   // Contains with a string operand
  pattern: string = "";                 // Glob: the source, for the tool index

  constructor(op: TestOp) { this.op = op; }
}

/** A rule as the evaluator sees it: its effective condition is the conjunction of `conds`. */
export class Rule {
  constructor(
    public index: i32,
    public effect: u8,
    public conds: StaticArray<Cond>,
  ) {}
  /** Address of the rule's flat condition (compile/code.ts), set once every rule is compiled. */
  code: usize = 0;
}
