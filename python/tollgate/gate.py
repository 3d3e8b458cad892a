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

It runs the two halves of the pipeline (:mod:`tollgate.pipeline`, as the Node host's
``src/pipeline/``): :func:`~tollgate.pipeline.decide`, then a :class:`~tollgate.pipeline.Recorder`
over its audit log.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

from .audit import AuditLog
from .metrics import Metrics
from .pipeline import UNRECORDABLE, Recorder, decide, unrecordable_decision
from .policy import Policy

__all__ = ["Gate", "UNRECORDABLE", "unrecordable_decision"]


class Gate:
    """A policy, an optional :class:`~tollgate.audit.AuditLog` and :class:`~tollgate.metrics.Metrics`.

    Thread-safe (as its parts are): many threads may call :meth:`check` at once, and their
    audit records share ``fdatasync`` calls (group commit).
    """

    def __init__(self, policy: Policy, audit: Optional[AuditLog] = None, metrics: Optional[Metrics] = None) -> None:
        self.policy = policy
        self._metrics = metrics if metrics is not None else Metrics.for_policy(policy)
        self._recorder: Optional[Recorder] = Recorder(audit, self._metrics) if audit is not None else None
        self._owns_audit = False

    @property
    def audit(self) -> Optional[AuditLog]:
        """The audit log decisions are written to, if any."""
        return self._recorder.audit if self._recorder is not None else None

    @audit.setter
    def audit(self, audit: Optional[AuditLog]) -> None:
        self._recorder = Recorder(audit, self._metrics) if audit is not None else None

    @property
    def metrics_recorder(self) -> Metrics:
        """The :class:`~tollgate.metrics.Metrics` decisions and audit appends are counted in."""
        return self._metrics

    @metrics_recorder.setter
    def metrics_recorder(self, metrics: Metrics) -> None:
        self._metrics = metrics
        if self._recorder is not None:
            self._recorder.metrics = metrics

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
        decided = decide(self.policy, action, self._metrics)
        out = decided.decision.to_dict()
        recorder = self._recorder
        if recorder is not None:
            appended = recorder.record(decided)
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
