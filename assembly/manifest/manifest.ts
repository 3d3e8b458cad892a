// Validates a manifest (spec section 2) and compiles its rules. Every error is collected with its
// JSON pointer; a manifest with any error yields no program.

import {
  DECISION_ALLOW, DECISION_DENY, DECISION_ESCALATE, MAX_COUNTER_NAME_CHARS, MAX_COUNTERS, MAX_NAME_CHARS,
  MAX_PER_PATHS, MAX_REASON_CHARS, MAX_RULES, MAX_STEP_AT_MS, MAX_STEPS, MAX_WINDOW_MS,
} from "../abi";
import { child, childIndex, ErrorList } from "../common/diagnostics";
import { parsePath } from "../common/path";
import { didYouMean, listWords, misspelt } from "../common/suggest";
import { codePoints } from "../common/text";
import { condCost, ConditionCompiler, CounterNames } from "../compile/condition";
import { FieldTable } from "../compile/fields";
import { Cond, CondOp, Rule } from "../compile/program";
import { JKind, JValue } from "../json/value";
import { parseDuration } from "./duration";

// The keys of each kind of mapping and the ones it requires (a `*_KEYS` and its `*_REQUIRED`), and
// the words some keys take. scripts/gen-schema.mjs reads these declarations (and the operator
// table, compile/operators.ts) to generate schema/tollgate.schema.json: keep each one a plain
// array of string literals. Requirements that depend on another key (a deny rule's 'reason', an
// escalate rule's 'approver') are checked in readRule, and written as conditions in the schema.
const TOP_KEYS: Array<string> = ["tollgate", "name", "description", "default", "approvers", "audit", "counters", "rules", "tests"];
const TOP_REQUIRED: Array<string> = ["tollgate", "name", "rules"];
const COUNTER_KEYS: Array<string> = ["per", "window", "when", "sum"];
const COUNTER_REQUIRED: Array<string> = ["window"];
const APPROVER_KEYS: Array<string> = ["timeout", "on_timeout"];
const APPROVER_REQUIRED: Array<string> = ["timeout"];
const AUDIT_KEYS: Array<string> = ["redact"];
const RULE_KEYS: Array<string> = ["id", "effect", "when", "reason", "approver", "timeout", "description"];
const RULE_REQUIRED: Array<string> = ["id", "effect"];
const GROUP_KEYS: Array<string> = ["group", "when", "rules", "description"];
const GROUP_REQUIRED: Array<string> = ["rules"];
const TEST_KEYS: Array<string> = ["name", "action", "expect", "rule"];
const TEST_REQUIRED: Array<string> = ["name", "action", "expect"];
const SEQUENCE_TEST_KEYS: Array<string> = ["name", "steps"];
const SEQUENCE_TEST_REQUIRED: Array<string> = ["name"];
const STEP_KEYS: Array<string> = ["action", "expect", "rule", "at", "resolve"];
const STEP_REQUIRED: Array<string> = ["action", "expect"];
const RESOLUTIONS: Array<string> = ["approved", "denied"];
const EFFECTS: Array<string> = ["allow", "deny", "escalate"];
const DEFAULTS: Array<string> = ["allow", "deny"];

export class Approver {
  constructor(public name: string, public timeoutMs: f64, public onTimeout: string) {}
}

/** What hosts learn about a rule (the policy table of docs/abi.md). */
export class RuleInfo {
  id: string = "";
  effect: string = "";
  reason: string | null = null;
  approver: string | null = null;
  timeoutMs: f64 = 0;
  onTimeout: string = "deny";
}

/** A counter (spec section 8) as the core evaluates it and hosts learn it (the policy table). */
export class CounterInfo {
  name: string = "";
  windowMs: f64 = 0;
  per: Array<Array<string>> = [];
  perSlots: Array<i32> = [];
  sum: Array<string> | null = null;
  sumSlot: i32 = -1;
  /** Its `when` as a rule of one condition (none: always), compiled to flat code with the rules. */
  when: Rule = new Rule(-1, DECISION_ALLOW, new StaticArray<Cond>(0));
}

