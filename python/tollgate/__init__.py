"""Tollgate for Python: the same Wasm policy engine as the Node host, in process.

::

    from tollgate import Policy, PolicyError

    policy = Policy.from_file("policies/billing-agent.yaml")
    decision = policy.evaluate({"tool": "payments.refund", "args": {"amount": 900}})
    decision.decision        # "escalate"
    decision.to_dict()       # the decision object of the spec, section 4
"""

from .decision import Decision
from .errors import ActionDenied, EngineError, PolicyError, PolicyErrorItem
from .policy import Policy, RuleInfo

__all__ = ["Policy", "Decision", "PolicyError", "PolicyErrorItem", "ActionDenied", "EngineError", "RuleInfo"]
__version__ = "0.1.0"
