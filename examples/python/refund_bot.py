"""A refund tool guarded by examples/billing-agent.yaml, from Python.

    pip install ./python          # after `npm install` built the core
    python examples/python/refund_bot.py

Small refunds run; large ones go to an approver (here a stand-in that asks on the
terminal when there is one, and refuses otherwise); refused ones raise ActionDenied.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tollgate import ActionDenied, Decision, Policy, PolicyError

HERE = Path(__file__).resolve().parent
POLICY_FILE = HERE.parent / "billing-agent.yaml"

try:
    policy = Policy.from_file(POLICY_FILE)
except PolicyError as err:  # every error, as FILE:LINE:COL: error: MESSAGE
    print(err, file=sys.stderr)
    sys.exit(2)


def ask_a_human(decision: Decision, action: dict) -> bool:
    """Escalation handler: a real bot would page `decision.approver` and wait up to
    `decision.timeout_ms`; this one asks on the terminal, and refuses when nobody can answer."""
    print(f"  -> {decision.approver} must approve ({decision.reason}); "
          f"{decision.timeout_ms // 60000} min, then {decision.on_timeout}")
    if not sys.stdin.isatty():
        return False
    return input("     approve? [y/N] ").strip().lower() == "y"


@policy.guard("payments.refund", on_escalate=ask_a_human, context={"agent": {"id": "billing-bot"}})
def refund(order_id: str, amount: float, currency: str = "EUR") -> str:
    return f"refunded {amount} {currency} on {order_id}"


def main() -> None:
    # The decision itself, as a dict (spec section 4):
    # (the policy counts refunds per agent: an action without agent.id is refused, fail closed)
    print(policy.evaluate({"tool": "payments.refund", "agent": {"id": "billing-bot"},
                           "args": {"order_id": "ord_4821abcd", "amount": 900, "currency": "EUR"}}).to_dict())
    # One Wasm call for many actions:
    batch = policy.evaluate_batch([
        {"tool": "payments.refund", "agent": {"id": "billing-bot"},
         "args": {"order_id": "ord_4821abcd", "amount": 20, "currency": "EUR"}},
        {"tool": "payments.charge", "args": {"amount": 20}},
    ])
    print([d.decision for d in batch])

    for order_id, amount in [("ord_4821abcd", 49.9), ("ord_77aa01bc", 900), ("ord_77aa01bc", 9000)]:
        print(f"refund({order_id!r}, {amount})")
        try:
            print("  ", refund(order_id=order_id, amount=amount))
        except ActionDenied as denied:
            d = denied.decision
            print(f"   denied: {d.decision} by {d.rule}: {d.reason}")

    # Counters (spec section 8): the policy's refunds this hour and today, per agent. The
    # decisions above counted (the denied ones did not); a sixth refund within the hour is refused.
    for _ in range(3):
        d = policy.evaluate({"tool": "payments.refund", "agent": {"id": "billing-bot"},
                             "args": {"order_id": "ord_4821abcd", "amount": 10, "currency": "EUR"}})
        print(f"refund #{d.counters['refunds_per_hour']} this hour: {d.decision} ({d.rule})")


if __name__ == "__main__":
    main()
