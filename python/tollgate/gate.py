"""Gate: decide, audit and measure every action in one call.

::

    from tollgate.gate import Gate

    with Gate.open("examples/billing-agent.yaml", audit_dir="./audit") as gate:
        d = gate.check({"tool": "payments.refund", "args": {...}})
        d["decision"], d["rule"], d["audit_id"], d["audit_seq"]
        gate.metrics()            # the Metrics snapshot dict

**Escalations.** The Python gate returns an ``escalate`` decision like any other (with
``approver``, ``timeout_ms``, ``on_timeout``) and records it; it has no approvals store and
does not wait for a human: acting on an escalation is the caller's business (the Node gate's
``enforce`` and SQLite approvals are not part of the Python host). ``pending_approvals`` in
the metrics is therefore 0 unless the caller sets ``gate.metrics_recorder.pending_approvals``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional, Union

from .audit import AuditEntry, AuditLog, _action_text, _NOT_JSON_TEXT, _redact_paths, redact
from .decision import Decision
from .metrics import Metrics
from .policy import Policy

__all__ = ["Gate", "UNRECORDABLE", "unrecordable_decision"]

UNRECORDABLE = (
    "action cannot be recorded faithfully in the audit log "
    "(a lone surrogate, nesting deeper than 512, or a value that is not JSON)"
)
"""The reason and error of the deny a gate decides for an action its audit log cannot hold as itself."""

_denials: Dict[str, Decision] = {}


def unrecordable_decision(policy: str) -> Decision:
    """``{"decision":"deny","rule":None,"reason":T,"undetermined":False,"error":T,"policy":policy}``, T = :data:`UNRECORDABLE`."""
    d = _denials.get(policy)
    if d is None:
        d = Decision("deny", None, UNRECORDABLE, False, policy, error=UNRECORDABLE)
        _denials[policy] = d
    return d


class Gate:
    """A policy, an optional :class:`~tollgate.audit.AuditLog` and :class:`~tollgate.metrics.Metrics`.

    Thread-safe (as its parts are): many threads may call :meth:`check` at once, and their
    audit records share ``fdatasync`` calls (group commit).
    """

    def __init__(self, policy: Policy, audit: Optional[AuditLog] = None, metrics: Optional[Metrics] = None) -> None:
        self.policy = policy
        self.audit = audit
        self.metrics_recorder = metrics if metrics is not None else Metrics.for_policy(policy)
        self._owns_audit = False

    @classmethod
    def open(
        cls,
        policy: Union[Policy, str, "os.PathLike[str]"],
        audit_dir: Union[str, "os.PathLike[str]", None] = None,
        **audit_options: Any,
    ) -> "Gate":
        """A gate for ``policy`` (a :class:`Policy` or a manifest path), auditing to ``audit_dir`` if given.

        ``audit_options`` go to :meth:`AuditLog.open` (``group_commit``, ``segment_bytes``...).
        The gate closes the log it opened in :meth:`close`.
        """
        if not isinstance(policy, Policy):
            policy = Policy.from_file(policy)
        audit = AuditLog.open(audit_dir, **audit_options) if audit_dir is not None else None
        gate = cls(policy, audit)
        gate._owns_audit = audit is not None
        return gate

    def check(self, action: Any) -> Dict[str, Any]:
        """Decides ``action``, writes its audit record and counts it.

        Returns the decision object (spec section 4) plus ``audit_id`` (the record's hash) and
        ``audit_seq`` when the gate has an audit log; it returns only once the record is on
        disk. If the record cannot be written the :class:`~tollgate.audit.AuditError` is
        raised: an action whose decision was not recorded must not go ahead.

        An action the log cannot record as itself (see :func:`tollgate.audit.recordable`: a lone
        surrogate, nesting deeper than 512, a value that is not JSON; checked after the policy's
        ``audit.redact`` paths are redacted, as they are not recorded) is not evaluated: it is
        denied with ``reason`` and ``error`` :data:`UNRECORDABLE` (:func:`unrecordable_decision`),
        recorded as ``"[not JSON]"`` with ``eval_ns`` 0, and counted.
        """
        policy = self.policy
        redacted = redact(action, _redact_paths(policy))
        action_json = _action_text(redacted)  # the record's text, checked and made in one go
        if action_json is None:
            # Its record would say "[not JSON]": whatever the policy says, it must not go ahead.
            decision = unrecordable_decision(policy.name)
            eval_ns = 0
        else:
            t0 = time.perf_counter_ns()
            decision = policy.evaluate(action)
            eval_ns = time.perf_counter_ns() - t0
        self.metrics_recorder.record_decision(decision, eval_ns)
        out = decision.to_dict()
        if self.audit is not None:
            entry = AuditEntry(decision, None, policy.name, policy.hash, eval_ns,
                               action_json=_NOT_JSON_TEXT if action_json is None else action_json)
            t1 = time.perf_counter_ns()
            appended = self.audit.append(entry)
            self.metrics_recorder.record_audit_append(time.perf_counter_ns() - t1)
            out["audit_id"] = appended.hash
            out["audit_seq"] = appended.seq
        return out

    def metrics(self) -> Dict[str, Any]:
        """The metrics snapshot (see :mod:`tollgate.metrics`)."""
        return self.metrics_recorder.snapshot()

    def close(self) -> None:
        """Closes the audit log if the gate opened it."""
        if self.audit is not None and self._owns_audit:
            self.audit.close()

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Gate policy={self.policy.name!r} audit={self.audit!r}>"
