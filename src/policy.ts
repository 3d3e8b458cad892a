// The Policy API: load (YAML -> canonical JSON -> core compile), then evaluate actions.

import { readFileSync, statSync } from "node:fs";
import { Messages, RECORD_HEADER, RESULT_SIZE } from "./abi.generated.js";
import { canonicalJson, sha256Hex } from "./canonical.js";
import { DecisionTable, ErrorCode } from "./decision.js";
import type { Decision, PolicyTable, RuleInfo } from "./decision.js";
import { instantiateCore, readReport } from "./engine.js";
import type { Core } from "./engine.js";
import { ActionEncoder, NO_ROOM } from "./encode.js";
import { PolicyError } from "./errors.js";
import type { PolicyProblem } from "./errors.js";
import { loadYaml, MAX_MANIFEST_BYTES } from "./yaml.js";
import type { LoadedYaml } from "./yaml.js";

export interface LoadOptions {
  /** The name errors are reported against (default: `<policy>`). */
  filename?: string;
}

/** A policy test (spec section 7), as written in the manifest. */
export interface PolicyTest {
  name: string;
  action: Record<string, unknown>;
  expect: "allow" | "deny" | "escalate";
  /** The expected deciding rule; `undefined` when the test does not say. */
  rule?: string | null;
}

/** Marks an input line that is not valid JSON, so that it is decided (as an error) in order. */
const NOT_JSON: unique symbol = Symbol("not JSON");

interface CoreSession {
  core: Core;
  /** The core's `evaluate`, held directly (and replaceable in tests that simulate a trap). */
  evaluate: (count: number) => number;
  encoder: ActionEncoder;
  inputStart: number;
  inputEnd: number;
  resultPtr: number;
  resultCapacity: number;
  results: Uint8Array;
  resultWords: Int32Array;
}

export class Policy {
  /** The policy's `name`. */
  readonly name: string;
  /** SHA-256 (hex) of the canonical JSON of the manifest. */
  readonly hash: string;
  /** Every rule, in document order, as the core compiled it. */
  readonly rules: readonly RuleInfo[];
  /** The field paths the policy reads. */
  readonly fields: readonly (readonly string[])[];
  /** `audit.redact` paths, parsed. */
  readonly redact: readonly (readonly string[])[];
  /** The manifest's `tests`. */
  readonly tests: readonly PolicyTest[];
  /** The canonical JSON the core compiled. */
  readonly canonical: string;

  private session: CoreSession;
  private readonly decisions: DecisionTable;

  private constructor(canonical: string, session: CoreSession, table: PolicyTable, manifest: Record<string, unknown>) {
    this.canonical = canonical;
    this.hash = sha256Hex(canonical);
    this.session = session;
    this.name = table.name;
    this.rules = Object.freeze(table.rules.map((r) => Object.freeze(r)));
    this.fields = Object.freeze(table.fields.map((f) => Object.freeze(f)));
    this.redact = Object.freeze(table.redact.map((f) => Object.freeze(f)));
    this.decisions = new DecisionTable(table);
    this.tests = Object.freeze(((manifest.tests ?? []) as PolicyTest[]).map((t) => Object.freeze({ ...t })));
  }

  /** Loads a policy file. Throws PolicyError (with file:line:column) if it is not valid. */
  static fromFile(path: string): Policy {
    let text: string;
    try {
      if (statSync(path).size > MAX_MANIFEST_BYTES) {
        throw new PolicyError([{ file: path, line: 1, column: 1, message: Messages.manifestTooLarge }]);
      }
      text = readFileSync(path, "utf8");
    } catch (err) {
      if (err instanceof PolicyError) throw err;
      const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? Messages.noSuchFile : (err as Error).message;
      throw new PolicyError([{ file: path, line: 1, column: 1, message: Messages.cannotReadPolicy(reason) }]);
    }
    return Policy.fromYaml(text, { filename: path });
  }

  /** Loads a policy from YAML text. Throws PolicyError if it is not valid. */
  static fromYaml(text: string, options: LoadOptions = {}): Policy {
    const file = options.filename ?? "<policy>";
    const loaded = loadYaml(text, file);
    if (!loaded.ok) throw new PolicyError(loaded.problems);
    return Policy.compile(loaded.yaml, file);
  }

  /**
   * Loads an already-parsed manifest (e.g. from JSON). Error positions refer to the manifest
   * printed as indented JSON.
   */
  static fromObject(manifest: unknown, options: LoadOptions = {}): Policy {
    let text: string | undefined;
    try {
      text = JSON.stringify(manifest, null, 2);
    } catch {
      text = undefined;
    }
    if (text === undefined) {
      throw new PolicyError([{ file: options.filename ?? "<policy>", line: 1, column: 1, message: Messages.notRepresentable }]);
    }
    return Policy.fromYaml(text, options);
  }

