"""Differential: Python decisions vs the Node CLI (``tollgate eval POLICY.yaml -``) on generated actions.

Policies: every ``examples/*.yaml``, a 100-rule policy of the seeded generator shared with the Node
tests and the benchmarks (``test/support/workload/generate.ts``, written from source by
``test/support/workload/write.mjs``: no build of the tests or benchmarks needed), with its own
realistic actions, and the conformance policies. Actions are drawn (hypothesis seeds the generator) from
each policy's field table and constants: hits, near misses, wrong types, absent paths, arrays,
objects, big and small numbers, unusual strings (lone surrogates included), plus lines that are
not JSON or not objects.
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tollgate import Policy
from tollgate.canonical import canonicalize
from tollgate.yaml_loader import load_yaml

from conftest import CONFORMANCE, EXAMPLES, NODE_CLI, REPO, node_available

pytestmark = pytest.mark.skipif(
    not (NODE_CLI.exists() and node_available()),
    reason=f"the Node CLI is not built ({NODE_CLI.relative_to(REPO)} is missing; run `npm run build`)",
)

_GENERATOR = REPO / "test" / "support" / "workload" / "write.mjs"
_TMP = Path(tempfile.mkdtemp(prefix="tollgate-differential-"))


@lru_cache(maxsize=None)
def _generated() -> Tuple[Path, Path]:
    out = _TMP / "generated"
    proc = subprocess.run(
        ["node", str(_GENERATOR), "--rules", "100", "--out", str(out), "--seed", "7", "--actions", "300"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{_GENERATOR.relative_to(REPO)} failed ({proc.returncode}): {proc.stderr}")
    return out / "generated-100.yaml", out / "generated-100.actions.jsonl"


def _policy_files() -> List[Path]:
    # examples/ also holds non-policy YAML (tokens.yaml for `tollgate serve`): policies only.
    files = [p for p in sorted(EXAMPLES.glob("*.yaml")) if "tollgate" in (load_yaml(p.read_text(encoding="utf-8"), str(p)).value or {})]
    files.append(_generated()[0])
    conf = _TMP / "conformance"
    conf.mkdir(exist_ok=True)
    for path in sorted(CONFORMANCE.glob("*.yaml")):
        spec = load_yaml(path.read_text(encoding="utf-8"), str(path)).value
        if spec.get("policy") is not None:
            target = conf / path.name
            # as YAML text: escaped, as Policy.from_object escapes it (DEL and C1 may not be raw in YAML)
            target.write_text(json.dumps(spec["policy"], indent=2).replace("\x7f", "\\u007f"), encoding="utf-8")
            files.append(target)
        elif spec.get("policy_text") is not None and spec.get("errors") is None:
            target = conf / path.name
            target.write_text(spec["policy_text"], encoding="utf-8")
            files.append(target)
    return files


def node_eval(policy: Path, lines: Sequence[str]) -> List[str]:
    proc = subprocess.run(
        ["node", "bin/tollgate.js", "eval", str(policy), "-"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.split("\n") if line]


def python_eval(policy: Policy, lines: Sequence[str], again: Policy) -> List[str]:
    batch = [canonicalize(d.to_dict()) for d in policy.evaluate_lines(lines)]
    # `again`: the same policy, loaded anew (a policy with counters remembers the batch).
    single = [canonicalize(again.evaluate_json(line).to_dict()) for line in lines]
    assert batch == single
    return batch


def compare(path: Path, lines: Sequence[str]) -> None:
    policy = Policy.from_file(path)
    # Blank lines carry no action for the CLI: keep them out.
    lines = [line for line in lines if line.strip()]
    mine = python_eval(policy, lines, Policy.from_file(path) if policy.stateful else policy)
    theirs = [canonicalize(json.loads(line)) for line in node_eval(path, lines)]
    assert len(theirs) == len(lines)
    for line, a, b in zip(lines, mine, theirs):
        assert a == b, f"{path.name}: {line}\n python: {a}\n   node: {b}"


# --- strategies built from a policy -----------------------------------------------------


def _constants(manifest: Any) -> Tuple[List[str], List[float]]:
    strings: set = set()
    numbers: set = set()

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                strings.add(k)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            strings.add(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            numbers.add(v)

    walk(manifest)
    return sorted(strings), sorted(numbers)


_SURROGATE = re.compile("[\ud800-\udfff]")
_ODD_TEXT = ["", " ", "é", "😀", "\ud800", "\x00", "a/b", "**", "{a,b}", "[x]", "\\", "\n", "İ", "ß", "\u212a"]


def _random_value(rng: random.Random, strings: List[str], numbers: List[float], depth: int = 0) -> Any:
    """A JSON value likely to sit near the policy's decisions: its constants, mutated, or odd."""
    k = rng.randrange(16)
    if k < 4 and strings:
        s = rng.choice(strings)
        r = rng.randrange(5)
        if r == 0:
            s = rng.choice(_ODD_TEXT) + s
        elif r == 1:
            s = s + rng.choice(_ODD_TEXT)
        elif r == 2:
            s = s.upper()
        elif r == 3 and s:
            s = s[: rng.randrange(len(s))]
        return s
    if k < 7:
        n = rng.choice(numbers) if numbers else 0
        return rng.choice([n, n + 1, n - 1, n + 0.5, -n, n * 1e9, int(n) if math.isfinite(n) else 0])
    if k == 7:
        return rng.choice([0, -0.0, 0.1, 1e21, 1e-7, 5e-324, 2**53 + 1, -(2**63), 1.7976931348623157e308])
    if k == 8:
        return rng.random() * 10 ** rng.randrange(-10, 12)
    if k == 9:
        return "".join(rng.choice(_ODD_TEXT + ["a", "b", "."]) for _ in range(rng.randrange(6)))
    if k == 10:
        return rng.choice([True, False])
    if k == 11:
        return None
    if k in (12, 13) and depth < 3:
        return [_random_value(rng, strings, numbers, depth + 1) for _ in range(rng.randrange(5))]
    if k == 14 and depth < 3:
        return {rng.choice(["a", "id", "x"]): _random_value(rng, strings, numbers, depth + 1)}
    return rng.choice(strings) if strings else "x"


