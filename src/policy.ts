// The Policy API: load (YAML -> canonical JSON -> core compile), then evaluate actions.

import { MAX_COUNTERS, Messages, RECORD_HEADER, RESULT_SIZE, TRACE_ENTRY_SIZE } from "./abi.generated.js";
import { randomUUID } from "node:crypto";
import { canonicalJson, sha256Hex } from "./canonical.js";
import { counterDefinitions, counterInfos, CounterRegion, refText } from "./counters.js";
import type { CounterEntry, CounterInfo, ReadKey } from "./counters.js";
import { MemoryCounterStore } from "./state/memory-store.js";
import type { CounterHandle } from "./state/memory-store.js";
import type { Key, Resolution } from "./state/memory-store.js";
import { DecisionTable, ErrorCode } from "./decision.js";
import type { Decision, PolicyTable, RuleInfo } from "./decision.js";
import { instantiateCore, readReport } from "./engine.js";
import type { Core } from "./engine.js";
import { ActionEncoder, NO_ROOM } from "./encode.js";
import { buildExplanation } from "./explain.js";
import type { ExplainContext, Explanation } from "./explain.js";
import { inPositionOrder, PolicyError } from "./errors.js";
import { readPolicyFile } from "./policy-text.js";
import type { PolicyProblem } from "./errors.js";
import { escapeWrittenRaw, loadYaml, MAX_MANIFEST_BYTES } from "./yaml.js";
import type { Json, LoadedYaml } from "./yaml.js";

export interface LoadOptions {
  /** The name errors are reported against (default: `<policy>`). */
  filename?: string;
}

/** A policy test (spec section 7), as written in the manifest: one action, or a sequence of steps. */
export interface PolicyTest {
  name: string;
  action?: Record<string, unknown>;
  expect?: "allow" | "deny" | "escalate";
  /** The expected deciding rule; `undefined` when the test does not say. */
  rule?: string | null;
  steps?: PolicyTestStep[];
}

export interface PolicyTestStep {
  action: Record<string, unknown>;
  expect: "allow" | "deny" | "escalate";
  rule?: string | null;
  /** Time since the start of the test, as written (`30s`); absent = 0. */
  at?: string;
  resolve?: "approved" | "denied";
}

export interface EvaluateOptions {
  /** The decision's time in ms (spec section 8, "Time"); default: the host's clock. */
  now?: number;
}

export interface ExplainOptions extends EvaluateOptions {
  /**
   * A policy with counters: the window sums to explain with (as `decideWithCounters` takes them,
   * e.g. those a decision against a shared store read) instead of the in-memory state's at `now`.
   */
  sumOf?: (counter: string, key: Key, keyText: string) => number | undefined;
}

export interface StepOptions extends EvaluateOptions {
  /** The id under which an escalation's pending contributions wait (default: a fresh unique id:
   *  a random UUID drawn once per policy, then a sequence number). */
  pendingId?: string;
  /** The counter state to decide against and record into (default: the policy's own). */
  state?: MemoryCounterStore;
}

/** A decision of a policy with counters and what it recorded. */
export interface Step {
  decision: Decision;
  /** Contributions recorded at `now`: allowed, or pending on `pending` for an escalation. */
  entries: CounterEntry[];
  /** For an escalation that recorded something: the id to resolve it with (`Policy#resolve`). */
  pending: string | null;
  now: number;
}

/** A counter and key whose window sum a decision reads. */
export interface CounterRef {
  counter: string;
  key: Key;
  /** `encodeKey(key)`. */
  keyText?: string;
}

/** Reads the stored window sum of a counter and key (see `decideWithCounters`). */
type SumOf = (counter: string, key: Key, keyText: string, read: ReadKey, i: number) => number | undefined;

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
  /** The counter region (null for a stateless policy). */
  counters: CounterRegion | null;
}

/** The state of a policy whose counters another policy took over (`adoptState`): using it is a
 *  mistake that must not decide with stale sums, so it throws (as the Python host raises). */
