// Hand-written cases proving the reference interpreter (test/support/reference/) right,
// operator by operator and Kleene case by Kleene case, against the spec.
import { describe, expect, it } from "vitest";
import { ReferencePolicy } from "./support/reference/index.js";
import { parsePath } from "./support/reference/path.js";
import { compileRegex } from "./support/reference/regex.js";
import { globMatch, parseGlob } from "./support/reference/glob.js";

const ABSENT = Symbol("absent");

/** The three-valued result of `condition` on `action`, read through a single
 *  deny rule: TRUE -> matches, UNKNOWN -> undetermined, FALSE -> default. */
function cond(condition: object, action: object): string {
  const p = new ReferencePolicy({
    tollgate: 1,
    name: "t",
    default: "allow",
    rules: [{ id: "r", effect: "deny", reason: "x", when: condition }],
  });
  const d = p.evaluate(action);
  if (d.decision === "allow") return "FALSE";
  return d.undetermined ? "UNKNOWN" : "TRUE";
}

/** The result of `test` on the value of field `v` (absent for ABSENT). */
function test(t: unknown, value: unknown): string {
  return cond({ v: t }, value === ABSENT ? {} : { v: value });
}

type Case = [test: unknown, value: unknown, expected: "TRUE" | "FALSE" | "UNKNOWN"];
function table(name: string, cases: Case[]) {
  it.each(cases.map(([t, v, e]) => ({ t, v, e, label: `${JSON.stringify(t)} on ${v === ABSENT ? "absent" : JSON.stringify(v)}` })))(
    `${name}: $label -> $e`,
    ({ t, v, e }) => expect(test(t, v)).toBe(e),
  );
}

