"""The log's format: file names, the record's keys and checks, and the types the log hands out (docs/audit.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple


GENESIS = "0" * 64
"""``prev`` of the very first record of a log."""
NOT_JSON = "[not JSON]"
"""Written in place of an action that is not a JSON value."""
REDACTED = "[redacted]"
"""Written in place of a value at an ``audit.redact`` path."""

CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_FORMAT = "tollgate-audit-checkpoint/1"
PRIVATE_KEY_FILE = "audit.key"
PUBLIC_KEY_FILE = "audit.pub"
LOCK_FILE = "audit.lock"

_SEGMENT = re.compile(r"audit-([0-9]{20})\.jsonl")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_KEYS = ("action", "decision", "eval_ns", "hash", "policy", "policy_hash", "prev", "seq", "ts")
_MAX_SAFE = 2**53 - 1
_MAX_DEPTH = 512


class AuditError(Exception):
    """A log that cannot be opened or appended to; ``file`` and ``line`` say where, when known."""

    def __init__(self, message: str, file: Optional[str] = None, line: Optional[int] = None) -> None:
        where = f"{file}{f':{line}' if line is not None else ''}: " if file is not None else ""
        super().__init__(where + message)
        self.message = message
        self.file = file
        self.line = line


@dataclass(frozen=True)
class AuditWarning:
    """A warning from a log: ``torn-record`` (a crash's incomplete tail, cut), ``key-permissions``,
    ``unsigned-tail`` (records after the last checkpoint kept by open, named by a ``recover``
    record) or ``witness`` (a checkpoint that could not be delivered to the witness, or a witness
    that could not be read at open)."""

    code: str
    message: str
    file: str
    line: Optional[int] = None
    """1-based line of the first byte cut (``torn-record``) or of the first unsigned record (``unsigned-tail``)."""
    bytes: Optional[int] = None
    """Bytes cut (``torn-record``)."""


@dataclass(frozen=True)
class AuditEntry:
    """What a host supplies for one record (see :func:`audit_record`); the log adds seq, ts, prev, hash."""

    decision: Any
    """A :class:`~tollgate.Decision` or the decision object as a dict."""
    action: Any
    """The action, already redacted."""
    policy: str
    policy_hash: str
    eval_ns: int
    action_json: Optional[str] = None
    """Pre-canonicalized: the canonical JSON of the redacted action (see :func:`audit_record_json`); written verbatim."""
    decision_json: Optional[str] = None
    """Pre-canonicalized: the canonical JSON of the decision; written verbatim."""


@dataclass(frozen=True)
class Appended:
    """A record that is on disk: its ``seq`` and ``hash`` (the audit id)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Seal:
    """The latest ``seal`` record: the log verifies from it; the segments before it are accepted as they were sealed."""

    seq: int
    ts: str
    reason: str
    by: str
    found: str
    """What verify reported when the log was sealed (``FILE:LINE: MESSAGE``)."""
    prefix: Dict[str, Any]
    """``{"segments": K, "bytes": B, "sha256": D}``: the digest of the segments before the seal."""


@dataclass(frozen=True)
class Recovered:
    """A ``recover`` record at ``seq``: a restart kept the unsigned records ``first``..``last`` (``count``)."""

    seq: int
    first: Any
    last: Any
    count: Any


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_log` found. ``ok`` is true, or ``file``/``line``/``message`` name the first problem.

    On success (as Node's ``verifyLog``): ``records`` checked record by record (from the latest
    seal on, if the log is sealed), ``segments`` (all segment files), the checkpoint's seq, the
    number of records no signature covers (``unsigned_tail``, only non-zero with
    ``allow_unsigned_tail``), the latest ``seal``, the ``recovered`` records and the
    ``witness_seq`` (when a witness was given).
    """

    ok: bool
    records: int = 0
    segments: int = 0
    checkpoint_seq: int = 0
    file: Optional[str] = None
    line: Optional[int] = None
    message: Optional[str] = None
    unsigned_tail: int = 0
    seal: Optional[Seal] = None
    recovered: Tuple[Recovered, ...] = ()
    witness_seq: Optional[int] = None

    def __bool__(self) -> bool:
        return self.ok

    @property
    def notes(self) -> List[str]:
        """The ``note:`` lines ``tollgate audit verify`` prints after ``ok: ...`` (empty for a failure)."""
        if not self.ok:
            return []
        out = []
        s = self.seal
        if s is not None:
            out.append(
                f"note: sealed at seq {s.seq} ({s.ts}) by {s.by}: {s.reason} \u2014 it accepted {_js_str(s.prefix.get('segments'))} "
                f"earlier segments ({_js_str(s.prefix.get('bytes'))} bytes) as they were, where verify had found: {s.found}"
            )
        for r in self.recovered:
            out.append(
                f"note: record {r.seq}: a restart accepted {_js_str(r.count)} unsigned record{'' if r.count == 1 else 's'} "
                f"(seq {_js_str(r.first)}..{_js_str(r.last)}) left after the last checkpoint"
            )
        n = self.unsigned_tail
        if n > 0:
            out.append(f"note: {n} record{' is' if n == 1 else 's are'} not covered by a signature yet (allowed by --allow-unsigned-tail)")
        if self.witness_seq is not None:
            out.append(f"note: the witness's checkpoint (seq {self.witness_seq}) matches the log")
        return out

    def __str__(self) -> str:
        if self.ok:
            return "\n".join([f"ok: {self.records} records in {self.segments} segments"] + self.notes)
        return f"{self.file}:{self.line}: error: {self.message}"


def _js_str(v: Any) -> str:
    """JavaScript's ``String(v)`` for the JSON values a record holds."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, (dict, list)):
        return "[object Object]" if isinstance(v, dict) else ",".join(_js_str(e) for e in v)
    return str(v)


def _safe_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return -_MAX_SAFE <= v <= _MAX_SAFE
    if isinstance(v, float):
        return v.is_integer() and abs(v) <= _MAX_SAFE
    return False


_MISSING = object()
