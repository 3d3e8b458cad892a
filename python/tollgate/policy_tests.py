"""Running a manifest's tests (spec section 7), as the Node host's ``src/policy-tests.ts``.

Single-action tests and sequences of steps that share counter state; each test starts from
empty counters at time 0. A failing step does not stop its sequence: the test goes on with the
actual decision recorded, as a running system would::

    from tollgate import Policy, run_policy_tests

    for result in run_policy_tests(Policy.from_file("policy.yaml")):
        for f in result.failures:
            print(result.name, f.step, f.expect, f.actual.to_dict())
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, List, Mapping, NamedTuple, Optional

from .decision import Decision

if TYPE_CHECKING:  # pragma: no cover
    from .policy import Policy

__all__ = ["StepFailure", "TestResult", "run_policy_test", "run_policy_tests", "step_time_ms"]

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_STEP_TIME = re.compile(r"([0-9]+)(ms|s|m|h|d)")


def step_time_ms(text: Optional[str]) -> int:
    """A step's ``at`` as the core validated it (``0s``, ``30s``, ``2h``) in ms; 0 when absent."""
    if text is None:
        return 0
    m = _STEP_TIME.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"invalid step time '{text}'")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


class StepFailure(NamedTuple):
    """A step whose actual decision differs from its expectation (Node: ``StepFailure``)."""

    step: Optional[int]
    """The step's index in a sequence (0-based), None for a single-action test."""
    expect: str
    """The expected effect."""
    rule: Optional[str]
    """The expected rule (None: a default decision, or not given: see :attr:`rule_given`)."""
    actual: Decision
    rule_given: bool
    """Whether the test names a rule (Node: ``rule`` is ``undefined`` when it does not)."""


class TestResult(NamedTuple):
    """The outcome of one test: its failing steps (none when it passed)."""

    __test__ = False  # not a pytest test class

    name: str
    failures: List[StepFailure]

    @property
    def passed(self) -> bool:
        return not self.failures


def _steps_of(t: Mapping[str, Any]) -> "tuple[List[Mapping[str, Any]], bool]":
    steps = t.get("steps")
    if steps is not None:
        return list(steps), True
    single = {"action": t.get("action"), "expect": t.get("expect")}
    if "rule" in t:
        single["rule"] = t["rule"]
    return [single], False


def run_policy_test(policy: "Policy", test: Mapping[str, Any]) -> TestResult:
    """Runs one test of ``policy`` (an entry of :attr:`Policy.tests`) from empty counters."""
    steps, sequence = _steps_of(test)
    state = policy.new_state() if policy.stateful else None
    failures: List[StepFailure] = []
    for i, s in enumerate(steps):
        now = step_time_ms(s.get("at"))
        done = policy.step(s.get("action"), now=now, state=state)
        actual = done.decision
        resolution = s.get("resolve")
        # Resolved at the step's own time, right after its decision, when the actual decision is
        # an escalation (that recorded something); otherwise ignored.
        if resolution is not None and actual.decision == "escalate" and done.pending is not None and state is not None:
            state.resolve(done.pending, resolution, now)
        rule_given = "rule" in s
        rule_ok = not rule_given or s["rule"] == actual.rule
        if actual.decision != s.get("expect") or not rule_ok:
            failures.append(
                StepFailure(i if sequence else None, s.get("expect"), s.get("rule"), actual, rule_given)
            )
    return TestResult(test.get("name"), failures)


def run_policy_tests(policy: "Policy") -> List[TestResult]:
    """Runs every test of the manifest, in order."""
    return [run_policy_test(policy, t) for t in policy.tests]