describe("operators", () => {
  table("eq", [
    [{ eq: "a" }, "a", "TRUE"],
    [{ eq: "a" }, "b", "FALSE"],
    [{ eq: "a" }, ABSENT, "UNKNOWN"],
    [{ eq: "1" }, 1, "FALSE"],
    [{ eq: 1 }, 1.0, "TRUE"],
    [{ eq: 0 }, -0, "TRUE"],
    [{ eq: true }, "true", "FALSE"],
    [{ eq: null }, null, "TRUE"],
    [{ eq: null }, false, "FALSE"],
    [{ eq: "a" }, ["a"], "FALSE"],
    [{ eq: "a" }, { a: "a" }, "FALSE"],
    [{ eq: "é" }, "e\u0301", "FALSE"], // no normalisation
    ["a", "a", "TRUE"], // scalar shorthand
    [5, 5, "TRUE"],
    [false, false, "TRUE"],
    [null, null, "TRUE"],
    [null, ABSENT, "UNKNOWN"],
  ]);
  table("ne", [
    [{ ne: "a" }, "a", "FALSE"],
    [{ ne: "a" }, "b", "TRUE"],
    [{ ne: "a" }, ABSENT, "UNKNOWN"],
    [{ ne: 1 }, "1", "TRUE"],
    [{ ne: null }, null, "FALSE"],
    [{ ne: "a" }, [], "TRUE"],
    [{ ne: "a" }, {}, "TRUE"],
  ]);
  table("in / not_in", [
    [{ in: [1, "x", null] }, null, "TRUE"],
    [{ in: [1, "x", null] }, "x", "TRUE"],
    [{ in: [1, "x", null] }, "1", "FALSE"],
    [{ in: [1, "x", null] }, ABSENT, "UNKNOWN"],
    [{ in: [1] }, [1], "FALSE"],
    [["a", 1], 1, "TRUE"], // list shorthand
    [["a", 1], "b", "FALSE"],
    [["a", 1], ABSENT, "UNKNOWN"],
    [{ not_in: [1, "x"] }, "y", "TRUE"],
    [{ not_in: [1, "x"] }, 1, "FALSE"],
    [{ not_in: [1, "x"] }, ABSENT, "UNKNOWN"],
    [{ not_in: [1, "x"] }, [1], "TRUE"],
    [{ not_in: [true] }, {}, "TRUE"],
  ]);
  table("gt / gte / lt / lte", [
    [{ gt: 500 }, 501, "TRUE"],
    [{ gt: 500 }, 500, "FALSE"],
    [{ gt: 500 }, "900", "UNKNOWN"],
    [{ gt: 500 }, ABSENT, "UNKNOWN"],
    [{ gt: 500 }, null, "UNKNOWN"],
    [{ gt: 500 }, true, "UNKNOWN"],
    [{ gt: 500 }, [900], "UNKNOWN"],
    [{ gte: 500 }, 500, "TRUE"],
    [{ gte: 500 }, 499.999, "FALSE"],
    [{ lt: 0 }, -0.5, "TRUE"],
    [{ lt: 0 }, -0, "FALSE"],
    [{ lte: 0 }, -0, "TRUE"],
    [{ lte: 1e21 }, 1e22, "FALSE"],
    [{ lt: 0.3 }, 0.1 + 0.2, "FALSE"], // doubles
  ]);
  table("prefix / suffix", [
    [{ prefix: "payments." }, "payments.refund", "TRUE"],
    [{ prefix: "payments." }, "payments", "FALSE"],
    [{ prefix: "" }, "", "TRUE"],
    [{ prefix: "1" }, 12, "UNKNOWN"],
    [{ prefix: "a" }, ABSENT, "UNKNOWN"],
    [{ prefix: "a" }, ["a"], "UNKNOWN"],
    [{ suffix: ".pdf" }, "x.pdf", "TRUE"],
    [{ suffix: ".pdf" }, "x.PDF", "FALSE"],
    [{ suffix: "😀" }, "a😀", "TRUE"],
    [{ suffix: "a" }, null, "UNKNOWN"],
  ]);
  table("contains", [
    [{ contains: "ell" }, "hello", "TRUE"],
    [{ contains: "xyz" }, "hello", "FALSE"],
    [{ contains: "" }, "", "TRUE"],
    [{ contains: 1 }, "a1", "UNKNOWN"], // non-string operand on a string
    [{ contains: null }, "null", "UNKNOWN"],
    [{ contains: 1 }, ["a", 1], "TRUE"],
    [{ contains: "1" }, ["a", 1], "FALSE"],
    [{ contains: null }, [null], "TRUE"],
    [{ contains: "a" }, [], "FALSE"],
    [{ contains: "a" }, [["a"]], "FALSE"],
    [{ contains: "a" }, [{ a: "a" }], "FALSE"],
    [{ contains: 5 }, 5, "UNKNOWN"],
    [{ contains: "a" }, { a: 1 }, "UNKNOWN"],
    [{ contains: "a" }, ABSENT, "UNKNOWN"],
  ]);
  table("glob", [
    [{ glob: "*.txt" }, "a.txt", "TRUE"],
    [{ glob: "*.txt" }, "a/b.txt", "FALSE"],
    [{ glob: "**.txt" }, "a/b.txt", "TRUE"],
    [{ glob: "a/*.txt" }, "a/b.txt", "TRUE"],
    [{ glob: "a/**" }, "a/", "TRUE"],
    [{ glob: "*" }, "", "TRUE"],
    [{ glob: "?" }, "/", "FALSE"],
    [{ glob: "?" }, "😀", "TRUE"], // one code point
    [{ glob: "é?" }, "éü", "TRUE"],
    [{ glob: "[a-c]x" }, "bx", "TRUE"],
    [{ glob: "[a-c]x" }, "dx", "FALSE"],
    [{ glob: "[!a-c]x" }, "dx", "TRUE"],
    [{ glob: "[!a-c]x" }, "/x", "FALSE"],
    [{ glob: "[/]" }, "/", "FALSE"],
    [{ glob: "{foo,bar}.js" }, "bar.js", "TRUE"],
    [{ glob: "{foo,bar}.js" }, "baz.js", "FALSE"],
    [{ glob: "{a/b,c}" }, "a/b", "TRUE"],
    [{ glob: "\\*" }, "*", "TRUE"],
    [{ glob: "\\*" }, "x", "FALSE"],
    [{ glob: "abc" }, "abcd", "FALSE"], // whole string
    [{ glob: "*" }, 3, "UNKNOWN"],
    [{ glob: "*" }, ABSENT, "UNKNOWN"],
  ]);
  table("matches", [
    [{ matches: "(?i)\\b(drop|truncate)\\b" }, "please DROP table x", "TRUE"],
    [{ matches: "(?i)\\b(drop|truncate)\\b" }, "dropped", "FALSE"],
    [{ matches: "ell" }, "hello", "TRUE"], // a search, not a whole match
    [{ matches: "^abc$" }, "abc\n", "FALSE"], // $ is the end of the whole text
    [{ matches: "^b" }, "a\nb", "FALSE"], // no multi-line mode
    [{ matches: "a.c" }, "a\nc", "FALSE"],
    [{ matches: "a.c" }, "a😀c", "TRUE"], // . is one code point
    [{ matches: "\\d+" }, "x12", "TRUE"],
    [{ matches: "\\d" }, "٣", "FALSE"], // ASCII digits only
    [{ matches: "\\w" }, "é", "FALSE"],
    [{ matches: "\\s" }, "\u000b", "FALSE"], // \v is not \s in RE2
    [{ matches: "\\s" }, "\f", "TRUE"],
    [{ matches: "[^\\S]" }, " ", "TRUE"],
    [{ matches: "[^\\S]" }, "a", "FALSE"],
    [{ matches: "^[\\d\\s]+$" }, "1 2", "TRUE"],
    [{ matches: "(?i)k" }, "K", "TRUE"],
    [{ matches: "(?i)k" }, "\u212a", "FALSE"], // Kelvin sign: ASCII folding only
    [{ matches: "(?i)s" }, "\u017f", "FALSE"], // long s
    [{ matches: "(?i)[^a]" }, "A", "FALSE"],
    [{ matches: "(?i)[a-c]" }, "B", "TRUE"],
    [{ matches: "(?i)é" }, "É", "FALSE"],
    [{ matches: "\\x41" }, "A", "TRUE"],
    [{ matches: "(?i)\\x41" }, "a", "TRUE"],
    [{ matches: "^a{2,3}$" }, "aa", "TRUE"],
    [{ matches: "^a{2,3}$" }, "a", "FALSE"],
    [{ matches: "^a{2,}$" }, "aaaaa", "TRUE"],
    [{ matches: "^a{2}$" }, "aaa", "FALSE"],
    [{ matches: "a+?b" }, "aab", "TRUE"],
    [{ matches: "\\bfoo\\b" }, "éfooé", "TRUE"], // é is not \w
    [{ matches: "\\Bfoo" }, "xfoo", "TRUE"],
    [{ matches: "\\Bfoo" }, "foo", "FALSE"],
    [{ matches: "a\\.b" }, "a.b", "TRUE"],
    [{ matches: "a\\.b" }, "axb", "FALSE"],
    [{ matches: "\\-\\/\\#" }, "-/#", "TRUE"],
    [{ matches: "^$" }, "", "TRUE"],
    [{ matches: "(?:ab|cd)+$" }, "xabcd", "TRUE"],
    [{ matches: "x*" }, 5, "UNKNOWN"],
    [{ matches: "x*" }, ABSENT, "UNKNOWN"],
  ]);
  table("exists", [
    [{ exists: true }, null, "TRUE"],
    [{ exists: true }, ABSENT, "FALSE"],
    [{ exists: false }, ABSENT, "TRUE"],
    [{ exists: false }, 0, "FALSE"],
    [{ exists: true, gt: 500 }, ABSENT, "FALSE"],
    [{ exists: true, gt: 500 }, "900", "UNKNOWN"],
    [{ exists: true, gt: 500 }, 900, "TRUE"],
  ]);
  table("len", [
    [{ len: 5 }, "héllo", "TRUE"],
    [{ len: 1 }, "😀", "TRUE"], // code points, not UTF-16 units or bytes
    [{ len: 0 }, "", "TRUE"],
    [{ len: { gt: 2 } }, [1, 2, 3], "TRUE"],
    [{ len: { gt: 2 } }, [], "FALSE"],
    [{ len: [1, 2] }, "ab", "TRUE"],
    [{ len: 1 }, 5, "UNKNOWN"],
    [{ len: 1 }, {}, "UNKNOWN"],
    [{ len: 1 }, ABSENT, "UNKNOWN"],
    [{ len: { prefix: "1" } }, "a", "UNKNOWN"], // the length is a number
  ]);
  table("some / every", [
    [{ some: { gt: 0 } }, [1, "x"], "TRUE"],
    [{ some: { gt: 0 } }, ["x"], "UNKNOWN"],
    [{ some: { gt: 0 } }, [0, "x"], "UNKNOWN"],
    [{ some: { gt: 0 } }, [0], "FALSE"],
    [{ some: { gt: 0 } }, [], "FALSE"],
    [{ some: { gt: 0 } }, "abc", "UNKNOWN"],
    [{ some: { gt: 0 } }, { a: 1 }, "UNKNOWN"],
    [{ some: { gt: 0 } }, ABSENT, "UNKNOWN"],
    [{ some: "a" }, ["b", "a"], "TRUE"],
    [{ some: { eq: 1 } }, [{}], "FALSE"],
    [{ some: { gt: 1 } }, [{}], "UNKNOWN"],
    [{ some: { exists: true } }, [null], "TRUE"],
    [{ some: { len: 1 } }, [[1, 2], [3]], "TRUE"],
    [{ every: { gt: 0 } }, [1, 2], "TRUE"],
    [{ every: { gt: 0 } }, [], "TRUE"],
    [{ every: { gt: 0 } }, [1, "x"], "UNKNOWN"],
    [{ every: { gt: 0 } }, [0, "x"], "FALSE"],
    [{ every: { gt: 0 } }, 1, "UNKNOWN"],
    [{ every: { some: { gt: 2 } } }, [[3], [1, 2]], "FALSE"],
    [{ every: ["a", "b"] }, ["a", "b", "a"], "TRUE"],
  ]);
  table("several operators (all)", [
    [{ gt: 0, lt: 10 }, 5, "TRUE"],
    [{ gt: 0, lt: 10 }, 11, "FALSE"],
    [{ gt: 0, lt: 10 }, "x", "UNKNOWN"],
    [{ prefix: "a", gt: 1 }, "b", "FALSE"],
    [{ prefix: "a", gt: 1 }, "a", "UNKNOWN"],
  ]);
});

