"""Policy.explain in Python (no CLI, no Node): the decision is evaluate's, the tree names what each
test read (redacted where audit.redact says), a deny lists the closest allow rules, a policy with
counters is explained against its state and records nothing, and the first explain (which grows
the core's memory) leaves evaluate, evaluate_batch and step working. The same checks as
test/explain.test.ts; the JSON format itself is pinned by test/conformance/explain-*.yaml and
compared with Node's by test_explain_differential.py."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List

import pytest

from tollgate import Policy
from tollgate.engine import CoreTrap
from tollgate.explain import ABSENT, CLOSEST, failed_tests, seen_value

from conftest import BILLING_STATELESS, EXAMPLES

BILLING = EXAMPLES / "billing-agent.yaml"


@pytest.fixture(scope="module")
def stateless() -> Policy:
    return Policy.from_file(BILLING_STATELESS)


def refund(**args: Any) -> Dict[str, Any]:
    return {"tool": "payments.refund", "agent": {"id": "bot"}, "args": {"order_id": "ord_4821abcd", "currency": "EUR", **args}}


def rule(e: Dict[str, Any], rule_id: str) -> Dict[str, Any]:
    for r in e["rules"]:
        if r["id"] == rule_id:
            return r
    raise AssertionError(f"rule {rule_id} was not evaluated")


def fields(r: Dict[str, Any]) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []

    def visit(n: Dict[str, Any]) -> None:
        if n["kind"] == "field":
            out.append(n)
        elif n["kind"] != "counter":
            for c in n["children"]:
                visit(c)

    for w in r["when"]:
        for c in w["conditions"]:
            visit(c)
    return out


def field(r: Dict[str, Any], path: str) -> Dict[str, Any]:
    return next(f for f in fields(r) if f["path"] == path)


def test_decision_is_evaluates_for_every_test_action(stateless: Policy) -> None:
    assert stateless.tests
    for t in stateless.tests:
        assert stateless.explain(t["action"])["decision"] == stateless.evaluate(t["action"]).to_dict()


def test_deciding_rule_with_group_condition_operands_values_and_results(stateless: Policy) -> None:
    e = stateless.explain(refund(amount=49.9))
    assert e["decision"]["rule"] == "small-refund"
    r = rule(e, "small-refund")
    assert {k: r[k] for k in ("effect", "result", "decided", "failed", "pointer")} == {
        "effect": "allow", "result": "TRUE", "decided": True, "failed": 0, "pointer": "/rules/1/rules/5",
    }
    assert [(w["group"], w["result"], w["pointer"]) for w in r["when"]] == [
        ("payments", "TRUE", "/rules/1/when"),
        (None, "TRUE", "/rules/1/rules/5/when"),
    ]
    assert r["when"][0]["conditions"] == [{
        "kind": "field", "path": "tool", "value": "payments.refund", "result": "TRUE",
        "tests": [{"op": "prefix", "operand": "payments.", "result": "TRUE", "pointer": "/rules/1/when/tool/prefix"}],
        "pointer": "/rules/1/when/tool",
    }]
    amount = field(r, "args.amount")
    assert amount["value"] == 49.9
    assert [(t["op"], t["operand"], t["result"]) for t in amount["tests"]] == [("gt", 0, "TRUE"), ("lte", 200, "TRUE")]
    # only one rule decides; the others evaluated are there with their own results
    assert [x["id"] for x in e["rules"] if x["decided"]] == ["small-refund"]
    too_large = rule(e, "refund-too-large")
    assert (too_large["result"], too_large["decided"], too_large["failed"]) == ("FALSE", False, 1)
    assert e["closest"] == []
    assert "counters" not in e


def test_key_order_is_nodes(stateless: Policy) -> None:
    """json.dumps of an explanation writes Node's JSON.stringify key order."""
    e = stateless.explain(refund(order_id="4821", amount=20))
    assert list(e) == ["decision", "rules", "closest"]
    r = e["rules"][0]
    assert list(r) == ["id", "index", "effect", "result", "decided", "failed", "when", "pointer"]
    assert list(r["when"][0]) == ["group", "result", "conditions", "pointer"]
    f = field(rule(e, "small-refund"), "args.amount")
    assert list(f) == ["kind", "path", "value", "result", "tests", "pointer"]
    assert list(f["tests"][0]) == ["op", "operand", "result", "pointer"]
    c = e["closest"][0]
    assert list(c) == ["id", "index", "result", "failed", "tests"]
    assert list(c["tests"][0]) == ["path", "op", "operand", "value", "result", "pointer"]
    assert json.loads(json.dumps(e)) == e


