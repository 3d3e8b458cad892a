"""Counters in the Python host (spec section 8; docs/abi.md, "Counters"), bullet by bullet, as the
Node host behaves (src/counters.ts, src/policy.ts, src/policy-tests.ts), and a cross-host
differential: generated manifests with counters and generated sequences replayed through the
Node host (tests/counters_replay.mjs on build/dist/src/index.js, skipped when the build is
missing) and through this one, decision for decision (key order included), entry for entry.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tollgate import (
    CounterInfo,
    Decision,
    MemoryCounterStore,
    MissingSum,
    Policy,
    PolicyError,
    Step,
    run_policy_tests,
)
from tollgate import engine as engine_mod
from tollgate.canonical import canonicalize
from tollgate.counters import CounterEntry, CounterRef, js_key_order, js_number, ref_text
from tollgate.policy_tests import step_time_ms

REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "python" / "tests" / "counters_replay.mjs"
NODE_INDEX = REPO / "build" / "dist" / "src" / "index.js"

needs_node = pytest.mark.skipif(
    not (NODE_INDEX.exists() and shutil.which("node")),
    reason=f"the Node host is not built ({NODE_INDEX.relative_to(REPO)} is missing; run `npm run build`)",
)


def load(text: str) -> Policy:
    return Policy.from_yaml(textwrap.dedent(text))


def counters_of(d: Decision) -> Optional[Dict[str, Any]]:
    return None if d.counters is None else dict(d.counters)


LIMIT = """
tollgate: 1
name: limit
approvers:
  ops: { timeout: 15m }
  lenient: { timeout: 10m, on_timeout: allow }
counters:
  n: { window: 1h, per: [agent], when: { tool: refund } }
  spent: { window: 1h, per: [agent], when: { tool: refund }, sum: args.amount }
rules:
  - { id: rate, effect: deny, reason: more than 3, when: { tool: refund, $n: { gt: 3 } } }
  - { id: budget, effect: deny, reason: over 1000, when: { tool: refund, $spent: { gt: 1000 } } }
  - { id: big, effect: escalate, approver: ops, reason: big, when: { tool: refund, args.amount: { gt: 500 } } }
  - { id: medium, effect: escalate, approver: lenient, reason: medium, when: { tool: refund, args.amount: { gt: 200 } } }
  - { id: refund, effect: allow, when: { tool: refund } }
