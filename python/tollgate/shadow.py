"""Shadow decisions (docs/change-safety.md, "Shadow"), as the Node host's ``src/pipeline/shadow.ts``.

Every live decision is also taken by a candidate policy whose answer is never used. The
candidate keeps its own counters (its :class:`~tollgate.Policy`'s in-memory store), so it never
reads or touches live state; a decision that differs (allow, deny or escalate; a change of rule
alone is not one) is counted and written to the disagreement log as one JSON line, in the Node
host's format::

    {"time":"...","audit_id":"...","audit_seq":7,
     "live":{"decision":"allow","rule":"r","policy":"p","policy_hash":"..."},
     "shadow":{"decision":"deny","rule":"s","reason":"...","policy":"q","policy_hash":"..."},
     "action":{...redacted by both policies...}}

Nothing here raises into the caller: a shadow that fails is reported to ``on_error`` (by default
the ``tollgate`` logger) and the live answer stands.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .audit import redact
from .canonical import js_json
from .counted import PendingByRecord, PendingContributions
from .audit.writer import _iso_ms
from .metrics import DEFAULT_RULE

__all__ = ["Shadow", "ShadowLog", "ShadowMetrics", "default_shadow_log"]

_log = logging.getLogger("tollgate")

# Lines not yet written are never held: each is one write(2) with O_APPEND (several processes
# may append whole lines to the same file, as the server's workers do in Node).


def default_shadow_log(audit_dir: "os.PathLike[str] | str") -> str:
    """The disagreement log's default place: beside the audit directory (``./audit`` → ``./audit-shadow.jsonl``)."""
    d = os.path.abspath(os.fspath(audit_dir)).rstrip(os.sep) or os.sep
    return os.path.join(os.path.dirname(d), os.path.basename(d) + "-shadow.jsonl")


def _report_error(err: BaseException) -> None:
    _log.warning("tollgate shadow: %s", err)


