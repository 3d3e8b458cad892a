"""Decision counters and latency histograms for one policy, as a JSON-ready snapshot.

The same counters as the Node gate's metrics::

    {"policy": "billing-agent",
     "decisions": {"allow": 3, "deny": 1, "escalate": 0},
     "rules": {"refund-small": 3, "(default)": 1, ...},          # per-rule match counts
     "eval_ns": {"count": 4, "p50": 812, "p99": 2047, "p999": 2047, "max": 2051},
     "audit_append_ns": {"count": 4, "p50": ..., "p99": ..., "p999": ..., "max": ...},
     "pending_approvals": 0}

``rules`` counts decisions by deciding rule id; a decision without a rule (the policy's
default, or a ``deny`` with ``error`` because the action could not be evaluated) counts under
``"(default)"``. Only rules that decided are listed (as in the Node snapshot).

Latencies are kept in an HDR histogram with 3 significant digits, implemented here (no
dependency) with the bucket layout and percentile rule of ``hdr-histogram-js`` as the Node gate
builds it, so the same values give the same snapshot: values are whole nanoseconds (at least
1), exact below 2048 ns, then 1024 sub-buckets per power of two; a percentile is the highest
value of the bucket that holds it (within 0.1 % of the truth), ``max`` is exact. Memory is
bounded (a few thousand buckets at most) however many values are recorded. Thread-safe.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any, Dict, Iterable, Optional

__all__ = ["Metrics", "LatencyHistogram", "DEFAULT_RULE"]

DEFAULT_RULE = "(default)"
"""The ``rules`` key of decisions that no rule made (the default, errors)."""

_SUB_BITS = 11  # 2048 exact values, then 1024 sub-buckets per power of two
_RESULTS = ("allow", "deny", "escalate")


def _key(v: int) -> int:
    e = v.bit_length() - _SUB_BITS
    if e <= 0:
        return v
    return (e << _SUB_BITS) | (v >> e)


def _highest(key: int) -> int:
    e = key >> _SUB_BITS
    if e == 0:
        return key
    m = key & ((1 << _SUB_BITS) - 1)
    return ((m + 1) << e) - 1


class LatencyHistogram:
    """Non-negative integer values (nanoseconds): count, max and percentiles. Thread-safe."""

    __slots__ = ("_counts", "_count", "_max", "_lock")

    def __init__(self) -> None:
        self._counts: Dict[int, int] = {}
        self._count = 0
        self._max = 0
        self._lock = threading.Lock()

    def record(self, value: int) -> None:
        """Adds one value, rounded to a whole nanosecond, at least 1 (as the Node gate records it)."""
        v = value if type(value) is int else int(math.floor(value + 0.5))
        if v < 1:
            v = 1
        k = _key(v)
        with self._lock:
            self._counts[k] = self._counts.get(k, 0) + 1
            self._count += 1
            if v > self._max:
                self._max = v

    @property
    def count(self) -> int:
        return self._count

    def percentile(self, p: float) -> int:
        """The value at percentile ``p`` (0-100): the highest value of the bucket that holds it."""
        with self._lock:
            return self._percentiles((p,))[0]

    def _percentiles(self, ps: Iterable[float]) -> list:
        total = self._count
        if total == 0:
            return [0 for _ in ps]
        keys = sorted(self._counts)
        out = []
        for p in ps:
            fp = (min(p, 100.0) / 100.0) * total
            target = max(math.ceil(fp - math.ulp(fp)), 1)  # as hdr-histogram-js
            seen = 0
            value = _highest(keys[-1])
            for k in keys:
                seen += self._counts[k]
                if seen >= target:
                    value = _highest(k)
                    break
            out.append(value)
        return out

    def snapshot(self) -> Dict[str, int]:
        """``{"count", "p50", "p99", "p999", "max"}`` (all 0 when nothing was recorded)."""
        with self._lock:
            p50, p99, p999 = self._percentiles((50.0, 99.0, 99.9))
            return {"count": self._count, "p50": p50, "p99": p99, "p999": p999, "max": self._max}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._count = 0
            self._max = 0


class Metrics:
    """Counters and latencies of one policy's decisions. Thread-safe.

    Record with :meth:`record_decision` (each decision and how long its evaluation took),
    :meth:`record_audit_append` (how long writing its audit record took) and
    :attr:`pending_approvals`; read with :meth:`snapshot`. :class:`tollgate.gate.Gate` does
    all of this for you.
    """

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._decisions: Dict[str, int] = {}
        self._rules: Dict[str, int] = {}
        self._pending = 0
        self.eval_ns = LatencyHistogram()
        """Evaluation latency in nanoseconds."""
        self.audit_append_ns = LatencyHistogram()
        """Audit append latency (until the record is durable) in nanoseconds."""
        self.reset()

    @classmethod
    def for_policy(cls, policy: Any) -> "Metrics":
        """Metrics for a :class:`~tollgate.Policy` (labelled with its name)."""
        return cls(policy.name)

    def record_decision(self, decision: Any, eval_ns: Optional[int] = None) -> None:
        """Counts one decision (a :class:`~tollgate.Decision` or its dict) and its evaluation time."""
        if isinstance(decision, Mapping):
            result, rule, counters = decision.get("decision"), decision.get("rule"), decision.get("counters")
        else:
            result, rule, counters = decision.decision, decision.rule, getattr(decision, "counters", None)
        key = rule if rule is not None else DEFAULT_RULE
        with self._lock:
            self._decisions[result] = self._decisions.get(result, 0) + 1
            self._rules[key] = self._rules.get(key, 0) + 1
            if counters:
                # Decisions that read each counter, by result: one entry per counter, never per key.
                for name in counters:
                    by = self._counters.setdefault(name, {r: 0 for r in _RESULTS})
                    by[result] = by.get(result, 0) + 1
        if eval_ns is not None:
            self.eval_ns.record(eval_ns)

    def record_audit_append(self, ns: int) -> None:
        """Records how long one audit append took (nanoseconds)."""
        self.audit_append_ns.record(ns)

    @property
    def pending_approvals(self) -> int:
        """Gauge: approvals waiting for a human (the Python gate has no approvals store: 0 unless set)."""
        return self._pending

    @pending_approvals.setter
    def pending_approvals(self, n: int) -> None:
        self._pending = int(n)

    def snapshot(self) -> Dict[str, Any]:
        """A new JSON-ready dict: policy, decisions by result, rules, counters (decisions that read
        each counter, by result), eval_ns, audit_append_ns, pending_approvals."""
        with self._lock:
            decisions = dict(self._decisions)
            rules = dict(self._rules)
            counters = {name: dict(by) for name, by in self._counters.items()}
        return {
            "policy": self.policy,
            "decisions": decisions,
            "rules": rules,
            "counters": counters,
            "eval_ns": self.eval_ns.snapshot(),
            "audit_append_ns": self.audit_append_ns.snapshot(),
            "pending_approvals": self._pending,
        }

    def reset(self) -> None:
        """All counters and histograms back to zero."""
        with self._lock:
            self._decisions = {r: 0 for r in _RESULTS}
            self._rules = {}
            self._counters: Dict[str, Dict[str, int]] = {}
        self.eval_ns.reset()
        self.audit_append_ns.reset()

    def __repr__(self) -> str:
        return f"<Metrics {self.policy!r} decisions={self._decisions}>"
