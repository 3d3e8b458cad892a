"""A guard for the tool calls of an MCP client (the ``mcp`` Python SDK).

::

    from mcp import ClientSession
    from tollgate import Gate
    from tollgate.adapters.mcp import GuardedSession

    gate = Gate.open("policy.yaml", audit_dir="./audit")
    async with ClientSession(read, write) as session:      # or mcp.Client(...)
        await session.initialize()
        tools = GuardedSession(session, gate, server="files", agent="support-bot")
        result = await tools.call_tool("write_file", {"path": "/etc/passwd", "text": "..."})
        result.is_error          # True: refused by the policy, never sent to the server

Each ``call_tool(name, arguments)`` is decided by the gate (:meth:`tollgate.Gate.check`: audit
record, counters, metrics) before anything is sent, as the action::

    {"tool": "<server>.<name>", "args": <arguments>, "agent": {"id": agent},
     "session": {"id": session_id}, "context": {"transport": "mcp", "framework": "mcp-python"}}

- ``allow``: the call goes to the server; its result is returned unchanged.
- ``deny``: the call is not sent. By default the result is a ``CallToolResult`` with
  ``isError: true`` and a text naming the rule and its reason — how MCP reports a tool that
  failed, so the model reads it and the agent loop goes on. ``on_deny="raise"`` raises
  :class:`ToolCallDenied` instead. The decision is in the result's ``_meta["tollgate/decision"]``.
- ``escalate``: ``on_escalate="wait"`` (default) waits until the escalation is approved or denied
  with :meth:`tollgate.Gate.resolve` (from any thread, e.g. an approval UI's) or expires
  (``timeout_ms``; the outcome is then the rule's ``on_timeout``); approved → redeemed
  (``Gate.check(action, approval_id=...)``: once, for this very call, its own audit record) and
  sent, else refused.
  ``approval_timeout`` (seconds) caps the wait on this side (the escalation stays open).
  ``on_escalate="refuse"`` refuses at once. ``on_escalate=callable`` asks it:
  ``callable(decision, action)`` returns (or awaits to) a bool, recorded with ``Gate.resolve``.
  Waiting and asking need a gate with an audit log (an escalation is approved by its record's
  hash); without one an escalation is refused.
- Fail closed: if deciding fails in any way (the policy engine, the audit log, a value that
  cannot be copied...), the call is refused and never sent. Arguments that are not JSON (NaN, a
  set, bytes...) are denied by the gate itself (``error``: the action cannot be recorded).

The arguments are copied before they are decided, and the copy is what is sent: a caller that
changes its dict afterwards cannot change what was allowed. Every other attribute and method of
the wrapped session (``list_tools``, ``initialize``...) passes through unchanged.
"""

from __future__ import annotations

import copy
import inspect
import time
import uuid
from collections.abc import Mapping
from typing import Any, Awaitable, Callable, Dict, Optional, Union

import anyio
import anyio.to_thread
from mcp.types import CallToolResult

from ..decision import Decision
from ..errors import ActionDenied
from ..gate import Gate

__all__ = ["GuardedSession", "ToolCallDenied", "META_KEY"]

META_KEY = "tollgate/decision"
"""The key of the refusal result's ``_meta`` that holds the gate's decision (and ``outcome``)."""

EscalationAnswer = Callable[[Dict[str, Any], Dict[str, Any]], Union[bool, Awaitable[bool]]]


class ToolCallDenied(ActionDenied):
    """Raised by :meth:`GuardedSession.call_tool` with ``on_deny="raise"``: the call was not sent.

    ``decision`` is the :class:`~tollgate.Decision` (for a failure to decide: a ``deny`` with
    ``error`` set), ``action`` the action, ``gate_decision`` the gate's dict (``audit_id``...;
    None when deciding failed), ``outcome`` one of ``"deny"``, ``"approval denied"``,
    ``"approval expired"``, ``"not approved"`` (refused at once, or the wait was cut short),
    ``"approval not redeemed"`` (approved, but its redemption was refused) and ``"error"``, and ``result`` the ``CallToolResult`` the default mode would have returned.
    """

    def __init__(self, decision: Decision, action: Optional[dict], gate_decision: Optional[Dict[str, Any]], outcome: str, result: CallToolResult, text: str) -> None:
        super().__init__(decision, action)
        self.gate_decision = gate_decision
        self.outcome = outcome
        self.result = result
        self.args = (text,)

    def __str__(self) -> str:
        return str(self.args[0])


