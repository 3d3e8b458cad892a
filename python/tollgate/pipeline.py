"""The decision pipeline's two halves, as in the Node host (``src/pipeline/``, docs/architecture.md).

*decide* — :func:`decide`: redact the action (the policy's ``audit.redact`` paths) and make the
record's canonical text of it; an action that has none (a lone surrogate, nesting deeper than
512, a value that is not JSON) is not evaluated but denied (:func:`unrecordable_decision`); the
others are evaluated; every decision is counted. It returns a :class:`Decided`: the decision and
what its record needs, ready to be written (it pickles, so it can be made in another process).

*record* — :class:`Recorder`: the durable append of each :class:`Decided` to the one audit log,
and the audit-append metrics. The Python host has no approvals store: an escalation is recorded
like any decision (acting on it is the caller's business).

:class:`~tollgate.gate.Gate` runs both in one process; another enforcement point reuses them::

    decided = decide(policy, action, metrics, seal=log.counted_seal)
    appended = Recorder(log, metrics).record(decided)    # on disk when it returns
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Union

from .counted import counted_decision_json
from .audit import Appended, AuditEntry, AuditLog, _action_text, _NOT_JSON_TEXT, _redact_paths, redact
from .audit.counted_seal import CountedSeal
from .decision import Decision
from .metrics import Metrics

__all__ = ["Decided", "Recorder", "UNRECORDABLE", "decide", "unrecordable_decision"]

UNRECORDABLE = (
    "action cannot be recorded faithfully in the audit log "
    "(a lone surrogate, nesting deeper than 512, or a value that is not JSON)"
)
"""The reason and error of the deny decided for an action the audit log cannot hold as itself."""

_denials: Dict[str, Decision] = {}


def unrecordable_decision(policy: str) -> Decision:
    """``{"decision":"deny","rule":None,"reason":T,"undetermined":False,"error":T,"policy":policy}``, T = :data:`UNRECORDABLE`."""
    d = _denials.get(policy)
    if d is None:
        d = Decision("deny", None, UNRECORDABLE, False, policy, error=UNRECORDABLE)
        _denials[policy] = d
    return d


class Decided(NamedTuple):
    """One decision ready to be recorded (Node: ``Decided`` in ``src/pipeline/message.ts``)."""

    decision: Decision
    action_json: str
    """The canonical JSON of the redacted action (``"[not JSON]"`` for an unrecordable one), written verbatim."""
    policy: str
    policy_hash: str
    eval_ns: int
    """Evaluation time in ns; 0 for an action that was not evaluated."""
    decision_json: Optional[str] = None
    """Counters: the record's decision (the decision plus what it counted, :mod:`tollgate.counted`;
    a counter on a redacted field's keys and amounts sealed, its sum ``"[redacted]"``)."""
    pending: Optional[str] = None
    """Counters: for an escalation that counted, the id its pending contributions wait under."""

    def entry(self) -> AuditEntry:
        """The audit log's entry for it."""
        return AuditEntry(self.decision, None, self.policy, self.policy_hash, self.eval_ns, action_json=self.action_json, decision_json=self.decision_json)


def decide(policy: Any, action: Any, metrics: Optional[Metrics] = None, now: Optional[Union[int, float]] = None, step: Any = None,
           seal: Optional[CountedSeal] = None) -> Decided:
    """Decides ``action`` with ``policy`` (a :class:`~tollgate.Policy`), counting it in ``metrics`` if given.

    The record's text of the redacted action is made first, together with the check that it has
    one (see :func:`tollgate.audit.recordable`): without one the action is not evaluated but
    denied with ``reason`` and ``error`` :data:`UNRECORDABLE`, and that deny is recorded as
    ``"[not JSON]"`` with ``eval_ns`` 0. The caller's action is never modified.

    ``seal``: the :attr:`~tollgate.audit.AuditLog.counted_seal` of the log the decision will be
    recorded in. A counter keyed by, or summing, an ``audit.redact`` field has those values sealed
    with it in the record (the log rebuilds the counts by opening them); without it they are
    ``"[redacted]"``, which is right only for a decision that will not be recorded (a log cannot
    rebuild its counts from such a record, and refuses to).
    """
    redacted = redact(action, _redact_paths(policy))
    action_json = _action_text(redacted)  # the record's text, checked and made in one go
    if action_json is None:
        # Its record would say "[not JSON]": whatever the policy says, it must not go ahead.
        decision = unrecordable_decision(policy.name)
        eval_ns = 0
    elif getattr(policy, "stateful", False):
        t0 = time.perf_counter_ns()
        if step is None:
            step = policy.step(action, now=now)
            eval_ns = time.perf_counter_ns() - t0
        else:
            eval_ns = 0
        decision = step.decision
        decision_json = counted_decision_json(decision, policy, step.entries, step.now, step.pending, seal)
        if metrics is not None:
            metrics.record_decision(decision, eval_ns)
        return Decided(decision, action_json, policy.name, policy.hash, eval_ns, decision_json, step.pending)
    else:
        t0 = time.perf_counter_ns()
        decision = policy.evaluate(action)
        eval_ns = time.perf_counter_ns() - t0
    if metrics is not None:
        metrics.record_decision(decision, eval_ns)
    return Decided(decision, _NOT_JSON_TEXT if action_json is None else action_json, policy.name, policy.hash, eval_ns)


class Recorder:
    """Writes :class:`Decided` to an :class:`~tollgate.audit.AuditLog` and times each append.

    Thread-safe as the log is: records appended from many threads share ``fdatasync`` calls.
    """

    def __init__(self, audit: AuditLog, metrics: Optional[Metrics] = None) -> None:
        self.audit = audit
        self.metrics = metrics

    def record(self, decided: Decided) -> Appended:
        """Appends its record; returns once it is on disk. Raises :class:`~tollgate.audit.AuditError` if it cannot be written."""
        entry = decided.entry()
        t0 = time.perf_counter_ns()
        appended = self.audit.append(entry)
        if self.metrics is not None:
            self.metrics.record_audit_append(time.perf_counter_ns() - t0)
        return appended

    def record_many(self, decided: Sequence[Decided]) -> List[Appended]:
        """Appends their records, consecutive and in order, with one write and sync (``append_many``)."""
        entries = [d.entry() for d in decided]
        t0 = time.perf_counter_ns()
        appended = self.audit.append_many(entries)
        if self.metrics is not None:
            ns = time.perf_counter_ns() - t0
            for _ in entries:
                self.metrics.record_audit_append(ns)
        return appended

    def __repr__(self) -> str:
        return f"<Recorder audit={self.audit!r}>"
