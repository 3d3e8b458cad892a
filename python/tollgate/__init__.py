"""Tollgate for Python: the same Wasm policy engine as the Node host, in process.

::

    from tollgate import Policy, PolicyError

    policy = Policy.from_file("policies/billing-agent.yaml")
    decision = policy.evaluate({"tool": "payments.refund", "args": {"amount": 900}})
    decision.decision        # "escalate"
    decision.to_dict()       # the decision object of the spec, section 4

    # A policy with counters (spec section 8) decides at a time and records:
    policy.evaluate(action, now=1_700_000_000_000)   # default: the host's clock in ms
    step = policy.step(action, now=...)              # Step(decision, entries, pending, now)
    policy.resolve(step.pending, "approved")         # an escalation's pending contributions

    from tollgate import Gate  # decide + audit (tollgate.audit) + metrics (tollgate.metrics)

    with Gate.open("policies/billing-agent.yaml", audit_dir="./audit") as gate:
        gate.check(action)       # the decision dict plus audit_id and audit_seq
        gate.metrics()           # counters and latency percentiles
"""

try:
    from . import _abi
except ImportError:  # pragma: no cover - a source checkout that was never built
    raise ImportError(
        "tollgate/_abi.py is missing: it is generated from abi/constants.json by `npm run build` "
        "(node scripts/gen-abi.mjs), as tollgate.wasm is"
    ) from None

from ._abi import ERROR_TEXT, ErrorCode
from ._deprecated import deprecated_names
from .decision import Decision
from .errors import ActionDenied, EngineError, PolicyError, PolicyProblem
from .policy import MissingSum, Policy, RuleInfo, Step
from .counters import CounterEntry, CounterInfo, CounterRef
from .state import MemoryCounterStore
from .policy_tests import StepFailure, TestResult, run_policy_test, run_policy_tests
from .audit import AuditError, AuditLog, audit_record, redact, verify_log
from .metrics import Metrics
from .gate import Gate

__all__ = [
    "Policy",
    "Decision",
    "PolicyError",
    "PolicyProblem",
    "ErrorCode",
    "ERROR_TEXT",
    "redact",
    "ActionDenied",
    "EngineError",
    "RuleInfo",
    "CounterInfo",
    "CounterEntry",
    "CounterRef",
    "Step",
    "MissingSum",
    "MemoryCounterStore",
    "run_policy_tests",
    "run_policy_test",
    "TestResult",
    "StepFailure",
    "AuditLog",
    "AuditError",
    "audit_record",
    "verify_log",
    "Metrics",
    "Gate",
]
__version__ = "0.1.0"

__getattr__ = deprecated_names(__name__, {"PolicyErrorItem": ("PolicyProblem", lambda: PolicyProblem)})
