// Validates a manifest (spec section 2) and compiles its rules. Every error is collected with its
// JSON pointer; a manifest with any error yields no program.

import {
  DECISION_ALLOW, DECISION_DENY, DECISION_ESCALATE, MAX_NAME_CHARS, MAX_REASON_CHARS, MAX_RULES,
} from "../abi";
import { child, childIndex, ErrorList } from "../common/diagnostics";
import { parsePath } from "../common/path";
import { didYouMean, listWords } from "../common/suggest";
import { codePoints } from "../common/text";
import { condCost, ConditionCompiler } from "../compile/condition";
import { FieldTable } from "../compile/fields";
import { Cond, CondOp, Rule } from "../compile/program";
import { JKind, JValue } from "../json/value";
import { parseDuration } from "./duration";

const TOP_KEYS: Array<string> = ["tollgate", "name", "description", "default", "approvers", "audit", "rules", "tests"];
const APPROVER_KEYS: Array<string> = ["timeout", "on_timeout"];
const AUDIT_KEYS: Array<string> = ["redact"];
const RULE_KEYS: Array<string> = ["id", "effect", "when", "reason", "approver", "timeout", "description"];
const GROUP_KEYS: Array<string> = ["group", "when", "rules", "description"];
const TEST_KEYS: Array<string> = ["name", "action", "expect", "rule"];
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

export class Manifest {
  name: string = "";
  defaultDecision: u8 = DECISION_DENY;
  approvers: Map<string, Approver> = new Map();
  approverNames: Array<string> = [];
  infos: Array<RuleInfo> = [];
  rules: Array<Rule> = [];
  redact: Array<Array<string>> = [];
  fields: FieldTable = new FieldTable();
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
  private conditions: ConditionCompiler = new ConditionCompiler(this.errors, this.m.fields);
  private ruleIds: Map<string, string> = new Map();   // id -> pointer of first definition
  private groupNames: Map<string, string> = new Map();
  private ruleCount: i32 = 0;

  read(doc: JValue): bool {
    if (!doc.isObject) {
      this.errors.value("", "a policy must be a mapping with 'tollgate', 'name' and 'rules', not " + doc.typeName);
      return false;
    }
    this.unknownKeys(doc, "", TOP_KEYS, "policy");
    this.required(doc, "", ["tollgate", "name", "rules"], "policy");

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

    const rules = doc.get("rules");
    if (rules != null) {
      if (!rules.isArray) this.errors.value("/rules", "'rules' must be a list of rules and groups, not " + rules.typeName);
      else this.readRuleList(rules, "/rules", []);
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

  private required(v: JValue, ptr: string, keys: Array<string>, what: string): void {
    for (let i = 0; i < keys.length; i++) {
      if (v.indexOf(keys[i]) < 0) this.errors.value(ptr, "missing required key '" + keys[i] + "' in " + what);
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
      this.required(settings, ptr, ["timeout"], "approver '" + name + "'");
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

  private readRuleList(list: JValue, ptr: string, enclosing: Array<Cond>): void {
    for (let i = 0; i < list.items.length; i++) {
      const item = list.items[i];
      const p = childIndex(ptr, i);
      if (!item.isObject) {
        this.errors.value(p, "a rule or group must be a mapping, not " + item.typeName);
        continue;
      }
      if (item.indexOf("group") >= 0) this.readGroup(item, p, enclosing);
      else this.readRule(item, p, enclosing);
    }
  }

  private readGroup(g: JValue, ptr: string, enclosing: Array<Cond>): void {
    this.unknownKeys(g, ptr, GROUP_KEYS, "group");
    this.required(g, ptr, ["rules"], "group");
    const name = g.get("group")!;
    if (!name.isString || name.str.length == 0) {
      this.errors.value(child(ptr, "group"), "group name must be a non-empty string");
    } else if (this.groupNames.has(name.str)) {
      this.errors.value(child(ptr, "group"), "duplicate group name '" + name.str + "' (first defined at " + this.groupNames.get(name.str) + ")");
    } else this.groupNames.set(name.str, ptr);
    this.optionalString(g, ptr, "description");
    const inner = enclosing.slice(0);
    const when = g.get("when");
    if (when != null) {
      const c = this.conditions.condition(when, child(ptr, "when"), 1);
      if (c != null) inner.push(c);
    }
    const rules = g.get("rules");
    if (rules == null) return;
    if (!rules.isArray || rules.items.length == 0) {
      this.errors.value(child(ptr, "rules"), "a group's 'rules' must be a non-empty list of rules and groups");
      return;
    }
    this.readRuleList(rules, child(ptr, "rules"), inner);
  }

  private readRule(r: JValue, ptr: string, enclosing: Array<Cond>): void {
    this.ruleCount++;
    const before = this.errors.count;
    this.unknownKeys(r, ptr, RULE_KEYS, "rule");
    this.required(r, ptr, ["id", "effect"], "rule");
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
      if (needsReason) this.errors.value(ptr, "missing required key 'reason' in " + info.effect + " rule");
    } else if (!reason.isString) {
      this.errors.value(child(ptr, "reason"), "'reason' must be a string, not " + reason.typeName);
    } else if (codePoints(reason.str) > MAX_REASON_CHARS) {
      this.errors.value(child(ptr, "reason"), "'reason' is longer than " + MAX_REASON_CHARS.toString() + " characters");
    } else info.reason = reason.str;
    this.optionalString(r, ptr, "description");

    const approver = r.get("approver");
    if (approver == null) {
      if (isEscalate) this.errors.value(ptr, "missing required key 'approver' in escalate rule");
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
    const when = r.get("when");
    if (when != null) {
      const c = this.conditions.condition(when, child(ptr, "when"), 1);
      if (c != null) conds.push(c);
    }
    if (this.errors.count != before) return;
    const index = this.m.infos.length;
    this.m.infos.push(info);
    this.m.rules.push(new Rule(index, effectCode(info.effect), StaticArray.fromArray<Cond>(conjuncts(conds))));
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
        this.errors.value(ptr, "a test must be a mapping with 'name', 'action' and 'expect', not " + t.typeName);
        continue;
      }
      this.unknownKeys(t, ptr, TEST_KEYS, "test");
      this.required(t, ptr, ["name", "action", "expect"], "test");
      const name = t.get("name");
      if (name != null && !name.isString) this.errors.value(child(ptr, "name"), "test 'name' must be a string, not " + name.typeName);
      const action = t.get("action");
      if (action != null && !action.isObject) this.errors.value(child(ptr, "action"), "test 'action' must be a mapping (an action object), not " + action.typeName);
      const expect = t.get("expect");
      if (expect != null && (!expect.isString || !EFFECTS.includes(expect.str))) {
        this.errors.value(child(ptr, "expect"), "'expect' must be " + listWords(EFFECTS) + (expect.isString ? didYouMean(expect.str, EFFECTS) : ""));
      }
      const rule = t.get("rule");
      // A rule id the policy does not define is not a manifest error (spec section 5 lists
      // those): the test runs and fails, which `tollgate test` reports (exit 1).
      if (rule != null && rule.kind != JKind.Null && !rule.isString) {
        this.errors.value(child(ptr, "rule"), "test 'rule' must be a rule id or null, not " + rule.typeName);
      }
    }
  }
}
