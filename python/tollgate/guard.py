"""``@policy.guard(tool)``: check a tool function's calls against a policy.

::

    @policy.guard("payments.refund")
    def refund(order_id: str, amount: float) -> None: ...

    refund(order_id="4821", amount=900)   # evaluates {"tool": "payments.refund",
                                          #   "args": {"order_id": "4821", "amount": 900}}

- ``allow``: the function runs.
- ``deny``: :class:`~tollgate.ActionDenied` is raised (with ``.decision``).
- ``escalate``: ``on_escalate(decision, action)`` is called; the function runs
  when it returns a true value, else ``ActionDenied`` is raised. Without a
  handler an escalation is a denial (fail closed). For ``async def``
  functions the handler may be a coroutine function.

The action's ``args`` are the call's arguments by parameter name (positional
arguments are bound to their names, defaults filled in; ``self``/``cls`` of
methods are left out, ``*args`` becomes a list, ``**kwargs`` are merged in).
``context`` (a mapping, or a function returning one, called per call) adds
top-level fields such as ``agent``, ``session`` or ``context``; ``tool`` and
``args`` always come from the call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, TypeVar, Union

from .errors import ActionDenied

if TYPE_CHECKING:  # pragma: no cover
    from .decision import Decision
    from .policy import Policy

__all__ = ["guard"]

F = TypeVar("F", bound=Callable[..., Any])

EscalationHandler = Callable[["Decision", Dict[str, Any]], Any]


def _action_builder(func: Callable[..., Any], tool: str, context: Any) -> Callable[..., Dict[str, Any]]:
    try:
        sig: Optional[inspect.Signature] = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature
        sig = None
    params = sig.parameters if sig is not None else {}
    skip_first = bool(params) and next(iter(params)) in ("self", "cls")

    def build(args: tuple, kwargs: dict) -> Dict[str, Any]:
        if sig is None:
            call_args: Dict[str, Any] = dict(kwargs)
            if args:
                call_args["args"] = list(args)
        else:
            bound = sig.bind(*args, **kwargs)  # a TypeError here is the caller's mistake, as without the guard
            bound.apply_defaults()
            call_args = {}
            for i, (name, value) in enumerate(bound.arguments.items()):
                if i == 0 and skip_first:
                    continue
                kind = params[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    call_args.update(value)
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    call_args[name] = list(value)
                else:
                    call_args[name] = value
        action: Dict[str, Any] = {}
        extra = context() if callable(context) else context
        if extra:
            if not isinstance(extra, Mapping):
                raise TypeError("guard context must be a mapping (or return one)")
            action.update(extra)
        action["tool"] = tool
        action["args"] = call_args
        return action

    return build


def _settle(policy: "Policy", step: Any, approved: bool) -> None:
    """An escalation the handler answered (or that had no handler: refused) settles its pending
    counter contributions at once (spec section 8): approved ones stay, refused ones are given back."""
    if step.pending is not None:
        policy.resolve(step.pending, "approved" if approved else "denied")


def guard(
    policy: "Policy",
    tool: str,
    *,
    on_escalate: Optional[EscalationHandler] = None,
    context: Optional[Union[Mapping, Callable[[], Mapping]]] = None,
) -> Callable[[F], F]:
    """Decorate a function so that each call is evaluated against ``policy`` first."""

    def decorate(func: F) -> F:
        build = _action_builder(func, tool, context)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                action = build(args, kwargs)
                step = policy.step(action)
                decision = step.decision
                if decision.decision == "allow":
                    return await func(*args, **kwargs)
                approved = False
                if decision.decision == "escalate" and on_escalate is not None:
                    approved = on_escalate(decision, action)
                    if inspect.isawaitable(approved):
                        approved = await approved
                _settle(policy, step, bool(approved))
                if approved:
                    return await func(*args, **kwargs)
                raise ActionDenied(decision, action)

            async_wrapper.__tollgate_tool__ = tool  # type: ignore[attr-defined]
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            action = build(args, kwargs)
            step = policy.step(action)
            decision = step.decision
            if decision.decision == "allow":
                return func(*args, **kwargs)
            approved = False
            if decision.decision == "escalate" and on_escalate is not None:
                approved = on_escalate(decision, action)
                if inspect.isawaitable(approved):
                    _settle(policy, step, False)
                    raise TypeError("an async escalation handler needs an async guarded function")
            _settle(policy, step, bool(approved))
            if approved:
                return func(*args, **kwargs)
            raise ActionDenied(decision, action)

        wrapper.__tollgate_tool__ = tool  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