class AdoptedState extends MemoryCounterStore {
  constructor(private readonly policyName: string) {
    super();
  }
  refuse(): never {
    throw new Error(`policy '${this.policyName}': its counter state was adopted by another policy (adoptState); decide with that one`);
  }
  override sum(): number {
    return this.refuse();
  }
  override record(): void {
    this.refuse();
  }
  override resolve(): boolean {
    return this.refuse();
  }
}

/** A sum the caller of `decideWithCounters` did not read: read again with the action's refs. */
export class MissingSum extends Error {
  constructor(readonly counter: string, readonly key: Key) {
    super(`no sum was read for counter '${counter}' under key ${JSON.stringify(key)}`);
  }
}

type CountersBuilder = (d: Decision, region: CounterRegion) => Decision;

/**
 * Decisions with the values of the counters a policy's rules read (`carried`: indexes, in
 * declaration order), placed before `policy` (docs/semantics.md). Generated builders: object
 * literals with fixed keys, several times faster than copying the template with rest/spread (a
 * quarter of a decision) or adding the counters one by one. One builder per shape of decision
 * (its keys), not per rule: a builder per rule would run rarely enough, for most rules, to stay
 * unoptimized (an escalation cost twice an allow). A counter named `__proto__` is a computed
 * key: written plainly, the literal would set the object's prototype instead.
 */
class CountersCarrier {
  private readonly byTemplate = new WeakMap<Decision, CountersBuilder>();
  private readonly byShape = new Map<string, CountersBuilder>();

  constructor(
    private readonly counters: readonly CounterInfo[],
    private readonly carried: readonly number[],
  ) {}

  carry(d: Decision, region: CounterRegion): Decision {
    let build = this.byTemplate.get(d);
    if (build === undefined) {
      const keys = Object.keys(d).filter((k) => k !== "policy" && k !== "counters");
      const shape = JSON.stringify(keys);
      build = this.byShape.get(shape);
      if (build === undefined) {
        const fields = keys.map((k) => `${JSON.stringify(k)}: d[${JSON.stringify(k)}]`).join(", ");
        const values = this.carried.map((i) => {
          const name = JSON.stringify(this.counters[i]!.name);
          return `${this.counters[i]!.name === "__proto__" ? `[${name}]` : name}: r.value(${i})`;
        }).join(", ");
        build = new Function("d", "r", `return Object.freeze({ ${fields}, "counters": Object.freeze({ ${values} }), "policy": d.policy });`) as CountersBuilder;
        this.byShape.set(shape, build);
      }
      this.byTemplate.set(d, build);
    }
    return build(d, region);
  }
}

export { refText };

/**
 * JSON.stringify's replacer for `Policy.fromObject`: what JSON cannot hold is an error, never
 * something else in its place (JSON.stringify writes NaN and the infinities as null, an array's
 * undefined, functions and symbols as null, a Date or any toJSON as what it returns, a Map or a
 * boxed number as an object): a manifest with `{ in: [1, NaN] }` would load as `[1, null]` and
 * decide differently from what was written. A property whose value is undefined is absent, as
 * in JSON.stringify (an object spread with `when: undefined` has no `when`).
 */
