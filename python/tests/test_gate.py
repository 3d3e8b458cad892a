"""tollgate.gate.Gate: decide, audit and measure in one call."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tollgate import Gate, Policy
from tollgate.audit import AuditError, AuditLog, segment_name, verify_log

from conftest import BILLING_STATELESS, EXAMPLES

BILLING = BILLING_STATELESS
REFUND = {"tool": "payments.refund", "args": {"order_id": "ord_4821abcd", "amount": 900, "currency": "EUR"}, "customer": {"email": "a@b.c"}}
SMALL = {"tool": "payments.refund", "args": {"order_id": "ord_4821abcd", "amount": 20, "currency": "EUR"}}


def test_check_decides_audits_and_counts(tmp_path: Path):
    d = tmp_path / "audit"
    with Gate.open(BILLING, audit_dir=d) as gate:
        a = gate.check(REFUND)
        b = gate.check({"tool": "nothing.here"})
        c = gate.check(SMALL)
        assert a["decision"] == "escalate" and a["approver"] == "finance-oncall"
        assert a["audit_seq"] == 1 and b["audit_seq"] == 2 and c["audit_seq"] == 3
        assert b["decision"] == "deny" and b["rule"] is None
        expected = gate.policy.evaluate(REFUND).to_dict()
        assert {k: v for k, v in a.items() if not k.startswith("audit_") and k != "approval_id"} == expected
        s = gate.metrics()
    assert s["policy"] == "billing-agent"
    assert s["decisions"]["escalate"] == 1 and s["decisions"]["deny"] == 1
    assert s["rules"]["(default)"] == 1 and s["rules"][a["rule"]] == 1
    assert s["eval_ns"]["count"] == 3 and s["audit_append_ns"]["count"] == 3 and s["pending_approvals"] == 0
    recs = [json.loads(x) for x in (d / segment_name(1)).read_text().splitlines()]
    assert [r["hash"] for r in recs] == [a["audit_id"], b["audit_id"], c["audit_id"]]
    assert recs[0]["action"]["customer"]["email"] == "[redacted]" and REFUND["customer"]["email"] == "a@b.c"
    assert recs[0]["decision"] == expected
    assert verify_log(d).records == 3


def test_without_audit_and_with_own_parts(tmp_path: Path):
    policy = Policy.from_file(BILLING)
    gate = Gate(policy)
    out = gate.check(SMALL)
    assert "audit_id" not in out and gate.metrics()["decisions"][out["decision"]] == 1
    log = AuditLog.open(tmp_path / "a")
    with Gate(policy, audit=log) as g:
        g.check(SMALL)
    assert not log.closed  # a log the caller opened is the caller's to close
    log.close()
    assert verify_log(tmp_path / "a").records == 1


def test_threads_share_the_log(tmp_path: Path):
    d = tmp_path / "audit"
    with Gate.open(Policy.from_file(BILLING), audit_dir=d) as gate:
        seqs = []
        lock = threading.Lock()

        def work():
            for _ in range(50):
                out = gate.check(SMALL)
                with lock:
                    seqs.append(out["audit_seq"])

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert gate.metrics()["eval_ns"]["count"] == 300
    assert sorted(seqs) == list(range(1, 301))
    assert verify_log(d).records == 300


def test_audit_failure_is_raised(tmp_path: Path, monkeypatch):
    import tollgate.audit as audit_mod

    gate = Gate.open(BILLING, audit_dir=tmp_path / "audit")
    gate.check(SMALL)

    def broken(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit_mod, "_datasync", broken)
    with pytest.raises(AuditError, match="No space left"):
        gate.check(SMALL)
    with pytest.raises(AuditError, match="No space left"):
        gate.check(SMALL)  # fail closed from now on
    with pytest.raises(AuditError):
        gate.close()