export class Manifest {
  name: string = "";
  defaultDecision: u8 = DECISION_DENY;
  approvers: Map<string, Approver> = new Map();
  approverNames: Array<string> = [];
  infos: Array<RuleInfo> = [];
  rules: Array<Rule> = [];
  redact: Array<Array<string>> = [];
  fields: FieldTable = new FieldTable();
  counters: Array<CounterInfo> = [];
  counterNames: CounterNames = new CounterNames();
}

function isCounterName(s: string): bool {
  if (s.length < 1 || s.length > MAX_COUNTER_NAME_CHARS) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f;
    if (!ok) return false;
  }
  return true;
}

function isIdentifier(s: string): bool {
  if (s.length < 1 || s.length > MAX_NAME_CHARS) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
      || c == 0x2e || c == 0x5f || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

function effectCode(effect: string): u8 {
  return effect == "allow" ? DECISION_ALLOW : effect == "deny" ? DECISION_DENY : DECISION_ESCALATE;
}

/**
 * A rule's effective condition as one flat conjunction (groups' and its own `all`s spliced in),
 * cheapest conjuncts first: Kleene AND is order-free, and a cheap FALSE skips the rest.
 */
function conjuncts(conds: Array<Cond>): Array<Cond> {
  const out = new Array<Cond>();
  for (let i = 0; i < conds.length; i++) splice(conds[i], out);
  out.sort((a: Cond, b: Cond): i32 => condCost(a) - condCost(b));
  return out;
}

function splice(c: Cond, out: Array<Cond>): void {
  if (c.op == CondOp.All) {
    for (let i = 0; i < c.children.length; i++) splice(c.children[i], out);
  } else out.push(c);
}

export class ManifestReader {
  errors: ErrorList = new ErrorList();
  m: Manifest = new Manifest();
  private conditions: ConditionCompiler = new ConditionCompiler(this.errors, this.m.fields, this.m.counterNames);
  private ruleIds: Map<string, string> = new Map();   // id -> pointer of first definition
  private groupNames: Map<string, string> = new Map();
  private ruleCount: i32 = 0;

  read(doc: JValue): bool {
    if (!doc.isObject) {
      this.errors.value("", "a policy must be a mapping with 'tollgate', 'name' and 'rules', not " + doc.typeName);
      return false;
    }
    this.unknownKeys(doc, "", TOP_KEYS, "policy");
    this.required(doc, "", TOP_REQUIRED, "policy", TOP_KEYS);

    const version = doc.get("tollgate");
    if (version != null) {
      if (!version.isNumber) {
        this.errors.value("/tollgate", "'tollgate' must be the integer 1 (the format version), not " + version.typeName);
      } else if (version.num != 1) {
        const n = version.num;
        // An integral version is shown as written (2, not 2.0).
        const shown = n == Math.floor(n) && Math.abs(n) < 1e15 ? (<i64>n).toString() : n.toString();
        this.errors.value("/tollgate", "unsupported format version " + shown + ": this engine reads 'tollgate: 1'");
      }
    }
    const name = doc.get("name");
    if (name != null) {
      if (!name.isString || !isIdentifier(name.str)) {
        this.errors.value("/name", "policy name must be 1-128 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
      } else this.m.name = name.str;
    }
    this.optionalString(doc, "", "description");
    const def = doc.get("default");
    if (def != null) {
      if (!def.isString || !DEFAULTS.includes(def.str)) {
        this.errors.value("/default", "'default' must be 'allow' or 'deny'" + (def.isString ? didYouMean(def.str, DEFAULTS) : ""));
      } else this.m.defaultDecision = effectCode(def.str);
    }
    const approvers = doc.get("approvers");
    if (approvers != null) this.readApprovers(approvers);
    const audit = doc.get("audit");
    if (audit != null) this.readAudit(audit);
    // Before the rules: they name counters, and the counters' fields take the first slots.
    const counters = doc.get("counters");
    if (counters != null) this.readCounters(counters);

    const rules = doc.get("rules");
    if (rules != null) {
      if (!rules.isArray) this.errors.value("/rules", "'rules' must be a list of rules and groups, not " + rules.typeName);
      else this.readRuleList(rules, "/rules", [], []);
      if (this.ruleCount > MAX_RULES) {
        this.errors.value("/rules", "the policy has " + this.ruleCount.toString() + " rules; the limit is " + MAX_RULES.toString());
      }
    }
    const tests = doc.get("tests");
    if (tests != null) this.readTests(tests);
    return this.errors.count == 0;
  }

  private unknownKeys(v: JValue, ptr: string, allowed: Array<string>, what: string): void {
    for (let i = 0; i < v.keys.length; i++) {
      const k = v.keys[i];
      if (!allowed.includes(k)) {
        this.errors.key(child(ptr, k), "unknown key '" + k + "' in " + what + didYouMean(k, allowed));
      }
    }
  }

  /** Missing keys of `keys` in `v` (whose known keys are `allowed`), each an error at `v` — but
   *  not a key an unknown key of `v` is the misspelling of: the unknown key's error says it (with
   *  "did you mean"), and a second error for one typo would only point away from it. */
  private required(v: JValue, ptr: string, keys: Array<string>, what: string, allowed: Array<string>): void {
    for (let i = 0; i < keys.length; i++) {
      if (v.indexOf(keys[i]) < 0 && !misspelt(v, keys[i], allowed)) this.errors.value(ptr, "missing required key '" + keys[i] + "' in " + what);
    }
  }

  private optionalString(v: JValue, ptr: string, key: string): void {
    const d = v.get(key);
    if (d != null && !d.isString) this.errors.value(child(ptr, key), "'" + key + "' must be a string, not " + d.typeName);
  }

  private readApprovers(v: JValue): void {
    if (!v.isObject) {
      this.errors.value("/approvers", "'approvers' must be a mapping of approver names to settings, not " + v.typeName);
      return;
    }
    for (let i = 0; i < v.keys.length; i++) {
      const name = v.keys[i];
      const settings = v.values[i];
      const ptr = child("/approvers", name);
      if (name.length == 0) this.errors.key(ptr, "approver name must not be empty");
      if (!settings.isObject) {
        this.errors.value(ptr, "approver '" + name + "' must be a mapping with 'timeout', not " + settings.typeName);
        continue;
      }
      this.unknownKeys(settings, ptr, APPROVER_KEYS, "approver '" + name + "'");
      this.required(settings, ptr, APPROVER_REQUIRED, "approver '" + name + "'", APPROVER_KEYS);
      let timeout: f64 = -1;
      const t = settings.get("timeout");
      if (t != null) timeout = this.duration(t, child(ptr, "timeout"));
      let onTimeout = "deny";
      const o = settings.get("on_timeout");
      if (o != null) {
        if (!o.isString || !DEFAULTS.includes(o.str)) {
          this.errors.value(child(ptr, "on_timeout"), "'on_timeout' must be 'deny' or 'allow'" + (o.isString ? didYouMean(o.str, DEFAULTS) : ""));
        } else onTimeout = o.str;
      }
      this.m.approvers.set(name, new Approver(name, timeout, onTimeout));
      this.m.approverNames.push(name);
    }
  }

  private duration(v: JValue, ptr: string): f64 {
    if (!v.isString) {
      this.errors.value(ptr, "a duration must be a string such as '30s', '15m' or '2h', not " + v.typeName);
      return -1;
    }
    const ms = parseDuration(v.str);
    if (ms < 0) {
      this.errors.value(ptr, "invalid duration '" + v.str + "': expected a positive integer followed by ms, s, m, h or d, at most 7 days");
    }
    return ms;
  }

  private readAudit(v: JValue): void {
    if (!v.isObject) {
      this.errors.value("/audit", "'audit' must be a mapping, not " + v.typeName);
      return;
    }
    this.unknownKeys(v, "/audit", AUDIT_KEYS, "audit");
    const redact = v.get("redact");
    if (redact == null) return;
    if (!redact.isArray) {
      this.errors.value("/audit/redact", "'redact' must be a list of field paths, not " + redact.typeName);
      return;
    }
    for (let i = 0; i < redact.items.length; i++) {
      const item = redact.items[i];
      const ptr = childIndex("/audit/redact", i);
      if (!item.isString) {
        this.errors.value(ptr, "a redacted field must be a field path (a string), not " + item.typeName);
        continue;
      }
      const path = parsePath(item.str);
      if (path.error != null) this.errors.value(ptr, <string>path.error);
      else this.m.redact.push(path.segments);
    }
  }

  /** `enclosing`: the enclosing groups' conditions; `whens`: the pointer of each one's `when`. */
  private readRuleList(list: JValue, ptr: string, enclosing: Array<Cond>, whens: Array<string>): void {
    for (let i = 0; i < list.items.length; i++) {
      const item = list.items[i];
      const p = childIndex(ptr, i);
      if (!item.isObject) {
        this.errors.value(p, "a rule or group must be a mapping, not " + item.typeName);
        continue;
      }
      if (item.indexOf("group") >= 0) this.readGroup(item, p, enclosing, whens);
      else this.readRule(item, p, enclosing, whens);
    }
  }

  private readGroup(g: JValue, ptr: string, enclosing: Array<Cond>, whens: Array<string>): void {
    this.unknownKeys(g, ptr, GROUP_KEYS, "group");
    this.required(g, ptr, GROUP_REQUIRED, "group", GROUP_KEYS);
    const name = g.get("group")!;
    if (!name.isString || name.str.length == 0) {
      this.errors.value(child(ptr, "group"), "group name must be a non-empty string");
    } else if (this.groupNames.has(name.str)) {
      this.errors.value(child(ptr, "group"), "duplicate group name '" + name.str + "' (first defined at " + this.groupNames.get(name.str) + ")");
    } else this.groupNames.set(name.str, ptr);
    this.optionalString(g, ptr, "description");
    const inner = enclosing.slice(0);
    const innerWhens = whens.slice(0);
    const when = g.get("when");
    if (when != null) {
      const c = this.conditions.condition(when, child(ptr, "when"), 1);
      if (c != null) {
        inner.push(c);
        innerWhens.push(child(ptr, "when"));
      }
    }
    const rules = g.get("rules");
    if (rules == null) return;
    if (!rules.isArray || rules.items.length == 0) {
      this.errors.value(child(ptr, "rules"), "a group's 'rules' must be a non-empty list of rules and groups");
      return;
    }
    this.readRuleList(rules, child(ptr, "rules"), inner, innerWhens);
  }

  private readRule(r: JValue, ptr: string, enclosing: Array<Cond>, whens: Array<string>): void {
    this.ruleCount++;
    const before = this.errors.count;
    this.unknownKeys(r, ptr, RULE_KEYS, "rule");
    this.required(r, ptr, RULE_REQUIRED, "rule", RULE_KEYS);
    const info = new RuleInfo();

    const id = r.get("id");
    if (id != null) {
      if (!id.isString || !isIdentifier(id.str)) {
        this.errors.value(child(ptr, "id"), "rule id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
      } else if (this.ruleIds.has(id.str)) {
        this.errors.value(child(ptr, "id"), "duplicate rule id '" + id.str + "' (first defined at " + this.ruleIds.get(id.str) + ")");
      } else {
        this.ruleIds.set(id.str, ptr);
        info.id = id.str;
      }
    }
    const effect = r.get("effect");
    if (effect != null) {
      if (!effect.isString || !EFFECTS.includes(effect.str)) {
        this.errors.value(child(ptr, "effect"), "'effect' must be " + listWords(EFFECTS) + (effect.isString ? didYouMean(effect.str, EFFECTS) : ""));
      } else info.effect = effect.str;
    }
    const isEscalate = info.effect == "escalate";
    const needsReason = info.effect == "deny" || isEscalate;

    const reason = r.get("reason");
    if (reason == null) {
      if (needsReason && !misspelt(r, "reason", RULE_KEYS)) this.errors.value(ptr, "missing required key 'reason' in " + info.effect + " rule");
    } else if (!reason.isString) {
      this.errors.value(child(ptr, "reason"), "'reason' must be a string, not " + reason.typeName);
    } else if (codePoints(reason.str) > MAX_REASON_CHARS) {
      this.errors.value(child(ptr, "reason"), "'reason' is longer than " + MAX_REASON_CHARS.toString() + " characters");
    } else info.reason = reason.str;
    this.optionalString(r, ptr, "description");

    const approver = r.get("approver");
    if (approver == null) {
      if (isEscalate && !misspelt(r, "approver", RULE_KEYS)) this.errors.value(ptr, "missing required key 'approver' in escalate rule");
    } else if (info.effect != "" && !isEscalate) {
      this.errors.key(child(ptr, "approver"), "'approver' is only allowed on escalate rules");
    } else if (!approver.isString) {
      this.errors.value(child(ptr, "approver"), "'approver' must name an approver declared under 'approvers', not " + approver.typeName);
    } else if (!this.m.approvers.has(approver.str)) {
      this.errors.value(child(ptr, "approver"), "unknown approver '" + approver.str + "': declare it under 'approvers'" + didYouMean(approver.str, this.m.approverNames));
    } else {
      const a = this.m.approvers.get(approver.str);
      info.approver = a.name;
      info.timeoutMs = a.timeoutMs;
      info.onTimeout = a.onTimeout;
    }
    const timeout = r.get("timeout");
    if (timeout != null) {
      if (info.effect != "" && !isEscalate) {
        this.errors.key(child(ptr, "timeout"), "'timeout' is only allowed on escalate rules");
      } else {
        const ms = this.duration(timeout, child(ptr, "timeout"));
        if (ms > 0) info.timeoutMs = ms;
      }
    }

    const conds = enclosing.slice(0);
    const ownWhens = whens.slice(0);
    const when = r.get("when");
    if (when != null) {
      const c = this.conditions.condition(when, child(ptr, "when"), 1);
      if (c != null) {
        conds.push(c);
        ownWhens.push(child(ptr, "when"));
      }
    }
    if (this.errors.count != before) return;
    const index = this.m.infos.length;
    this.m.infos.push(info);
    const rule = new Rule(index, effectCode(info.effect), StaticArray.fromArray<Cond>(conjuncts(conds)));
    // Kept for explain (eval/explain.ts): the `when`s as written, before splicing and sorting.
    rule.pointer = ptr;
    rule.whens = StaticArray.fromArray<Cond>(conds);
    rule.whenPointers = StaticArray.fromArray<string>(ownWhens);
    this.m.rules.push(rule);
  }

  /** A field path that is not a condition key: a `per` item or `sum`. Its parsed segments, or null. */
  private counterPath(v: JValue, ptr: string, what: string): Array<string> | null {
    if (!v.isString) {
      this.errors.value(ptr, what + " must be a field path (a string), not " + v.typeName);
      return null;
    }
    // `$x` means one thing only: a counter reference. An action key starting with '$' is ["$x"].
    if (v.str.length > 0 && v.str.charCodeAt(0) == 0x24) {
      let first = v.str;
      for (let i = 0; i < v.str.length; i++) {
        const c = v.str.charCodeAt(i);
        if (c == 0x2e || c == 0x5b) { first = v.str.substring(0, i); break; }
      }
      this.errors.value(ptr, "'" + v.str + "' is a counter reference, not a field path: an action key that starts with '$' is written [\"" + first + "\"]");
      return null;
    }
    const path = parsePath(v.str);
    if (path.error != null) {
      this.errors.value(ptr, <string>path.error);
      return null;
    }
    return path.segments;
  }

  private readCounters(v: JValue): void {
    if (!v.isObject) {
      this.errors.value("/counters", "'counters' must be a mapping of counter names to counters, not " + v.typeName);
      return;
    }
    const names = this.m.counterNames;
    // Every declared name (valid or not) can be referenced, so one bad counter is one error.
    for (let i = 0; i < v.keys.length; i++) {
      names.names.push(v.keys[i]);
      names.index.set(v.keys[i], i);
      names.referenced.push(false);
    }
    for (let i = 0; i < v.keys.length; i++) {
      const name = v.keys[i];
      const c = v.values[i];
      const ptr = child("/counters", name);
      if (i == MAX_COUNTERS) this.errors.key(ptr, "more than " + MAX_COUNTERS.toString() + " counters: the limit is " + MAX_COUNTERS.toString());
      if (!isCounterName(name)) {
        this.errors.key(ptr, "counter name must be 1-" + MAX_COUNTER_NAME_CHARS.toString() + " characters of A-Z, a-z, 0-9 or '_'");
      }
      const info = new CounterInfo();
      info.name = name;
      this.m.counters.push(info);
      if (!c.isObject) {
        this.errors.value(ptr, "counter '" + name + "' must be a mapping with 'window', not " + c.typeName);
        continue;
      }
      const what = "counter '" + name + "'";
      this.unknownKeys(c, ptr, COUNTER_KEYS, what);
      this.required(c, ptr, COUNTER_REQUIRED, what, COUNTER_KEYS);
      const w = c.get("window");
      if (w != null) {
        const wp = child(ptr, "window");
        if (!w.isString) {
          this.errors.value(wp, "a duration must be a string such as '30s', '15m' or '2h', not " + w.typeName);
        } else {
          info.windowMs = parseDuration(w.str, MAX_WINDOW_MS);
          if (info.windowMs < 0) {
            this.errors.value(wp, "invalid duration '" + w.str + "': expected a positive integer followed by ms, s, m, h or d, at most 30 days");
          }
        }
      }
      // Slots in the reference's order: the `when`'s fields, then `per`, then `sum`.
      const when = c.get("when");
      if (when != null) {
        names.inCounter = name;
        const cond = this.conditions.condition(when, child(ptr, "when"), 1);
        names.inCounter = null;
        if (cond != null) info.when = new Rule(-1, DECISION_ALLOW, StaticArray.fromArray<Cond>(conjuncts([cond])));
      }
      const per = c.get("per");
      if (per != null) {
        const pp = child(ptr, "per");
        if (!per.isArray) {
          this.errors.value(pp, "'per' must be a list of at most " + MAX_PER_PATHS.toString() + " field paths, not " + per.typeName);
        } else {
          if (per.items.length > MAX_PER_PATHS) {
            this.errors.value(pp, "'per' has " + per.items.length.toString() + " field paths; the limit is " + MAX_PER_PATHS.toString());
          }
          for (let k = 0; k < per.items.length; k++) {
            const segments = this.counterPath(per.items[k], childIndex(pp, k), "a 'per' item");
            if (segments != null) {
              info.per.push(segments);
              info.perSlots.push(this.m.fields.slotOf(segments));
            }
          }
        }
      }
      const sum = c.get("sum");
      if (sum != null) {
        const segments = this.counterPath(sum, child(ptr, "sum"), "'sum'");
        if (segments != null) {
          info.sum = segments;
          info.sumSlot = this.m.fields.slotOf(segments);
        }
      }
    }
  }

  private expectation(t: JValue, ptr: string, what: string): void {
    const action = t.get("action");
    if (action != null && !action.isObject) this.errors.value(child(ptr, "action"), what + " 'action' must be a mapping (an action object), not " + action.typeName);
    const expect = t.get("expect");
    if (expect != null && (!expect.isString || !EFFECTS.includes(expect.str))) {
      this.errors.value(child(ptr, "expect"), "'expect' must be " + listWords(EFFECTS) + (expect.isString ? didYouMean(expect.str, EFFECTS) : ""));
    }
    const rule = t.get("rule");
    // A rule id the policy does not define is not a manifest error (spec section 5 lists
    // those): the test runs and fails, which `tollgate test` reports (exit 1).
    if (rule != null && rule.kind != JKind.Null && !rule.isString) {
      this.errors.value(child(ptr, "rule"), what + " 'rule' must be a rule id or null, not " + rule.typeName);
    }
  }

  private readTests(v: JValue): void {
    if (!v.isArray) {
      this.errors.value("/tests", "'tests' must be a list, not " + v.typeName);
      return;
    }
    for (let i = 0; i < v.items.length; i++) {
      const t = v.items[i];
      const ptr = childIndex("/tests", i);
      if (!t.isObject) {
        this.errors.value(ptr, "a test must be a mapping with 'name', 'action' and 'expect' (or 'name' and 'steps'), not " + t.typeName);
        continue;
      }
      const name = t.get("name");
      if (name != null && !name.isString) this.errors.value(child(ptr, "name"), "test 'name' must be a string, not " + name.typeName);
      const steps = t.get("steps");
      if (steps == null) {
        this.unknownKeys(t, ptr, TEST_KEYS, "test");
        this.required(t, ptr, TEST_REQUIRED, "test", TEST_KEYS);
        this.expectation(t, ptr, "test");
        continue;
      }
      this.readSequence(t, ptr, steps);
    }
  }

  /** A sequence test (spec section 7): `name` and a non-empty list of steps in `at` order. */
  private readSequence(t: JValue, ptr: string, steps: JValue): void {
    for (let k = 0; k < t.keys.length; k++) {
      const key = t.keys[k];
      if (SEQUENCE_TEST_KEYS.includes(key)) continue;
      const hint = TEST_KEYS.includes(key)
        ? " (a sequence test gives 'action', 'expect' and 'rule' in each step)"
        : didYouMean(key, SEQUENCE_TEST_KEYS);
      this.errors.key(child(ptr, key), "unknown key '" + key + "' in sequence test" + hint);
    }
    this.required(t, ptr, SEQUENCE_TEST_REQUIRED, "test", SEQUENCE_TEST_KEYS);
    const sp = child(ptr, "steps");
    if (!steps.isArray || steps.items.length == 0) {
      this.errors.value(sp, "'steps' must be a non-empty list of steps, not " + (steps.isArray ? "an empty list" : steps.typeName));
      return;
    }
    if (steps.items.length > MAX_STEPS) {
      this.errors.value(sp, "the test has " + steps.items.length.toString() + " steps; the limit is " + MAX_STEPS.toString());
    }
    let lastMs: f64 = 0;
    let lastText = "0s";
    let lastIndex = 0; // the step lastMs is from (a step whose time is invalid is skipped)
    for (let k = 0; k < steps.items.length; k++) {
      const s = steps.items[k];
      const p = childIndex(sp, k);
      if (!s.isObject) {
        this.errors.value(p, "a step must be a mapping with 'action' and 'expect', not " + s.typeName);
        continue;
      }
      this.unknownKeys(s, p, STEP_KEYS, "step");
      this.required(s, p, STEP_REQUIRED, "step", STEP_KEYS);
      this.expectation(s, p, "step");
      const resolve = s.get("resolve");
      if (resolve != null) {
        const expect = s.get("expect");
        if (!resolve.isString || !RESOLUTIONS.includes(resolve.str)) {
          this.errors.value(child(p, "resolve"), "'resolve' must be " + listWords(RESOLUTIONS) + (resolve.isString ? didYouMean(resolve.str, RESOLUTIONS) : ""));
        } else if (expect == null || !expect.isString || expect.str != "escalate") {
          this.errors.key(child(p, "resolve"), "'resolve' is only allowed on a step whose 'expect' is 'escalate'");
        }
      }
      let ms: f64 = 0;
      let text = "0s";
      const at = s.get("at");
      if (at != null) {
        if (!at.isString) {
          this.errors.value(child(p, "at"), "'at' must be a duration such as '0s', '30s' or '2h', not " + at.typeName);
          continue;
        }
        ms = parseDuration(at.str, MAX_STEP_AT_MS, true);
        if (ms < 0) {
          this.errors.value(child(p, "at"), "invalid step time '" + at.str + "': expected 0 or a positive integer followed by ms, s, m, h or d, at most 365 days");
          continue;
        }
        text = at.str;
      }
      if (ms < lastMs) {
        const here = at != null ? child(p, "at") : p;
        const mine = at != null ? "'" + text + "'" : "time 0 (no 'at')";
        this.errors.value(here, "step " + k.toString() + " at " + mine + " is earlier than step " + lastIndex.toString() + " at '" + lastText + "': steps must be in non-decreasing 'at' order");
      }
      lastMs = ms;
      lastText = text;
      lastIndex = k;
    }
  }
}