def _set_path(action: Dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = action
    for key in path[:-1]:
        nxt = node.get(key)
        if nxt is None:
            nxt = {}
            node[key] = nxt
        if not isinstance(nxt, dict):
            return
        node = nxt
    node[path[-1]] = value


def _random_lines(
    rng: random.Random, fields: Tuple[Tuple[str, ...], ...], strings: List[str], numbers: List[float], count: int
) -> List[str]:
    tools = [s for s in strings if "." in s] or strings or ["x"]
    out = []
    for _ in range(count):
        if rng.randrange(40) == 0:
            out.append(rng.choice(['{"tool": ', "[1,2]", '"str"', "null", "{} x", "NaN"]))
            continue
        action: Dict[str, Any] = {}
        if rng.random() < 0.7:
            action["tool"] = rng.choice(tools)
        for path in rng.sample(fields, len(fields)):
            if rng.random() < 0.75:
                _set_path(action, path, _random_value(rng, strings, numbers))
        line = json.dumps(action, ensure_ascii=rng.random() < 0.5)
        if _SURROGATE.search(line):  # a lone surrogate cannot be written as UTF-8: escape it
            line = json.dumps(action, ensure_ascii=True)
        out.append(line)
    return out


# --- the tests ------------------------------------------------------------------------------


def _ids(paths: List[Path]) -> List[str]:
    return [p.name if p.parent != _TMP / "conformance" else f"conformance/{p.name}" for p in paths]


_FILES = _policy_files() if NODE_CLI.exists() and node_available() else []


@pytest.mark.parametrize("path", _FILES, ids=_ids(_FILES))
def test_generated_actions_match_node(path: Path) -> None:
    policy = Policy.from_file(path)
    strings, numbers = _constants(policy.manifest)

    strings = strings[:5000]

    # hypothesis drives a seeded generator: cheap to draw many actions, reproducible on failure
    # (shrinking a seed means nothing: generate only)
    @settings(max_examples=3, deadline=None, database=None, phases=[Phase.explicit, Phase.generate])
    @given(st.integers(min_value=0, max_value=2**32 - 1))
    def run(seed: int) -> None:
        compare(path, _random_lines(random.Random(seed), policy.fields, strings, numbers, 200))

    run()


def test_generator_actions_match_node() -> None:
    policy_path, actions_path = _generated()
    lines = actions_path.read_text(encoding="utf-8").split("\n")
    compare(policy_path, lines)


def test_a_sum_past_the_double_range_matches_node() -> None:
    # Two allowed amounts near 1.8e308 overflow the window sum: JSON has no infinity, and both
    # hosts print what the core reports (null), never raise (seeds 963 and 8161 drew such amounts).
    policy = _TMP / "overflow.yaml"
    policy.write_text(
        "tollgate: 1\nname: overflow\ncounters:\n  total: { per: [agent.id], window: 1h, sum: args.amount }\n"
        "rules:\n  - { id: never, effect: deny, reason: r, when: { $total: { lt: 0 } } }\n  - { id: ok, effect: allow }\n"
    )
    big = '{"tool":"x","agent":{"id":"a"},"args":{"amount":1.7976931348623157e+308}}'
    compare(policy, [big, big, '{"tool":"x","agent":{"id":"a"},"args":{"amount":1}}'])


def test_numbers_that_need_care_match_node() -> None:
    policy = _TMP / "numbers.yaml"
    policy.write_text(
        "tollgate: 1\nname: numbers\ndefault: allow\nrules:\n"
        "  - id: big\n    effect: deny\n    reason: big\n    when: { args.v: { gte: 9007199254740992 } }\n"
        "  - id: tiny\n    effect: escalate\n    approver: a\n    reason: tiny\n    when: { args.v: { gt: 0, lt: 1e-300 } }\n"
        "  - id: eq\n    effect: deny\n    reason: eq\n    when: { args.v: [0.1, 1e21, -0, 5e-324] }\n"
        "approvers: { a: { timeout: 1m } }\n"
    )
    values = ["9007199254740993", "9007199254740991", "1e400", "-1e400", "4.9e-324", "2.5e-324", "0.1", "1e21",
              "1000000000000000000000", "-0", "0", "-0.0", "5e-324", "1e-301", "123456789012345678901234567890"]
    compare(policy, ['{"args":{"v":%s}}' % v for v in values])
