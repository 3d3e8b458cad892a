#!/usr/bin/env node
// Generates schema/tollgate.schema.json, a JSON Schema (draft 2020-12) of a policy manifest, from
// the tables the core validates with, so that the two cannot drift:
//
//   assembly/manifest/manifest.ts   each mapping's keys (*_KEYS), required keys (*_REQUIRED),
//                                   effects, defaults, resolutions
//   assembly/compile/operators.ts   the operator table: every operator and its operand kind
//   assembly/compile/condition.ts   the combinators
//   abi/constants.json              the limits (name length, reason length, list items, ...)
//
// The AssemblyScript sources are read with the TypeScript parser (they are TypeScript syntax);
// each table must stay a plain array literal, or this script fails. What this script adds is the
// type of each key's value and a line of description (the tables below), and it fails when a key
// of the core has no type here, or a key here is not in the core: a key added to the core breaks
// the build until the schema knows it. What JSON Schema cannot express: docs/schema.md.
//
// Run by `npm run build`; the output is committed (editors read it from the repository and from
// the npm package). It is rewritten only when its text changes. `--check` writes nothing and
// exits 1 if the committed file differs from what the tables give (test/schema/schema.test.ts).

import { readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import ts from "typescript";

const root = new URL("..", import.meta.url);
const OUT = "schema/tollgate.schema.json";
const MANIFEST = "assembly/manifest/manifest.ts";
const OPERATORS = "assembly/compile/operators.ts";
const CONDITION = "assembly/compile/condition.ts";

// --- reading the core's tables ----------------------------------------------------------------

/** The initializers of a source file's top-level `const` declarations, by name. */
function constants(file) {
  const text = readFileSync(new URL(file, root), "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out = new Map();
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const d of statement.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.initializer) out.set(d.name.text, d.initializer);
    }
  }
  return out;
}

function stringArray(file, decls, name) {
  const init = decls.get(name);
  if (!init || !ts.isArrayLiteralExpression(init) || !init.elements.every(ts.isStringLiteral)) {
    throw new Error(`${file}: ${name} must be declared as an array literal of strings`);
  }
  return init.elements.map((e) => e.text);
}

const manifestDecls = constants(MANIFEST);
const table = (name) => stringArray(MANIFEST, manifestDecls, name);
const COMBINATORS = stringArray(CONDITION, constants(CONDITION), "COMBINATORS");

/** The operator table: [name, operand kind] per row, in the table's order. */
function operatorRows() {
  const init = constants(OPERATORS).get("OPERATORS");
  if (!init || !ts.isArrayLiteralExpression(init)) throw new Error(`${OPERATORS}: OPERATORS must be an array literal`);
  return init.elements.map((e) => {
    const args = ts.isNewExpression(e) ? e.arguments ?? [] : [];
    const [name, , operand] = args;
    if (!name || !ts.isStringLiteral(name) || !operand || !ts.isPropertyAccessExpression(operand) || operand.expression.getText() !== "Operand") {
      throw new Error(`${OPERATORS}: each row of OPERATORS must be new Operator("name", TestOp.X, Operand.Y, ...)`);
    }
    return [name.text, operand.name.text];
  });
}

const abi = JSON.parse(readFileSync(new URL("abi/constants.json", root), "utf8"));
function limit(name) {
  const l = abi.limits?.[name];
  if (!l || typeof l.value !== "number") throw new Error(`abi/constants.json: no limit ${name}`);
  return l.value;
}

// --- what the tables do not say: each key's value, written once here ----------------------------

const ref = (name) => ({ $ref: `#/$defs/${name}` });
const EFFECTS = table("EFFECTS");
const DEFAULTS = table("DEFAULTS");
const RESOLUTIONS = table("RESOLUTIONS");
for (const [words, needed] of [[EFFECTS, ["allow", "deny", "escalate"]], [DEFAULTS, ["allow", "deny"]]]) {
  for (const w of needed) if (!words.includes(w)) throw new Error(`${MANIFEST}: '${w}' is no longer a word this schema's conditions can name`);
}
const identifier = (what) => ({
  type: "string",
  pattern: `^[A-Za-z0-9._-]{1,${limit("MAX_NAME_CHARS")}}$`,
  description: `${what}: 1-${limit("MAX_NAME_CHARS")} characters of A-Z, a-z, 0-9, '.', '_' or '-'`,
});
const DURATION_TEXT = "a positive integer followed by ms, s, m, h or d";
const duration = (max) => ({
  type: "string",
  pattern: "^(?=[0-9]*[1-9])[0-9]{1,16}(ms|s|m|h|d)$",
  description: `A duration: ${DURATION_TEXT} (500ms, 30s, 15m, 2h, 1d), at most ${max}`,
});
/** A field path outside a condition (`per`, `sum`): `$x` there is an error (spec section 8). */
const plainFieldPath = (what) => ({ type: "string", minLength: 1, pattern: "^[^$]", description: `${what}: a field path such as args.amount` });

