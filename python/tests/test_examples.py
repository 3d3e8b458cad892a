"""The Python example runs and shows allow, escalate (refused without a human) and deny."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


def test_refund_bot_example() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "refund_bot.py")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr
    assert "refunded 49.9 EUR on ord_4821abcd" in out.stdout
    assert "denied: escalate by refund-needs-finance" in out.stdout
    assert "denied: deny by refund-too-large" in out.stdout
    assert "['allow', 'deny']" in out.stdout
