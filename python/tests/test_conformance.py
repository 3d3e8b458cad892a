"""Every file of test/conformance/ (the cross-host contract), exactly as vitest runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import pytest

from tollgate import Policy, PolicyError, run_policy_tests
from tollgate.canonical import canonicalize
from tollgate.policy_tests import step_time_ms
from tollgate.yaml_loader import load_yaml

from conftest import CONFORMANCE

FILES = sorted(CONFORMANCE.glob("*.yaml"))


def _spec(path: Path) -> Any:
    return load_yaml(path.read_text(encoding="utf-8"), str(path)).value


def _policy(path: Path, spec: Any) -> Policy:
    if spec.get("policy_text") is not None:
        return Policy.from_yaml(spec["policy_text"], filename=path.name)
    return Policy.from_object(spec["policy"], filename=path.name)


def _kind(spec: Any) -> str:
    if spec.get("errors") is not None:
        return "errors"
    if spec.get("sequences") is not None:
        return "sequences"
    return "cases"


def _decision_cases() -> List[Any]:
    out = []
    for path in FILES:
        spec = _spec(path)
        if _kind(spec) != "cases":
            continue
        for case in spec["cases"]:
            out.append(pytest.param(path, case, id=f"{path.name}::{case['name']}"))
    return out


def _sequences() -> List[Any]:
    out = []
    for path in FILES:
        spec = _spec(path)
        if _kind(spec) != "sequences":
            continue
        for seq in spec["sequences"]:
            out.append(pytest.param(path, seq, id=f"{path.name}::{seq['name']}"))
    return out


def _error_files() -> List[Any]:
    return [pytest.param(p, id=p.name) for p in FILES if _kind(_spec(p)) == "errors"]


def _decision_files() -> List[Any]:
    return [pytest.param(p, id=p.name) for p in FILES if _kind(_spec(p)) == "cases"]


def _test_result_files() -> List[Any]:
    return [pytest.param(p, id=p.name) for p in FILES if _spec(p).get("test_results") is not None]


_policies: dict = {}


def _cached_policy(path: Path) -> Policy:
    if path not in _policies:
        _policies[path] = _policy(path, _spec(path))
    return _policies[path]


def _key_order(d: Any) -> List[List[str]]:
    """The order of a decision's keys and of its ``counters``' keys (canonical JSON sorts them)."""
    counters = d.get("counters")
    return [list(d.keys()), list(counters.keys()) if isinstance(counters, dict) else []]


def _explain_key_order(e: Any) -> List[List[str]]:
    """The keys of every object of an explanation, in order, outside the data it shows (a
    test's ``operand``, a value seen): the format's key order, which both hosts keep."""
    out: List[List[str]] = []

    def walk(v: Any) -> None:
        if isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            out.append(list(v.keys()))
            for k, x in v.items():
                if k not in ("operand", "value"):
                    walk(x)

    walk(e)
    return out


def _check_explain(actual: Any, expected: Any, decision: Any, what: str) -> None:
    """An ``explain`` expectation: the explanation's decision is the decision; the explanation is
    the expected JSON (canonical), with the same key order. (The Node runner also checks each
    expectation against the reference interpreter.)"""
    assert canonicalize(expected["decision"]) == canonicalize(decision), f"{what}: the explanation's decision"
    assert canonicalize(actual) == canonicalize(expected), what
    assert _explain_key_order(actual) == _explain_key_order(expected), f"{what}: key order"
    # JSON-ready: plain dicts, lists and scalars (json.dumps needs nothing else)
    assert json.loads(json.dumps(actual)) == actual


def test_has_cases() -> None:
    assert FILES, f"no conformance files in {CONFORMANCE}"


@pytest.mark.parametrize("path,case", _decision_cases())
def test_decision(path: Path, case: Any) -> None:
    policy = _cached_policy(path)
    if "explain" in case:
        assert "input" not in case, "an explain expectation goes with an `action`"
        _check_explain(policy.explain(case["action"]), case["explain"], case["expect"], "explain")
    if "input" in case:
        actual = policy.evaluate_json(case["input"])
    else:
        actual = policy.evaluate(case["action"])
    assert canonicalize(actual.to_dict()) == canonicalize(case["expect"])


@pytest.mark.parametrize("path", _decision_files())
def test_same_in_one_batch(path: Path) -> None:
    spec = _spec(path)
    policy = _cached_policy(path)
    lines = [c["input"] if "input" in c else json.dumps(c["action"], ensure_ascii=False) for c in spec["cases"]]
    got = [canonicalize(d.to_dict()) for d in policy.evaluate_lines(lines)]
    assert got == [canonicalize(c["expect"]) for c in spec["cases"]]
    # evaluate_batch on the Python values too (not through JSON text)
    actions = [c["action"] for c in spec["cases"] if "input" not in c]
    expected = [canonicalize(c["expect"]) for c in spec["cases"] if "input" not in c]
    assert [canonicalize(d.to_dict()) for d in policy.evaluate_batch(actions)] == expected


@pytest.mark.parametrize("path,seq", _sequences())
def test_sequence(path: Path, seq: Any) -> None:
    # From a freshly loaded policy (empty counters), step by step at each step's `at`.
    policy = _policy(path, _spec(path))
    for i, s in enumerate(seq["steps"]):
        now = step_time_ms(s.get("at"))
        if "input" in s:
            actual = policy.evaluate_lines([s["input"]], now=now)[0]
        else:
            # An explanation at the step's time, before it decides: it must record nothing.
            if "explain" in s:
                _check_explain(policy.explain(s["action"], now=now), s["explain"], s["expect"], f"step {i}: explain")
            step = policy.step(s["action"], now=now)
            actual = step.decision
            if s.get("resolve") is not None and actual.decision == "escalate" and step.pending is not None:
                policy.resolve(step.pending, s["resolve"], now)
        got = actual.to_dict()
        assert canonicalize(got) == canonicalize(s["expect"]), f"step {i}"
        assert _key_order(got) == _key_order(s["expect"]), f"step {i}: key order"


@pytest.mark.parametrize("path", _test_result_files())
def test_manifest_tests(path: Path) -> None:
    spec = _spec(path)
    got = [
        {"name": r.name, "failures": [{"step": f.step, "actual": f.actual.to_dict()} for f in r.failures]}
        for r in run_policy_tests(_policy(path, spec))
    ]
    assert canonicalize(got) == canonicalize(spec["test_results"])


@pytest.mark.parametrize("path", _error_files())
def test_errors(path: Path) -> None:
    spec = _spec(path)
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(spec["policy_text"], filename=spec.get("filename") or path.name)
    got = [(e.line, e.column, e.message) for e in info.value.errors]
    for exp in spec["errors"]:
        assert any(
            line == exp["line"] and col == exp["column"] and exp["contains"] in msg for line, col, msg in got
        ), f"expected {exp['line']}:{exp['column']} containing {exp['contains']!r}; got {got}"
    assert len(got) == len(spec["errors"]), f"unexpected extra errors: {got}"
    assert got == sorted(got, key=lambda g: (g[0], g[1]))
