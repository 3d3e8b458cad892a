"""tollgate.adapters.mcp: a guard for the tool calls of the MCP Python SDK's clients.

Real MCP sessions only: a real server (the SDK's MCPServer, tests/mcp_tool_server.py) that logs
every call it receives to a file, reached over stdio as a subprocess (``ClientSession`` on
``stdio_client``) and in process (``mcp.Client`` on the SDK's in-memory transport). What the
server's log lacks was never sent. Generous timeouts: no test asserts how long anything took.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, List

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client, ClientSession, StdioServerParameters, stdio_client  # noqa: E402

from tollgate import ActionDenied, Gate, Policy  # noqa: E402
from tollgate.adapters.mcp import META_KEY, GuardedSession, ToolCallDenied  # noqa: E402
from tollgate.audit import AuditError, verify_log  # noqa: E402
from tollgate.gate import UNRECORDABLE  # noqa: E402

import mcp_tool_server  # noqa: E402  (tests/ is on sys.path)

SERVER = Path(mcp_tool_server.__file__)
LIMIT_S = 120  # per test: a shared 2-core machine may be slow, never this slow

POLICY = """tollgate: 1
name: mcp-tools
default: deny
approvers:
  ops: { timeout: 10m }
  quick: { timeout: 300ms }
  lenient: { timeout: 300ms, on_timeout: allow }
counters:
  echoes:
    per: [session.id]
    window: 1h
    when: { tool: files.echo }
rules:
  - { id: echo-limit, effect: deny, reason: at most 3 echoes a session, when: { tool: files.echo, $echoes: { gt: 3 } } }
  - { id: echo, effect: allow, when: { tool: files.echo } }
  - { id: no-etc, effect: deny, reason: no writes under /etc, when: { tool: files.write_file, args.path: { prefix: /etc/ } } }
  - { id: writes, effect: allow, when: { tool: files.write_file } }
  - { id: big, effect: escalate, approver: ops, reason: large payment, when: { tool: files.pay, args.amount: { gt: 100, lt: 1000 } } }
  - { id: huge, effect: escalate, approver: quick, reason: huge payment, when: { tool: files.pay, args.amount: { gte: 1000, lt: 5000 } } }
  - { id: odd, effect: escalate, approver: lenient, reason: odd payment, when: { tool: files.pay, args.amount: { gte: 5000 } } }
  - { id: small, effect: allow, when: { tool: files.pay } }
