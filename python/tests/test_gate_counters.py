"""Counters in the Python gate (spec section 8): decided and counted in one step under the
policy's state lock, so concurrent checks from many threads are exact; made durable by the audit
log (a record that counted says what, tollgate.counted) and rebuilt when the gate opens;
resolutions of escalations are recorded too. With ``state="redis://..."`` the counters are
shared with other processes (tests/redis_server.py starts a real redis-server)."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tollgate import Policy
from tollgate.audit import verify_log
from tollgate.gate import Gate

LIMIT = """tollgate: 1
name: limits
default: allow
approvers:
  finance: { timeout: 10m }
  quick: { timeout: 200ms }
counters:
  n:
    per: [agent.id]
    window: 1h
    when: { tool: { in: [t, q] } }
  spent:
    per: [agent.id]
    window: 1d
    when: { tool: pay }
    sum: args.amount
rules:
  - { id: cap, effect: deny, reason: more than 50, when: { tool: t, $n: { gt: 50 } } }
  - { id: budget, effect: escalate, approver: finance, reason: over budget, when: { tool: pay, $spent: { gt: 100 } } }
  - { id: quick, effect: escalate, approver: quick, reason: quick, when: { tool: q } }
"""


def t(agent: str) -> dict:
    return {"tool": "t", "agent": {"id": agent}}


def pay(agent: str, amount: float) -> dict:
    return {"tool": "pay", "agent": {"id": agent}, "args": {"amount": amount}}


def records(d: Path) -> list:
    out = []
    for f in sorted(p for p in os.listdir(d) if p.endswith(".jsonl")):
        out += [json.loads(line) for line in (d / f).read_text().splitlines() if line]
    return out


def test_concurrent_checks_of_one_key_from_many_threads_are_exact(tmp_path: Path) -> None:
    with Gate.open(Policy.from_yaml(LIMIT), tmp_path) as gate:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda _: gate.check(t("a")), range(1000)))
        assert sum(r["decision"] == "allow" for r in results) == 50
        assert sorted(r["counters"]["n"] for r in results if r["decision"] == "allow") == list(range(1, 51))
        assert all(r["counters"]["n"] == 51 for r in results if r["decision"] == "deny")
        assert gate.check(t("b"))["counters"] == {"n": 1, "spent": 0}
        # Per-counter decision counts, never per key.
        assert gate.metrics()["counters"] == {"n": {"allow": 51, "deny": 950, "escalate": 0}, "spent": {"allow": 51, "deny": 950, "escalate": 0}}


def test_counters_survive_a_restart_and_the_log_verifies(tmp_path: Path) -> None:
    with Gate.open(Policy.from_yaml(LIMIT), tmp_path) as gate:
        for _ in range(30):
            assert gate.check(t("a"))["decision"] == "allow"
    with Gate.open(Policy.from_yaml(LIMIT), tmp_path) as gate:
        after = [gate.check(t("a")) for _ in range(40)]
    assert sum(d["decision"] == "allow" for d in after) == 20
    assert verify_log(tmp_path).ok
    counted = [r for r in records(tmp_path) if "counted" in r["decision"]]
    assert len(counted) == 50
    assert counted[0]["decision"]["counted"]["add"][0][0] == "n"
    assert counted[0]["decision"]["counted"]["add"][0][2] == ["a"]
    assert "counted" not in after[0]


def test_an_escalation_counts_while_pending_and_a_recorded_denial_releases_it_across_restarts(tmp_path: Path) -> None:
    with Gate.open(Policy.from_yaml(LIMIT), tmp_path) as gate:
        assert gate.check(pay("a", 90))["decision"] == "allow"
        e = gate.check(pay("a", 20))
        assert e["decision"] == "escalate" and e["counters"] == {"n": 0, "spent": 110}
    with Gate.open(Policy.from_yaml(LIMIT), tmp_path) as gate:
        assert gate.check(pay("a", 0))["counters"]["spent"] == 110
        assert gate.resolve(e["audit_id"], "denied", by="alice") is True
        assert gate.resolve(e["audit_id"], "denied", by="alice") is False
        assert gate.check(pay("a", 0))["counters"]["spent"] == 90
    with Gate.open(Policy.from_yaml(LIMIT), tmp_path) as gate:
        assert gate.check(pay("a", 0))["counters"]["spent"] == 90
    resolution = [r for r in records(tmp_path) if "approval" in r["decision"]]
    assert len(resolution) == 1
    assert resolution[0]["decision"]["approval"]["decision_hash"] == e["audit_id"]
    assert resolution[0]["decision"]["decision"] == "deny"
    assert verify_log(tmp_path).ok


def test_an_escalation_that_expires_into_deny_stops_counting(tmp_path: Path) -> None:
    with Gate.open(Policy.from_yaml(LIMIT), tmp_path) as gate:
        assert gate.check({"tool": "q", "agent": {"id": "a"}})["decision"] == "escalate"
        assert gate.check(t("a"))["counters"]["n"] == 2
        time.sleep(0.3)
        assert gate.check(t("a"))["counters"]["n"] == 2


def test_a_log_written_by_the_node_gate_format_is_rebuilt(tmp_path: Path) -> None:
    # The record format is the hosts' shared contract: a counted record as the Node host writes it.
    with Gate.open(Policy.from_yaml(LIMIT), tmp_path) as gate:
        gate.check(pay("x", 40))
    rec = [r for r in records(tmp_path) if "counted" in r["decision"]][0]
    assert rec["decision"]["counted"]["at"] > 0
    assert rec["decision"]["counted"]["add"] == [["spent", rec["decision"]["counted"]["add"][0][1], ["x"], 40]]


def test_gates_in_two_processes_share_counters_through_redis(tmp_path: Path, redis_url: str) -> None:
    a = Gate.open(Policy.from_yaml(LIMIT), tmp_path / "a", state=redis_url)
    b = Gate.open(Policy.from_yaml(LIMIT), tmp_path / "b", state=redis_url)
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: (a if i % 2 else b).check(t("shared")), range(400)))
        assert sum(r["decision"] == "allow" for r in results) == 50
        assert a.check(pay("p", 90))["decision"] == "allow"
        e = b.check(pay("p", 20))
        assert e["decision"] == "escalate" and e["counters"]["spent"] == 110
        assert a.check(pay("p", 0))["counters"]["spent"] == 110
        assert b.resolve(e["audit_id"], "denied") is True
        assert a.check(pay("p", 0))["counters"]["spent"] == 90
    finally:
        a.close()
        b.close()


def test_a_guard_settles_an_escalation_its_handler_answered() -> None:
    from tollgate import ActionDenied

    policy = Policy.from_yaml(LIMIT)
    answers = iter([False, True])

    @policy.guard("pay", on_escalate=lambda d, a: next(answers), context={"agent": {"id": "g"}})
    def pay_tool(amount: float) -> str:
        return f"paid {amount}"

    assert pay_tool(amount=90) == "paid 90"
    with pytest.raises(ActionDenied):
        pay_tool(amount=20)                    # refused by the handler: its 20 is given back
    assert policy.evaluate(pay("g", 0), now=None).counters["spent"] == 90
    assert pay_tool(amount=30) == "paid 30"    # approved: its 30 stays
    assert policy.evaluate(pay("g", 0)).counters["spent"] == 120


def test_a_decision_that_carries_counters_pickles_with_its_record() -> None:
    import pickle

    from tollgate.pipeline import decide

    policy = Policy.from_yaml(LIMIT)
    d = decide(policy, pay("z", 5))
    assert d.decision.counters == {"n": 0, "spent": 5}
    assert pickle.loads(pickle.dumps(d)) == d  # a Decided can be made in another process