/** Per kind of mapping: the core's key table, its required keys, and each key's value. */
const MAPPINGS = {
  policy: {
    keys: "TOP_KEYS",
    required: "TOP_REQUIRED",
    description: "A Tollgate policy manifest (policy language version 1)",
    properties: {
      tollgate: { const: 1, description: "The format version: the integer 1" },
      name: identifier("The policy's name"),
      description: { type: "string", description: "What the policy is for" },
      default: { enum: DEFAULTS, description: "The decision when no rule applies (default: deny)" },
      approvers: {
        type: "object",
        description: "Who decides escalations: approver name -> settings",
        propertyNames: { minLength: 1 },
        additionalProperties: ref("approver"),
      },
      audit: ref("audit"),
      counters: {
        type: "object",
        description: `Windowed sums over earlier decisions, read in conditions as $NAME: counter name -> counter (at most ${limit("MAX_COUNTERS")})`,
        maxProperties: limit("MAX_COUNTERS"),
        propertyNames: { pattern: `^[A-Za-z0-9_]{1,${limit("MAX_COUNTER_NAME_CHARS")}}$` },
        additionalProperties: ref("counter"),
      },
      rules: { type: "array", description: "Rules and groups, in the order they are considered", items: ref("ruleOrGroup") },
      tests: { type: "array", description: "Policy unit tests, run by `tollgate test`", items: ref("testEntry") },
    },
  },
  approver: {
    keys: "APPROVER_KEYS",
    required: "APPROVER_REQUIRED",
    description: "An approver's settings",
    properties: {
      timeout: duration("7 days"),
      on_timeout: { enum: DEFAULTS, description: "The decision when nobody answers in time (default: deny)" },
    },
  },
  audit: {
    keys: "AUDIT_KEYS",
    required: null,
    description: "What audit records may keep of an action",
    properties: {
      redact: {
        type: "array",
        description: "Field paths whose values audit records replace with \"[redacted]\"",
        items: { type: "string", minLength: 1, description: "A field path such as args.card_number" },
      },
    },
  },
  counter: {
    keys: "COUNTER_KEYS",
    required: "COUNTER_REQUIRED",
    description: "A counter: a windowed sum over the earlier decisions of the same key",
    properties: {
      per: { type: "array", maxItems: limit("MAX_PER_PATHS"), description: `Up to ${limit("MAX_PER_PATHS")} field paths forming the key (absent or []: one key for all)`, items: plainFieldPath("A key part") },
      window: duration("30 days"),
      when: { ...ref("condition"), description: "Which actions count (absent: every action)" },
      sum: plainFieldPath("The number each action adds (absent: each action counts 1)"),
    },
  },
  rule: {
    keys: "RULE_KEYS",
    required: "RULE_REQUIRED",
    description: "A rule",
    properties: {
      id: identifier("The rule's id, unique in the policy"),
      effect: { enum: EFFECTS, description: "What the rule decides when it applies" },
      when: { ...ref("condition"), description: "When the rule applies (absent: always)" },
      reason: { type: "string", maxLength: limit("MAX_REASON_CHARS"), description: "Why (required for deny and escalate)" },
      approver: { type: "string", description: "The approver who decides (escalate rules only; declared under 'approvers')" },
      timeout: { ...duration("7 days"), description: `Overrides the approver's timeout (escalate rules only): ${DURATION_TEXT}, at most 7 days` },
      description: { type: "string", description: "What the rule is for" },
    },
    // The requirements that depend on the effect (readRule in the core).
    allOf: [
      { if: { required: ["effect"], properties: { effect: { enum: ["deny", "escalate"] } } }, then: { required: ["reason"] } },
      { if: { required: ["effect"], properties: { effect: { const: "escalate" } } }, then: { required: ["approver"] } },
      { if: { required: ["effect"], properties: { effect: { enum: EFFECTS.filter((e) => e !== "escalate") } } }, then: { properties: { approver: false, timeout: false } } },
    ],
  },
  group: {
    keys: "GROUP_KEYS",
    required: "GROUP_REQUIRED",
    description: "A group of rules that apply only where its 'when' holds",
    properties: {
      group: { type: "string", minLength: 1, description: "The group's name, unique among groups" },
      when: { ...ref("condition"), description: "Where the group's rules apply (absent: everywhere)" },
      rules: { type: "array", minItems: 1, description: "Rules and groups", items: ref("ruleOrGroup") },
      description: { type: "string", description: "What the group is for" },
    },
  },
  test: {
    keys: "TEST_KEYS",
    required: "TEST_REQUIRED",
    description: "A policy test: an action and the decision expected",
    properties: {
      name: { type: "string", description: "The test's name" },
      action: ref("action"),
      expect: { enum: EFFECTS, description: "The expected decision" },
      rule: { type: ["string", "null"], description: "The deciding rule's id (null: a default decision)" },
    },
  },
  sequenceTest: {
    keys: "SEQUENCE_TEST_KEYS",
    required: "SEQUENCE_TEST_REQUIRED",
    description: "A sequence test: steps that share counters",
    properties: {
      name: { type: "string", description: "The test's name" },
      steps: { type: "array", minItems: 1, maxItems: limit("MAX_STEPS"), description: "The steps, in non-decreasing 'at' order", items: ref("step") },
    },
  },
  step: {
    keys: "STEP_KEYS",
    required: "STEP_REQUIRED",
    description: "A step of a sequence test",
    properties: {
      action: ref("action"),
      expect: { enum: EFFECTS, description: "The expected decision" },
      rule: { type: ["string", "null"], description: "The deciding rule's id (null: a default decision)" },
      at: { type: "string", pattern: "^[0-9]{1,16}(ms|s|m|h|d)$", description: "The step's time since the start of the test (0s, or a duration of at most 365 days)" },
      resolve: { enum: RESOLUTIONS, description: "How the step's escalation is resolved (only when expect is escalate)" },
    },
    allOf: [{ if: { required: ["resolve"] }, then: { required: ["expect"], properties: { expect: { const: "escalate" } } } }],
  },
};