function onlyJson(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  switch (typeof raw) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(raw)) return value;
      break;
    case "undefined":
      if (!Array.isArray(this)) return value;
      break;
    case "object": {
      if (raw === null || Array.isArray(raw)) return value;
      const proto = Object.getPrototypeOf(raw) as unknown;
      if ((proto === Object.prototype || proto === null) && typeof (raw as { toJSON?: unknown }).toJSON !== "function") return value;
      break;
    }
  }
  throw new TypeError(`not JSON: ${key}`);
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
  /** The manifest's counters (spec section 8) in the core's order (sorted by name; decisions list
   *  them in declaration order); empty for a stateless policy. */
  readonly counters: readonly CounterInfo[];
  /** Whether any rule reads a counter (then decisions carry `counters`). */
  private readonly carries: boolean;
  /** Indexes of the referenced counters, in declaration order. */
  private readonly carried: number[];
  /** Adds the carried counters' values to decisions (null when no rule reads a counter). */
  private readonly carrier: CountersCarrier | null;
  private store: MemoryCounterStore | null;
  private pendingBase: string | null = null;
  private pendingSeq = 0;
  /** The in-memory store's handles of the counters (`stepInMemory`), for its table `handlesOf`. */
  private handlesOf: object | null = null;
  private handles: (CounterHandle | null)[] = [];
  /** The keys a decision with counters read, per group of counters (readCounterKeys; reused: a
   *  decision is synchronous). */
  private readonly readScratch: (ReadKey | null)[] = [];

  private session: CoreSession;
  private readonly decisions: DecisionTable;
  /** What explanations are built from, made on the first `explain` (null until then). */
  private explainContext: ExplainContext | null = null;
  /** The instance `explain` runs in: `session`'s instance loaded an image and has no rule trees
   *  (docs/abi.md, "Images"), so the first `explain` compiles the manifest into one of its own. */
  private explainSession: CoreSession | null = null;

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
    this.counters = Object.freeze(counterInfos(table.counters ?? [], manifest));
    this.carries = this.counters.some((c) => c.referenced);
    // Decisions list the counters in the order the manifest declares them (the core's are sorted).
    const position = new Map(declarationOrder(manifest).map((n, i) => [n, i]));
    this.carried = this.counters.flatMap((c, i) => (c.referenced ? [i] : []))
      .sort((a, b) => (position.get(this.counters[a]!.name) ?? 0) - (position.get(this.counters[b]!.name) ?? 0));
    this.carrier = this.carries ? new CountersCarrier(this.counters, this.carried) : null;
    this.store = this.counters.length > 0 ? new MemoryCounterStore(counterDefinitions(this.counters)) : null;
  }

  /** Whether the policy has counters (its decisions depend on earlier ones). */
  get stateful(): boolean {
    return this.counters.length > 0;
  }

  /** The in-memory counter state (null for a stateless policy). */
  get state(): MemoryCounterStore | null {
    return this.store;
  }

  /**
   * Takes over `previous`'s counter state (a reload, spec section 8 "Identity of state"): every
   * counter whose name and definition are unchanged keeps its recorded and pending contributions,
   * the others start empty. `previous` must not be used to decide afterwards.
   */
  adoptState(previous: Policy): void {
    const old = previous.store;
    if (previous === this || old === null || this.store === null) return;
    if (old instanceof AdoptedState) old.refuse();
    old.retain(counterDefinitions(this.counters));
    this.store = old;
    previous.store = new AdoptedState(previous.name); // deciding with it now throws, never decides stale
  }

  /** Loads a policy file. Throws PolicyError (with file:line:column) if it is not valid. */
  static fromFile(path: string): Policy {
    const text = readPolicyFile(path);
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
      text = JSON.stringify(manifest, onlyJson, 2);
    } catch {
      text = undefined;
    }
    if (text === undefined) {
      throw new PolicyError([{ file: options.filename ?? "<policy>", line: 1, column: 1, message: Messages.notRepresentable }]);
    }
    // JSON.stringify writes DEL, the C1 controls and U+FFFE/U+FFFF as they are, which a YAML
    // text may not hold (src/yaml.ts): in JSON they can only be inside strings, where an escape
    // says the same.
    return Policy.fromYaml(escapeWrittenRaw(text), options);
  }

  /**
   * Loads a manifest from JSON text without the YAML parser: `JSON.stringify` of a manifest
   * already parsed (e.g. a validated YAML file cached by its hook, src/hook/policy-cache.ts) gives
   * the same policy as that YAML — hash, decisions, counters in declaration order. The core
   * validates it as always. Any other text (not exactly what `JSON.stringify` writes: indented,
   * duplicate keys, not JSON) is loaded by `fromYaml` (JSON is YAML), whose errors point into it.
   */
  static fromJson(text: string, options: LoadOptions = {}): Policy {
    let value: unknown;
    let json = false; // the text is JSON: what YAML may not hold raw can only be inside its strings
    try {
      value = Buffer.byteLength(text, "utf8") > MAX_MANIFEST_BYTES ? undefined : JSON.parse(text);
      json = value !== undefined;
      if (JSON.stringify(value) !== text) value = undefined;
    } catch {
      value = undefined;
    }
    if (value !== undefined) {
      const positions = (): never => {
        throw new Error("positions come from the YAML path");
      };
      try {
        return Policy.compile({ value: value as Json, locate: positions }, options.filename ?? "<policy>");
      } catch {
        // an error: the YAML path reports it, with positions
      }
    }
    return Policy.fromYaml(json ? escapeWrittenRaw(text) : text, options);
  }

  private static compile(yaml: LoadedYaml, file: string): Policy {
    const canonical = canonicalJson(yaml.value);
    const { core, rc, report } = compileInFreshCore(canonical);
    if (rc !== 0) {
      const declared = documentOrder(declarationOrder(yaml.value), yaml);
      const problems: PolicyProblem[] = (report as { errors: { pointer: string; at: "key" | "value"; message: string }[] }).errors
        .map((e) => ({ file, ...yaml.locate(tooManyCounters(e, declared), e.at), message: e.message }));
      throw new PolicyError(inPositionOrder(problems));
    }
    const table = report as PolicyTable;
    const counters = counterInfos(table.counters ?? [], yaml.value as Record<string, unknown>);
    return new Policy(canonical, openSession(core, table.fields, counters), table, yaml.value as Record<string, unknown>);
  }

  /**
   * Decides one action. Never throws: an action that cannot be evaluated is a deny with `error`.
   * A policy with counters decides at `options.now` (default: now) against its in-memory state
   * and records the decision's contributions there (see `step`).
   */
  evaluate(action: unknown, options?: EvaluateOptions): Decision {
    if (this.store !== null) return this.step(action, options).decision;
    const s = this.session;
    const pos = s.encoder.encode(action, s.inputStart, s.inputEnd);
    if (pos === NO_ROOM) s.encoder.writeStatus(s.inputStart, ErrorCode.TooLarge);
    if (!this.callCore(1)) return this.decisions.error(ErrorCode.Trap);
    return this.decode(s.resultPtr);
  }

  /**
   * Decides one action at `now` against the policy's in-memory counter state and records its
   * contributions there (spec section 8): an allow records, an escalation records them pending
   * on `pending` (resolve it with `resolve`), a deny records nothing. One synchronous step, so
   * nothing can interleave. For a stateless policy it is `evaluate` with nothing recorded.
   */
  step(action: unknown, options: StepOptions = {}): Step {
    const now = options.now ?? Date.now();
    if (typeof now !== "number" || Number.isNaN(now)) throw new TypeError("now must be a number of milliseconds");
    const store = this.store === null ? null : options.state ?? this.store;
    if (store instanceof AdoptedState) store.refuse();
    if (store === null) return { decision: this.evaluate(action), entries: [], pending: null, now };
    if (store.table !== this.handlesOf) {
      this.handles = store.handles(this.counters.map((c) => c.name));
      this.handlesOf = store.table;
    }
    // A store without one of the counters: the general path says so, as it always has.
    const decided = this.handles.includes(null)
      ? this.decideWithCounters(action, (counter, _key, keyText, read, i) => store.sumMemo(counter, keyText, now, read.memo, i))
      : this.stepInMemory(store, action, now);
    let pending: string | null = null;
    if (decided.entries.length > 0) {
      const d = decided.decision;
      if (d.decision === "escalate") {
        pending = options.pendingId ?? this.pendingId();
        store.record(decided.entries, now, { id: pending, expiresAt: now + d.timeout_ms!, onTimeout: d.on_timeout! });
      } else {
        store.record(decided.entries, now);
      }
    }
    return { decision: decided.decision, entries: decided.entries, pending, now };
  }

  /**
   * `decideWithCounters` reading the sums from an in-memory store at `now` (which has every
   * counter: `this.handles` holds no null): the same decision and
   * entries, without what the general path pays per decision for any store (a closure, a lookup
   * of each counter by name, a check of the time and of the clock per counter, arrays per call).
   * The clock moves at the first sum read, as `sumMemo` moves it.
   */
  private stepInMemory(store: MemoryCounterStore, action: unknown, now: number): { decision: Decision; entries: CounterEntry[] } {
    const s = this.session;
    const region = s.counters!;
    if (this.readCounterKeys(s, region, action)) {
      const read = this.readScratch;
      const counters = this.counters;
      const groupOf = region.groupOf;
      const handles = this.handles;
      let timed = false;
      for (let i = 0; i < counters.length; i++) {
        const r = read[groupOf[i]!]!;
        let sum = 0;
        if (r !== null && counters[i]!.referenced) {
          if (!timed) {
            store.at(now);
            timed = true;
          }
          sum = store.sumAt(handles[i]!, r.text, r.memo, i);
        }
        region.setSum(i, sum);
      }
    }
    return this.decideCounted(s, region, this.callCore(1));
  }

  /**
   * The first half of a decision with counters: encodes `action` into session `s` and reads each
   * group's key into `readScratch` (null: UNKNOWN; counters with the same `per` paths share one
   * key). False when the record has an error status: no key is read, and no sum is to be written.
   */
  private readCounterKeys(s: CoreSession, region: CounterRegion, action: unknown): boolean {
    const pos = s.encoder.encode(action, s.inputStart, s.inputEnd);
    if (pos === NO_ROOM) s.encoder.writeStatus(s.inputStart, ErrorCode.TooLarge);
    const ok = s.encoder.statusAt(s.inputStart) === 0;
    const read = this.readScratch;
    for (let g = 0; g < region.groups; g++) read[g] = ok ? region.readKey(s.inputStart, g) : null;
    return ok;
  }

  /** The second half, once the sums are written and the core has run (`ran`: it did not trap):
   *  the decision with the counters it carries, and the contributions to record. */
  private decideCounted(s: CoreSession, region: CounterRegion, ran: boolean): { decision: Decision; entries: CounterEntry[] } {
    if (!ran) return { decision: this.decisions.error(ErrorCode.Trap), entries: [] };
    let decision = this.decode(s.resultPtr, s);
    if (decision.error !== undefined) return { decision, entries: [] };
    if (this.carrier !== null) decision = this.carrier.carry(decision, region);
    return { decision, entries: region.recorded(this.readScratch) };
  }

  /** A new pending id: unique as a UUID is (its random part is one), without drawing 122 random
   *  bits per escalation (randomUUID, and hashing its text into the store's maps, was most of
   *  an escalation's extra cost). */
  private pendingId(): string {
    if (this.pendingBase === null || this.pendingSeq >= 0xffffffff) {
      this.pendingBase = `${randomUUID()}.`;
      this.pendingSeq = 0;
    }
    return this.pendingBase + (this.pendingSeq++).toString(16);
  }

  /** Decides from now on against `state` (e.g. one rebuilt from an audit log). */
  useState(state: MemoryCounterStore): void {
    if (this.store === null) throw new Error(`policy '${this.name}' has no counters`);
    state.retain(counterDefinitions(this.counters));
    this.store = state;
  }

  /** A new, empty counter state for this policy's counters (each sequence test starts with one). */
  newState(): MemoryCounterStore {
    return new MemoryCounterStore(counterDefinitions(this.counters));
  }

  /** Approves or denies the pending contributions of an escalation at `at` (default: now).
   *  False when there is nothing (left) to resolve (spec section 8, "Recording"). */
  resolve(pending: string, resolution: Resolution, at: number = Date.now()): boolean {
    return this.store?.resolve(pending, resolution, at) ?? false;
  }

  /**
   * The counters and keys whose sums a decision of `action` reads (referenced counters with a
   * known key): what a decider with a shared store reads first. Empty for a stateless policy or
   * an action that cannot be evaluated.
   */
  counterRefs(action: unknown): CounterRef[] {
    const s = this.session;
    const region = s.counters;
    if (region === null) return [];
    const pos = s.encoder.encode(action, s.inputStart, s.inputEnd);
    if (pos === NO_ROOM || s.encoder.statusAt(s.inputStart) !== 0) return [];
    const refs: CounterRef[] = [];
    const read: (ReadKey | null | undefined)[] = new Array(region.groups);
    for (let i = 0; i < this.counters.length; i++) {
      if (!this.counters[i]!.referenced) continue;
      const g = region.groupOf[i]!;
      let r = read[g];
      if (r === undefined) r = read[g] = region.readKey(s.inputStart, g);
      if (r !== null) refs.push({ counter: this.counters[i]!.name, key: r.key, keyText: r.text });
    }
    return refs;
  }

  /**
   * Decides `action` with the window sums a caller read from its store (`sumOf(counter, key)`),
   * recording nothing: a decider with a shared store commits `entries` itself (src/state/
   * shared-store.ts). `sumOf` returning undefined (a key the caller did not read) gives null:
   * read again. `sumOf` also gets the key as read (with a memo for the store) and the counter's
   * index.
   */
  decideWithCounters(action: unknown, sumOf: SumOf): { decision: Decision; entries: CounterEntry[]; keys: (Key | null)[] } {
    return this.withCounters(this.session, action, sumOf, () => this.callCore(1));
  }

  /** decideWithCounters in session `s` with `call` running the core on the record (evaluate, or explain). */
  private withCounters(s: CoreSession, action: unknown, sumOf: SumOf, call: () => boolean): { decision: Decision; entries: CounterEntry[]; keys: (Key | null)[] } {
    const region = s.counters;
    if (region === null) return { decision: this.evaluate(action), entries: [], keys: [] };
    const ok = this.readCounterKeys(s, region, action);
    const read = this.readScratch;
    const n = this.counters.length;
    const keys: (Key | null)[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = read[region.groupOf[i]!]!;
      keys[i] = r === null ? null : r.key;
      if (!ok) continue;
      let sum = 0;
      const c = this.counters[i]!;
      if (r !== null && c.referenced) {
        const v = sumOf(c.name, r.key, r.text, r, i);
        if (v === undefined) throw new MissingSum(c.name, r.key);
        sum = v;
      }
      region.setSum(i, sum);
    }
    return { ...this.decideCounted(s, region, call()), keys };
  }

  /**
   * Why `action` gets its decision (docs/abi.md, "Explain"): the decision (equal to `evaluate`'s),
   * every rule evaluated for it with each test's result and the value it saw (`audit.redact`
   * paths shown as "[redacted]"), and for a deny the allow rules that came closest. A policy with
   * counters explains against its in-memory state at `options.now`, recording nothing.
   */
  explain(action: unknown, options: ExplainOptions = {}): Explanation {
    const ctx = this.prepareExplain();
    const s = this.explainSession!;
    const now = options.now ?? Date.now();
    let count = 0;
    let trapped = false;
    const call = (): boolean => {
      let rc: number;
      try {
        rc = s.core.explain();
      } catch {
        rc = -2;
      }
      if (rc >= 0) {
        count = rc;
        return true;
      }
      trapped = true;
      return false;
    };
    let decision: Decision;
    const region = s.counters;
    if (region === null) {
      const pos = s.encoder.encode(action, s.inputStart, s.inputEnd);
      if (pos === NO_ROOM) s.encoder.writeStatus(s.inputStart, ErrorCode.TooLarge);
      decision = call() ? this.decode(s.resultPtr, s) : this.decisions.error(ErrorCode.Trap);
    } else {
      const store = this.store!;
      if (options.sumOf === undefined && store instanceof AdoptedState) store.refuse();
      decision = this.withCounters(s, action, options.sumOf ?? ((counter, _key, keyText, read, i) => store.sumMemo(counter, keyText, now, read.memo, i)), call).decision;
    }
    // After a trap the explaining instance is suspect: the next explain compiles a fresh one.
    if (trapped) {
      this.explainSession = null;
      this.explainContext = null;
      count = 0;
    }
    const core = s.core;
    const known = decision.error === undefined && region !== null;
    const rule = decision.rule === null ? -1 : this.rules.findIndex((r) => r.id === decision.rule);
    const values = this.counters.map((_c, i) => (known ? region.value(i) : null));
    const counters = region === null ? undefined : this.counters.map((c, i) => ({
      // A counter no rule reads has no window sum read: its value is not known (null), not its
      // contribution alone.
      name: c.name, value: known && c.referenced ? region.value(i) : null, contribution: known ? region.contribution(i) : null,
    }));
    const bytes = new DataView(core.memory.buffer, core.explain_ptr(), count * TRACE_ENTRY_SIZE);
    return buildExplanation(ctx, bytes, count, action, decision, rule, values, counters);
  }

  /** The explaining instance and its explain table, made on first use (docs/abi.md, "Explain"). */
  private prepareExplain(): ExplainContext {
    if (this.explainContext !== null && this.explainSession !== null) return this.explainContext;
    const { core, rc } = compileCore(this.canonical);
    if (rc !== 0) throw new Error("explain: the core rejected a manifest it compiled before");
    const len = core.explain_prepare();
    if (len < 0) throw new Error("explain: the core has no compiled policy");
    this.explainSession = openSession(core, this.fields, this.counters); // after the growth
    const text = Buffer.from(core.memory.buffer, core.explain_table_ptr(), len).toString("utf8");
    this.explainContext = {
      manifest: JSON.parse(this.canonical) as unknown,
      rules: this.rules,
      fields: this.fields,
      redact: this.redact,
      counterNames: this.counters.map((c) => c.name),
      pointers: JSON.parse(text) as string[],
    };
    return this.explainContext;
  }

  /** The decision of the 8-byte result at `at` of session `s` (docs/abi.md, "Result region"). */
  private decode(at: number, s: CoreSession = this.session): Decision {
    const bytes = s.results;
    return this.decisions.fromResult(bytes[at]!, bytes[at + 1]!, bytes[at + 2]! | (bytes[at + 3]! << 8), s.resultWords[(at + 4) >> 2]!);
  }

  /** Decides many actions with as few core calls as possible; same order as the input. A policy
   *  with counters decides them one after the other, each at `options.now` (default: now). */
  evaluateBatch(actions: readonly unknown[], options?: EvaluateOptions): Decision[] {
    const out: Decision[] = new Array(actions.length);
    if (this.store !== null) {
      for (let i = 0; i < actions.length; i++) {
        const a = actions[i];
        out[i] = a === NOT_JSON ? this.decisions.error(ErrorCode.NotJson) : this.step(a, options ?? {}).decision;
      }
      return out;
    }
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
  evaluateLines(lines: readonly string[], options?: EvaluateOptions): Decision[] {
    return this.evaluateBatch(lines.map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return NOT_JSON;
      }
    }), options);
  }

  private run(count: number): Decision[] {
    const s = this.session;
    const out: Decision[] = new Array(count);
    if (!this.callCore(count)) {
      for (let i = 0; i < count; i++) out[i] = this.decisions.error(ErrorCode.Trap);
      return out;
    }
    for (let i = 0; i < count; i++) out[i] = this.decode(s.resultPtr + i * RESULT_SIZE);
    return out;
  }

  /**
   * The core's `evaluate` on `count` records in the input region; false when it trapped or
   * refused them. A trap leaves the instance in an unknown state, so a fresh one replaces it.
   */
  private callCore(count: number): boolean {
    let rc: number;
    try {
      rc = this.session.evaluate(count);
    } catch {
      rc = -2;
    }
    if (rc === count) return true;
    this.reset();
    return false;
  }

  private reset(): void {
    try {
      const { core, rc, report } = compileInFreshCore(this.canonical);
      if (rc === 0) this.session = openSession(core, (report as PolicyTable).fields, this.counters);
    } catch {
      // Keep the old session: every call on it fails closed the same way.
    }
  }
}