describe("Kleene combination", () => {
  // t is TRUE, f is FALSE, u is UNKNOWN on this action.
  const action = { t: 1, f: 2 };
  const T = { t: 1 }, F = { f: 1 }, U = { u: 1 };
  const cases: [object, string][] = [
    [{ all: [T, T] }, "TRUE"],
    [{ all: [T, U] }, "UNKNOWN"],
    [{ all: [U, F] }, "FALSE"],
    [{ all: [F, T] }, "FALSE"],
    [{ any: [F, F] }, "FALSE"],
    [{ any: [F, U] }, "UNKNOWN"],
    [{ any: [U, T] }, "TRUE"],
    [{ not: T }, "FALSE"],
    [{ not: F }, "TRUE"],
    [{ not: U }, "UNKNOWN"],
    [{ not: { not: U } }, "UNKNOWN"],
    [{ t: 1, u: 1 }, "UNKNOWN"], // several keys
    [{ f: 1, u: 1 }, "FALSE"],
    [{ t: 1, any: [U, F] }, "UNKNOWN"],
    [{ all: [T], not: F, any: [T] }, "TRUE"],
    [{ any: [{ all: [T, U] }, { not: T }] }, "UNKNOWN"],
  ];
  it.each(cases)("%j -> %s", (c, e) => expect(cond(c, action)).toBe(e));
});

