"""Exceptions raised by the Tollgate Python host."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence

from ._deprecated import deprecated_names

if TYPE_CHECKING:  # pragma: no cover
    from .decision import Decision

__all__ = ["PolicyError", "PolicyProblem", "ActionDenied", "EngineError"]


class PolicyProblem:
    """One problem found in a manifest, at a 1-based ``line``:``column`` of ``file`` (Node: ``PolicyProblem``)."""

    __slots__ = ("file", "line", "column", "message")

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.message = message

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: error: {self.message}"

    def __repr__(self) -> str:
        return f"PolicyProblem({self.file!r}, {self.line}, {self.column}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolicyProblem):
            return NotImplemented
        return (self.file, self.line, self.column, self.message) == (
            other.file,
            other.line,
            other.column,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.column, self.message))


class PolicyError(Exception):
    """A manifest was rejected; nothing of it is loaded.

    ``errors`` lists every error found, sorted by position. ``file``, ``line``,
    ``column`` and ``message`` describe the first one. ``err.format()`` (and
    ``str(err)``) gives every error, one per line, as ``FILE:LINE:COL: error: MESSAGE``,
    exactly as the Node host's ``format()`` and ``tollgate check`` print them.
    """

    errors: List[PolicyProblem]

    def __init__(self, errors: Sequence[PolicyProblem]) -> None:
        if not errors:
            raise ValueError("PolicyError needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        self.file: str = first.file
        self.line: int = first.line
        self.column: int = first.column
        self.message: str = first.message
        super().__init__(self.format())

    def format(self) -> str:
        """Every problem as ``FILE:LINE:COL: error: MESSAGE``, one per line (Node: ``PolicyError#format``)."""
        return "\n".join(str(e) for e in self.errors)

    @classmethod
    def single(cls, file: str, line: int, column: int, message: str) -> "PolicyError":
        """A PolicyError holding one error."""
        return cls([PolicyProblem(file, line, column, message)])


class ActionDenied(Exception):
    """Raised by a guarded function when the policy does not allow the call.

    ``decision`` is the :class:`~tollgate.Decision` (``deny``, or ``escalate``
    when the escalation handler did not approve), ``action`` the action that
    was evaluated.
    """

    def __init__(self, decision: "Decision", action: Optional[dict] = None) -> None:
        self.decision = decision
        self.action = action
        why = decision.reason or decision.decision
        rule = f" by rule {decision.rule}" if decision.rule else ""
        super().__init__(f"{decision.decision}{rule}: {why}")


class EngineError(RuntimeError):
    """The Wasm core could not be loaded (missing file, unknown ABI version...)."""


__getattr__ = deprecated_names(__name__, {"PolicyErrorItem": ("PolicyProblem", lambda: PolicyProblem)})
