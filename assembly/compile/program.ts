// The compiled form of conditions and tests: small trees of plain objects, built once per policy
// by the condition compiler (compile/condition.ts). The tool index (compile/tool-index.ts)
// inspects them and compile/code.ts flattens every rule into the block of words that
// eval/condition.ts reads; a decision never walks these objects.

import { Matcher } from "../regex/index";
import { Const } from "./constant";
import { TestOp } from "./operators";
import { ValueSet } from "./value-set";
import { Substring } from "./substring";

export const enum CondOp { All, Any, Not, Field, Counter }

// Leaves share one empty child list: compile memory is never freed (stub runtime).
const NO_CONDS = new StaticArray<Cond>(0);
const NO_TESTS = new StaticArray<Test>(0);

export class Cond {
  op: CondOp;
  children: StaticArray<Cond> = NO_CONDS;
  slot: i32 = -1;                       // Field: which slot of the input record; Counter: which counter
  test: Test | null = null;             // Field, Counter: the test on that value

  constructor(op: CondOp) { this.op = op; }
}

/** One test: `op` is TestOp.All (a mapping of operators) or an operator of compile/operators.ts. */
export class Test {
  op: TestOp;
  children: StaticArray<Test> = NO_TESTS;  // All: every operator of a mapping
  // The operand, where its kind (Operand in compile/operators.ts) puts it:
  inner: Test | null = null;            // Test (len, some, every)
  constant: Const | null = null;        // Scalar, Needle, String (eq, ne, contains, prefix, suffix)
  set: ValueSet | null = null;          // List (in, not_in)
  num: f64 = 0;                         // Number (gt, gte, lt, lte)
  flag: bool = false;                   // Bool (exists)
  matcher: Matcher | null = null;       // Glob, Regex (glob, matches)
  substring: Substring | null = null;   // Needle with a string operand: its KMP table
  pattern: string = "";                 // Glob, Regex: the source (the tool index reads a glob's)

  constructor(op: TestOp) { this.op = op; }
}

/**
 * A rule as the compiler leaves it: its effective condition is the conjunction of `conds`
 * (enclosing groups' and its own, cheapest first); a decision evaluates `code`.
 */
export class Rule {
  constructor(
    public index: i32,
    public effect: u8,
    public conds: StaticArray<Cond>,
  ) {}
  /** Address of the rule's flat condition (compile/code.ts), set once every rule is compiled. */
  code: usize = 0;
}
