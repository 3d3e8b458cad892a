"""A real redis-server for tests (pytest plugin, loaded by conftest.py): the ``redis_url`` fixture
starts one per session on a free port in a temporary directory with persistence off, and stops it
and removes the directory afterwards.

When redis-server is not installed the tests that use it are skipped with a reason starting
``SERVICE MISSING`` (conftest.py's terminal summary lists them loudly at the end of the run), or,
with ``TOLLGATE_REQUIRE_SERVICES=1`` (CI), they fail with that reason. ``TOLLGATE_REDIS_SERVER``
names another binary."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

REDIS_SERVER = os.environ.get("TOLLGATE_REDIS_SERVER", "redis-server")
SKIP_PREFIX = "SERVICE MISSING"


def _missing() -> Optional[str]:
    found = shutil.which(REDIS_SERVER)
    if found is None:
        return f"{REDIS_SERVER} is not installed; install it with: apt-get install redis-server"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start() -> "tuple[subprocess.Popen[bytes], int, Path]":
    last = ""
    for _ in range(3):
        directory = Path(tempfile.mkdtemp(prefix="tollgate-redis-"))
        port = _free_port()
        log = directory / "redis.log"
        proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(directory), "--logfile", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if _ping(port):
                return proc, port, directory
            time.sleep(0.05)
        text = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        last = f"{'exited ' + str(proc.returncode) if proc.poll() is not None else 'no PONG within 10 s'}: {' | '.join(text)}"
        _stop(proc, directory)
    raise RuntimeError(f"could not start {REDIS_SERVER}: {last}")


def _stop(proc: "subprocess.Popen[bytes]", directory: Path) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:PORT`` of a redis-server started for this session."""
    why = _missing()
    if why is not None:
        if os.environ.get("TOLLGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"TOLLGATE_REQUIRE_SERVICES=1 and {why}", pytrace=False)
        pytest.skip(f"{SKIP_PREFIX}: {why}")
    proc, port, directory = _start()
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop(proc, directory)