def test_only_the_tool_index_candidates(stateless: Policy) -> None:
    ids = [r["id"] for r in stateless.explain(refund(amount=10))["rules"]]
    assert "no-raw-card-numbers" in ids
    assert "customer-lookup" not in ids
    assert "no-payouts" not in ids
    assert [r["index"] for r in stateless.explain(refund(amount=10))["rules"]] == sorted(
        r["index"] for r in stateless.explain(refund(amount=10))["rules"]
    )


def test_unknown_tests_and_absent_fields(stateless: Policy) -> None:
    e = stateless.explain(refund(amount="20"))
    d = e["decision"]
    assert (d["decision"], d["rule"], d["undetermined"]) == ("deny", "refund-too-large", True)
    amount = field(rule(e, "refund-too-large"), "args.amount")
    assert (amount["value"], amount["result"]) == ("20", "UNKNOWN")
    absent = field(rule(e, "repeat-refund"), "args.previous_refunds")
    assert "value" not in absent
    assert [(t["op"], t["result"]) for t in absent["tests"]] == [("exists", "FALSE"), ("gt", "UNKNOWN")]


def test_redacted_fields_show_redacted(stateless: Policy) -> None:
    e = stateless.explain({"tool": "customers.lookup", "args": {"card_number": "4111111111111111", "fields": ["name"]}})
    assert e["decision"]["rule"] == "no-raw-card-numbers"
    card = field(rule(e, "no-raw-card-numbers"), "args.card_number")
    assert (card["value"], card["result"]) == ("[redacted]", "TRUE")
    assert "4111111111111111" not in json.dumps(e)


def test_redacts_inside_an_object_value_and_under_a_redacted_path() -> None:
    p = Policy.from_yaml(
        "tollgate: 1\nname: r\naudit: { redact: [args.secret] }\nrules:\n"
        "  - { id: a, effect: allow, when: { args: { exists: true }, args.secret.x: { exists: true } } }\n"
    )
    action = {"args": {"secret": {"x": "s3cr3t"}, "other": 1}}
    e = p.explain(action)
    args, under = fields(e["rules"][0])
    assert args["value"] == {"secret": "[redacted]", "other": 1}
    assert under["value"] == "[redacted]"
    assert "s3cr3t" not in json.dumps(e)
    assert action == {"args": {"secret": {"x": "s3cr3t"}, "other": 1}}  # the action is not modified


def test_seen_value() -> None:
    redact = (("a", "b"), ("c",))
    assert seen_value({"a": {"b": 1, "k": 2}}, ("a",), redact) == {"b": "[redacted]", "k": 2}
    assert seen_value({"a": {"b": {"z": 1}}}, ("a", "b", "z"), redact) == "[redacted]"
    assert seen_value({"a": {"k": 2}}, ("a",), redact) == {"k": 2}
    assert seen_value({"a": "text"}, ("a",), redact) == "text"  # a path through a scalar redacts nothing
    assert seen_value({"a": [{"b": 1}]}, ("a",), redact) == [{"b": 1}]  # nor through an array
    assert seen_value({"c": None}, ("c",), redact) == "[redacted]"  # null is a present value
    assert seen_value({"a": {}}, ("a", "b"), redact) is ABSENT
    assert seen_value({"a": [1]}, ("a", "0"), redact) is ABSENT  # paths address object keys only
    assert seen_value("not an object", ("a",), redact) is ABSENT


