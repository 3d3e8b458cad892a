"""Shared fixtures: run against the repository's freshly built core, with a private module cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILT_WASM = REPO / "build" / "tollgate.wasm"
CONFORMANCE = REPO / "test" / "conformance"
EXAMPLES = REPO / "examples"
# The billing policy as it was before counters: what the audit, gate and pipeline tests exercise
# (their many refunds from one agent are not what they test); the example itself has counters.
BILLING_STATELESS = REPO / "test" / "fixtures" / "billing-agent-stateless.yaml"
NODE_CLI = REPO / "build" / "dist" / "src" / "cli" / "main.js"

# The same core the Node suite runs (build/), unless the caller chose one.
if "TOLLGATE_WASM" not in os.environ and BUILT_WASM.exists():
    os.environ["TOLLGATE_WASM"] = str(BUILT_WASM)
if "TOLLGATE_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="tollgate-test-cache-")
    os.chmod(_cache, 0o700)
    os.environ["TOLLGATE_CACHE_DIR"] = _cache


def node_available() -> bool:
    return shutil.which("node") is not None


# The start of a run_node script that reads its JSON input from stdin into `input`.
READ_STDIN_JS = """
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
"""


def run_node(script: str, stdin: str, timeout: float = 120) -> str:
    """Run an ES module snippet with node from the repository root (so node_modules resolves)."""
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        encoding="utf-8",
    )
    if proc.returncode != 0:
        raise RuntimeError(f"node failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


# Services (a real redis-server): the fixtures of tests/redis_server.py, and a loud list, at the
# end of the run, of the tests they skipped because this machine lacks the service.
from redis_server import SKIP_PREFIX, redis_url  # noqa: E402,F401  (tests/ is on sys.path)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    missing = []
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        if SKIP_PREFIX in reason:
            missing.append((report.nodeid, reason.split(f"{SKIP_PREFIX}: ", 1)[-1]))
    if not missing:
        return
    bar = "!" * 78
    write = terminalreporter.write_line
    write(bar)
    write("!!! SKIPPED: tests that need a service this machine does not have")
    write(bar)
    for why in sorted({w for _, w in missing}):
        write(f"!!!   {why}:")
        for nodeid, w in missing:
            if w == why:
                write(f"!!!     {nodeid}")
    write("!!! These tests did NOT run. CI sets TOLLGATE_REQUIRE_SERVICES=1 to make this a failure.")
    write(bar)
