"""tollgate.pipeline: the decide and record halves that Gate runs (as the Node host's src/pipeline/)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from tollgate import Gate, Policy
from tollgate.audit import AuditLog, segment_name, verify_log
from tollgate.metrics import Metrics
from tollgate.pipeline import UNRECORDABLE, Decided, Recorder, decide

from conftest import BILLING_STATELESS, EXAMPLES

BILLING = BILLING_STATELESS
REFUND = {"tool": "payments.refund", "args": {"order_id": "ord_4821abcd", "amount": 900, "currency": "EUR"}, "customer": {"email": "a@b.c"}}
SMALL = {"tool": "payments.refund", "args": {"order_id": "ord_4821abcd", "amount": 20, "currency": "EUR"}}


def test_decide_makes_the_record_text_and_counts():
    policy = Policy.from_file(BILLING)
    metrics = Metrics.for_policy(policy)
    d = decide(policy, REFUND, metrics)
    assert d.decision.to_dict() == policy.evaluate(REFUND).to_dict()
    assert json.loads(d.action_json)["customer"]["email"] == "[redacted]" and REFUND["customer"]["email"] == "a@b.c"
    assert (d.policy, d.policy_hash) == (policy.name, policy.hash) and d.eval_ns > 0
    assert pickle.loads(pickle.dumps(d)) == d  # it can be made in another process
    bad = decide(policy, {"tool": "x", "memo": "\ud800"}, metrics)
    assert bad.decision.reason == UNRECORDABLE and bad.action_json == '"[not JSON]"' and bad.eval_ns == 0
    assert metrics.snapshot()["eval_ns"]["count"] == 2


def test_record_many_writes_what_the_gate_writes(tmp_path: Path):
    policy = Policy.from_file(BILLING)
    actions = [REFUND, SMALL, {"tool": "nothing.here"}]
    metrics = Metrics.for_policy(policy)
    with AuditLog.open(tmp_path / "many") as log:
        appended = Recorder(log, metrics).record_many([decide(policy, a) for a in actions])
    assert [a.seq for a in appended] == [1, 2, 3] and metrics.snapshot()["audit_append_ns"]["count"] == 3
    with Gate.open(policy, audit_dir=tmp_path / "gate") as gate:
        for a in actions:
            gate.check(a)

    def fields(d: Path):
        return [{k: v for k, v in json.loads(x).items() if k not in ("ts", "hash", "prev", "eval_ns")} for x in (d / segment_name(1)).read_text().splitlines()]

    assert fields(tmp_path / "many") == fields(tmp_path / "gate")
    assert verify_log(tmp_path / "many").records == 3
    assert isinstance(decide(policy, SMALL), Decided)