/** Per operand kind of the operator table (compile/operators.ts, `Operand`): what it takes. */
const OPERANDS = {
  Scalar: () => ref("scalar"),
  Needle: () => ref("scalar"),
  List: () => ref("scalarList"),
  Number: () => ({ type: "number" }),
  String: () => ({ type: "string" }),
  Glob: () => ({ type: "string", maxLength: limit("MAX_PATTERN_CHARS") }),
  Regex: () => ({ type: "string", maxLength: limit("MAX_PATTERN_CHARS") }),
  Bool: () => ({ type: "boolean" }),
  Test: () => ref("fieldTest"),
};

/** One line per operator for editors (spec section 3); an operator without one gets none. */
const OPERATOR_TEXT = {
  eq: "equal: same JSON type and value",
  ne: "not equal",
  in: "equals one of a non-empty list of scalars",
  not_in: "equals none of a non-empty list of scalars",
  gt: "a number greater than",
  gte: "a number greater than or equal to",
  lt: "a number less than",
  lte: "a number less than or equal to",
  prefix: "a string that starts with",
  suffix: "a string that ends with",
  contains: "a string with this substring, or an array with an element equal to it",
  glob: "a string matched whole by the glob pattern (* ** ? [a-z] {a,b})",
  matches: "a string in which the regular expression (RE2 subset) matches somewhere",
  exists: "present (true) or absent (false)",
  len: "a string or array whose length passes the test",
  some: "an array with at least one element that passes the test",
  every: "an array all of whose elements pass the test",
};

/** The combinators of a condition (condition.ts, COMBINATORS). */
const COMBINATOR_SCHEMAS = {
  all: { type: "array", minItems: 1, items: ref("condition"), description: "All of these conditions hold" },
  any: { type: "array", minItems: 1, items: ref("condition"), description: "At least one of these conditions holds" },
  not: { ...ref("condition"), description: "This condition does not hold" },
};

// --- building the schema ----------------------------------------------------------------------