def _as_decision(d: Mapping[str, Any]) -> Decision:
    return Decision(
        d.get("decision", "deny"),
        d.get("rule"),
        d.get("reason"),
        bool(d.get("undetermined", False)),
        d.get("policy", ""),
        approver=d.get("approver"),
        timeout_ms=d.get("timeout_ms"),
        on_timeout=d.get("on_timeout"),
        error=d.get("error"),
        counters=d.get("counters"),
    )


def _by_rule(d: Mapping[str, Any]) -> str:
    rule = d.get("rule")
    reason = d.get("reason")
    who = f'rule "{rule}"' if rule is not None else "the policy's default"
    return f"{who}: {reason}" if reason else who


class GuardedSession:
    """Wraps an MCP client session so that every ``call_tool`` is decided by ``gate`` first.

    ``session``: an ``mcp.ClientSession`` or ``mcp.Client`` (anything with ``call_tool(name,
    arguments, ...)``). ``server``: the name tools are prefixed with (``"<server>.<name>"``);
    None: the bare tool name. ``agent``: the agent id (``agent`` left out when None).
    ``session_id``: the session id (default: a new UUID per ``GuardedSession``). ``context``:
    more fields of ``context`` (``transport`` and ``framework`` are always the adapter's).
    ``on_deny``: ``"result"`` (default) or ``"raise"``. ``on_escalate``: ``"wait"`` (default),
    ``"refuse"`` or a callable. ``approval_timeout``: seconds to wait at most (None: until the
    escalation expires). ``poll_interval``: the longest pause between two looks at a pending
    escalation while waiting (seconds).
    """

    def __init__(
        self,
        session: Any,
        gate: Gate,
        *,
        server: Optional[str] = None,
        agent: Optional[str] = None,
        session_id: Optional[str] = None,
        context: Optional[Mapping[str, Any]] = None,
        on_deny: str = "result",
        on_escalate: Union[str, EscalationAnswer] = "wait",
        approval_timeout: Optional[float] = None,
        poll_interval: float = 0.2,
    ) -> None:
        if on_deny not in ("result", "raise"):
            raise ValueError('on_deny is "result" or "raise"')
        if not callable(on_escalate) and on_escalate not in ("wait", "refuse"):
            raise ValueError('on_escalate is "wait", "refuse" or a callable')
        if context is not None and not isinstance(context, Mapping):
            raise TypeError("context must be a mapping")
        self.session = session
        self.gate = gate
        self.server = server
        self.agent = agent
        self.session_id = session_id if session_id is not None else str(uuid.uuid4())
        self.context = dict(context) if context is not None else {}
        self.on_deny = on_deny
        self.on_escalate = on_escalate
        self.approval_timeout = approval_timeout
        self.poll_interval = poll_interval

    def __getattr__(self, name: str) -> Any:
        # Only called for names this class lacks: the session's other methods and attributes.
        if name == "session":
            raise AttributeError(name)
        return getattr(self.session, name)

    async def __aenter__(self) -> "GuardedSession":
        await self.session.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.session.__aexit__(*exc)

    def action(self, name: str, arguments: Any) -> Dict[str, Any]:
        """The action a call of tool ``name`` with ``arguments`` is decided as."""
        action: Dict[str, Any] = {"tool": f"{self.server}.{name}" if self.server else name, "args": arguments}
        if self.agent is not None:
            action["agent"] = {"id": self.agent}
        action["session"] = {"id": self.session_id}
        action["context"] = {**self.context, "transport": "mcp", "framework": "mcp-python"}
        return action

    async def call_tool(self, name: str, arguments: Optional[Dict[str, Any]] = None, *args: Any, **kwargs: Any) -> Any:
        """Decides the call, then sends it (allow, or an approved escalation) or refuses it.

        The other arguments (``read_timeout_seconds``, ``progress_callback``, ``meta``...) go to
        the session's ``call_tool`` as given. While an escalation is waited for,
        ``progress_callback`` (if given) is told once, with a message naming the approver.
        """
        if arguments is not None and not isinstance(arguments, Mapping):
            raise TypeError(f"tool arguments must be a mapping, not {type(arguments).__name__}")
        action: Optional[Dict[str, Any]] = None
        try:
            sent = copy.deepcopy(dict(arguments)) if arguments is not None else None
            action = self.action(name, sent if sent is not None else {})
            d = await anyio.to_thread.run_sync(self.gate.check, action)
            verdict = d["decision"]
            if verdict == "escalate":
                outcome = await self._escalation(d, action, args, kwargs)
            elif verdict in ("allow", "deny"):
                outcome = verdict
            else:
                raise ValueError(f"unknown decision {verdict!r}")
        except Exception as err:  # fail closed: nothing is sent
            return self._refuse(name, None, action, "error", err)
        if outcome == "allow":
            return await self.session.call_tool(name, sent, *args, **kwargs)
        return self._refuse(name, d, action, outcome, None)

    async def _escalation(self, d: Dict[str, Any], action: Dict[str, Any], args: tuple, kwargs: dict) -> str:
        """"allow" or the reason an escalation is refused."""
        audit_id = d.get("audit_id")
        if self.on_escalate == "refuse" or audit_id is None:
            return "not approved"
        gate = self.gate
        if callable(self.on_escalate):
            answer = self.on_escalate(dict(d), copy.deepcopy(action))  # a copy: what is sent stays what was decided
            if inspect.isawaitable(answer):
                answer = await answer
            await anyio.to_thread.run_sync(lambda: gate.resolve(audit_id, "approved" if bool(answer) else "denied", by="tollgate.adapters.mcp"))
            state = gate.wait(audit_id, timeout=0)
        else:
            progress = kwargs.get("progress_callback", args[1] if len(args) >= 2 else None)
            if progress is not None:
                try:
                    await progress(0, None, f"waiting for approval by {d.get('approver')} ({_by_rule(d)})")
                except Exception:
                    pass  # a progress display that fails does not decide anything
            state = await self._wait(audit_id)
        if state == "approved":
            # Redeemed before it runs, as the Node adapters do: once, and only as it was approved
            # (its own audit record, linked to the approval's).
            redeemed = await anyio.to_thread.run_sync(lambda: gate.check(action, approval_id=d.get("approval_id") or audit_id))
            return "allow" if redeemed.get("decision") == "allow" else "approval not redeemed"
        if state == "expired":
            return "allow" if d.get("on_timeout") == "allow" else "approval expired"
        if state == "denied":
            return "approval denied"
        return "not approved"

    async def _wait(self, audit_id: str) -> Optional[str]:
        """Polls the gate (no thread is held while waiting, so any number of calls can wait)."""
        deadline = None if self.approval_timeout is None else time.monotonic() + self.approval_timeout
        pause = 0.01
        while True:
            state = self.gate.wait(audit_id, timeout=0)
            if state is not None:
                return state
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                await anyio.sleep(min(pause, left))
            else:
                await anyio.sleep(pause)
            pause = min(pause * 2, self.poll_interval)

    def _refuse(self, name: str, d: Optional[Dict[str, Any]], action: Optional[Dict[str, Any]], outcome: str, err: Optional[BaseException]) -> CallToolResult:
        tool = action["tool"] if action is not None else name
        if d is None:
            why = f"{type(err).__name__}: {err}"
            text = f'Tollgate could not decide on the call to tool "{tool}", so it was not run ({why}).'
            meta: Dict[str, Any] = {"decision": "deny", "rule": None, "reason": "the policy could not be applied", "error": why, "outcome": outcome}
            decision = Decision("deny", None, meta["reason"], False, getattr(getattr(self.gate, "policy", None), "name", "") or "", error=why)
        else:
            by = _by_rule(d)
            approver = d.get("approver")
            if outcome == "deny":
                text = f'Tollgate denied the call to tool "{tool}" ({by}). It was not run.'
            elif outcome == "approval denied":
                text = f'Tollgate did not run tool "{tool}": it needed approval by {approver} ({by}), and the approval was denied.'
            elif outcome == "approval expired":
                text = f'Tollgate did not run tool "{tool}": it needed approval by {approver} ({by}), and none came in time.'
            elif outcome == "approval not redeemed":
                text = f'Tollgate did not run tool "{tool}": it was approved ({by}), but the approval could not be redeemed for this call.'
            else:
                text = f'Tollgate did not run tool "{tool}": it needs approval by {approver} ({by}), which was not given.'
            meta = {**d, "outcome": outcome}
            decision = _as_decision(d)
        result = CallToolResult.model_validate({"content": [{"type": "text", "text": text}], "isError": True, "_meta": {META_KEY: meta}})
        if self.on_deny == "raise":
            raise ToolCallDenied(decision, action, d, outcome, result, text) from err
        return result