def test_default_deny_lists_the_closest_allow_rules(stateless: Policy) -> None:
    e = stateless.explain(refund(order_id="4821", amount=20))
    d = e["decision"]
    assert (d["decision"], d["rule"]) == ("deny", None)
    first = e["closest"][0]
    assert (first["id"], first["failed"], first["result"]) == ("small-refund", 1, "FALSE")
    assert first["tests"] == [{
        "path": "args.order_id", "op": "matches", "operand": "^ord_[0-9a-z]{8,}$", "value": "4821", "result": "FALSE",
        "pointer": "/rules/1/rules/5/when/args.order_id/matches",
    }]
    assert all(len(c["tests"]) == c["failed"] for c in e["closest"])
    # only rules evaluated for the tool: read-invoices (payments.get_invoice...) is not
    assert [c["id"] for c in e["closest"]] == ["small-refund"]


def test_closest_is_capped_ordered_and_includes_an_allow_rule_that_held() -> None:
    rules = "".join(
        f"  - {{ id: allow-{i}, effect: allow, when: {{ tool: t, args.a: {{ gte: {i} }}, args.b: {{ lte: {10 - i} }} }} }}\n"
        for i in range(5)
    )
    p = Policy.from_yaml("tollgate: 1\nname: c\nrules:\n  - { id: no, effect: deny, reason: no, when: { tool: t, args.no: true } }\n" + rules)
    e = p.explain({"tool": "t", "args": {"a": 2, "b": 9, "no": False}})  # allow-0 and allow-1 hold; the rest fail 1 or 2
    assert e["decision"]["rule"] == "allow-0"
    assert e["closest"] == []  # an allow: none
    e = p.explain({"tool": "t", "args": {"a": 2, "b": 9, "no": True}})
    assert e["decision"]["rule"] == "no"
    assert len(e["closest"]) == CLOSEST
    assert [(c["id"], c["failed"], c["tests"]) for c in e["closest"][:2]] == [("allow-0", 0, []), ("allow-1", 0, [])]
    assert (e["closest"][2]["id"], e["closest"][2]["failed"]) == ("allow-2", 1)


def test_combinators_evaluate_every_child(stateless: Policy) -> None:
    e = stateless.explain({"tool": "customers.lookup", "args": {"card_number": "4111", "cvv": "1", "fields": ["name"]}})
    any_ = rule(e, "no-raw-card-numbers")["when"][0]["conditions"][0]
    assert any_["kind"] == "any"
    assert [(c["path"] if c["kind"] == "field" else c["kind"], c["result"]) for c in any_["children"]] == [
        ("args.card_number", "TRUE"), ("args.cvv", "TRUE"), ("args.note", "FALSE"),
    ]
    assert [(t["path"], t["op"]) for t in failed_tests(rule(e, "no-raw-card-numbers"))] == [
        ("args.note", "exists"), ("args.note", "matches"),
    ]


@pytest.mark.parametrize("action", ["not an object", [1, 2], None, {"args": {"amount": math.nan}}, {"tool": b"bytes"}])
def test_an_input_error_is_the_error_decision_with_nothing_evaluated(stateless: Policy, action: Any) -> None:
    e = stateless.explain(action)
    assert e["decision"] == stateless.evaluate(action).to_dict()
    assert e["decision"]["error"]
    assert (e["rules"], e["closest"]) == ([], [])