  private static compile(yaml: LoadedYaml, file: string): Policy {
    const canonical = canonicalJson(yaml.value);
    const { core, rc, report } = compileInFreshCore(canonical);
    if (rc !== 0) {
      const problems: PolicyProblem[] = (report as { errors: { pointer: string; at: "key" | "value"; message: string }[] }).errors
        .map((e) => ({ file, ...yaml.locate(e.pointer, e.at), message: e.message }));
      problems.sort((a, b) => a.line - b.line || a.column - b.column);
      throw new PolicyError(problems);
    }
    const table = report as PolicyTable;
    return new Policy(canonical, openSession(core, table), table, yaml.value as Record<string, unknown>);
  }

  /** Decides one action. Never throws: an action that cannot be evaluated is a deny with `error`. */
  evaluate(action: unknown): Decision {
    const s = this.session;
    const pos = s.encoder.encode(action, s.inputStart, s.inputEnd);
    if (pos === NO_ROOM) s.encoder.writeStatus(s.inputStart, ErrorCode.TooLarge);
    let rc: number;
    try {
      rc = s.evaluate(1);
    } catch {
      rc = -2;
    }
    if (rc !== 1) {
      this.reset();
      return this.decisions.error(ErrorCode.Trap);
    }
    return this.decode(s.resultPtr);
  }

  /** The decision of the 8-byte result at `at` (docs/abi.md, "Result region"). */
  private decode(at: number): Decision {
    const s = this.session;
    const bytes = s.results;
    return this.decisions.fromResult(bytes[at]!, bytes[at + 1]!, bytes[at + 2]! | (bytes[at + 3]! << 8), s.resultWords[(at + 4) >> 2]!);
  }

  /** Decides many actions with as few core calls as possible; same order as the input. */
  evaluateBatch(actions: readonly unknown[]): Decision[] {
    const out: Decision[] = new Array(actions.length);
    const s = this.session;
    let done = 0;
    while (done < actions.length) {
      let pos = s.inputStart;
      let count = 0;
      while (done + count < actions.length && count < s.resultCapacity) {
        const action = actions[done + count];
        let next = action === NOT_JSON
          ? (pos + RECORD_HEADER <= s.inputEnd ? s.encoder.writeStatus(pos, ErrorCode.NotJson) : NO_ROOM)
          : s.encoder.encode(action, pos, s.inputEnd);
        if (next === NO_ROOM) {
          if (count > 0) break; // flush, then encode this one in an empty region
          next = s.encoder.writeStatus(pos, ErrorCode.TooLarge);
        }
        pos = next;
        count++;
      }
      const decided = this.run(count);
      for (let i = 0; i < count; i++) out[done + i] = decided[i]!;
      done += count;
    }
    return out;
  }

  /** Decides JSON text lines (as `tollgate eval` does): a line that is not JSON is a deny with `error`. */
  evaluateLines(lines: readonly string[]): Decision[] {
    return this.evaluateBatch(lines.map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return NOT_JSON;
      }
    }));
  }

  private run(count: number): Decision[] {
    const s = this.session;
    const out: Decision[] = new Array(count);
    let rc: number;
    try {
      rc = s.evaluate(count);
    } catch {
      rc = -2;
    }
    if (rc !== count) {
      // A trap leaves the instance in an unknown state: decide these as errors, start afresh.
      for (let i = 0; i < count; i++) out[i] = this.decisions.error(ErrorCode.Trap);
      this.reset();
      return out;
    }
    for (let i = 0; i < count; i++) out[i] = this.decode(s.resultPtr + i * RESULT_SIZE);
    return out;
  }

  private reset(): void {
    try {
      const { core, rc, report } = compileInFreshCore(this.canonical);
      if (rc === 0) this.session = openSession(core, report as PolicyTable);
    } catch {
      // Keep the old session: every call on it fails closed the same way.
    }
  }
}

/** A new core instance with `canonical` compiled into it, and the compile report (docs/abi.md). */
function compileInFreshCore(canonical: string): { core: Core; rc: number; report: unknown } {
  const core = instantiateCore();
  const bytes = Buffer.from(canonical, "utf8");
  const ptr = core.manifest_buffer(bytes.length);
  new Uint8Array(core.memory.buffer, ptr, bytes.length).set(bytes);
  const rc = core.compile(bytes.length);
  return { core, rc, report: JSON.parse(readReport(core)) as unknown };
}

function openSession(core: Core, table: PolicyTable): CoreSession {
  const inputStart = core.input_ptr();
  const resultPtr = core.result_ptr();
  return {
    core,
    evaluate: core.evaluate,
    encoder: new ActionEncoder(table.fields, core.memory),
    inputStart,
    inputEnd: inputStart + core.input_capacity(),
    resultPtr,
    resultCapacity: core.result_capacity(),
    results: new Uint8Array(core.memory.buffer),
    resultWords: new Int32Array(core.memory.buffer),
  };
}