describe("field paths", () => {
  it("parses dots and brackets", () => {
    expect(parsePath("args.amount")).toEqual(["args", "amount"]);
    expect(parsePath('args["file.name"]')).toEqual(["args", "file.name"]);
    expect(parsePath('["all"]')).toEqual(["all"]);
    expect(parsePath('a["q\\"x"]["b\\\\"].c')).toEqual(["a", 'q"x', "b\\", "c"]);
    expect(parsePath('["a b"].["c]"]')).toEqual(["a b", "c]"]);
    expect(parsePath("é.日本")).toEqual(["é", "日本"]);
  });
  it("rejects malformed paths", () => {
    for (const bad of ["a..b", "a.", ".a", '["x"', '["x\\n"]', "a b", Array(17).fill("k").join(".")]) {
      expect(() => parsePath(bad), bad).toThrow();
    }
  });
  it("reads nested and bracketed keys; a bracketed all is a field", () => {
    expect(cond({ "args.amount": 1 }, { args: { amount: 1 } })).toBe("TRUE");
    expect(cond({ 'args["file.name"]': "x" }, { args: { "file.name": "x" } })).toBe("TRUE");
    expect(cond({ 'args["file.name"]': "x" }, { args: { file: { name: "x" } } })).toBe("UNKNOWN");
    expect(cond({ '["all"]': 1 }, { all: 1 })).toBe("TRUE");
    expect(cond({ "x.all": 1 }, { x: { all: 1 } })).toBe("TRUE");
  });
  it("an intermediate value that is not an object makes the path absent", () => {
    for (const a of [5, null, "s", [{ b: 1 }], true]) {
      expect(cond({ "a.b": 1 }, { a: a })).toBe("UNKNOWN");
      expect(cond({ "a.b": { exists: false } }, { a: a })).toBe("TRUE");
    }
  });
  it("only own keys count", () => {
    expect(cond({ toString: { exists: true } }, {})).toBe("FALSE");
    expect(cond({ "a.constructor": { exists: true } }, { a: {} })).toBe("FALSE");
  });
});