"""

TRANSPORTS = ["stdio", "memory"]


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "server-calls.jsonl"


@pytest.fixture
def gate(audit_dir: Path):
    g = Gate.open(Policy.from_yaml(POLICY), audit_dir=audit_dir)
    yield g
    g.close()


@asynccontextmanager
async def connect(kind: str, log: Path) -> AsyncIterator[Any]:
    """A live session with the test server: ``ClientSession`` over stdio, or ``Client`` in memory."""
    if kind == "stdio":
        params = StdioServerParameters(command=sys.executable, args=[str(SERVER), str(log)], env={**os.environ})
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
    else:
        # mode="legacy": the SDK's InMemoryTransport (JSON-RPC over in-memory streams).
        async with Client(mcp_tool_server.build(log), mode="legacy") as client:
            yield client


def run(main: Callable[[], Any]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(LIMIT_S):
            await main()

    anyio.run(bounded)


def records(audit_dir: Path) -> List[dict]:
    """The audit records written so far (whole lines only: the log may be growing)."""
    out: List[dict] = []
    if not audit_dir.exists():
        return out
    for name in sorted(n for n in os.listdir(audit_dir) if n.endswith(".jsonl")):
        data = (audit_dir / name).read_text(encoding="utf-8")
        out += [json.loads(line) for line in data.split("\n")[:-1] if line]
    return out


def verified(gate: Gate, audit_dir: Path) -> Any:
    """Closes the gate (its final checkpoint signs the whole log), then verifies the log."""
    gate.close()
    return verify_log(audit_dir)


def resolve_when_escalated(gate: Gate, audit_dir: Path, resolution: str, by: str = "alice") -> threading.Thread:
    """An approver in another thread: watches the audit log for the escalation, then resolves it
    through the gate (as an approval UI tailing the log would)."""

    def work() -> None:
        deadline = time.monotonic() + LIMIT_S
        while time.monotonic() < deadline:
            for r in records(audit_dir):
                if r["decision"]["decision"] == "escalate":
                    assert gate.resolve(r["hash"], resolution, by=by) is True
                    return
            time.sleep(0.02)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t


def text(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_allow_is_forwarded_and_deny_is_not(transport: str, gate: Gate, audit_dir: Path, log: Path) -> None:
    async def main() -> None:
        async with connect(transport, log) as session:
            tools = GuardedSession(session, gate, server="files", agent="bot-1", session_id="s-1")
            ok = await tools.call_tool("echo", {"text": "hi"})
            assert not ok.is_error and text(ok) == "echo: hi"
            denied = await tools.call_tool("write_file", {"path": "/etc/passwd", "text": "root::0:0"})
            assert denied.is_error
            assert text(denied) == 'Tollgate denied the call to tool "files.write_file" (rule "no-etc": no writes under /etc). It was not run.'
            meta = denied.meta[META_KEY]
            assert meta["decision"] == "deny" and meta["rule"] == "no-etc" and meta["outcome"] == "deny" and meta["audit_seq"] == 2
            unknown = await tools.call_tool("delete_everything", {})
            assert unknown.is_error and "the policy's default: no rule matched" in text(unknown)
            written = await tools.call_tool("write_file", {"path": "/tmp/notes", "text": "x"})
            assert not written.is_error
            # Everything else passes through to the SDK's session.
            listed = await tools.list_tools()
            assert {t.name for t in listed.tools} == {"echo", "write_file", "pay"}

    run(main)
    assert mcp_tool_server.seen(log) == [
        {"tool": "echo", "args": {"text": "hi"}},
        {"tool": "write_file", "args": {"path": "/tmp/notes", "text": "x"}},
    ]
    recs = records(audit_dir)
    assert [(r["action"]["tool"], r["decision"]["decision"]) for r in recs] == [
        ("files.echo", "allow"),
        ("files.write_file", "deny"),
        ("files.delete_everything", "deny"),
        ("files.write_file", "allow"),
    ]
    assert recs[1]["action"] == {
        "tool": "files.write_file",
        "args": {"path": "/etc/passwd", "text": "root::0:0"},
        "agent": {"id": "bot-1"},
        "session": {"id": "s-1"},
        "context": {"transport": "mcp", "framework": "mcp-python"},
    }
    v = verified(gate, audit_dir)
    assert v.ok and v.records == 4
    assert gate.metrics()["decisions"] == {"allow": 2, "deny": 2, "escalate": 0}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_escalation_approved_from_another_thread_is_forwarded(transport: str, gate: Gate, audit_dir: Path, log: Path) -> None:
    progress: List[str] = []

    async def on_progress(p: float, total: Any, message: Any) -> None:
        progress.append(message)

    async def main() -> None:
        async with connect(transport, log) as session:
            tools = GuardedSession(session, gate, server="files", agent="bot-1")
            approver = resolve_when_escalated(gate, audit_dir, "approved")
            result = await tools.call_tool("pay", {"amount": 200}, progress_callback=on_progress)
            approver.join(LIMIT_S)
            assert not result.is_error and text(result) == "paid 200"

    run(main)
    assert mcp_tool_server.seen(log) == [{"tool": "pay", "args": {"amount": 200}}]
    assert progress == ['waiting for approval by ops (rule "big": large payment)']
    recs = records(audit_dir)
    assert [r["decision"]["decision"] for r in recs] == ["escalate", "allow", "allow"]
    approval = recs[1]["decision"]["approval"]
    assert approval["state"] == "approved" and approval["by"] == "alice"
    assert approval["decision_hash"] == recs[0]["hash"] and approval["decision_seq"] == 1
    # Redeemed before it was sent: its own record, linked to the escalation's and the approval's.
    redemption = recs[2]["decision"]
    assert redemption["approved_by"] == "alice" and redemption["rule"] == "big"
    assert redemption["redemption"] == {"approval_id": approval["id"], "check": None, "decision_seq": 1, "decision_hash": recs[0]["hash"], "resolution_seq": recs[1]["seq"], "resolution_hash": recs[1]["hash"]}
    assert verified(gate, audit_dir).ok


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_escalation_denied_is_refused(transport: str, gate: Gate, audit_dir: Path, log: Path) -> None:
    async def main() -> None:
        async with connect(transport, log) as session:
            tools = GuardedSession(session, gate, server="files")
            approver = resolve_when_escalated(gate, audit_dir, "denied", by="bob")
            result = await tools.call_tool("pay", {"amount": 200})
            approver.join(LIMIT_S)
            assert result.is_error
            assert text(result) == 'Tollgate did not run tool "files.pay": it needed approval by ops (rule "big": large payment), and the approval was denied.'
            assert result.meta[META_KEY]["outcome"] == "approval denied"

    run(main)
    assert mcp_tool_server.seen(log) == []
    recs = records(audit_dir)
    assert [r["decision"]["decision"] for r in recs] == ["escalate", "deny"]
    assert recs[1]["decision"]["approval"]["state"] == "denied" and recs[1]["decision"]["approval"]["by"] == "bob"
    assert verified(gate, audit_dir).ok


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_expired_escalation_follows_on_timeout(transport: str, gate: Gate, audit_dir: Path, log: Path) -> None:
    async def main() -> None:
        async with connect(transport, log) as session:
            tools = GuardedSession(session, gate, server="files")
            refused = await tools.call_tool("pay", {"amount": 2000})  # approver "quick": on_timeout deny
            assert refused.is_error and "none came in time" in text(refused)
            assert refused.meta[META_KEY]["outcome"] == "approval expired"
            allowed = await tools.call_tool("pay", {"amount": 6000})  # approver "lenient": on_timeout allow
            assert not allowed.is_error and text(allowed) == "paid 6000"
            # Too late: an expired escalation cannot be resolved any more.
            first = records(audit_dir)[0]
            assert gate.resolve(first["hash"], "approved") is False

    run(main)
    assert mcp_tool_server.seen(log) == [{"tool": "pay", "args": {"amount": 6000}}]
    assert verified(gate, audit_dir).ok


def test_refuse_at_once_and_a_bounded_wait(gate: Gate, audit_dir: Path, log: Path) -> None:
    async def main() -> None:
        async with connect("memory", log) as session:
            refuse = GuardedSession(session, gate, server="files", on_escalate="refuse")
            result = await refuse.call_tool("pay", {"amount": 200})
            assert result.is_error and result.meta[META_KEY]["outcome"] == "not approved"
            assert text(result) == 'Tollgate did not run tool "files.pay": it needs approval by ops (rule "big": large payment), which was not given.'
            # The escalation is recorded and stays open for a human (but this call is over).
            assert gate.wait(result.meta[META_KEY]["audit_id"], timeout=0) is None
            bounded = GuardedSession(session, gate, server="files", approval_timeout=0.05)
            result = await bounded.call_tool("pay", {"amount": 300})
            assert result.is_error and result.meta[META_KEY]["outcome"] == "not approved"
            assert await refuse.call_tool("pay", {"amount": 5}) is not None  # small: allowed

    run(main)
    assert mcp_tool_server.seen(log) == [{"tool": "pay", "args": {"amount": 5}}]
    assert [r["decision"]["decision"] for r in records(audit_dir)] == ["escalate", "escalate", "allow"]


def test_an_escalation_callable_answers_and_is_recorded(gate: Gate, audit_dir: Path, log: Path) -> None:
    asked: List[Any] = []
    caller_args = {"amount": 200}

    async def ask(decision: dict, action: dict) -> bool:
        asked.append((decision["rule"], action["args"]["amount"]))
        caller_args["amount"] = 999_999  # the caller's dict changes: what is sent does not
        action["args"]["amount"] = 999_999  # nor can the handler change it
        await anyio.sleep(0)
        return decision["rule"] == "big" and len(asked) == 1

    async def main() -> None:
        async with connect("memory", log) as session:
            tools = GuardedSession(session, gate, server="files", on_escalate=ask)
            ok = await tools.call_tool("pay", caller_args)
            assert not ok.is_error and text(ok) == "paid 200"
            no = await tools.call_tool("pay", {"amount": 300})
            assert no.is_error and no.meta[META_KEY]["outcome"] == "approval denied"

    run(main)
    assert asked == [("big", 200), ("big", 300)]
    assert mcp_tool_server.seen(log) == [{"tool": "pay", "args": {"amount": 200}}]
    recs = records(audit_dir)
    assert [(r["decision"]["decision"], r["decision"].get("approval", {}).get("by")) for r in recs] == [
        ("escalate", None), ("allow", "tollgate.adapters.mcp"), ("allow", None), ("escalate", None), ("deny", "tollgate.adapters.mcp"),
    ]
    assert recs[2]["decision"]["redemption"]["resolution_hash"] == recs[1]["hash"]  # the approved call was redeemed
    assert verified(gate, audit_dir).ok


def test_on_deny_raise(gate: Gate, log: Path) -> None:
    async def main() -> None:
        async with connect("memory", log) as session:
            tools = GuardedSession(session, gate, server="files", on_deny="raise", on_escalate="refuse")
            with pytest.raises(ToolCallDenied) as denied:
                await tools.call_tool("write_file", {"path": "/etc/hosts", "text": "x"})
            err = denied.value
            assert isinstance(err, ActionDenied) and err.outcome == "deny"
            assert err.decision.rule == "no-etc" and err.decision.reason == "no writes under /etc"
            assert err.gate_decision["audit_seq"] == 1 and err.action["args"]["path"] == "/etc/hosts"
            assert str(err) == text(err.result) and err.result.is_error
            with pytest.raises(ToolCallDenied) as escalated:
                await tools.call_tool("pay", {"amount": 200})
            assert escalated.value.outcome == "not approved" and escalated.value.decision.decision == "escalate"

    run(main)
    assert mcp_tool_server.seen(log) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_counters_limit_a_session_even_under_concurrency(transport: str, audit_dir: Path, log: Path) -> None:
    results: List[Any] = []

    async def main(gate: Gate) -> None:
        async with connect(transport, log) as session:
            tools = GuardedSession(session, gate, server="files", session_id="s-a")

            async def one(i: int) -> None:
                results.append(await tools.call_tool("echo", {"text": f"m{i}"}))

            async with anyio.create_task_group() as tg:
                for i in range(12):
                    tg.start_soon(one, i)
            other = GuardedSession(session, gate, server="files", session_id="s-b")
            assert not (await other.call_tool("echo", {"text": "b"})).is_error

    with Gate.open(Policy.from_yaml(POLICY), audit_dir=audit_dir) as gate:
        run(lambda: main(gate))
    assert sum(not r.is_error for r in results) == 3
    refused = [r for r in results if r.is_error]
    assert len(refused) == 9 and all(r.meta[META_KEY]["rule"] == "echo-limit" for r in refused)
    assert "at most 3 echoes a session" in text(refused[0])
    calls = mcp_tool_server.seen(log)
    assert len(calls) == 4 and calls[-1] == {"tool": "echo", "args": {"text": "b"}}

    # The counters live in the audit log: a gate opened on it again still holds session s-a to 3.
    async def again(gate: Gate) -> None:
        async with connect(transport, log) as session:
            tools = GuardedSession(session, gate, server="files", session_id="s-a")
            assert (await tools.call_tool("echo", {"text": "again"})).is_error

    with Gate.open(Policy.from_yaml(POLICY), audit_dir=audit_dir) as gate:
        run(lambda: again(gate))
    assert len(mcp_tool_server.seen(log)) == 4
    assert verify_log(audit_dir).ok and verify_log(audit_dir).records == 14


@pytest.mark.parametrize(
    "args",
    [
        {"path": "/tmp/a", "text": float("nan")},
        {"path": "/tmp/a", "text": float("inf")},
        {"path": "/tmp/a", "text": {"a", "b"}},
        {"path": "/tmp/a", "text": b"bytes"},
        {"path": "/tmp/a", "text": {1: "non-string key"}},
        {"path": "/tmp/a", "text": "\ud800"},
    ],
    ids=["nan", "inf", "set", "bytes", "int-key", "lone-surrogate"],
)
def test_arguments_that_are_not_json_are_denied(args: dict, gate: Gate, audit_dir: Path, log: Path) -> None:
    async def main() -> None:
        async with connect("memory", log) as session:
            tools = GuardedSession(session, gate, server="files")
            result = await tools.call_tool("write_file", args)
            assert result.is_error
            meta = result.meta[META_KEY]
            assert meta["decision"] == "deny" and meta["error"] == UNRECORDABLE and meta["outcome"] == "deny"

    run(main)
    assert mcp_tool_server.seen(log) == []
    recs = records(audit_dir)
    assert len(recs) == 1 and recs[0]["action"] == "[not JSON]" and recs[0]["decision"]["error"] == UNRECORDABLE
    assert verified(gate, audit_dir).ok


def test_arguments_that_are_not_a_mapping_are_a_type_error(gate: Gate, audit_dir: Path, log: Path) -> None:
    async def main() -> None:
        async with connect("memory", log) as session:
            tools = GuardedSession(session, gate, server="files")
            with pytest.raises(TypeError, match="mapping"):
                await tools.call_tool("echo", ["hi"])  # type: ignore[arg-type]

    run(main)
    assert mcp_tool_server.seen(log) == [] and records(audit_dir) == []


def test_a_failure_to_decide_refuses(audit_dir: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tollgate.audit as audit_mod

    gate = Gate.open(Policy.from_yaml(POLICY), audit_dir=audit_dir)

    async def main() -> None:
        async with connect("memory", log) as session:
            tools = GuardedSession(session, gate, server="files")
            raising = GuardedSession(session, gate, server="files", on_deny="raise")
            # The policy engine fails.
            with monkeypatch.context() as m:
                def broken(action: Any) -> Any:
                    raise RuntimeError("engine exploded")

                m.setattr(gate, "check", broken)
                result = await tools.call_tool("echo", {"text": "x"})
                assert result.is_error and result.meta[META_KEY]["outcome"] == "error"
                assert text(result) == 'Tollgate could not decide on the call to tool "files.echo", so it was not run (RuntimeError: engine exploded).'
                with pytest.raises(ToolCallDenied) as err:
                    await raising.call_tool("echo", {"text": "x"})
                assert err.value.outcome == "error" and isinstance(err.value.__cause__, RuntimeError)
                assert err.value.decision.decision == "deny" and err.value.gate_decision is None
            # A value that cannot even be copied.
            result = await tools.call_tool("echo", {"text": threading.Lock()})
            assert result.is_error and result.meta[META_KEY]["outcome"] == "error"
            # The audit log cannot be written (disk full): nothing goes ahead unrecorded.
            assert not (await tools.call_tool("echo", {"text": "before"})).is_error

            def full(fd: int) -> None:
                raise OSError(28, "No space left on device")

            monkeypatch.setattr(audit_mod, "_datasync", full)
            result = await tools.call_tool("echo", {"text": "after"})
            assert result.is_error and "No space left on device" in text(result)

    run(main)
    assert mcp_tool_server.seen(log) == [{"tool": "echo", "args": {"text": "before"}}]
    with pytest.raises(AuditError):
        gate.close()  # the log stays failed: closing says so


def test_options_are_checked(gate: Gate) -> None:
    with pytest.raises(ValueError):
        GuardedSession(object(), gate, on_deny="ignore")
    with pytest.raises(ValueError):
        GuardedSession(object(), gate, on_escalate="allow")
    a = GuardedSession(object(), gate, server="s", context={"transport": "x", "team": "t"})
    assert a.action("t", {})["context"] == {"transport": "mcp", "framework": "mcp-python", "team": "t"}
    assert "agent" not in a.action("t", {}) and a.action("t", {})["session"]["id"] == a.session_id
    assert GuardedSession(object(), gate).action("t", {})["tool"] == "t"


COUNTED = """tollgate: 1
name: counted-escalations
default: allow
approvers:
  finance: { timeout: 10m }
