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
const NO_STRINGS = new StaticArray<string>(0);

/** Creation order of nodes: siblings are created in source order, and the compiler later sorts
 *  them cheapest first, so explain (compile/explain-tree.ts) restores source order from this. */
let nextSeq: i32 = 0;

export class Cond {
  op: CondOp;
  children: StaticArray<Cond> = NO_CONDS;
  slot: i32 = -1;                       // Field: which slot of the input record; Counter: which counter
  test: Test | null = null;             // Field, Counter: the test on that value
  // For explain only (compile/explain-tree.ts, eval/explain.ts); never read by a decision:
  pointer: string = "";                 // the JSON pointer of the manifest node it came from
  seq: i32 = nextSeq++;
  id: i32 = -1;                         // its index in the explain table, once prepared
  ordered: StaticArray<Cond> = NO_CONDS; // children in source order, once prepared

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
  // For explain only, as in Cond; `code` is the address of this node in the flat code.
  pointer: string = "";
  seq: i32 = nextSeq++;
  id: i32 = -1;
  ordered: StaticArray<Test> = NO_TESTS;
  code: usize = 0;

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
  /** Per top-level cond: true for the `tool` tests that the lookup finding the rule by the
   *  action's tool name already proves TRUE (compile/tool-index.ts, toolConstraints); null
   *  when there are none. */
  impliedConds: StaticArray<bool> | null = null;
  /** Address of the rule's condition without those conds (0 when none): what the tool index's
   *  name buckets point at, so a decision does not test the tool again. */
  reducedCode: usize = 0;
  // For explain: the rule's pointer, and its `when`s as written (enclosing groups' outermost
  // first, then its own), each with the pointer of that `when`; `conds` has them spliced and sorted.
  pointer: string = "";
  whens: StaticArray<Cond> = NO_CONDS;
  whenPointers: StaticArray<string> = NO_STRINGS;
  /** Explain table ids of the rule's pointer and of each `when`'s, once prepared. */
  id: i32 = -1;
  whenIds: StaticArray<i32> = new StaticArray<i32>(0);
}
