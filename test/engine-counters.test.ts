// The cases of test/reference-counters.test.ts (spec sections 8 and 7, bullet
// by bullet: test/counter-cases.ts) run against the engine: the WebAssembly core
// through the Node host's Policy (src/policy.ts), behind the reference's
// interface (test/support/engine-session.ts). Policy errors compare message for
// message and position for position (the reference's JSON pointers located in
// the same manifest text).
import { describe, expect, it } from "vitest";
import { counterCases } from "./counter-cases.js";
import { PolicyError } from "../src/errors.js";
import { Policy } from "../src/policy.js";
import { EnginePolicy, EngineSession, EngineState, engineCheckManifest, engineRunTests } from "./support/engine-session.js";

counterCases({
  Session: EngineSession,
  Policy: EnginePolicy,
  CounterState: EngineState,
  PolicyError,
  checkManifest: engineCheckManifest,
  runTests: engineRunTests,
  // The Node host's store takes a time earlier than its latest at the latest
  // (src/state/memory-store.ts, "Time never goes backward in a store").
  monotonicClock: true,
});

describe("engine only: YAML manifests", () => {
  it("more than 64 counters is reported at the 65th counter the document writes, integer-like names included", () => {
    // A parsed mapping enumerates integer-like keys first: "9" is the 65th here, not the first.
    const names = [...Array.from({ length: 64 }, (_, i) => `a${i}`), "9", "10", "b"];
    const yaml = ["tollgate: 1", "name: p", "counters:", ...names.map((n) => `  ${n}: { window: 1h }`), "rules: []", ""].join("\n");
    let error: unknown;
    try {
      Policy.fromYaml(yaml, { filename: "p.yaml" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).format()).toBe(`p.yaml:${4 + 64}:3: error: more than 64 counters: the limit is 64`);
    // on one line (flow style), the column tells
    const flow = `tollgate: 1\nname: p\ncounters: { ${names.map((n) => `${n}: { window: 1h }`).join(", ")} }\nrules: []\n`;
    const column = flow.split("\n")[2]!.indexOf(" 9: ") + 2;
    expect(() => Policy.fromYaml(flow, { filename: "p.yaml" })).toThrow(PolicyError);
    try {
      Policy.fromYaml(flow, { filename: "p.yaml" });
    } catch (e) {
      expect((e as PolicyError).format()).toBe(`p.yaml:3:${column}: error: more than 64 counters: the limit is 64`);
    }
  });
});

describe("engine only: manifest strings", () => {
  it("a lone surrogate in a manifest is a positioned policy error (the load threw a bare Error from canonical JSON)", () => {
    // Found by the sequence-test property (test/property/counters-differential.test.ts): a test
    // action holding "\ud800" made Policy.fromObject throw "Lone surrogate is not allowed".
    const cases: [string, string][] = [
      ['tollgate: 1\nname: p\nrules:\n  - { id: r, effect: deny, reason: r, when: { tool: "a\\ud800" } }\n', "<policy>:4:53"],
      ['tollgate: 1\nname: p\nrules: []\ntests:\n  - { name: t, action: { "\\udc00x": 1 }, expect: deny }\n', "<policy>:5:26"],
      ['tollgate: 1\nname: p\ndescription: "\\udc00\\ud800"\nrules: []\n', "<policy>:3:14"],
    ];
    for (const [yaml, at] of cases) {
      let error: unknown;
      try {
        Policy.fromYaml(yaml);
      } catch (e) {
        error = e;
      }
      expect(error, yaml).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).format(), yaml).toBe(`${at}: error: a string with a lone surrogate (\\ud800-\\udfff not in a pair) is not Unicode text: a policy cannot hold it`);
    }
    // a pair is a character; in an action, a lone surrogate still reads as U+FFFD
    const p = Policy.fromYaml('tollgate: 1\nname: p\nrules:\n  - { id: r, effect: deny, reason: r, when: { tool: { in: ["\\ud83d\\ude00", "\\ufffd"] } } }\n');
    expect(p.evaluate({ tool: "😀" }).decision).toBe("deny");
    expect(p.evaluate({ tool: "\ud800" }).decision).toBe("deny");
    expect(() => Policy.fromObject({ tollgate: 1, name: "p", rules: [], tests: [{ name: "t", action: { x: "\ud800" }, expect: "deny" }] })).toThrow(PolicyError);
  });
});
