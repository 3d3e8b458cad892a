"""The gate's shadow policy (docs/change-safety.md, "Shadow"), as test/gate/shadow.test.ts checks
the Node gate: a candidate takes every decision too, with counters of its own; the answers, the
audit log and the live counters are the live policy's; disagreements are counted and logged as
JSON lines in the Node host's format."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

from tollgate import Gate, Policy, PolicyError
from tollgate.audit import segment_name

from conftest import REPO, node_available, run_node

# Live: 5 per agent an hour; the candidate: 2, drops escalate, a redacted field of its own
# (the policies of the Node gate's shadow test too).
LIVE = (REPO / "test" / "fixtures" / "shadow-live.yaml").read_text()
CANDIDATE = (REPO / "test" / "fixtures" / "shadow-candidate.yaml").read_text()

ACT = {"tool": "t", "agent": {"id": "a"}, "args": {"secret": "s3", "token": "tk"}}


def lines(path: Path) -> List[Any]:
    return [json.loads(x) for x in path.read_text().splitlines() if x] if path.exists() else []


def records(audit: Path) -> List[Any]:
    return [json.loads(x) for x in (audit / segment_name(1)).read_text().splitlines()]


def test_answers_live_counts_its_own_way_and_logs_each_disagreement(tmp_path: Path):
    audit = tmp_path / "audit"
    with Gate.open(Policy.from_yaml(LIVE), audit, shadow=Policy.from_yaml(CANDIDATE)) as gate:
        answers = [gate.check(ACT) for _ in range(6)]
        # The count includes the action: live denies the 6th (> 5); the candidate the 3rd on (> 2).
        assert [d["decision"] for d in answers] == ["allow"] * 5 + ["deny"]
        assert all(d["policy"] == "live" for d in answers)
        # The live counter counted the live allows, nothing of the candidate's.
        assert gate.policy.state is not None and gate.shadow is not None and gate.shadow.state is not None
        now = time.time_ns() // 1_000_000
        assert gate.policy.state.sum("n", ("a",), now) == 5
        assert gate.shadow.state.sum("n", ("a",), now) == 2
        drop = gate.check({"tool": "drop", "agent": {"id": "a"}})
        assert drop["decision"] == "deny"
        m = gate.metrics()["shadow"]
    log = lines(tmp_path / "audit-shadow.jsonl")  # the default: beside the audit directory
    assert [(x["live"]["decision"], x["shadow"]["decision"], x["shadow"]["rule"]) for x in log] == [
        ("allow", "deny", "tight-cap"),
        ("allow", "deny", "tight-cap"),
        ("allow", "deny", "tight-cap"),
        ("deny", "escalate", "drop-review"),
    ]
    assert list(log[0]) == ["time", "audit_id", "audit_seq", "live", "shadow", "action"]
    assert log[0]["audit_seq"] == answers[2]["audit_seq"] and log[0]["audit_id"] == answers[2]["audit_id"]
    assert log[0]["live"] == {"decision": "allow", "rule": None, "policy": "live", "policy_hash": Policy.from_yaml(LIVE).hash}
    assert log[0]["shadow"] == {"decision": "deny", "rule": "tight-cap", "reason": "more than 2", "policy": "candidate", "policy_hash": Policy.from_yaml(CANDIDATE).hash}
    assert log[3]["audit_seq"] == drop["audit_seq"] and log[3]["live"]["rule"] == "no-drop"
    assert isinstance(log[0]["time"], str) and log[0]["time"].endswith("Z")
    # Both policies' redactions apply to the logged action; the caller's action is untouched.
    assert log[0]["action"] == {"tool": "t", "agent": {"id": "a"}, "args": {"secret": "[redacted]", "token": "[redacted]"}}
    assert ACT["args"] == {"secret": "s3", "token": "tk"}
    assert m == {
        "decisions": 7,
        "disagreements": [
            {"live": "allow", "shadow": "deny", "rule": "tight-cap", "count": 3},
            {"live": "deny", "shadow": "escalate", "rule": "drop-review", "count": 1},
        ],
        "log_dropped": 0,
    }
    # The audit log holds only live decisions.
    assert all(r["decision"]["policy"] == "live" for r in records(audit)) and len(records(audit)) == 7


def test_a_tighter_candidate_never_denies_live_and_keeps_its_own_counters(tmp_path: Path):
    with Gate.open(Policy.from_yaml(LIVE), tmp_path / "audit", shadow=Policy.from_yaml(CANDIDATE)) as gate:
        out: List[Any] = []
        threads = [threading.Thread(target=lambda: out.append(gate.check({"tool": "t", "agent": {"id": "b"}}))) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [d["decision"] for d in out] == ["allow"] * 5
        sixth = gate.check({"tool": "t", "agent": {"id": "b"}})
        assert sixth["decision"] == "deny" and sixth["rule"] == "cap"  # live's own cap: > 5
        # The candidate counted only what it allowed (2); its denials spent nothing.
        assert gate.shadow is not None
        d = gate.shadow.evaluate({"tool": "t", "agent": {"id": "b"}})
        assert d.decision == "deny" and d.counters == {"n": 3}
        assert gate.metrics()["shadow"]["disagreements"] == [{"live": "allow", "shadow": "deny", "rule": "tight-cap", "count": 3}]


def test_set_shadow_starts_replaces_and_stops_and_a_bad_file_changes_nothing(tmp_path: Path):
    log = tmp_path / "review.jsonl"
    with Gate.open(Policy.from_yaml(LIVE), tmp_path / "audit", shadow_log=log) as gate:
        assert gate.shadow is None
        gate.check({"tool": "drop"})
        assert lines(log) == [] and "shadow" not in gate.metrics()
        p = gate.set_shadow(Policy.from_yaml(CANDIDATE))
        assert gate.shadow is p
        gate.check({"tool": "drop"})
        assert len(lines(log)) == 1
        with pytest.raises(PolicyError):
            gate.set_shadow(tmp_path / "missing.yaml")
        (tmp_path / "bad.yaml").write_text("tollgate: 1\nname: x\nrules: [\n")
        with pytest.raises(PolicyError):
            gate.set_shadow(tmp_path / "bad.yaml")
        assert gate.shadow is p
        with pytest.raises(TypeError, match="of its own"):
            gate.set_shadow(gate.policy)
        (tmp_path / "cand.yaml").write_text(CANDIDATE)
        q = gate.set_shadow(tmp_path / "cand.yaml")  # a path is loaded
        assert q is not None and q is not p and q.name == "candidate"
        gate.set_shadow(None)
        gate.check({"tool": "drop"})
    assert len(lines(log)) == 1


def test_open_refuses_a_bad_candidate_before_opening_anything(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("tollgate: 1\nname: x\ndefault: maybe\nrules: []\n")
    with pytest.raises(PolicyError):
        Gate.open(Policy.from_yaml(LIVE), tmp_path / "audit", shadow=tmp_path / "bad.yaml")
    assert not (tmp_path / "audit").exists()


def test_an_unrecordable_action_is_not_shadowed(tmp_path: Path):
    with Gate.open(Policy.from_yaml(LIVE), tmp_path / "audit", shadow=Policy.from_yaml(CANDIDATE)) as gate:
        d = gate.check({"tool": "drop", "memo": "\ud800"})
        assert "cannot be recorded" in d["error"]
        assert gate.metrics()["shadow"]["decisions"] == 0


def test_a_failing_log_or_candidate_never_changes_the_live_answer(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with Gate.open(Policy.from_yaml(LIVE), tmp_path / "audit", shadow=Policy.from_yaml(CANDIDATE), shadow_log=blocker / "x.jsonl") as gate:
        d = gate.check({"tool": "drop"})  # the log cannot be created under a file
        assert d["decision"] == "deny" and d["rule"] == "no-drop"
        assert gate.metrics()["shadow"]["log_dropped"] == 1

        class Broken:
            name = "broken"
            hash = "0" * 64
            redact: list = []

            def evaluate(self, action: Any) -> Any:
                raise RuntimeError("boom")

        gate._shadow.policy = Broken()  # type: ignore[union-attr]
        assert gate.check({"tool": "t", "agent": {"id": "z"}})["decision"] == "allow"


def test_without_an_audit_log_disagreements_are_counted_and_logged_only_where_asked(tmp_path: Path):
    gate = Gate(Policy.from_yaml(LIVE), shadow=Policy.from_yaml(CANDIDATE))
    gate.check({"tool": "drop"})
    assert gate.metrics()["shadow"]["disagreements"][0]["count"] == 1
    log = tmp_path / "s.jsonl"
    g2 = Gate(Policy.from_yaml(LIVE), shadow=Policy.from_yaml(CANDIDATE), shadow_log=log)
    g2.check({"tool": "drop"})
    g2.close()
    assert lines(log)[0]["audit_seq"] is None and lines(log)[0]["audit_id"] is None


_NODE_SHADOW = """
import { Gate } from "./build/dist/src/gate/gate.js";
import { Policy } from "./build/dist/src/policy.js";
import { readFileSync } from "node:fs";
const input = JSON.parse(readFileSync(0, "utf8"));
const gate = await Gate.open({ policy: Policy.fromYaml(input.live), auditDir: input.dir, shadow: Policy.fromYaml(input.candidate), shadowLog: input.log });
for (const a of input.actions) await gate.check(a);
await gate.close();
"""


@pytest.mark.skipif(not node_available(), reason="node is not installed")
def test_the_log_lines_are_the_node_gates(tmp_path: Path):
    actions = [ACT] * 4 + [{"tool": "drop", "agent": {"id": "é"}, "args": {"z": 1, "n": 1.5, "10": 0, "2": "two", "list": [1, "x", None, True, {"b": 1, "a": 0}]}}]
    node_log = tmp_path / "node.jsonl"
    run_node(_NODE_SHADOW, json.dumps({"live": LIVE, "candidate": CANDIDATE, "dir": str(tmp_path / "node-audit"), "log": str(node_log), "actions": actions}))
    py_log = tmp_path / "py.jsonl"
    with Gate.open(Policy.from_yaml(LIVE), tmp_path / "py-audit", shadow=Policy.from_yaml(CANDIDATE), shadow_log=py_log) as gate:
        for a in actions:
            gate.check(a)

    def strip(xs: List[Any]) -> List[Any]:
        return [{k: v for k, v in x.items() if k not in ("time", "audit_id")} for x in xs]

    assert len(lines(py_log)) == 3
    assert strip(lines(py_log)) == strip(lines(node_log))

    # Byte for byte, but for the time and the record's hash: key order (JSON.stringify's: the
    # action as given, array-index keys first), numbers and strings written as Node writes them.
    def text(path: Path) -> List[str]:
        return [re.sub(r'"(time|audit_id)":"[^"]*"', r'"\1":""', x) for x in path.read_text(encoding="utf-8").splitlines()]

    assert text(py_log) == text(node_log)


SAME = (REPO / "test" / "fixtures" / "shadow-approvals.yaml").read_text()


@pytest.mark.parametrize("state", ["denied", "approved"])
def test_a_live_escalation_resolved_settles_the_candidates_escalation_alike(tmp_path: Path, state: str):
    """As test/gate/shadow.test.ts: the candidate is the live policy under another name and never
    disagrees, whichever way the live escalation is answered."""
    refund = lambda amount: {"tool": "refund", "agent": {"id": "a"}, "args": {"amount": amount}}  # noqa: E731
    with Gate.open(Policy.from_yaml(SAME.replace("name: live-copy", "name: live")), tmp_path / "audit", shadow=Policy.from_yaml(SAME)) as gate:
        big = gate.check(refund(200))
        assert big["decision"] == "escalate"
        assert gate.resolve(big["audit_id"], state, by="alice")
        after = [gate.check(refund(1))["decision"] for _ in range(3)]
        assert after == (["allow", "allow", "allow"] if state == "denied" else ["allow", "allow", "deny"])
        now = time.time_ns() // 1_000_000
        assert gate.shadow is not None and gate.shadow.state is not None and gate.policy.state is not None
        assert gate.shadow.state.sum("n", ("a",), now) == gate.policy.state.sum("n", ("a",), now)
        m = gate.metrics()["shadow"]
        assert m["decisions"] == 4
        assert m["disagreements"] == []
