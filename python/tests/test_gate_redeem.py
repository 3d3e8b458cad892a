"""Action-bound, single-use approvals in the Python gate: ``check(action, approval_id=...)``.

The same checks, reasons and records as the Node gate's redemption (docs/approvals.md,
"Redeeming"): an approval is redeemed once, by the agent it was issued to, for the very action
it approved; a refusal names the check that failed; each redemption is its own audit record.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tollgate import Gate, Policy
from tollgate.audit import AuditLog, segment_name, verify_log

from conftest import BILLING_STATELESS

REFUND: Dict[str, Any] = {"tool": "payments.refund", "args": {"order_id": "ord_4821abcd", "amount": 900, "currency": "EUR"}, "agent": {"id": "bot-1"}, "customer": {"email": "a@b.c"}}


def records(d: Path) -> List[Dict[str, Any]]:
    return [json.loads(x) for x in (d / segment_name(1)).read_text().splitlines()]


@pytest.fixture
def gate(tmp_path: Path):
    with Gate.open(BILLING_STATELESS, audit_dir=tmp_path / "audit") as g:
        yield g


def escalate_and_approve(gate: Gate) -> Dict[str, Any]:
    e = gate.check(REFUND)
    assert e["decision"] == "escalate" and e["approval_id"]
    assert gate.resolve(e["audit_id"], "approved", by="alice", note="ok")
    return e


def test_an_approved_action_is_redeemed_once_and_recorded(gate: Gate, tmp_path: Path) -> None:
    e = escalate_and_approve(gate)
    r = gate.check(REFUND, approval_id=e["approval_id"])
    assert r["decision"] == "allow" and r["rule"] == e["rule"] and r["reason"] == e["reason"]
    assert r["approval_id"] == e["approval_id"] and r["approved_by"] == "alice"
    again = gate.check(REFUND, approval_id=e["approval_id"])
    assert again["decision"] == "deny" and again["redemption"]["check"] == "redeemed" and again["rule"] is None
    assert "was already redeemed at" in again["reason"]
    recs = records(tmp_path / "audit")
    assert [x["decision"]["decision"] for x in recs] == ["escalate", "allow", "allow", "deny"]
    resolution, redemption = recs[1], recs[2]
    assert redemption["hash"] == r["audit_id"] and redemption["decision"]["redemption"] == {
        "approval_id": e["approval_id"],
        "check": None,
        "decision_seq": 1,
        "decision_hash": e["audit_id"],
        "resolution_seq": resolution["seq"],
        "resolution_hash": resolution["hash"],
    }
    assert resolution["decision"]["approval"]["id"] == e["approval_id"]
    assert redemption["eval_ns"] == 0 and redemption["action"]["customer"]["email"] == "[redacted]"
    assert gate.metrics()["decisions"]["allow"] == 1  # the redemption; the resolution is not a decision
    gate.close()  # its final checkpoint signs the whole log
    assert verify_log(tmp_path / "audit").ok


def test_the_escalation_audit_id_redeems_too(gate: Gate) -> None:
    e = escalate_and_approve(gate)
    r = gate.check(REFUND, approval_id=e["audit_id"])
    assert r["decision"] == "allow" and r["approval_id"] == e["approval_id"]


@pytest.mark.parametrize(
    "change, check",
    [
        (lambda a: {**a, "args": {**a["args"], "amount": 901}}, "digest"),
        (lambda a: {**a, "args": {**a["args"], "note": "and one more thing"}}, "digest"),
        (lambda a: {**a, "agent": {"id": "bot-2"}}, "agent"),
        (lambda a: {k: v for k, v in a.items() if k != "agent"}, "agent"),
    ],
)
def test_another_action_or_agent_is_refused_and_the_approval_stays_redeemable(gate: Gate, change: Any, check: str) -> None:
    e = escalate_and_approve(gate)
    r = gate.check(change(REFUND), approval_id=e["approval_id"])
    assert r["decision"] == "deny" and r["redemption"]["check"] == check
    if check == "agent":  # another agent's approval: nothing about it is told
        assert r["redemption"]["decision_hash"] is None and r["redemption"]["resolution_hash"] is None
        assert r["reason"] == f"approval {e['approval_id']} was not issued to this agent"
    assert gate.check(REFUND, approval_id=e["approval_id"])["decision"] == "allow"


def test_pending_denied_unknown_and_expired_approvals_are_refused(tmp_path: Path) -> None:
    with Gate.open(BILLING_STATELESS, audit_dir=tmp_path / "audit") as gate:
        e = gate.check(REFUND)
        assert gate.check(REFUND, approval_id=e["approval_id"])["redemption"]["check"] == "pending"
        assert gate.resolve(e["audit_id"], "denied", by="bob")
        denied = gate.check(REFUND, approval_id=e["approval_id"])
        assert denied["redemption"]["check"] == "denied" and denied["reason"].endswith("was denied by bob")
        unknown = gate.check(REFUND, approval_id="no-such-approval")
        assert unknown["redemption"]["check"] == "not-found" and unknown["redemption"]["decision_seq"] is None
    # An escalation whose timeout passed unanswered: expired, even once a (late) approval is refused.
    policy = Policy.from_yaml(Path(BILLING_STATELESS).read_text().replace("timeout: 15m", "timeout: 50ms"))
    with Gate(policy, audit=AuditLog.open(tmp_path / "short")) as gate:
        e = gate.check(REFUND)
        assert e["timeout_ms"] == 50
        time.sleep(0.08)
        assert gate.check(REFUND, approval_id=e["approval_id"])["redemption"]["check"] == "expired"
        assert gate.resolve(e["audit_id"], "approved") is False
        assert gate.check(REFUND, approval_id=e["approval_id"])["redemption"]["check"] == "expired"
        # Approved in time but redeemed after its expiry: refused as expired, not redeemable forever.
        late = gate.check(REFUND)
        assert gate.resolve(late["audit_id"], "approved", by="alice")
        time.sleep(0.08)
        refused = gate.check(REFUND, approval_id=late["approval_id"])
        assert refused["decision"] == "deny" and refused["redemption"]["check"] == "expired"
        gate.audit.close()


def test_concurrent_redemptions_exactly_one_wins(gate: Gate) -> None:
    e = escalate_and_approve(gate)
    start = threading.Barrier(20)
    out: List[str] = []
    lock = threading.Lock()

    def redeem() -> None:
        start.wait()
        d = gate.check(REFUND, approval_id=e["approval_id"])
        with lock:
            out.append(d["decision"] if d["decision"] == "allow" else d["redemption"]["check"])

    threads = [threading.Thread(target=redeem) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(out) == ["allow"] + ["redeemed"] * 19


def test_a_redemption_whose_record_fails_stays_redeemable(gate: Gate) -> None:
    e = escalate_and_approve(gate)
    append = gate.audit.append
    calls = []

    def failing(entry: Any) -> Any:
        calls.append(entry)
        raise OSError("disk full")

    gate.audit.append = failing  # type: ignore[method-assign]
    with pytest.raises(OSError):
        gate.check(REFUND, approval_id=e["approval_id"])
    gate.audit.append = append  # type: ignore[method-assign]
    assert len(calls) == 1 and gate.check(REFUND, approval_id=e["approval_id"])["decision"] == "allow"


def test_without_an_audit_log_nothing_is_redeemable() -> None:
    gate = Gate(Policy.from_file(BILLING_STATELESS))
    e = gate.check(REFUND)
    assert "approval_id" not in e
    r = gate.check(REFUND, approval_id="anything")
    assert r["decision"] == "deny" and r["redemption"]["check"] == "not-found"


def test_an_action_that_cannot_be_recorded_is_denied_as_such(gate: Gate) -> None:
    e = escalate_and_approve(gate)
    r = gate.check({**REFUND, "args": {"x": float("nan")}}, approval_id=e["approval_id"])
    assert r["decision"] == "deny" and "redemption" not in r and r.get("error")
    assert gate.check(REFUND, approval_id=e["approval_id"])["decision"] == "allow"


def test_an_approval_is_redeemable_for_the_approvers_timeout_from_its_approval() -> None:
    # As the Node stores (redeemCheck): approved at t, redeemable until t + timeout — not forever,
    # and not cut short when the approval came just before the escalation's expiry.
    from tollgate.gate import _claim_check, _Open

    o = _Open("a", 1_000 + 60_000, 1, {"timeout_ms": 60_000}, "{}", ("d" * 64, "bot"))
    o.state, o.redeem_by = "approved", 60_999 + 60_000  # approved 1 ms before its expiry
    assert _claim_check(o, "d" * 64, "bot", 61_500) is None  # past the escalation's expiry: still good
    assert _claim_check(o, "d" * 64, "bot", 60_999 + 60_000) == "expired"
    o.redeemed_at = "2026-01-01T00:00:00.000Z"
    assert _claim_check(o, "d" * 64, "bot", 200_000) == "redeemed"


def test_a_late_approval_sets_the_redemption_deadline_from_the_approval(tmp_path: Path) -> None:
    policy = Policy.from_yaml(Path(BILLING_STATELESS).read_text().replace("timeout: 15m", "timeout: 60s"))
    with Gate(policy, audit=AuditLog.open(tmp_path / "a")) as gate:
        e = gate.check(REFUND)
        before = time.time_ns() // 1_000_000
        assert gate.resolve(e["audit_id"], "approved", by="alice")
        o = gate._open[e["audit_id"]]
        assert before <= o.redeem_by - 60_000 <= time.time_ns() // 1_000_000
        assert gate.check(REFUND, approval_id=e["approval_id"])["decision"] == "allow"
        gate.audit.close()