class ShadowMetrics:
    """The shadow's counts (Node: ``tollgate_shadow_*`` Prometheus series). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decisions = 0
        self._dropped = 0
        self._disagreements: Dict[Tuple[str, str, str], int] = {}

    def compared(self, n: int) -> None:
        with self._lock:
            self._decisions += n

    def disagreed(self, live: str, shadow: str, rule: str) -> None:
        with self._lock:
            key = (live, shadow, rule)
            self._disagreements[key] = self._disagreements.get(key, 0) + 1

    def dropped(self) -> None:
        with self._lock:
            self._dropped += 1

    def snapshot(self) -> Dict[str, Any]:
        """``decisions`` (live decisions also taken by the candidate), ``disagreements`` (one
        entry per live decision, candidate decision and candidate rule, with its count) and
        ``log_dropped`` (disagreement lines that could not be written)."""
        with self._lock:
            rows: List[Dict[str, Any]] = [
                {"live": k[0], "shadow": k[1], "rule": k[2], "count": n} for k, n in sorted(self._disagreements.items())
            ]
            return {"decisions": self._decisions, "disagreements": rows, "log_dropped": self._dropped}


class ShadowLog:
    """The disagreement log: JSON lines appended to ``path`` (created with its directory on the
    first line). After a write fails nothing more is written (and ``on_error`` hears it once)."""

    def __init__(self, path: "os.PathLike[str] | str", on_error: Callable[[BaseException], None] = _report_error) -> None:
        self.path = os.fspath(path)
        self._on_error = on_error
        self._fd: Optional[int] = None
        self._failed = False
        self._lock = threading.Lock()

    def write(self, line: str) -> bool:
        """Appends one line (without its newline); False if it was not written."""
        data = (line + "\n").encode("utf-8")
        with self._lock:
            if self._failed:
                return False
            try:
                if self._fd is None:
                    parent = os.path.dirname(os.path.abspath(self.path))
                    os.makedirs(parent, exist_ok=True)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
                view = memoryview(data)
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
                return True
            except OSError as err:
                self._failed = True
                self._on_error(OSError(f"shadow log {self.path}: {err}; no more disagreements are written"))
                return False

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


class Shadow:
    """A candidate policy taking every live decision too: :meth:`decide` takes its decision (and
    counts into its own counters), :meth:`report` compares it with the live one once that is
    recorded. Neither raises."""

    def __init__(
        self,
        policy: Any,
        metrics: ShadowMetrics,
        log: Optional[ShadowLog],
        on_error: Callable[[BaseException], None] = _report_error,
    ) -> None:
        self.policy = policy
        self._metrics = metrics
        self._log = log
        self._on_error = on_error
        # The candidate's escalations still pending, by the live record's hash.
        self._pending = PendingByRecord()
        self._pending_lock = threading.Lock()

    def decide(self, action: Any, live: Any, unrecordable: bool) -> Tuple[Any, Optional[PendingContributions]]:
        """The candidate's decision, or None for an action denied unevaluated because it cannot
        be recorded (that deny holds whatever the policy), and its escalation's pending
        contributions (give them to :meth:`remember`), or None. A candidate with counters decides
        and records in its own in-memory store."""
        if unrecordable:
            return None, None
        try:
            step = self.policy.step(action)
            d = step.decision
            pending = PendingContributions(step.pending, step.now + (d.timeout_ms or 0)) if step.pending is not None else None
            return d, pending
        except Exception as err:  # the live answer stands
            self._on_error(err)
            return None, None

    def remember(self, audit_id: Optional[str], pending: Optional[PendingContributions]) -> None:
        """The candidate's escalation of the action recorded live as ``audit_id`` waits for the
        live escalation's answer (:meth:`settle`)."""
        if pending is None or audit_id is None:
            return
        with self._pending_lock:
            self._pending.prune(time.time_ns() // 1_000_000)
            self._pending.add(audit_id, pending)

    def settle(self, audit_id: str, resolution: str) -> None:
        """A live escalation approved or denied settles the candidate's escalation of the same
        action as if the same person had answered it (as the Node gate's shadow): its
        contributions count, or are released. One the live policy did not make is answered by
        nobody: it expires by the candidate's own timeout."""
        with self._pending_lock:
            p = self._pending.take(audit_id)
        if p is None:
            return
        try:
            self.policy.resolve(p.id, resolution)
        except Exception as err:  # the live answer stands
            self._on_error(err)

    def report(self, live_policy: Any, action: Any, live: Any, shadow: Any, seq: Optional[int], audit_id: Optional[str]) -> bool:
        """Counts the comparison and, when the decisions differ, the disagreement, and logs it.
        Returns whether they differed."""
        if shadow is None:
            return False
        try:
            self._metrics.compared(1)
            if shadow.decision == live.decision:
                return False
            self._metrics.disagreed(live.decision, shadow.decision, shadow.rule if shadow.rule is not None else DEFAULT_RULE)
            if self._log is not None:
                text = _json_text(redact(redact(action, live_policy.redact), self.policy.redact))
                line = "".join((
                    '{"time":', _json(_iso_ms(time.time_ns() // 1_000_000)),
                    ',"audit_id":', _json(audit_id), ',"audit_seq":', _json(seq),
                    ',"live":', _json({"decision": live.decision, "rule": live.rule, "policy": live_policy.name, "policy_hash": live_policy.hash}),
                    ',"shadow":', _json({"decision": shadow.decision, "rule": shadow.rule, "reason": shadow.reason, "policy": self.policy.name, "policy_hash": self.policy.hash}),
                    ',"action":', text if text is not None else '"[not JSON]"', "}",
                ))
                if not self._log.write(line):
                    self._metrics.dropped()
            return True
        except Exception as err:  # the live answer stands
            self._on_error(err)
            return False


def _json_text(action: Any) -> Optional[str]:
    """The action as the Node gate's line has it (``JSON.stringify``: keys in the order given)."""
    try:
        return js_json(action)
    except (TypeError, ValueError):
        return None


def _json(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
