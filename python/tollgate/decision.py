"""The decision object of the policy language (spec section 4)."""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Union

__all__ = ["Decision"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy decided for one action.

    Immutable; the engine hands out one shared instance per (rule,
    undetermined) pair, so comparing and hashing are cheap and a decision
    costs no allocation (a decision that carries ``counters`` is its own
    instance). :meth:`to_dict` gives exactly the JSON object of the spec:
    ``approver``, ``timeout_ms`` and ``on_timeout`` only for ``escalate``,
    ``error`` only when the input could not be evaluated, ``counters`` only
    for a policy whose rules read counters (spec section 8), before ``policy``.
    """

    decision: str
    """``"allow"``, ``"deny"`` or ``"escalate"``."""
    rule: Optional[str]
    """Id of the deciding rule; ``None`` for a default or error decision."""
    reason: Optional[str]
    """The rule's reason, ``"no rule matched"`` for a default deny, else ``None``."""
    undetermined: bool
    """True when the deciding rule's condition was UNKNOWN rather than TRUE."""
    policy: str
    """The manifest's ``name``."""
    approver: Optional[str] = None
    """Escalations only: who must approve."""
    timeout_ms: Optional[int] = None
    """Escalations only: how long the approver has, in milliseconds."""
    on_timeout: Optional[str] = None
    """Escalations only: ``"deny"`` or ``"allow"`` when the approver does not answer."""
    error: Optional[str] = None
    """Set when the action could not be evaluated (the decision is then ``deny``)."""
    counters: Optional[Mapping[str, Optional[Union[int, float]]]] = field(default=None, hash=False)
    """Policies whose rules read counters: the value of each counter the rules read (None when
    UNKNOWN), in declaration order as the Node host lists them. Absent (None) otherwise and on
    an error decision."""

    def __reduce__(self) -> Any:
        # A decision crosses processes (tollgate.pipeline.Decided pickles); the read-only view of
        # `counters` does not pickle, a plain dict does, and is wrapped again on the way back.
        return (_restore, (self.decision, self.rule, self.reason, self.undetermined, self.policy, self.approver,
                           self.timeout_ms, self.on_timeout, self.error,
                           None if self.counters is None else dict(self.counters)))

    @property
    def allowed(self) -> bool:
        """True exactly when :attr:`decision` is ``"allow"``."""
        return self.decision == "allow"

    def to_dict(self) -> Dict[str, Any]:
        """The decision as a new JSON-ready dict (spec section 4)."""
        d: Dict[str, Any] = {
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "undetermined": self.undetermined,
        }
        if self.decision == "escalate":
            d["approver"] = self.approver
            d["timeout_ms"] = self.timeout_ms
            d["on_timeout"] = self.on_timeout
        if self.error is not None:
            d["error"] = self.error
        if self.counters is not None:
            # A sum past the double range (amounts near 1.8e308) is infinite in the core, compared
            # as such; JSON has no infinity, so it is null here, as the Node host's JSON has it.
            d["counters"] = {k: (v if v is None or math.isfinite(v) else None) for k, v in self.counters.items()}
        d["policy"] = self.policy
        return d


class _Unfrozen:
    """A :class:`Decision` being made: the same slots, in the same order, without the frozen
    ``__setattr__``, so that :func:`_with_counters` fills them with plain attribute stores and then
    makes the object a ``Decision`` (``__class__`` assignment, allowed between classes of the same
    layout: the same slots on ``object``)."""

    __slots__ = Decision.__slots__


_new = object.__new__


def _with_counters(d: Decision, counters: Mapping[str, Optional[Union[int, float]]]) -> Decision:
    """``Decision(d.decision, ..., d.on_timeout, None, counters)``: ``d`` (no error) carrying
    ``counters``, the same object the dataclass's ``__init__`` makes, at a quarter of its cost (its
    ten calls of ``object.__setattr__``; the stateful hot path makes one per new set of counter
    values)."""
    new = _new(_Unfrozen)
    new.decision = d.decision
    new.rule = d.rule
    new.reason = d.reason
    new.undetermined = d.undetermined
    new.policy = d.policy
    new.approver = d.approver
    new.timeout_ms = d.timeout_ms
    new.on_timeout = d.on_timeout
    new.error = None
    new.counters = counters
    new.__class__ = Decision
    return new  # type: ignore[return-value]


def _check_with_counters() -> None:
    probe = Decision("escalate", "r", "why", True, "p", "ops", 5, "deny")
    made = _with_counters(probe, {"n": 1})
    assert type(made) is Decision and made == Decision("escalate", "r", "why", True, "p", "ops", 5, "deny", None, {"n": 1})
    assert made.counters == {"n": 1}


_check_with_counters()


def _restore(decision: str, rule: Optional[str], reason: Optional[str], undetermined: bool, policy: str,
             approver: Optional[str], timeout_ms: Optional[int], on_timeout: Optional[str], error: Optional[str],
             counters: Optional[Dict[str, Any]]) -> Decision:
    from types import MappingProxyType

    return Decision(decision, rule, reason, undetermined, policy, approver, timeout_ms, on_timeout, error,
                    None if counters is None else MappingProxyType(counters))