counters:
  spent:
    per: [agent.id]
    window: 1d
    when: { tool: pay }
    sum: args.amount
rules:
  - { id: budget, effect: escalate, approver: finance, reason: over budget, when: { tool: pay, $spent: { gt: 100 } } }
"""


def test_gate_wait_wakes_on_resolve_from_another_thread(tmp_path: Path) -> None:
    """What the adapter waits on: Gate.wait returns once Gate.resolve (any thread) has recorded
    the answer; a counted escalation's pending contributions settle as before."""
    with Gate.open(Policy.from_yaml(COUNTED), audit_dir=tmp_path) as gate:
        pay = lambda amount: {"tool": "pay", "agent": {"id": "a"}, "args": {"amount": amount}}  # noqa: E731
        assert gate.check(pay(90))["decision"] == "allow"
        e = gate.check(pay(20))
        assert e["decision"] == "escalate" and e["counters"]["spent"] == 110
        with pytest.raises(KeyError):
            gate.wait("no-such-record", timeout=0)
        assert gate.wait(e["audit_id"], timeout=0) is None
        got: List[Any] = []
        waiters = [threading.Thread(target=lambda: got.append(gate.wait(e["audit_id"], timeout=LIMIT_S))) for _ in range(3)]
        for w in waiters:
            w.start()
        assert gate.resolve(e["audit_id"], "denied", by="carol") is True
        for w in waiters:
            w.join(LIMIT_S)
        assert got == ["denied"] * 3
        assert gate.resolve(e["audit_id"], "approved") is False  # answered once
        assert gate.wait(e["audit_id"]) == "denied"
        assert gate.check(pay(0))["counters"]["spent"] == 90  # the denial gave the 20 back
    recs = records(tmp_path)
    assert recs[2]["decision"]["approval"]["state"] == "denied" and recs[2]["decision"]["approval"]["by"] == "carol"
    assert verify_log(tmp_path).ok