"""


def refund(amount: Any = 1, agent: Any = "a") -> Dict[str, Any]:
    return {"tool": "refund", "agent": agent, "args": {"amount": amount}}


# --- the ABI and the policy table -----------------------------------------------------------


def test_the_core_reports_its_counters() -> None:
    p = load(LIMIT)
    assert engine_mod.SUPPORTED_ABI >= 2  # counters came with ABI 2 (docs/abi.md)
    assert p._core.counter_count == 2 and p._core.counter_ptr > 0
    assert p.stateful and isinstance(p.state, MemoryCounterStore) and isinstance(p, Policy)
    assert [c.name for c in p.counters] == ["n", "spent"]
    n, spent = p.counters
    assert isinstance(n, CounterInfo)
    assert (n.window_ms, n.per, n.sum, n.referenced) == (3_600_000, (("agent",),), None, True)
    assert spent.sum == ("args", "amount")


def test_a_stateless_policy_is_untouched() -> None:
    p = load("tollgate: 1\nname: s\nrules: [{ id: ok, effect: allow }]\n")
    assert p._core.counter_count == 0 and p._core.counter_ptr == 0
    assert not p.stateful and p.state is None and p.counters == ()
    d = p.evaluate({"tool": "x"}, now=5)
    assert d.counters is None and "counters" not in d.to_dict()
    assert p.step({"tool": "x"}, now=5) == Step(d, [], None, 5)
    assert p.counter_refs({"tool": "x"}) == []
    assert p.decide_with_counters({"tool": "x"}, lambda c, k: None).decision is d
    assert p.resolve("nothing", "approved", 0) is False
    assert p.new_state().size().entries == 0


def test_definition_and_digest_are_node_s() -> None:
    # The texts Node's counterInfos gives (src/counters.ts): canonical [per, window_ms, when, sum].
    p = load("""
        tollgate: 1
        name: t
        counters:
          z: { window: 1h, when: { tool: x }, per: [agent] }
          "10": { window: 60m }
          "2": { window: 1h, sum: args.n }
        rules: [{ id: r, effect: deny, reason: r, when: { $z: { gt: 1 } } }]
    """)
    got = {c.name: (c.definition, c.digest) for c in p.counters}
    assert got == {
        "10": ("[[],3600000,null,null]", "273748e293d55335"),
        "2": ('[[],3600000,null,["args","n"]]', "f6ea1c29786b6886"),
        "z": ('[[["agent"]],3600000,{"tool":"x"},null]', "edde3f497e0ae43d"),
    }
    assert [c.name for c in p.counters] == ["10", "2", "z"]  # the core's (canonical) order


def test_definition_ignores_how_it_is_written() -> None:
    a = load("""
        tollgate: 1
        name: t
        counters: { c: { window: 1h, per: [a.b], when: { tool: x, args.n: { gt: 1 } } } }
        rules: []
    """)
    b = load("""
        tollgate: 1
        name: t
        counters: { c: { when: { args.n: { gt: 1 }, tool: x }, per: ['["a"].b'], window: 60m } }
        rules: []
    """)
    assert a.counters[0].definition == b.counters[0].definition
    assert a.counters[0].digest == b.counters[0].digest


# --- names and references -------------------------------------------------------------------


def test_decisions_carry_referenced_counters_in_node_s_order() -> None:
    p = load("""
        tollgate: 1
        name: t
        default: allow
        counters:
          zeta: { window: 1h }
          "7": { window: 1h }
          alpha: { window: 1h }
          unread: { window: 1h }
        rules:
          - { id: r, effect: deny, reason: r, when: { tool: never, $alpha: 1, $zeta: 1, $7: 1 } }
    """)
    d = p.evaluate({"tool": "x"}, now=0)
    # Declaration order as JavaScript lists object keys: an array index ("7") first.
    assert list(d.counters) == ["7", "zeta", "alpha"]
    assert list(d.to_dict()) == ["decision", "rule", "reason", "undetermined", "counters", "policy"]
    assert d.to_dict()["counters"] == {"7": 1, "zeta": 1, "alpha": 1}
    assert js_key_order(["b", "10", "a", "2", "01", "4294967295", "4294967294"]) == [
        "2", "10", "4294967294", "b", "a", "01", "4294967295"
    ]


def test_counters_come_before_policy_in_an_escalation() -> None:
    p = load(LIMIT)
    d = p.evaluate(refund(900), now=0)
    assert list(d.to_dict()) == [
        "decision", "rule", "reason", "undetermined", "approver", "timeout_ms", "on_timeout", "counters", "policy"
    ]
    assert d.to_dict()["counters"] == {"n": 1, "spent": 900}


def test_every_test_applies_to_the_value_as_to_a_number() -> None:
    def decide(test: Any, stored: int) -> str:
        p = load(f"""
            tollgate: 1
            name: t
            default: allow
            counters: {{ c: {{ window: 1h, when: {{ tool: add }} }} }}
            rules: [{{ id: r, effect: deny, reason: r, when: {{ tool: probe, $c: {json.dumps(test)} }} }}]
        """)
        for _ in range(stored):
            p.evaluate({"tool": "add"}, now=0)
        d = p.evaluate({"tool": "probe"}, now=0)
        assert d.counters == {"c": stored}
        return "UNKNOWN" if d.undetermined else ("TRUE" if d.decision == "deny" else "FALSE")

    assert decide({"gt": 1}, 2) == "TRUE" and decide({"gt": 2}, 2) == "FALSE"
    assert decide({"lte": 2}, 2) == "TRUE" and decide({"lt": 2}, 2) == "FALSE"
    assert decide(2, 2) == "TRUE" and decide("2", 2) == "FALSE"
    assert decide([1, 2], 2) == "TRUE" and decide({"not_in": [1, 2]}, 2) == "FALSE"
    assert decide({"exists": True}, 0) == "TRUE" and decide({"exists": False}, 0) == "FALSE"
    assert decide({"prefix": "2"}, 2) == "UNKNOWN" and decide({"len": {"gte": 0}}, 2) == "UNKNOWN"


def test_an_unknown_value_makes_every_test_unknown_exists_included() -> None:
    p = load("""
        tollgate: 1
        name: t
        default: allow
        counters: { k: { window: 1h, per: [agent] } }
        rules:
          - { id: e, effect: deny, reason: e, when: { tool: e, $k: { exists: true } } }
          - { id: a, effect: deny, reason: a, when: { tool: a, $k: { exists: false } } }
          - { id: ok, effect: allow, when: { tool: ok, $k: { gte: 0 } } }
    """)
    for tool in ("e", "a"):
        d = p.evaluate({"tool": tool}, now=0)
        assert (d.rule, d.undetermined, d.counters) == (tool, True, {"k": None})
    d = p.evaluate({"tool": "ok"}, now=0)
    assert (d.decision, d.rule) == ("allow", None)  # UNKNOWN does not allow
    assert p.evaluate({"tool": "ok", "agent": "x"}, now=0).rule == "ok"


def test_an_action_key_starting_with_dollar_is_reached_with_brackets() -> None:
    p = load("""
        tollgate: 1
        name: t
        default: allow
        counters: { n: { window: 1h } }
        rules:
          - { id: r, effect: deny, reason: r, when: { '["$n"]': { exists: true, gt: 0 } } }
          - { id: c, effect: deny, reason: c, when: { $n: { gt: 100 } } }
    """)
    assert p.evaluate({"$n": 5}, now=0).rule == "r"
    assert p.evaluate({"$n": 0}, now=0).decision == "allow"


def test_error_decisions_carry_no_counters_and_record_nothing() -> None:
    p = load(LIMIT)
    for bad in ("not an object", [1], {"tool": "refund", "agent": "a", "args": {"amount": math.nan}}):
        s = p.step(bad, now=0)
        assert s.decision.error is not None and s.decision.counters is None and s.entries == [] and s.pending is None
    assert p.evaluate_json('{"tool": ', now=0).error == "input is not valid JSON"
    assert p.evaluate_lines(["{", "[]"], now=0)[1].error == "action is not a JSON object"
    assert p.evaluate(refund(), now=0).counters == {"n": 1, "spent": 1}


# --- contribution -----------------------------------------------------------------------------


def test_contribution_with_and_without_sum() -> None:
    p = load(LIMIT)
    s = p.step(refund(250), now=0)
    assert s.decision.counters == {"n": 1, "spent": 250}
    assert s.entries == [CounterEntry("n", ["a"], 1), CounterEntry("spent", ["a"], 250)]
    s = p.step(refund(0.5), now=0)
    assert s.decision.counters == {"n": 2, "spent": 250.5}
    s = p.step(refund(0), now=0)  # 0 is known and records nothing
    assert s.decision.counters == {"n": 3, "spent": 250.5}
    assert s.entries == [CounterEntry("n", ["a"], 1)]
    s = p.step({"tool": "other", "agent": "a"}, now=0)  # when FALSE: 0, even without the sum path
    assert s.decision.counters == {"n": 3, "spent": 250.5} and s.entries == []


@pytest.mark.parametrize("amount", [-5, "5", None, True, [5], {"v": 5}, -1e-300])
def test_a_negative_absent_or_non_number_amount_is_unknown(amount: Any) -> None:
    p = load(LIMIT)
    p.evaluate(refund(100), now=0)
    s = p.step(refund(amount), now=0)
    assert s.decision.counters == {"n": 2, "spent": None}
    assert (s.decision.rule, s.decision.undetermined) == ("budget", True)
    assert s.entries == []  # a deny records nothing
    assert p.evaluate(refund(1), now=0).counters == {"n": 2, "spent": 101}


def test_an_absent_amount_is_unknown() -> None:
    p = load(LIMIT)
    s = p.step({"tool": "refund", "agent": "a"}, now=0)
    assert s.decision.counters == {"n": 1, "spent": None} and s.decision.undetermined


def test_minus_zero_counts_zero() -> None:
    p = load(LIMIT)
    s = p.step(refund(-0.0), now=0)
    assert s.decision.counters == {"n": 1, "spent": 0}
    assert s.entries == [CounterEntry("n", ["a"], 1)]


def test_an_unknown_when_is_an_unknown_contribution_recorded_nowhere() -> None:
    p = load("""
        tollgate: 1
        name: t
        default: allow
        counters:
          big: { window: 1h, when: { args.amount: { gt: 100 } } }
          all: { window: 1h }
        rules: [{ id: show, effect: allow, when: { tool: never, $big: 1, $all: 1 } }]
    """)
    s = p.step({"tool": "x"}, now=0)
    assert s.decision.counters == {"big": None, "all": 1}
    assert s.entries == [CounterEntry("all", [], 1)]
    assert p.evaluate({"tool": "x", "args": {"amount": 200}}, now=0).counters == {"big": 1, "all": 2}


# --- keys -----------------------------------------------------------------------------------------


def test_numbers_and_strings_are_different_keys_numbers_compare_as_doubles() -> None:
    p = load(LIMIT)
    assert p.evaluate(refund(1, agent=1), now=0).counters["n"] == 1
    assert p.evaluate(refund(1, agent="1"), now=0).counters["n"] == 1
    assert p.evaluate(refund(1, agent=1.0), now=0).counters["n"] == 2
    assert p.evaluate(refund(1, agent=0), now=0).counters["n"] == 1
    assert p.evaluate(refund(1, agent=-0.0), now=0).counters["n"] == 2
    assert p.evaluate(refund(1, agent=2**53 + 1), now=0).counters["n"] == 1
    assert p.evaluate(refund(1, agent=float(2**53)), now=0).counters["n"] == 2
    s = p.step(refund(1, agent=2.5), now=0)
    assert s.entries[0].key == [2.5]
    s = p.step(refund(1, agent=-0.0), now=0)
    assert s.entries[0].key == [0] and type(s.entries[0].key[0]) is int  # as JSON.parse gives it


@pytest.mark.parametrize("agent", [True, False, None, ["a"], {"id": "a"}])
def test_a_key_of_another_type_is_unknown(agent: Any) -> None:
    p = load(LIMIT)
    s = p.step(refund(1, agent=agent), now=0)
    assert s.decision.counters == {"n": None, "spent": None}
    assert (s.decision.rule, s.decision.undetermined) == ("rate", True)


def test_an_unknown_key_leaves_the_value_unknown_even_with_a_zero_contribution() -> None:
    p = load(LIMIT)
    s = p.step({"tool": "other"}, now=0)
    assert s.decision.counters == {"n": None, "spent": None}  # when FALSE, key absent


def test_keys_are_read_from_the_record() -> None:
    p = load(LIMIT)
    s = p.step(refund(1, agent="x\ud800y"), now=0)  # a lone surrogate is U+FFFD in the record
    assert s.entries[0].key == ["x\ufffdy"]
    assert p.evaluate(refund(1, agent="x\udc00y"), now=0).counters["n"] == 2
    assert p.counter_refs(refund(1, agent="\ud83d\ude00")) == [
        CounterRef("n", ["\U0001F600"]), CounterRef("spent", ["\U0001F600"])
    ]


def test_keys_are_per_counter_and_per_paths() -> None:
    p = load("""
        tollgate: 1
        name: t
        default: allow
        counters:
          one: { window: 1h, per: [agent] }
          two: { window: 1h, per: [agent], when: { tool: w } }
          pair: { window: 1h, per: [agent, session] }
          all: { window: 1h, per: [] }
        rules: [{ id: show, effect: allow, when: { tool: never, $one: 1, $two: 1, $pair: 1, $all: 1 } }]
    """)
    p.evaluate({"tool": "w", "agent": "ab", "session": "c"}, now=0)
    d = p.evaluate({"tool": "r", "agent": "a", "session": "bc"}, now=0)
    assert d.counters == {"one": 1, "two": 0, "pair": 1, "all": 2}
    d = p.evaluate({"tool": "w", "agent": "ab", "session": "c"}, now=0)
    assert d.counters == {"one": 2, "two": 2, "pair": 2, "all": 3}


# --- value and windows -----------------------------------------------------------------------


def test_a_contribution_stops_counting_at_t_plus_window_exactly() -> None:
    p = load(LIMIT)
    p.evaluate(refund(1), now=1000)
    assert p.evaluate(refund(1), now=1000 + 3_599_999).counters["n"] == 2
    assert p.evaluate(refund(1), now=1000 + 3_600_000).counters["n"] == 2  # the first left
    assert p.evaluate(refund(1), now=1000 + 7_199_999).counters["n"] == 2
    assert p.evaluate(refund(1), now=10**13).counters["n"] == 1


def test_same_time_actions_are_ordered_by_arrival_and_a_deny_spends_nothing() -> None:
    p = load(LIMIT)
    got = [p.evaluate(refund(1), now=0) for _ in range(6)]
    assert [d.decision for d in got] == ["allow"] * 3 + ["deny"] * 3
    assert [d.counters["n"] for d in got] == [1, 2, 3, 4, 4, 4]


def test_the_default_clock_is_the_host_s_in_ms() -> None:
    import time

    p = load(LIMIT)
    before = time.time_ns() // 1_000_000
    s = p.step(refund(1))
    after = time.time_ns() // 1_000_000
    assert before <= s.now <= after and isinstance(s.now, int)
    assert p.state.clock == s.now  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        p.step(refund(1), now="0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p.step(refund(1), now=math.nan)
    with pytest.raises(TypeError):
        p.evaluate(refund(1), now=True)  # type: ignore[arg-type]


def test_a_time_before_the_store_s_clock_is_taken_at_the_clock() -> None:
    p = load(LIMIT)
    p.evaluate(refund(1), now=3_600_000)
    assert p.evaluate(refund(1), now=0).counters["n"] == 2  # at 3_600_000, not 0


# --- recording ---------------------------------------------------------------------------------


def test_an_escalation_records_pending_approved_stays() -> None:
    p = load(LIMIT)
    s = p.step(refund(600), now=0, pending_id="apr-1")
    assert s.decision.decision == "escalate" and s.pending == "apr-1"
    assert s.entries == [CounterEntry("n", ["a"], 1), CounterEntry("spent", ["a"], 600)]
    assert p.evaluate(refund(1), now=1).counters == {"n": 2, "spent": 601}
    assert p.resolve("apr-1", "approved", 2) is True
    assert p.resolve("apr-1", "denied", 3) is False  # the first resolution stands
    assert p.evaluate(refund(1), now=15 * 60_000).counters == {"n": 3, "spent": 602}
    # the approved one keeps its time: it leaves at 0 + 1h
    assert p.evaluate(refund(1), now=3_600_000).counters == {"n": 3, "spent": 3}


def test_a_denied_escalation_is_removed() -> None:
    p = load(LIMIT)
    s = p.step(refund(600), now=0)
    assert isinstance(s.pending, str) and len(s.pending) == 36  # a fresh UUID
    assert p.resolve(s.pending, "denied", 1) is True
    assert p.evaluate(refund(1), now=1).counters == {"n": 1, "spent": 1}


def test_an_unresolved_escalation_expires_into_on_timeout() -> None:
    p = load(LIMIT)
    p.step(refund(600, agent="d"), now=0, pending_id="d")  # ops: 15m, on_timeout deny
    p.step(refund(300, agent="l"), now=0, pending_id="l")  # lenient: 10m, on_timeout allow
    assert p.evaluate(refund(1, agent="d"), now=899_999).counters == {"n": 2, "spent": 601}
    assert p.evaluate(refund(1, agent="d"), now=900_000).counters == {"n": 2, "spent": 2}
    assert p.resolve("d", "approved", 900_000) is False  # too late
    assert p.evaluate(refund(1, agent="l"), now=900_000).counters == {"n": 2, "spent": 301}


def test_a_deny_and_an_error_record_nothing() -> None:
    p = load(LIMIT)
    for _ in range(3):
        p.evaluate(refund(1), now=0)
    s = p.step(refund(1), now=0)
    assert s.decision.rule == "rate" and s.entries == [] and s.pending is None
    assert p.state.size().entries == 6  # type: ignore[union-attr]


def test_an_escalation_that_records_nothing_has_no_pending() -> None:
    p = load("""
        tollgate: 1
        name: t
        approvers: { ops: { timeout: 1m } }
        counters: { c: { window: 1h, when: { tool: x } } }
        rules: [{ id: e, effect: escalate, approver: ops, reason: e, when: { $c: { gte: 0 } } }]
    """)
    s = p.step({"tool": "y"}, now=0)
    assert s.decision.decision == "escalate" and s.entries == [] and s.pending is None


def test_a_pending_id_cannot_be_reused_while_held() -> None:
    p = load(LIMIT)
    p.step(refund(600), now=0, pending_id="x")
    with pytest.raises(ValueError):
        p.step(refund(600, agent="b"), now=0, pending_id="x")


def test_step_into_another_state() -> None:
    p = load(LIMIT)
    state = p.new_state()
    p.step(refund(1), now=0, state=state)
    p.step(refund(1), now=0, state=state)
    assert p.evaluate(refund(1), now=0).counters["n"] == 1  # the policy's own state is untouched
    assert p.step(refund(1), now=0, state=state).decision.counters["n"] == 3
    assert state.size().entries == 6


def test_evaluate_batch_and_lines_decide_one_after_the_other() -> None:
    p = load(LIMIT)
    got = p.evaluate_batch([refund(1)] * 5, now=0)
    assert [d.counters["n"] for d in got] == [1, 2, 3, 4, 4]
    got = p.evaluate_lines(['{"tool":"refund","agent":"b","args":{"amount":1}}', "{", "[]"] * 2, now=0)
    assert [d.counters["n"] if d.counters else d.error for d in got] == [
        1, "input is not valid JSON", "action is not a JSON object", 2, "input is not valid JSON",
        "action is not a JSON object",
    ]
    assert p.evaluate_batch([], now=0) == []


# --- identity of state ---------------------------------------------------------------------------


def test_adopt_state_keeps_unchanged_counters() -> None:
    old = load(LIMIT)
    old.evaluate(refund(100), now=0)
    new = load(LIMIT.replace("sum: args.amount", "sum: args.total").replace("more than 3", "more than three"))
    new.adopt_state(old)
    d = new.evaluate({"tool": "refund", "agent": "a", "args": {"total": 5}}, now=1)
    assert d.counters == {"n": 2, "spent": 5}  # n kept, spent (a new definition) started empty
    assert old.state is None
    with pytest.raises(RuntimeError):
        old.evaluate(refund(1), now=2)
    assert old.resolve("x", "approved", 2) is False
    stateless = load("tollgate: 1\nname: s\nrules: []\n")
    stateless.adopt_state(new)  # nothing to adopt into: a no-op
    assert new.state is not None


def test_use_state_decides_against_another_store() -> None:
    p = load(LIMIT)
    p.evaluate(refund(1), now=0)
    store = p.new_state()
    p.step(refund(1), now=0, state=store)
    p.use_state(store)
    assert p.state is store
    assert p.evaluate(refund(1), now=0).counters["n"] == 2
    with pytest.raises(RuntimeError):
        load("tollgate: 1\nname: s\nrules: []\n").use_state(store)


# --- a shared store's side: counter_refs and decide_with_counters -------------------------------


def test_counter_refs_lists_referenced_counters_with_known_keys() -> None:
    p = load("""
        tollgate: 1
        name: t
        counters:
          a: { window: 1h, per: [agent] }
          b: { window: 1h, per: [session] }
          c: { window: 1h }
        rules: [{ id: r, effect: deny, reason: r, when: { $a: { gt: 1 }, $b: { gt: 1 } } }]
    """)
    assert p.counter_refs({"agent": "x", "session": 5}) == [CounterRef("a", ["x"]), CounterRef("b", [5])]
    assert p.counter_refs({"agent": "x"}) == [CounterRef("a", ["x"])]
    assert p.counter_refs([1]) == []
    assert ref_text("a", ["x", 1.0]) == "a\u0000s1:xn1;"


def test_decide_with_counters_reads_sums_and_records_nothing() -> None:
    p = load(LIMIT)
    sums = {("n", "a"): 3.0, ("spent", "a"): 10.0}
    got = p.decide_with_counters(refund(1), lambda c, k: sums.get((c, k[0])))
    assert (got.decision.rule, got.decision.counters) == ("rate", {"n": 4, "spent": 11})
    assert got.entries == [] and got.keys == [["a"], ["a"]]
    got = p.decide_with_counters(refund(1), lambda c, k: 0.0)
    assert got.decision.decision == "allow" and len(got.entries) == 2
    assert p.state.size().entries == 0  # type: ignore[union-attr]
    with pytest.raises(MissingSum) as info:
        p.decide_with_counters(refund(1, agent="z"), lambda c, k: None)
    assert (info.value.counter, info.value.key) == ("n", ["z"])
    bad = p.decide_with_counters("x", lambda c, k: None)  # an error reads no sum
    assert bad.decision.error == "action is not a JSON object" and bad.keys == [None, None]


# --- atomicity and failures ------------------------------------------------------------------------


def test_concurrent_actions_of_one_key_yield_exactly_the_limit() -> None:
    p = load("""
        tollgate: 1
        name: t
        default: allow
        counters: { n: { window: 1h, per: [agent] } }
        rules: [{ id: limit, effect: deny, reason: limit, when: { $n: { gt: 50 } } }]
    """)
    start = threading.Barrier(8)

    def run(i: int) -> List[str]:
        if i < 8:
            start.wait()
        return [p.evaluate({"agent": "a"}, now=0).decision for _ in range(125)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [d for chunk in pool.map(run, range(8)) for d in chunk]
    assert len(results) == 1000 and results.count("allow") == 50


def test_a_trap_fails_closed_records_nothing_and_a_fresh_instance_takes_over(monkeypatch: pytest.MonkeyPatch) -> None:
    p = load(LIMIT)
    p.evaluate(refund(1), now=0)
    core = p._core

    def trap(count: int) -> int:
        raise engine_mod.CoreTrap("boom")

    monkeypatch.setattr(core, "evaluate", trap)
    s = p.step(refund(1), now=0)
    assert s.decision.error == "evaluation failed inside the engine" and s.entries == []
    assert p._core is not core
    assert p.evaluate(refund(1), now=0).counters == {"n": 2, "spent": 2}


# --- errors with positions ------------------------------------------------------------------------


def test_more_than_64_counters_is_reported_at_the_65th_declared() -> None:
    names = [f"c{i:02d}" for i in range(64, -1, -1)]
    text = "tollgate: 1\nname: t\ncounters:\n" + "".join(f"  {n}: {{ window: 1h }}\n" for n in names) + "rules: []\n"
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(text)
    assert [(e.line, e.column, e.message) for e in info.value.errors] == [
        (68, 3, "more than 64 counters: the limit is 64")
    ]


def test_more_than_64_counters_counts_in_document_order() -> None:
    # "5", the last one written, is the 65th declared (JavaScript would list it first).
    names = [f"c{i:02d}" for i in range(64)] + ["5"]
    text = "tollgate: 1\nname: t\ncounters:\n" + "".join(f"  '{n}': {{ window: 1h }}\n" for n in names) + "rules: []\n"
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(text)
    assert [(e.line, e.column) for e in info.value.errors] == [(68, 3)]


def test_counter_errors_have_positions() -> None:
    text = "tollgate: 1\nname: t\ncounters:\n  c: { window: 31d, per: [$x] }\nrules:\n  - { id: r, effect: deny, reason: r, when: { $d: 1 } }\n"
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(text, filename="p.yaml")
    assert [(e.line, e.column) for e in info.value.errors] == [(4, 16), (4, 27), (6, 47)]
    assert info.value.errors[2].message == "unknown counter '$d': declare it under 'counters' (did you mean '$c'?)"


# --- sequence tests (spec section 7) -----------------------------------------------------------------


def test_step_time_ms() -> None:
    assert [step_time_ms(t) for t in (None, "0s", "0d", "1500ms", "90s", "2m", "1h", "365d")] == [
        0, 0, 0, 1500, 90_000, 120_000, 3_600_000, 365 * 86_400_000
    ]
    with pytest.raises(ValueError):
        step_time_ms("1.5h")


def test_run_policy_tests() -> None:
    p = load(LIMIT + """