describe("decisions", () => {
  const base = {
    tollgate: 1,
    name: "p",
    approvers: {
      oncall: { timeout: "15m" },
      lenient: { timeout: "1d", on_timeout: "allow" },
    },
  };
  const policy = (rules: object[], extra: object = {}) => new ReferencePolicy({ ...base, ...extra, rules });
  const yes = { t: 1 }, no = { t: 2 }, unknown = { u: 1 };

  it("deny beats escalate beats allow, whatever the order", () => {
    const p = policy([
      { id: "a", effect: "allow", when: yes },
      { id: "e", effect: "escalate", approver: "oncall", reason: "E", when: yes },
      { id: "d1", effect: "deny", reason: "D1", when: no },
      { id: "d2", effect: "deny", reason: "D2", when: yes },
      { id: "d3", effect: "deny", reason: "D3" },
    ]);
    expect(p.evaluate({ t: 1 })).toEqual({ decision: "deny", rule: "d2", reason: "D2", undetermined: false, policy: "p" });
  });
  it("an undetermined deny wins over a matching escalate; the first one counts", () => {
    const p = policy([
      { id: "e", effect: "escalate", approver: "oncall", reason: "E", when: yes },
      { id: "d1", effect: "deny", reason: "D1", when: unknown },
      { id: "d2", effect: "deny", reason: "D2", when: yes },
    ]);
    expect(p.evaluate({ t: 1 })).toMatchObject({ decision: "deny", rule: "d1", undetermined: true });
  });
  it("an undetermined escalate wins over an allow; an UNKNOWN allow does not allow", () => {
    expect(
      policy([
        { id: "a", effect: "allow", when: yes },
        { id: "e", effect: "escalate", approver: "oncall", reason: "E", when: unknown },
      ]).evaluate({ t: 1 }),
    ).toMatchObject({ decision: "escalate", rule: "e", undetermined: true });
    expect(policy([{ id: "a", effect: "allow", when: unknown }]).evaluate({})).toEqual({
      decision: "deny", rule: null, reason: "no rule matched", undetermined: false, policy: "p",
    });
  });
  it("defaults: deny with a reason, allow with null", () => {
    expect(policy([]).evaluate({})).toEqual({ decision: "deny", rule: null, reason: "no rule matched", undetermined: false, policy: "p" });
    expect(policy([], { default: "deny" }).evaluate({}).decision).toBe("deny");
    expect(policy([], { default: "allow" }).evaluate({})).toEqual({ decision: "allow", rule: null, reason: null, undetermined: false, policy: "p" });
  });
  it("an allow rule's reason is null unless given", () => {
    expect(policy([{ id: "a", effect: "allow" }]).evaluate({})).toEqual({ decision: "allow", rule: "a", reason: null, undetermined: false, policy: "p" });
    expect(policy([{ id: "a", effect: "allow", reason: "ok" }]).evaluate({}).reason).toBe("ok");
  });
  it("escalations resolve approver, timeout and on_timeout, in the spec's field order", () => {
    const d = policy([{ id: "e", effect: "escalate", approver: "oncall", reason: "E" }]).evaluate({});
    expect(d).toEqual({ decision: "escalate", rule: "e", reason: "E", undetermined: false, approver: "oncall", timeout_ms: 900000, on_timeout: "deny", policy: "p" });
    expect(Object.keys(d)).toEqual(["decision", "rule", "reason", "undetermined", "approver", "timeout_ms", "on_timeout", "policy"]);
    const cases: [string | undefined, number][] = [[undefined, 86400000], ["30m", 1800000], ["500ms", 500], ["30s", 30000], ["2h", 7200000], ["7d", 604800000]];
    for (const [timeout, ms] of cases) {
      const rule = { id: "e", effect: "escalate", approver: "lenient", reason: "E", ...(timeout ? { timeout } : {}) };
      expect(policy([rule]).evaluate({})).toMatchObject({ approver: "lenient", timeout_ms: ms, on_timeout: "allow" });
    }
  });
  it("non-escalate decisions carry no approver fields", () => {
    const d = policy([{ id: "d", effect: "deny", reason: "D" }]).evaluate({});
    expect(Object.keys(d)).toEqual(["decision", "rule", "reason", "undetermined", "policy"]);
  });
  it("groups: depth-first order, effective condition is the conjunction", () => {
    const p = policy([
      {
        group: "g1",
        when: { g1: true },
        rules: [
          { id: "r1", effect: "deny", reason: "R1", when: { r1: true } },
          { group: "g2", when: { g2: true }, rules: [{ id: "r2", effect: "deny", reason: "R2", when: { r2: true } }] },
        ],
      },
      { id: "r3", effect: "deny", reason: "R3", when: { r3: true } },
    ]);
    const rule = (a: object) => p.evaluate(a).rule;
    expect(rule({ g1: true, g2: true, r1: true, r2: true, r3: true })).toBe("r1");
    expect(rule({ g1: true, g2: true, r1: false, r2: true, r3: true })).toBe("r2");
    expect(rule({ g1: true, g2: false, r1: false, r2: true, r3: true })).toBe("r3");
    expect(rule({ g1: false, g2: true, r1: true, r2: true, r3: true })).toBe("r3");
    // an UNKNOWN group condition with a TRUE rule condition: undetermined
    expect(p.evaluate({ g2: true, r1: true, r2: true })).toMatchObject({ rule: "r1", undetermined: true });
    // an UNKNOWN group condition with a FALSE rule condition: FALSE
    expect(p.evaluate({ g2: true, r1: false, r2: false, r3: true })).toMatchObject({ rule: "r3", undetermined: false });
    expect(rule({ g1: true, g2: true, r1: false, r2: false, r3: false })).toBe(null);
  });
});

