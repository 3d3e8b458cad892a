"""tollgate.metrics: counters by result and rule, HDR latency snapshot, and the same figures as the Node gate."""

from __future__ import annotations

import json
import math
import random
import threading

import pytest

from tollgate import Policy
from tollgate.metrics import DEFAULT_RULE, LatencyHistogram, Metrics

from conftest import REPO, node_available, run_node

POLICY = Policy.from_yaml(
    """
tollgate: 1
name: m
default: deny
approvers:
  finance: { timeout: 1m, on_timeout: deny }
rules:
  - id: refunds
    effect: allow
    when: { tool: payments.refund }
  - id: big
    effect: escalate
    approver: finance
    reason: big refunds need a human
    when: { tool: payments.refund, args.amount: { gt: 500 } }
"""
)
NODE_METRICS = REPO / "build" / "dist" / "src" / "metrics" / "metrics.js"


def test_counts_and_snapshot_shape():
    m = Metrics.for_policy(POLICY)
    for i in range(1, 1001):
        m.record_decision(POLICY.evaluate({"tool": "payments.refund", "args": {"amount": 10}}), i * 100)
    m.record_decision(POLICY.evaluate({"tool": "payments.refund", "args": {"amount": 900}}), 5000)
    m.record_decision(POLICY.evaluate({"tool": "shell.exec"}), 7000)
    m.record_decision({"decision": "deny", "rule": None, "error": "x"})  # a dict, no latency
    m.record_audit_append(250_000)
    m.pending_approvals = 1
    s = m.snapshot()
    assert list(s) == ["policy", "decisions", "rules", "counters", "eval_ns", "audit_append_ns", "pending_approvals"]
    assert s["policy"] == "m"
    assert s["decisions"] == {"allow": 1000, "deny": 2, "escalate": 1}
    assert s["rules"] == {"refunds": 1000, "big": 1, DEFAULT_RULE: 2}
    assert s["eval_ns"]["count"] == 1002
    assert 49_900 <= s["eval_ns"]["p50"] <= 50_300
    assert s["eval_ns"]["max"] == 100_000
    assert s["audit_append_ns"] == {"count": 1, "p50": 250_111, "p99": 250_111, "p999": 250_111, "max": 250_000}
    assert s["pending_approvals"] == 1
    json.dumps(s)  # JSON-ready
    m.reset()
    s = m.snapshot()
    assert s["decisions"] == {"allow": 0, "deny": 0, "escalate": 0} and s["rules"] == {}
    assert s["eval_ns"] == {"count": 0, "p50": 0, "p99": 0, "p999": 0, "max": 0}


def test_histogram_precision():
    rng = random.Random(1)
    values = [int(rng.lognormvariate(9, 2)) + 1 for _ in range(20_000)]
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    values.sort()
    s = h.snapshot()
    assert s["count"] == len(values) and s["max"] == values[-1]
    for p, key in ((50, "p50"), (99, "p99"), (99.9, "p999")):
        exact = values[max(0, math.ceil(len(values) * p / 100) - 1)]
        assert exact <= s[key] <= exact * 1.001 + 1, (p, exact, s[key])
    small = LatencyHistogram()
    for v in (0, 1, 2, 2047, -5, 2.4):
        small.record(v)
    assert small.snapshot()["max"] == 2047 and small.percentile(50) == 1 and small.percentile(60) == 2  # exact below 2048, at least 1


def test_threads():
    m = Metrics("m")
    d = POLICY.evaluate({"tool": "payments.refund", "args": {"amount": 1}})

    def work():
        for i in range(2000):
            m.record_decision(d, i)
            m.record_audit_append(i)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = m.snapshot()
    assert s["decisions"]["allow"] == 16_000 and s["rules"] == {"refunds": 16_000}
    assert s["eval_ns"]["count"] == 16_000 and s["audit_append_ns"]["count"] == 16_000


@pytest.mark.skipif(not (NODE_METRICS.exists() and node_available()), reason="the Node gate metrics are not built")
def test_same_snapshot_as_the_node_gate():
    rng = random.Random(2)
    evals = [int(rng.lognormvariate(8, 1.5)) + rng.choice([0, 1]) for _ in range(5000)] + [1, 2047, 2048, 2049, 10**9 + 7]
    appends = [rng.randrange(1, 10**8) for _ in range(777)]
    actions = [{"tool": rng.choice(["payments.refund", "x"]), "args": {"amount": rng.choice([1, 900])}} for _ in evals]
    m = Metrics("m")
    for a, ns in zip(actions, evals):
        m.record_decision(POLICY.evaluate(a), ns)
    for ns in appends:
        m.record_audit_append(ns)
    m.pending_approvals = 3
    script = """
import { GateMetrics } from "./build/dist/src/metrics/metrics.js";
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const m = new GateMetrics();
input.decisions.forEach((d, i) => m.recordDecision("m", d, input.evals[i]));
for (const ns of input.appends) m.recordAuditAppend("m", ns);
m.setPendingApprovals("m", 3);
process.stdout.write(JSON.stringify(m.snapshot().policies.m));
"""
    payload = {"decisions": [POLICY.evaluate(a).to_dict() for a in actions], "evals": evals, "appends": appends}
    node = json.loads(run_node(script, json.dumps(payload)))
    assert m.snapshot() == node