tests:
  - name: fourth denied
    steps:
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: allow }
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: allow, at: 1m }
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: allow, at: 2m }
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: deny, rule: rate, at: 3m }
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: allow, at: 1h }
  - name: starts empty
    action: { tool: refund, agent: a, args: { amount: 1 } }
    expect: allow
    rule: refund
  - name: failures go on with the actual decision recorded
    steps:
      - { action: { tool: refund, agent: a, args: { amount: 600 } }, expect: escalate, resolve: denied }
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: deny }
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: allow, rule: big }
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: allow }
      - { action: { tool: refund, agent: a, args: { amount: 1 } }, expect: deny, rule: rate }
  - name: single failure
    action: { tool: refund, args: { amount: 1 } }
    expect: allow
""")
    results = run_policy_tests(p)
    assert [(r.name, r.passed) for r in results] == [
        ("fourth denied", True), ("starts empty", True),
        ("failures go on with the actual decision recorded", False), ("single failure", False),
    ]
    failures = results[2].failures
    assert [(f.step, f.expect, f.rule, f.rule_given, f.actual.rule) for f in failures] == [
        (1, "deny", None, False, "refund"), (2, "allow", "big", True, "refund")
    ]
    assert failures[1].actual.counters == {"n": 2, "spent": 2}  # the denied escalation is gone
    (single,) = results[3].failures
    assert (single.step, single.actual.rule, single.actual.undetermined) == (None, "rate", True)
    assert p.state.size().entries == 0  # type: ignore[union-attr]  # tests use their own state


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "examples").glob("*-agent.yaml")))
def test_the_examples_pass_their_own_tests(name: str) -> None:
    p = Policy.from_file(REPO / "examples" / name)
    results = run_policy_tests(p)
    assert results and all(r.passed for r in results), [(r.name, r.failures) for r in results if not r.passed]


def test_run_policy_tests_in_a_stateless_policy() -> None:
    p = load("""
        tollgate: 1
        name: s
        approvers: { ops: { timeout: 1m } }
        rules: [{ id: e, effect: escalate, approver: ops, reason: e, when: { tool: e } }]
        tests:
          - name: seq
            steps:
              - { action: { tool: e }, expect: escalate, resolve: approved }
              - { action: { tool: x }, expect: allow, at: 1h }
    """)
    (r,) = run_policy_tests(p)
    assert [(f.step, f.actual.decision) for f in r.failures] == [(1, "deny")]


# --- the cross-host differential ------------------------------------------------------------------

_NAMES = ["a", "b", "n7", "7", "10", "zz", "Refunds_2"]
_PATHS = ["agent", "session", "args.k"]
_TOOLS = ["refund", "read", "write"]


@st.composite
def _manifest(draw: Any) -> Dict[str, Any]:
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=0, max_size=4, unique=True))
    counters: Dict[str, Any] = {}
    for name in names:
        c: Dict[str, Any] = {"window": draw(st.sampled_from(["500ms", "1s", "90s", "1m", "1h", "30d"]))}
        per = draw(st.lists(st.sampled_from(_PATHS), max_size=2, unique=True))
        if per or draw(st.booleans()):
            c["per"] = per
        when = draw(st.sampled_from([None, {"tool": "refund"}, {"tool": {"in": ["refund", "write"]}},
                                     {"args.amount": {"gt": 2}}, {"not": {"tool": "read"}}]))
        if when is not None:
            c["when"] = when
        if draw(st.booleans()):
            c["sum"] = "args.amount"
        counters[name] = c
    approvers = {
        "ops": {"timeout": draw(st.sampled_from(["1s", "2s", "1m"]))},
        "lenient": {"timeout": draw(st.sampled_from(["1500ms", "1m"])), "on_timeout": "allow"},
    }
    rules: List[Dict[str, Any]] = []
    for i in range(draw(st.integers(min_value=0, max_value=4))):
        effect = draw(st.sampled_from(["allow", "allow", "deny", "escalate", "escalate"]))
        when: Dict[str, Any] = {}
        if draw(st.booleans()):
            when["tool"] = draw(st.sampled_from(_TOOLS))
        if names and draw(st.integers(0, 3)) > 0:
            ref = "$" + draw(st.sampled_from(names))
            when[ref] = draw(st.sampled_from([{"gt": 2}, {"gte": 3}, {"lt": 2}, {"exists": True}, {"exists": False},
                                              5, {"in": [1, 2]}, {"gt": 10.5}]))
        rule: Dict[str, Any] = {"id": f"r{i}", "effect": effect}
        if effect != "allow":
            rule["reason"] = f"reason {i}"
        if effect == "escalate":
            rule["approver"] = draw(st.sampled_from(["ops", "lenient"]))
            if draw(st.booleans()):
                rule["timeout"] = "3s"
        if when:
            rule["when"] = when
        rules.append(rule)
    m: Dict[str, Any] = {"tollgate": 1, "name": "generated", "default": draw(st.sampled_from(["allow", "allow", "allow", "deny"])),
                         "approvers": approvers, "rules": rules}
    if counters or draw(st.booleans()):
        m["counters"] = counters
    return m


_VALUES = st.sampled_from(["a", "a", "a", "b", "b", 1, "1", 0, -0.0, 2.5, True, None, ["a"], "x\ud800"])
_AMOUNTS = st.sampled_from([0, 1, 1, 2, 2, 2.5, 0.1, 1000, -1, "5", None, -0.0])


@st.composite
def _action(draw: Any) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from(["not an object", [1], None]))
    a: Dict[str, Any] = {}
    if draw(st.integers(0, 9)) > 0:
        a["tool"] = draw(st.sampled_from(_TOOLS))
    for key in ("agent", "session"):
        if draw(st.integers(0, 3)) > 0:
            a[key] = draw(_VALUES)
    args: Dict[str, Any] = {}
    if draw(st.integers(0, 4)) > 0:
        args["amount"] = draw(_AMOUNTS)
    if draw(st.booleans()):
        args["k"] = draw(_VALUES)
    if args or draw(st.booleans()):
        a["args"] = args
    return a


@st.composite
def _case(draw: Any) -> Dict[str, Any]:
    manifest = draw(_manifest())
    ops: List[Dict[str, Any]] = []
    now = 0
    pending: List[str] = []
    for i in range(draw(st.integers(min_value=1, max_value=30))):
        now = max(0, now + draw(st.sampled_from([0, 0, 0, 0, 1, 499, 500, 999, 1000, 1500, 60_000, 3_600_000, -1000])))
        k = draw(st.integers(0, 12))
        if k < 2 and pending:
            # mostly the latest step: an escalation is then often still pending
            ops.append({"op": "resolve", "id": draw(st.sampled_from(pending[-2:])),
                        "resolution": draw(st.sampled_from(["approved", "denied"])), "at": now})
        elif k == 2:
            ops.append({"op": "line", "line": draw(st.sampled_from(
                ['{"tool": "refund", "agent": "a", "args": {"amount": 3}}', "{", "[]", '{"agent": 1}'])), "now": now})
        elif k == 3:
            ops.append({"op": "refs", "action": draw(_action())})
        else:
            pid = f"p{i}"
            pending.append(pid)
            ops.append({"op": "step", "action": draw(_action()), "now": now, "id": pid})
    if draw(st.booleans()):
        # (a lone surrogate in a manifest is refused: not in the tests' actions)
        steps = [{"action": op["action"] if isinstance(op["action"], dict) and "\\ud800" not in json.dumps(op["action"])
                  else {}, "expect": draw(st.sampled_from(["allow", "deny", "escalate"]))}
                 for op in ops if op["op"] == "step"][:6]
        if steps:
            manifest["tests"] = [{"name": "generated", "steps": steps}]
    return {"manifest": manifest, "ops": ops}


def _node(cases: List[Dict[str, Any]]) -> List[Any]:
    payload = {"cases": [{"text": c["text"], "ops": c["ops"]} for c in cases]}
    proc = subprocess.run(["node", str(DRIVER)], input=json.dumps(payload, ensure_ascii=True), capture_output=True,
                          text=True, encoding="utf-8", cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["cases"]


def _decision(d: Decision) -> Dict[str, Any]:
    return d.to_dict()


def _same(mine: Any, theirs: Any, where: str) -> None:
    assert canonicalize(mine) == canonicalize(theirs), f"{where}\n python: {mine}\n   node: {theirs}"


def _same_decision(mine: Dict[str, Any], theirs: Dict[str, Any], where: str) -> None:
    _same(mine, theirs, where)
    assert list(mine) == list(theirs), f"{where}: key order"
    if "counters" in theirs:
        assert list(mine["counters"]) == list(theirs["counters"]), f"{where}: counters order"


def _python(case: Dict[str, Any]) -> Dict[str, Any]:
    try:
        policy = Policy.from_yaml(case["text"], filename="generated.yaml")
    except PolicyError as e:
        return {"errors": [[p.line, p.column, p.message] for p in e.errors]}
    results: List[Any] = []
    for op in case["ops"]:
        try:
            if op["op"] == "step":
                s = policy.step(op["action"], now=op["now"], pending_id=op["id"])
                results.append([_decision(s.decision), [list(e) for e in s.entries], s.pending])
            elif op["op"] == "line":
                results.append(_decision(policy.evaluate_lines([op["line"]], now=op["now"])[0]))
            elif op["op"] == "resolve":
                results.append(policy.resolve(op["id"], op["resolution"], op["at"]))
            else:
                results.append([[r.counter, r.key] for r in policy.counter_refs(op["action"])])
        except Exception as e:  # compared by class name with Node's
            results.append({"error": type(e).__name__})
    size = policy.state.size() if policy.state is not None else None
    return {
        "counters": [[c.name, c.window_ms, [list(p) for p in c.per], None if c.sum is None else list(c.sum),
                      c.referenced, c.definition, c.digest] for c in policy.counters],
        "stateful": policy.stateful,
        "results": results,
        "size": None if size is None else list(size),
        "tests": [[r.name, [[f.step, _decision(f.actual)] for f in r.failures]] for r in run_policy_tests(policy)],
    }


def _compare(cases: List[Dict[str, Any]]) -> None:
    for c in cases:
        c["text"] = json.dumps(c["manifest"], indent=2, ensure_ascii=True)
    theirs = _node(cases)
    assert len(theirs) == len(cases)
    for n, (case, node) in enumerate(zip(cases, theirs)):
        mine = _python(case)
        where = f"case {n}: {case['text']}"
        if "errors" in node or "errors" in mine:
            assert mine == node, where
            continue
        _same([mine["counters"], mine["stateful"], mine["size"]], [node["counters"], node["stateful"], node["size"]],
              where)
        for i, (op, a, b) in enumerate(zip(case["ops"], mine["results"], node["results"])):
            at = f"{where}\nop {i}: {json.dumps(op)}"
            if op["op"] == "step" and isinstance(b, list):
                _same_decision(a[0], b[0], at)
                _same(a[1:], b[1:], at)
            elif op["op"] == "line" and isinstance(b, dict) and "decision" in b:
                _same_decision(a, b, at)
            else:
                _same(a, b, at)
        assert len(mine["tests"]) == len(node["tests"]), where
        for (name_a, fa), (name_b, fb) in zip(mine["tests"], node["tests"]):
            assert name_a == name_b and [f[0] for f in fa] == [f[0] for f in fb], where
            for x, y in zip(fa, fb):
                _same_decision(x[1], y[1], f"{where}\ntest {name_a} step {x[0]}")


@needs_node
@settings(max_examples=8, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_case(), min_size=25, max_size=25))
def test_python_and_node_agree_on_generated_policies_and_sequences(cases: List[Dict[str, Any]]) -> None:
    _compare(cases)


@needs_node
def test_python_and_node_agree_on_hand_picked_sequences() -> None:
    ops = [{"op": "step", "action": refund(a, agent=g), "now": t, "id": f"p{i}"}
           for i, (a, g, t) in enumerate([(1, "a", 0), (600, "a", 0), (300, "b", 10), (1, "a", 20), (0.1, 1, 30),
                                          (0.2, 1.0, 40), (1, "a", 900_000), (1, "b", 900_000)])]
    ops.insert(3, {"op": "resolve", "id": "p1", "resolution": "approved", "at": 15})
    ops.append({"op": "resolve", "id": "p2", "resolution": "denied", "at": 900_001})
    ops.append({"op": "refs", "action": refund(1, agent="\ud800")})
    manifest = json.loads(json.dumps(Policy.from_yaml(LIMIT).manifest))
    _compare([{"manifest": manifest, "ops": ops}])


def test_js_number() -> None:
    assert [js_number(x) for x in (0.0, -0.0, 3.0, 2.5, 2.0**53, -(2.0**53) + 1)] == [0, 0, 3, 2.5, 2.0**53, -(2**53) + 1]
    assert type(js_number(2.0**53)) is float