function sameSet(what, core, here) {
  const missing = core.filter((k) => !here.includes(k));
  const extra = here.filter((k) => !core.includes(k));
  if (missing.length || extra.length) {
    throw new Error(`scripts/gen-schema.mjs: ${what}: ` +
      (missing.length ? `the core has ${missing.map((k) => `'${k}'`).join(", ")}, which this script does not describe` : "") +
      (missing.length && extra.length ? "; " : "") +
      (extra.length ? `this script describes ${extra.map((k) => `'${k}'`).join(", ")}, which the core does not have` : ""));
  }
}

function mapping(kind) {
  const m = MAPPINGS[kind];
  const keys = table(m.keys);
  sameSet(`${kind} (${MANIFEST} ${m.keys})`, keys, Object.keys(m.properties));
  const out = { type: "object", description: m.description, properties: {} };
  for (const k of keys) out.properties[k] = m.properties[k]; // in the core's order
  if (m.required) {
    const required = table(m.required);
    for (const r of required) if (!keys.includes(r)) throw new Error(`${MANIFEST}: ${m.required} has '${r}', which ${m.keys} lacks`);
    if (required.length) out.required = required;
  }
  out.additionalProperties = false;
  if (m.allOf) out.allOf = m.allOf;
  return out;
}

function build() {
  const operators = {};
  for (const [name, operand] of operatorRows()) {
    const make = OPERANDS[operand];
    if (!make) throw new Error(`scripts/gen-schema.mjs: operand kind Operand.${operand} (operator '${name}') has no schema here`);
    operators[name] = { ...make(), ...(OPERATOR_TEXT[name] ? { description: `The value is ${OPERATOR_TEXT[name]}` } : {}) };
  }
  sameSet(`combinators (${CONDITION} COMBINATORS)`, COMBINATORS, Object.keys(COMBINATOR_SCHEMAS));
  const { description, ...policy } = mapping("policy");
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Tollgate policy",
    description: `${description}. Generated by scripts/gen-schema.mjs from the core's tables: do not edit.`,
    ...policy,
    $defs: {
      approver: mapping("approver"),
      audit: mapping("audit"),
      counter: mapping("counter"),
      ruleOrGroup: {
        description: "A rule, or a group (a mapping with a 'group' key)",
        if: { type: "object", required: ["group"] },
        then: ref("group"),
        else: ref("rule"),
      },
      rule: mapping("rule"),
      group: mapping("group"),
      testEntry: {
        description: "A test, or a sequence test (a mapping with a 'steps' key)",
        if: { type: "object", required: ["steps"] },
        then: ref("sequenceTest"),
        else: ref("test"),
      },
      test: mapping("test"),
      sequenceTest: mapping("sequenceTest"),
      step: mapping("step"),
      action: { type: "object", description: "An action: tool, args, agent, session, context, ..." },
      condition: {
        type: "object",
        description: "A condition: field paths (args.amount), counter references ($name) and combinators (all, any, not); all of its keys must hold",
        minProperties: 1,
        properties: Object.fromEntries(COMBINATORS.map((c) => [c, COMBINATOR_SCHEMAS[c]])),
        additionalProperties: ref("fieldTest"),
      },
      fieldTest: {
        description: "A field's test: a scalar (eq), a list of scalars (in) or a mapping of operators",
        anyOf: [ref("scalar"), ref("scalarList"), ref("operators")],
      },
      operators: {
        type: "object",
        description: "Operators: with several, all must hold",
        minProperties: 1,
        properties: operators,
        additionalProperties: false,
      },
      scalar: { type: ["string", "number", "boolean", "null"] },
      scalarList: { type: "array", minItems: 1, maxItems: limit("MAX_LIST_ITEMS"), items: ref("scalar") },
    },
  };
}

const text = JSON.stringify(build(), null, 2) + "\n";
const out = new URL(OUT, root);
const current = existsSync(out) ? readFileSync(out, "utf8") : null;
if (process.argv.includes("--check")) {
  if (current !== text) {
    console.error(`${OUT} is ${current === null ? "missing" : "stale"}: run node scripts/gen-schema.mjs (npm run build) and commit it`);
    process.exit(1);
  }
} else if (current !== text) {
  mkdirSync(new URL("schema/", root), { recursive: true });
  writeFileSync(out, text);
  console.log(`wrote ${OUT}`);
}
