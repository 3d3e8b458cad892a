// The operator table: one row per operator a field's test can use. The condition compiler
// (names, operand validation, cheapest-first costs), the flat code (compile/code.ts: operand
// layout) and the tool index (which operators pin the `tool` field) read what they need from a
// row; only an operator's evaluation (eval/condition.ts, `evalTest`) is written per operator.
// Adding an operator: an opcode in TestOp, a row in OPERATORS, its case in evalTest
// (docs/architecture.md, "Adding an operator").

/**
 * Opcodes of test nodes, in the header byte of a flat test node. `All` is a mapping of several
 * operators (their conjunction); every other opcode is one row of OPERATORS.
 */
export const enum TestOp {
  All, Eq, Ne, In, NotIn, Gt, Gte, Lt, Lte, Prefix, Suffix, Contains, Glob, Matches, Exists, Len, Some, Every,
}

/**
 * What an operator takes. The kind decides how the compiler validates the operand, where the
 * Test keeps it (compile/program.ts) and how the flat code lays it out (compile/code.ts).
 */
export const enum Operand {
  Scalar,  // a string, number, boolean or null   Test.constant          code: const
  Needle,  // a scalar, searched for               Test.constant (+ KMP)  code: substring, const
  List,    // a non-empty list of scalars          Test.set               code: hashed set
  Number,  // a number                             Test.num               code: f64
  String,  // a string                             Test.constant          code: const
  Glob,    // a glob pattern                       Test.matcher           code: matcher
  Regex,   // a regular expression (RE2 subset)    Test.matcher           code: matcher
  Bool,    // true or false                        Test.flag              code: flag
  Test,    // a test, applied to a derived value   Test.inner             code: inner test
}

/** What the tool index may conclude from an operator that tests the `tool` field. */
export const enum ToolKey {
  /** Nothing: the rule stays a candidate for every tool. */
  None,
  /** FALSE for every string tool that is not its operand (Scalar) or one of its strings (List). */
  Exact,
  /** FALSE for every string tool not starting with its operand (String) or a glob's literal prefix (Glob). */
  Prefix,
}

/** Cost ceiling: sums and products of costs stop here. */
export const COST_CAP: i32 = 1 << 20;

export class Operator {
  constructor(
    /** The name as written in a policy. */
    public name: string,
    public op: TestOp,
    public operand: Operand,
    /**
     * Relative cost, for trying the cheap parts of a conjunction or disjunction first. For a Test
     * operand: cost + perInner × the inner test's cost (capped at COST_CAP when perInner > 1).
     */
    public cost: i32,
    public perInner: i32,
    public toolKey: ToolKey,
  ) {}
}

/** Every operator, in the order "did you mean" considers them. */
export const OPERATORS: Array<Operator> = [
  //           name       opcode           operand          cost perInner tool index
  new Operator("eq",      TestOp.Eq,       Operand.Scalar,  1,   0,       ToolKey.Exact),
  new Operator("ne",      TestOp.Ne,       Operand.Scalar,  1,   0,       ToolKey.None),
  new Operator("in",      TestOp.In,       Operand.List,    2,   0,       ToolKey.Exact),
  new Operator("not_in",  TestOp.NotIn,    Operand.List,    2,   0,       ToolKey.None),
  new Operator("gt",      TestOp.Gt,       Operand.Number,  1,   0,       ToolKey.None),
  new Operator("gte",     TestOp.Gte,      Operand.Number,  1,   0,       ToolKey.None),
  new Operator("lt",      TestOp.Lt,       Operand.Number,  1,   0,       ToolKey.None),
  new Operator("lte",     TestOp.Lte,      Operand.Number,  1,   0,       ToolKey.None),
  new Operator("prefix",  TestOp.Prefix,   Operand.String,  2,   0,       ToolKey.Prefix),
  new Operator("suffix",  TestOp.Suffix,   Operand.String,  2,   0,       ToolKey.None),
  new Operator("contains", TestOp.Contains, Operand.Needle, 4,   0,       ToolKey.None),
  new Operator("glob",    TestOp.Glob,     Operand.Glob,    8,   0,       ToolKey.Prefix),
  new Operator("matches", TestOp.Matches,  Operand.Regex,   16,  0,       ToolKey.None),
  new Operator("exists",  TestOp.Exists,   Operand.Bool,    1,   0,       ToolKey.None),
  new Operator("len",     TestOp.Len,      Operand.Test,    2,   1,       ToolKey.None),
  new Operator("some",    TestOp.Some,     Operand.Test,    8,   4,       ToolKey.None),
  new Operator("every",   TestOp.Every,    Operand.Test,    8,   4,       ToolKey.None),
];

/** Rows by opcode (null for All). */
const BY_OP: Array<Operator | null> = byOpcode();

function byOpcode(): Array<Operator | null> {
  let n = 0;
  for (let i = 0; i < OPERATORS.length; i++) n = max(n, <i32>OPERATORS[i].op + 1);
  const out = new Array<Operator | null>(n);
  for (let i = 0; i < OPERATORS.length; i++) out[<i32>OPERATORS[i].op] = OPERATORS[i];
  return out;
}

/** The row of an opcode other than All. */
export function operatorOf(op: TestOp): Operator {
  return changetype<Operator>(BY_OP[<i32>op]);
}

/** The row of the operator written `name`, or null. */
export function operatorNamed(name: string): Operator | null {
  for (let i = 0; i < OPERATORS.length; i++) {
    if (OPERATORS[i].name == name) return OPERATORS[i];
  }
  return null;
}

/** Every operator name, for "did you mean". */
export function operatorNames(): Array<string> {
  const out = new Array<string>(OPERATORS.length);
  for (let i = 0; i < OPERATORS.length; i++) out[i] = OPERATORS[i].name;
  return out;
}