def test_a_policy_with_counters_is_explained_at_now_and_records_nothing() -> None:
    p = Policy.from_file(BILLING)
    a = refund(amount=100)
    p.evaluate(a, now=0)
    e = p.explain(a, now=1000)
    assert e["decision"]["rule"] == "small-refund"
    assert e["decision"]["counters"] == {"refunds_per_hour": 2, "refunded_per_day": 200}
    assert e["counters"] == [
        {"name": "refunded_per_day", "value": 200, "contribution": 100},
        {"name": "refunds_per_hour", "value": 2, "contribution": 1},
    ]
    budget = next(n for n in rule(e, "refund-daily-budget")["when"][1]["conditions"] if n["kind"] == "counter")
    assert (budget["counter"], budget["value"], budget["result"]) == ("refunded_per_day", 200, "FALSE")
    # the explanations recorded nothing: the next decision sees only the first
    assert dict(p.evaluate(a, now=1000).counters or {}) == {"refunds_per_hour": 2, "refunded_per_day": 200}
    fresh = Policy.from_file(BILLING)
    explained = fresh.explain(a, now=0)["decision"]
    assert explained["counters"] == {"refunds_per_hour": 1, "refunded_per_day": 100}
    # the decision lists them as evaluate does (declaration order)
    assert explained == fresh.evaluate(a, now=0).to_dict()
    assert list(explained["counters"]) == list(fresh.evaluate(a, now=0).to_dict()["counters"])


def test_counters_unknown_key_and_input_error() -> None:
    p = Policy.from_file(BILLING)
    e = p.explain({"tool": "payments.refund", "args": {"amount": 5}}, now=0)  # no agent: no key
    assert all(c["value"] is None for c in e["counters"])
    e = p.explain("not an object", now=0)
    assert e["decision"]["error"] and e["rules"] == [] and e["closest"] == []
    assert e["counters"] == [{"name": c.name, "value": None, "contribution": None} for c in p.counters]


def test_now_is_checked_and_an_adopted_state_refuses() -> None:
    p = Policy.from_file(BILLING)
    with pytest.raises(TypeError):
        p.explain(refund(amount=1), now="soon")  # type: ignore[arg-type]
    q = Policy.from_file(BILLING)
    q.adopt_state(p)
    with pytest.raises(RuntimeError):
        p.explain(refund(amount=1), now=0)
    assert q.explain(refund(amount=1), now=0)["decision"]["decision"] == "allow"


def test_evaluate_keeps_working_after_the_first_explain_grew_memory() -> None:
    p = Policy.from_file(BILLING_STATELESS)
    assert getattr(p, "_explain_ctx", None) is None  # evaluate never prepares explain
    before = p.evaluate(refund(amount=300))
    p.explain(refund(amount=300))
    assert p.evaluate(refund(amount=300)) == before
    assert [d.rule for d in p.evaluate_batch([refund(amount=1), refund(amount=300)])] == ["small-refund", "refund-needs-finance"]
    s = Policy.from_file(BILLING)
    steps = [s.step(refund(amount=10), now=0).decision.counters]
    s.explain(refund(amount=10), now=0)
    steps.append(s.step(refund(amount=10), now=0).decision.counters)
    steps.append(s.evaluate(refund(amount=10), now=0).counters)
    assert [dict(c or {}) for c in steps] == [
        {"refunds_per_hour": n, "refunded_per_day": 10 * n} for n in (1, 2, 3)
    ]


def test_after_a_trap_a_fresh_instance_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    p = Policy.from_file(BILLING_STATELESS)
    expected = p.explain(refund(amount=49.9))
    deciding = p._core  # type: ignore[attr-defined]
    core = p._explain_core  # type: ignore[attr-defined]  # explain compiles its own instance
    assert core is not deciding
    real = core.call

    def trap(name: str, *args: int) -> int:
        if name == "explain":
            raise CoreTrap("boom")
        return real(name, *args)

    monkeypatch.setattr(core, "call", trap)
    e = p.explain(refund(amount=49.9))
    assert e["decision"]["error"] and (e["rules"], e["closest"]) == ([], [])
    assert p.explain(refund(amount=49.9)) == expected  # a fresh instance prepares its own table
    assert p._explain_core is not core  # type: ignore[attr-defined]
    assert p._core is deciding  # type: ignore[attr-defined]  # deciding never used the trapped one
    assert p.evaluate(refund(amount=49.9)).rule == "small-refund"