describe("inputs that cannot be evaluated", () => {
  const p = new ReferencePolicy({ tollgate: 1, name: "p", default: "allow", rules: [{ id: "d", effect: "deny", reason: "D", when: { "a.b": 1 } }] });
  const error = (text: string) => ({ decision: "deny", rule: null, reason: text, undetermined: false, error: text, policy: "p" });
  it("a non-object action is error 2", () => {
    for (const a of [null, [], [{}], "x", 5, true, undefined]) expect(p.evaluate(a)).toEqual(error("action is not a JSON object"));
  });
  it("a non-JSON value in a read field is error 7, elsewhere it is ignored", () => {
    for (const v of [NaN, Infinity, -Infinity, [1, NaN], () => 1, 1n, new Uint8Array(2), new Date(0), [Symbol("s")]]) {
      expect(p.evaluate({ a: { b: v } })).toEqual(error("action contains a value that is not JSON"));
    }
    expect(p.evaluate({ a: { b: { c: NaN } } }).decision).toBe("allow"); // objects are opaque
    expect(p.evaluate({ a: { c: NaN }, z: Infinity }).decision).toBe("deny");
    expect(p.evaluate({ a: { c: NaN }, z: Infinity }).undetermined).toBe(true);
  });
  it("undefined reads as JSON.stringify has it: an absent property, a null element", () => {
    expect(cond({ v: { exists: false } }, { v: undefined })).toBe("TRUE");
    expect(cond({ v: { some: null } }, { v: [1, undefined] })).toBe("TRUE");
    expect(cond({ v: { every: null } }, { v: new Array(2) })).toBe("TRUE"); // holes
  });
  it("an intermediate value that is not a plain object makes the path absent", () => {
    expect(cond({ "v.getTime": { exists: true } }, { v: new Date(0) })).toBe("FALSE");
  });
  it("arrays nested more than 64 deep are error 4", () => {
    const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
    expect(p.evaluate({ a: { b: nest(64) } }).decision).toBe("allow");
    expect(p.evaluate({ a: { b: nest(65) } })).toEqual(error("values read by the policy are nested too deeply"));
  });
  it("more than 1 MiB of read values is error 3", () => {
    expect(p.evaluate({ a: { b: "x".repeat(1 << 20) } }).decision).toBe("allow");
    expect(p.evaluate({ a: { b: "x".repeat((1 << 20) + 1) } })).toEqual(error("values read by the policy exceed 1 MiB when encoded"));
    expect(p.evaluate({ a: { c: "x".repeat(2 << 20) } }).decision).toBe("deny"); // not read
    // 65,535 elements of 16 bytes (1,048,560 bytes) after a string padded to 8 bytes
    const q = new ReferencePolicy({ tollgate: 1, name: "p", default: "allow", rules: [{ id: "d", effect: "deny", reason: "D", when: { s: "x", a: 1 } }] });
    expect(q.evaluate({ s: "abc", a: new Array(65535).fill(0) }).decision).toBe("allow");
    expect(q.evaluate({ s: "abc", a: new Array(65536).fill(0) }).error).toBe("values read by the policy exceed 1 MiB when encoded");
    expect(q.evaluate({ s: "x".repeat(16), a: new Array(65535).fill(0) }).decision).toBe("allow"); // exactly 1 MiB
    expect(q.evaluate({ s: "x".repeat(17), a: new Array(65535).fill(0) }).error).toBe("values read by the policy exceed 1 MiB when encoded");
  });
  it("errors are reported as met: the first read field first", () => {
    const q = new ReferencePolicy({ tollgate: 1, name: "p", rules: [{ id: "d", effect: "deny", reason: "D", when: { s: "x", a: 1 } }] });
    expect(q.evaluate({ s: "x".repeat(2 << 20), a: NaN }).error).toBe("values read by the policy exceed 1 MiB when encoded");
    expect(q.evaluate({ s: [NaN], a: "x".repeat(2 << 20) }).error).toBe("action contains a value that is not JSON");
  });
  it("lone surrogates read as U+FFFD", () => {
    expect(cond({ v: "\ufffd" }, { v: "\ud800" })).toBe("TRUE");
    expect(cond({ v: { len: 2 } }, { v: "a\udc00" })).toBe("TRUE");
    expect(cond({ v: { contains: "x\ufffd" } }, { v: ["x\udbff"] })).toBe("TRUE");
  });
});

describe("building blocks", () => {
  it("regex translation never uses JS case folding", () => {
    expect(compileRegex("(?i)abc").flags).toBe("u");
    expect(compileRegex("(?i)[k]").test("\u212a")).toBe(false);
  });
  it("glob stars are linear enough", () => {
    const t = parseGlob("*a*a*a*a*a*a*a*b");
    expect(globMatch(t, "a".repeat(200))).toBe(false);
  });
});
