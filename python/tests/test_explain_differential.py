"""Differential: Python's ``Policy.explain`` vs Node's, through ``tollgate eval --explain --format json``.

The policies and actions of test_differential.py (every ``examples/*.yaml``, the seeded 100-rule
generated policy with its own actions, every conformance policy; actions drawn from each policy's
fields and constants, lines that are not JSON or not objects included). Each line is explained
as the CLI explains it (src/cli/eval.ts, ``explainLine``): a line that is not JSON is its error
decision with no rule; otherwise the explanation at the clock's time, then, for a policy with
counters, the step that records the decision (so later lines see the counters Node's did).

Compared: the explanation as JSON (canonical, numbers as ``JSON.parse`` reads Node's output: a
value seen is shown as the action holds it, so an integer beyond 2**53 or a non-finite number is
compared as JavaScript holds it) and the order of its keys outside operands and values seen.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tollgate import Policy
from tollgate.counters import js_number
from tollgate.jsonline import NotJson, parse_json_text
from tollgate.policy import _clock_ms

from conftest import NODE_CLI, REPO, node_available
from test_differential import _FILES, _constants, _generated, _ids, _random_lines

pytestmark = pytest.mark.skipif(
    not (NODE_CLI.exists() and node_available()),
    reason=f"the Node CLI is not built ({NODE_CLI.relative_to(REPO)} is missing; run `npm run build`)",
)


def node_explain(policy: Path, lines: Sequence[str]) -> List[Any]:
    proc = subprocess.run(
        ["node", "bin/tollgate.js", "eval", "--explain", "--format", "json", str(policy), "-"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.split("\n") if line]


def python_explain(policy: Policy, lines: Sequence[str]) -> List[Any]:
    """As the CLI's ``explainLine``, one line after the other."""
    out = []
    for line in lines:
        try:
            action = parse_json_text(line)
        except NotJson:
            out.append({"decision": policy.evaluate_json(line).to_dict(), "rules": [], "closest": []})
            continue
        now = _clock_ms()
        out.append(policy.explain(action, now=now))
        if policy.stateful:
            policy.step(action, now=now)
    return out


def _js(v: Any) -> Any:
    """A value as JSON.parse of JSON.stringify of it in JavaScript gives it (numbers are doubles;
    non-finite ones are null)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        try:
            v = float(v)
        except OverflowError:
            return None
    if isinstance(v, float):
        return js_number(v) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _js(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_js(x) for x in v]
    raise TypeError(f"not JSON-shaped: {type(v).__name__}")


def _text(v: Any) -> str:
    # sort_keys: object keys of values seen follow the action (JavaScript lists integer-like keys
    # first); the structure's key order is compared by _key_order
    return json.dumps(_js(v), sort_keys=True, ensure_ascii=True)


def _key_order(e: Any) -> List[List[str]]:
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


def compare(path: Path, lines: Sequence[str]) -> None:
    lines = [line for line in lines if line.strip()]  # blank lines carry no action for the CLI
    mine = python_explain(Policy.from_file(path), lines)
    theirs = node_explain(path, lines)
    assert len(theirs) == len(lines)
    for line, a, b in zip(lines, mine, theirs):
        assert _text(a) == _text(b), f"{path.name}: {line}\n python: {_text(a)}\n   node: {_text(b)}"
        assert _key_order(a) == _key_order(b), f"{path.name}: {line}: key order"


@pytest.mark.parametrize("path", _FILES, ids=_ids(_FILES))
def test_generated_actions_explain_as_node(path: Path) -> None:
    policy = Policy.from_file(path)
    strings, numbers = _constants(policy.manifest)
    strings = strings[:5000]

    @settings(max_examples=1, deadline=None, database=None, phases=[Phase.explicit, Phase.generate])
    @given(st.integers(min_value=0, max_value=2**32 - 1))
    def run(seed: int) -> None:
        compare(path, _random_lines(random.Random(seed), policy.fields, strings, numbers, 120))

    run()


def test_generator_actions_explain_as_node() -> None:
    policy_path, actions_path = _generated()
    compare(policy_path, actions_path.read_text(encoding="utf-8").split("\n"))


def test_numbers_and_redaction_that_need_care_explain_as_node(tmp_path: Path) -> None:
    policy = tmp_path / "care.yaml"
    policy.write_text(
        "tollgate: 1\nname: care\naudit: { redact: [args.secret, args.o.k] }\nrules:\n"
        "  - id: big\n    effect: deny\n    reason: big\n    when: { args.v: { gte: 9007199254740992 } }\n"
        "  - id: eq\n    effect: allow\n    when: { args.v: [0.1, 1e21, -0, 5e-324], args.o: { exists: true } }\n"
        "  - id: secret\n    effect: allow\n    when: { args.secret.x: { len: { gt: 0 } }, args: { exists: true } }\n"
    )
    values = ["9007199254740993", "1e400", "0.1", "1e21", "-0", "5e-324", "123456789012345678901234567890", '"x"']
    lines: List[str] = ['{"args":{"v":%s,"o":{"k":1,"2":[3],"1":"a"}}}' % v for v in values]
    lines += ['{"args":{"secret":{"x":"s3cr3t"},"o":{"k":{"deep":1}}}}', '{"args":{"secret":null}}', '{"args":[1]}', "[]", "{"]
    compare(policy, lines)