/** The counter names in the order the manifest declares them (canonical JSON sorts them). */
function declarationOrder(manifest: unknown): string[] {
  const counters = (manifest as { counters?: unknown } | null)?.counters;
  return counters !== null && typeof counters === "object" && !Array.isArray(counters) ? Object.keys(counters) : [];
}

/**
 * Counter names in the order the document writes them: a parsed mapping enumerates integer-like
 * keys ("7", "2024") first, whatever their place in the file.
 */
function documentOrder(names: readonly string[], yaml: LoadedYaml): string[] {
  const at = names.map((name) => ({ name, ...yaml.locate("/counters/" + name.replaceAll("~", "~0").replaceAll("/", "~1"), "key") }));
  return inPositionOrder(at).map((x) => x.name);
}

/**
 * The core sees the counters in canonical (sorted) order; "more than 64 counters" is reported at
 * the 65th counter the manifest declares (spec section 8), so the host points there.
 */
function tooManyCounters(e: { pointer: string; message: string }, declared: readonly string[]): string {
  if (!e.message.startsWith(`more than ${MAX_COUNTERS} counters`) || declared.length <= MAX_COUNTERS) return e.pointer;
  return "/counters/" + declared[MAX_COUNTERS]!.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * The instance a policy decides with, and the compile report (docs/abi.md): `canonical` is
 * compiled in a throw-away instance and a fresh one loads its evaluation image (docs/abi.md,
 * "Images"), so everything compiling allocated (the stub runtime frees nothing) goes with the
 * throw-away instance. When compiling fails, the compiling instance (its report has the errors).
 */
function compileInFreshCore(canonical: string): { core: Core; rc: number; report: unknown } {
  const compiled = compileCore(canonical);
  if (compiled.rc !== 0) return compiled;
  const from = compiled.core;
  const len = from.image_size();
  const core = instantiateCore();
  const at = core.image_buffer(len);
  new Uint8Array(core.memory.buffer, at, len).set(new Uint8Array(from.memory.buffer, from.image_ptr(), len));
  if (core.load_image(len) !== 0) throw new Error("the core refused the image it wrote");
  return { core, rc: 0, report: compiled.report };
}

/** A new core instance with `canonical` compiled into it (it can explain), and the compile report. */
function compileCore(canonical: string): { core: Core; rc: number; report: unknown } {
  const core = instantiateCore();
  const bytes = Buffer.from(canonical, "utf8");
  const ptr = core.manifest_buffer(bytes.length);
  new Uint8Array(core.memory.buffer, ptr, bytes.length).set(bytes);
  const rc = core.compile(bytes.length);
  return { core, rc, report: JSON.parse(readReport(core)) as unknown };
}

function openSession(core: Core, fields: readonly (readonly string[])[], counters: readonly CounterInfo[]): CoreSession {
  const inputStart = core.input_ptr();
  const resultPtr = core.result_ptr();
  return {
    core,
    evaluate: core.evaluate,
    encoder: new ActionEncoder(fields, core.memory),
    inputStart,
    inputEnd: inputStart + core.input_capacity(),
    resultPtr,
    resultCapacity: core.result_capacity(),
    results: new Uint8Array(core.memory.buffer),
    resultWords: new Int32Array(core.memory.buffer),
    counters: counters.length > 0 ? new CounterRegion(counters, fields, core.memory, core.counter_ptr()) : null,
  };
}

