"""Installing the Python host from its package (README, "Python"): ``pip install ./python``.

The wheel holds the core (``tollgate.wasm``), the generated ABI constants and the Redis script,
and nothing of the tests; its dependencies are ranges, not pins; the test suite runs at their
lower bounds (python/lower-bounds.txt); and a fresh virtual environment that installs the wheel
decides with it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib.metadata import version
from pathlib import Path
from typing import Dict

import pytest
from packaging.requirements import Requirement

from conftest import REPO

PYTHON = REPO / "python"


def project_dependencies() -> Dict[str, Requirement]:
    text = (PYTHON / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)\]", text, re.M | re.S)
    assert block is not None
    reqs = [Requirement(s) for s in re.findall(r'"([^"]+)"', block.group(1))]
    return {r.name.lower(): r for r in reqs}


def lower_bounds() -> Dict[str, str]:
    out = {}
    for line in (PYTHON / "lower-bounds.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, v = line.partition("==")
            out[name.strip().lower()] = v.strip()
    return out


def test_dependencies_are_ranges_whose_lower_bounds_the_suite_runs_at() -> None:
    deps = project_dependencies()
    bounds = lower_bounds()
    assert set(bounds) == set(deps)
    for name, req in deps.items():
        ops = {s.operator: s.version for s in req.specifier}
        assert "==" not in ops and "===" not in ops, f"{name} is pinned: {req}"
        assert ops.get(">=") == bounds[name], f"{name}: lower bound {ops.get('>=')} but lower-bounds.txt says {bounds[name]}"
        assert req.specifier.contains(bounds[name])
        assert version(req.name) == bounds[name], f"the suite runs with {req.name} {version(req.name)}, not its lower bound {bounds[name]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    src = tmp_path_factory.mktemp("src") / "python"
    shutil.copytree(PYTHON, src, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)], check=True, timeout=300)
    (whl,) = out.glob("tollgate-*.whl")
    return whl


def test_the_wheel_holds_the_core_and_no_tests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = Parser().parsestr(z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    for needed in ["tollgate/tollgate.wasm", "tollgate/_abi.py", "tollgate/py.typed", "tollgate/state/redis_counters.lua", "tollgate/audit/__init__.py", "tollgate/adapters/mcp.py"]:
        assert needed in names
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n or "conftest" in n]
    required = [Requirement(r) for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert {r.name.lower(): str(r.specifier) for r in required} == {n: str(r.specifier) for n, r in project_dependencies().items()}


def test_a_fresh_environment_installs_the_wheel_and_decides(wheel: Path, tmp_path: Path) -> None:
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=120)
    py = env / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(PYTHON / "lower-bounds.txt"), str(wheel)], check=True, timeout=600)
    script = (
        "import json, tollgate\n"
        "from tollgate import Policy\n"
        f"p = Policy.from_file({str(REPO / 'examples' / 'billing-agent.yaml')!r})\n"
        "d = p.evaluate({'tool': 'payments.refund', 'agent': {'id': 'bot-1'}, 'args': {'order_id': 'ord_4821abcd', 'amount': 20, 'currency': 'EUR'}})\n"
        "print(json.dumps([d.decision, d.rule, tollgate.__file__]))\n"
    )
    out = subprocess.run([str(py), "-c", script], check=True, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    decision, rule, where = __import__("json").loads(out.stdout)
    assert (decision, rule) == ("allow", "small-refund")
    assert str(env) in where  # the installed package, not this checkout
