"""@policy.guard(tool): actions from call arguments, ActionDenied, escalation handlers."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest

from tollgate import ActionDenied, Policy

POLICY = """
tollgate: 1
name: guarded
approvers:
  finance-oncall: { timeout: 15m }
rules:
  - id: no-prod
    effect: deny
    reason: not in prod
    when: { context.env: { exists: true, eq: prod } }
  - id: large-refund
    effect: escalate
    approver: finance-oncall
    reason: Refunds over 500 need a human
    when: { tool: payments.refund, args.amount: { gt: 500 } }
  - id: refunds
    effect: allow
    when: { tool: payments.refund }
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.from_yaml(POLICY)


def test_allow_runs_the_function(policy: Policy) -> None:
    calls: List[Any] = []

    @policy.guard("payments.refund")
    def refund(order_id: str, amount: float, currency: str = "EUR") -> str:
        calls.append((order_id, amount, currency))
        return "ok"

    assert refund(order_id="4821", amount=120.5) == "ok"
    assert refund("4822", 10) == "ok"  # positional arguments are bound to their names
    assert calls == [("4821", 120.5, "EUR"), ("4822", 10, "EUR")]
    assert refund.__name__ == "refund"


def test_deny_raises_with_the_decision(policy: Policy) -> None:
    @policy.guard("db.drop")
    def drop(table: str) -> None:  # pragma: no cover - never runs
        raise AssertionError("must not run")

    with pytest.raises(ActionDenied) as info:
        drop(table="users")
    assert info.value.decision.decision == "deny"
    assert info.value.decision.reason == "no rule matched"
    assert info.value.action == {"tool": "db.drop", "args": {"table": "users"}}


def test_escalation_defaults_to_deny(policy: Policy) -> None:
    @policy.guard("payments.refund")
    def refund(amount: float) -> str:  # pragma: no cover
        return "ran"

    with pytest.raises(ActionDenied) as info:
        refund(amount=900)
    assert info.value.decision.decision == "escalate"
    assert info.value.decision.approver == "finance-oncall"


def test_escalation_handler(policy: Policy) -> None:
    seen: List[Any] = []

    def approve_small(decision, action) -> bool:
        seen.append((decision.rule, action["args"]["amount"]))
        return action["args"]["amount"] < 1000

    @policy.guard("payments.refund", on_escalate=approve_small)
    def refund(amount: float) -> str:
        return "ran"

    assert refund(amount=900) == "ran"
    with pytest.raises(ActionDenied):
        refund(amount=5000)
    assert seen == [("large-refund", 900), ("large-refund", 5000)]


def test_context_and_kwargs(policy: Policy) -> None:
    env = {"env": "dev"}

    @policy.guard("payments.refund", context=lambda: {"context": dict(env), "agent": {"id": "bot"}})
    def refund(amount: float, **extra: Any) -> Any:
        return extra

    assert refund(amount=1, note="x") == {"note": "x"}
    env["env"] = "prod"
    with pytest.raises(ActionDenied) as info:
        refund(amount=1)
    assert info.value.decision.rule == "no-prod"
    assert info.value.action["agent"] == {"id": "bot"}
    assert info.value.action["args"] == {"amount": 1}


def test_methods_leave_out_self(policy: Policy) -> None:
    class Payments:
        @policy.guard("payments.refund")
        def refund(self, amount: float) -> float:
            return amount

    assert Payments().refund(amount=3) == 3


def test_async_functions(policy: Policy) -> None:
    async def approve(decision, action) -> bool:
        return True

    @policy.guard("payments.refund", on_escalate=approve)
    async def refund(amount: float) -> str:
        return f"refunded {amount}"

    @policy.guard("payments.refund")
    async def refund_no_handler(amount: float) -> str:  # pragma: no cover
        return "ran"

    assert asyncio.run(refund(amount=900)) == "refunded 900"
    with pytest.raises(ActionDenied):
        asyncio.run(refund_no_handler(amount=900))


def test_bad_arguments_raise_like_the_function(policy: Policy) -> None:
    @policy.guard("payments.refund")
    def refund(amount: float) -> None:  # pragma: no cover
        pass

    with pytest.raises(TypeError):
        refund(1, 2)
