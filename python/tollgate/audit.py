"""The audit log: an append-only, hash-chained, signed log of decisions (docs/audit.md).

Writes byte for byte the format of the Node host's ``AuditLog`` (``src/audit/``), so that
either host can continue a log the other wrote and ``tollgate audit verify`` (Node) or
:func:`verify_log` (Python) checks both::

    from tollgate import Policy
    from tollgate.audit import AuditLog, audit_record, verify_log

    policy = Policy.from_file("examples/billing-agent.yaml")
    with AuditLog.open("./audit") as log:
        t0 = time.perf_counter_ns()
        decision = policy.evaluate(action)
        appended = log.append(audit_record(policy, action, decision, time.perf_counter_ns() - t0))
        appended.seq, appended.hash      # durable (fdatasync'ed) when append returns

    verify_log("./audit")                # VerifyResult(ok=True, records=1, ...)

**Threads.** ``AuditLog`` is thread-safe. With group commit (the default) the records that
threads append while a write and ``fdatasync`` run are written together by the next one:
one thread at a time (the first that finds no sync running) writes and syncs everything
pending, every other appender waits until the batch that holds its record is durable.
``group_commit=False`` writes and syncs each record alone. Without threads, batch with
:meth:`AuditLog.append_many`, :meth:`AuditLog.submit` (a future) or ``await
AuditLog.append_async(...)`` (a background writer thread syncs).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .canonical import canonicalize
from .jsonline import NotJson, parse_json_text

__all__ = [
    "AuditLog",
    "AuditEntry",
    "Appended",
    "AuditError",
    "AuditWarning",
    "VerifyResult",
    "Seal",
    "Recovered",
    "audit_record",
    "recordable",
    "recover_entry",
    "audit_record_json",
    "encode_record",
    "parse_record",
    "redact",
    "verify_log",
    "segment_name",
    "prefix_digest",
    "GENESIS",
    "NOT_JSON",
    "REDACTED",
    "CHECKPOINT_FORMAT",
]

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


# -- errors and results -------------------------------------------------------------


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


# -- the record -----------------------------------------------------------------------


def redact(action: Any, paths: Iterable[Sequence[str]]) -> Any:
    """The action with every present value at ``paths`` replaced by ``"[redacted]"``.

    As the Node host's ``redact``: the input is never modified, only the objects on a
    redacted path are copied (copy-on-write); paths address object keys only, a path through
    an array, a scalar or a missing key redacts nothing, ``None`` is a present value.
    """
    out = action
    for path in paths:
        if len(path) > 0:
            out = _redact_path(out, path, 0)
    return out


def _redact_path(node: Any, path: Sequence[str], i: int) -> Any:
    if not isinstance(node, Mapping):
        return node
    key = path[i]
    if key not in node:
        return node
    value = node[key]
    replaced = REDACTED if i == len(path) - 1 else _redact_path(value, path, i + 1)
    if replaced is value:
        return node
    copy = dict(node)
    copy[key] = replaced
    return copy


def _eval_ns(value: Union[int, float]) -> int:
    if isinstance(value, bool):
        raise TypeError("eval_ns must be a number")
    if isinstance(value, int):
        return value
    return max(0, int(math.floor(value + 0.5)))  # Math.round


def _redact_paths(policy: Any) -> Iterable[Sequence[str]]:
    """The policy's ``audit.redact`` paths: ``policy.redact``, as in Node (docs/abi.md, "Names in the hosts")."""
    return policy.redact


def audit_record(policy: Any, action: Any, decision: Any, eval_ns: Union[int, float]) -> AuditEntry:
    """The record fields for one decision, with the policy's ``audit.redact`` paths redacted.

    ``policy`` is a :class:`~tollgate.Policy` (or anything with ``name``, ``hash`` and
    ``redact``, the paths); ``decision`` the :class:`~tollgate.Decision` it returned (or its dict);
    ``eval_ns`` the evaluation time in nanoseconds (a float is rounded as ``Math.round``).
    The caller's action is never modified.
    """
    return AuditEntry(
        decision=decision,
        action=redact(action, _redact_paths(policy)),
        policy=policy.name,
        policy_hash=policy.hash,
        eval_ns=_eval_ns(eval_ns),
    )


def audit_record_json(policy: Any, action: Any, decision: Any, eval_ns: Union[int, float]) -> AuditEntry:
    """:func:`audit_record` with the action and the decision already canonicalized (as Node's ``auditRecordJson``).

    The costly part of a record is canonicalizing its action; this does it here, so that it
    can run in worker processes (the entry pickles: it holds only strings and an int) while
    the one writer only hashes and writes. ``action`` and ``decision`` of the entry are then
    ``None``. The bytes written are those of the object path.
    """
    e = audit_record(policy, action, decision, eval_ns)
    return AuditEntry(None, None, e.policy, e.policy_hash, e.eval_ns,
                      canonical_action(e.action), _canonical_decision(decision))


def recover_entry(first: int, last: int, count: int, checkpoint_seq: int, checkpoint_hash: str) -> AuditEntry:
    """The ``recover`` event record (docs/audit.md): records ``first``..``last`` found after the checkpoint were kept."""
    return AuditEntry(
        decision={
            "event": "recover",
            "unsigned": {"first": first, "last": last, "count": count},
            "checkpoint": {"seq": checkpoint_seq, "hash": checkpoint_hash},
        },
        action={"event": "recover"},
        policy="",
        policy_hash="",
        eval_ns=0,
    )


def _event(r: Mapping) -> Optional[str]:
    """``"recover"`` or ``"seal"`` for an event record, else ``None`` (as Node's ``eventOf``).

    A decision record never passes for one: a policy's name is never empty, and the engine's
    decisions have no ``event`` key.
    """
    if r.get("policy") != "" or r.get("policy_hash") != "":
        return None
    a = r.get("action")
    if type(a) is not dict or len(a) != 1:
        return None
    e = a.get("event")
    if e in ("recover", "seal") and type(r.get("decision")) is dict and r["decision"].get("event") == e:
        return e
    return None


def _is_json(v: Any, depth: int) -> bool:
    """Whether canonicalize can write ``v`` within the depth Node accepts (512)."""
    if isinstance(v, (dict, list, tuple)):
        if depth > _MAX_DEPTH:
            return False
        items = v.values() if isinstance(v, dict) else v
        for e in items:
            if isinstance(e, (dict, list, tuple)) and not _is_json(e, depth + 1):
                return False
    return True


# The fast path: json's C encoder writes the same text as RFC 8785 for plain data whose numbers
# it prints as JavaScript does (integers within 2**53, non-integral floats in [1e-4, 1e16)) and
# whose text has no surrogates and nothing at or above U+E000 (where key order by code point
# and by UTF-16 code unit can differ). Anything else goes through canonical.canonicalize.
_fast_encoder = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False)
_SLOW_TEXT = re.compile("[\ud800-\udfff\ue000-\U0010ffff]")
_INF = float("inf")


def _scan(v: Any, depth: int, limit: int) -> int:
    """0: not JSON (NaN, infinities, nested deeper than ``limit``); 1: the fast path writes it; 2: use canonicalize."""
    t = type(v)
    if t is str or t is bool or v is None:
        return 1
    if t is int:
        return 1 if -_MAX_SAFE <= v <= _MAX_SAFE else 2
    if t is float:
        if v != v or v == _INF or v == -_INF:
            return 0
        return 1 if 1e-4 <= abs(v) < 1e16 and not v.is_integer() else 2
    if t is dict:
        if depth > limit:
            return 0
        r = 1
        for k, e in v.items():
            if type(k) is not str:
                return 2
            s = _scan(e, depth + 1, limit)
            if s != 1:
                if s == 0:
                    return 0
                r = 2
        return r
    if t is list or t is tuple:
        if depth > limit:
            return 0
        r = 1
        for e in v:
            s = _scan(e, depth + 1, limit)
            if s != 1:
                if s == 0:
                    return 0
                r = 2
        return r
    return 2


def _canonical(v: Any, limit: int = 1 << 30) -> str:
    """RFC 8785 canonical JSON of ``v`` (as canonical.canonicalize, faster for plain data)."""
    s = _scan(v, 0, limit)
    if s == 1:
        out = _fast_encoder.encode(v)
        if out.isascii() or _SLOW_TEXT.search(out) is None:
            return out
    elif s == 0:
        raise ValueError("not a JSON value")
    return canonicalize(v)


_NOT_JSON_TEXT = '"[not JSON]"'


def _action_text(action: Any) -> Optional[str]:
    """Canonical JSON of an action, or ``None`` when it is not a JSON value the log can hold."""
    try:
        s = _scan(action, 0, _MAX_DEPTH)
        if s == 0:
            return None
        if s == 1:
            out = _fast_encoder.encode(action)
            if out.isascii() or _SLOW_TEXT.search(out) is None:
                return out
        if not _is_json(action, 0):
            return None
        return canonicalize(action)
    except (TypeError, ValueError, RecursionError):
        return None  # NaN, infinities, lone surrogates, cycles, objects that are not JSON


def canonical_action(action: Any) -> str:
    """Canonical JSON of an action, or of ``"[not JSON]"`` when it is not a JSON value."""
    text = _action_text(action)
    return _NOT_JSON_TEXT if text is None else text


def recordable(action: Any) -> bool:
    """Whether the log can record ``action`` faithfully (as itself, not as ``"[not JSON]"``).

    False for a lone surrogate in any key or string, nesting deeper than 512, and any value
    that is not JSON (NaN, infinities, bytes, sets, non-string keys, cycles...).
    """
    return _action_text(action) is not None


@lru_cache(maxsize=256)
def _canonical_str(s: str) -> str:
    return canonicalize(s)


_decision_text: Dict[Any, str] = {}
_decision_lock = threading.Lock()


def _canonical_decision(decision: Any) -> str:
    to_dict = getattr(decision, "to_dict", None)
    if to_dict is None:
        if not isinstance(decision, Mapping):
            raise TypeError("decision must be a Decision or a mapping")
        return canonicalize(dict(decision))
    text = _decision_text.get(decision)
    if text is None:
        text = canonicalize(to_dict())
        with _decision_lock:
            if len(_decision_text) > 4096:
                _decision_text.clear()
            _decision_text[decision] = text
    return text


def _entry_fields(entry: Any) -> Tuple[Any, ...]:
    if isinstance(entry, AuditEntry):
        return (entry.decision, entry.action, entry.policy, entry.policy_hash, entry.eval_ns,
                entry.action_json, entry.decision_json)
    if isinstance(entry, Mapping):
        aj, dj = entry.get("action_json"), entry.get("decision_json")
        return (entry["decision"] if dj is None else None, entry["action"] if aj is None else None,
                entry["policy"], entry["policy_hash"], entry["eval_ns"], aj, dj)
    raise TypeError("an audit entry is an AuditEntry (see audit_record) or a mapping with its five keys")


def _pre_canonical(text: Any, what: str) -> str:
    if type(text) is not str or not text or "\n" in text:
        raise TypeError(f"{what} must be a non-empty string without a newline")
    return text


def encode_record(entry: Union[AuditEntry, Mapping], seq: int, ts: str, prev: str) -> Tuple[str, str]:
    """The record's hash and line (with ``"\\n"``), exactly as the Node host's ``encodeRecord``.

    The line is the canonical JSON of the whole record; the hash is the SHA-256 of the
    canonical JSON of the record without ``hash``, which is the same text without
    ``,"hash":"..."`` after ``eval_ns``.
    """
    decision, action, policy, policy_hash, eval_ns, action_json, decision_json = _entry_fields(entry)
    if type(eval_ns) is not int:
        if not _safe_int(eval_ns):
            raise TypeError("eval_ns must be a non-negative integer")
        eval_ns = int(eval_ns)
    if not 0 <= eval_ns <= _MAX_SAFE:
        raise TypeError("eval_ns must be a non-negative integer")
    a = canonical_action(action) if action_json is None else _pre_canonical(action_json, "action_json")
    d = _canonical_decision(decision) if decision_json is None else _pre_canonical(decision_json, "decision_json")
    head = f'{{"action":{a},"decision":{d},"eval_ns":{eval_ns}'
    tail = (
        f',"policy":{_canonical_str(policy)},"policy_hash":{_canonical_str(policy_hash)}'
        f',"prev":"{prev}","seq":{seq},"ts":"{ts}"}}'
    )
    digest = hashlib.sha256((head + tail).encode("utf-8")).hexdigest()
    return digest, f'{head},"hash":"{digest}"{tail}\n'


def _safe_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return -_MAX_SAFE <= v <= _MAX_SAFE
    if isinstance(v, float):
        return v.is_integer() and abs(v) <= _MAX_SAFE
    return False


def parse_record(line: str) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """Checks one written line (without its ``"\\n"``): ``(record, None)`` or ``(None, what is wrong)``.

    The same checks, in the same order and with the same messages, as Node's ``parseRecord``.
    """
    try:
        r = parse_json_text(line)
    except NotJson:
        return None, "not a JSON line"
    if type(r) is not dict:
        return None, "record is not a JSON object"
    keys = ",".join(sorted(r.keys()))
    if keys != ",".join(_KEYS):
        return None, f"record has keys {keys}; expected action, decision, eval_ns, hash, policy, policy_hash, prev, seq, ts"
    seq = r["seq"]
    if not _safe_int(seq) or seq < 1:
        return None, "seq is not a positive integer"
    if type(r["ts"]) is not str or not _TS.fullmatch(r["ts"]):
        return None, "ts is not an RFC 3339 UTC time with milliseconds"
    for k in ("prev", "hash"):
        v = r[k]
        if type(v) is not str or not _HEX64.fullmatch(v):
            return None, f"{k} is not a SHA-256 hex digest"
    if type(r["decision"]) is not dict:
        return None, "decision is not an object"
    if type(r["policy"]) is not str or type(r["policy_hash"]) is not str:
        return None, "policy and policy_hash must be strings"
    if not _safe_int(r["eval_ns"]) or r["eval_ns"] < 0:
        return None, "eval_ns is not a non-negative integer"
    try:
        canonical = _canonical(r)
    except (TypeError, ValueError, RecursionError):
        return None, "record cannot be canonicalized"
    if canonical != line:
        return None, "record is not in canonical form (RFC 8785)"
    rest = dict(r)
    claimed = rest.pop("hash")
    expected = hashlib.sha256(_canonical(rest).encode("utf-8")).hexdigest()
    if expected != claimed:
        return None, f"hash mismatch: the record hashes to {expected}, not {claimed}"
    if isinstance(r["seq"], float):
        r["seq"] = int(r["seq"])
    return r, None


# -- files ------------------------------------------------------------------------------


def segment_name(first_seq: int) -> str:
    """``audit-<first seq, 20 digits>.jsonl``."""
    return f"audit-{first_seq:020d}.jsonl"


def _list_segments(dir: str) -> List[Tuple[str, int]]:
    out = []
    for name in os.listdir(dir):
        m = _SEGMENT.fullmatch(name)
        if m:
            out.append((name, int(m.group(1))))
    out.sort()
    return out


def _split_lines(data: bytes) -> Tuple[List[bytes], Optional[bytes]]:
    """Whole lines (without ``\\n``) and the torn remainder, if any."""
    if not data:
        return [], None
    lines = data.split(b"\n")
    last = lines.pop()
    return lines, (last if last else None)


def _text(b: bytes) -> str:
    """Lenient decoding (as Node's ``readFile(..., "utf8")``): only where the bytes are not a record being verified."""
    return b.decode("utf-8", "replace")


class _Bad(Exception):
    """A finding: ``file``, ``line``, ``message`` (as verify prints it)."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


def _record_at(file: str, index: int, raw: bytes) -> Dict[str, Any]:
    """The verified record of line ``index`` (0-based) of ``file``: strict UTF-8, canonical, hash right."""
    try:
        text = raw.decode("utf-8")  # strict: a line with invalid bytes is never read with U+FFFD
    except UnicodeDecodeError:
        raise _Bad(file, index + 1, "line is not valid UTF-8") from None
    r, err = parse_record(text)
    if r is None:
        raise _Bad(file, index + 1, err or "bad record")
    return r


@dataclass
class _Walk:
    """What :func:`_walk_chain` saw (as Node's ``ChainWalk``)."""

    records: int
    last_seq: int
    last_hash: Optional[str]
    end: Optional[Tuple[str, int]] = None
    at: Dict[int, Tuple[str, str, int]] = field(default_factory=dict)
    """seq -> (hash, file, line) of the records asked for."""
    events: List[Tuple[str, Dict[str, Any], str, int]] = field(default_factory=list)
    """(kind, record, file, line) of each event record walked, in order."""
    segment_starts: List[Tuple[int, str, int]] = field(default_factory=list)
    """(seq, file, 0-based line) where each segment walked starts being walked."""

    def place_of(self, seq: int) -> Optional[Tuple[str, int]]:
        """Where record ``seq`` is, for a seq within the walk (its records are consecutive)."""
        for first_seq, file, first_line in reversed(self.segment_starts):
            if first_seq <= seq:
                return file, first_line + (seq - first_seq) + 1
        return None


def _walk_chain(
    dir: str,
    segments: Sequence[Tuple[str, int]],
    start_segment: int,
    start_line: int,
    start_seq: int,
    start_prev: Optional[str],
    want: Iterable[int] = (),
    last_lines: Optional[List[bytes]] = None,
) -> _Walk:
    """Walks every record from a start to the end of the log, as Node's ``walkChain``; raises :class:`_Bad`.

    Each line must be valid UTF-8, a canonical record whose hash is right, with ``seq`` + 1 and
    ``prev`` the previous hash (``start_prev`` ``None``: the first one's ``prev`` is taken as
    given); segment names must continue the seqs, only the last segment may be empty, no last
    line may be incomplete, and a seal may only be the first record walked.
    ``last_lines``: the last segment's whole lines, instead of reading it (open, before its cut).
    """
    wanted = set(want)
    expected = start_seq
    prev = start_prev
    walk = _Walk(0, start_seq - 1, prev)
    for s in range(start_segment, len(segments)):
        name, first_seq = segments[s]
        file = os.path.join(dir, name)
        first = start_line if s == start_segment else 0
        if first == 0 and first_seq != expected:
            raise _Bad(file, 1, f"segment is named for seq {first_seq} but the previous segment ends at seq {expected - 1}")
        if last_lines is not None and s == len(segments) - 1:
            lines, torn = last_lines, None
        else:
            with open(file, "rb") as f:
                lines, torn = _split_lines(f.read())
        if not lines and s < len(segments) - 1:
            raise _Bad(file, 1, "empty segment before the last one")
        walk.segment_starts.append((expected, file, first))
        for i in range(first, len(lines)):
            r = _record_at(file, i, lines[i])
            if r["seq"] != expected:
                raise _Bad(file, i + 1, f"first record of the segment has seq {r['seq']}; expected {expected}"
                           if i == 0 else f"seq {r['seq']} follows seq {expected - 1}")
            if prev is not None and r["prev"] != prev:
                if i == 0 and s > 0:
                    raise _Bad(file, i + 1, f"prev does not link to the last record of {segments[s - 1][0]} ({prev})")
                raise _Bad(file, i + 1, f"prev {r['prev']} is not the previous record's hash {prev}")
            kind = _event(r)
            if kind is not None:
                if kind == "seal" and (i != 0 or walk.records > 0):
                    raise _Bad(file, i + 1, "a seal record that does not start the checked part of the log "
                               "(it must be the first line of its segment, and the latest seal)")
                walk.events.append((kind, r, file, i + 1))
            if r["seq"] in wanted:
                walk.at[r["seq"]] = (r["hash"], file, i + 1)
            prev = r["hash"]
            expected += 1
            walk.records += 1
            walk.end = (file, i + 1)
        if torn is not None:
            raise _Bad(file, len(lines) + 1, "incomplete last record (cut short by a crash; opening the log repairs it)")
    walk.last_seq = expected - 1
    walk.last_hash = prev
    return walk


def _first_line(path: str) -> Optional[bytes]:
    """The first line of a file (without ``\\n``; all of it if it has none); ``None`` for an empty file."""
    with open(path, "rb") as f:
        line = f.readline()
    if not line:
        return None
    return line[:-1] if line.endswith(b"\n") else line


def _latest_seal(dir: str, segments: Sequence[Tuple[str, int]]) -> Optional[Tuple[int, Dict[str, Any]]]:
    """The latest segment whose first line is a (valid) seal record, with that record; as Node's ``latestSeal``."""
    for s in range(len(segments) - 1, -1, -1):
        raw = _first_line(os.path.join(dir, segments[s][0]))
        if raw is None:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        r, _ = parse_record(text)
        if r is not None and _event(r) == "seal":
            return s, r
    return None


def prefix_digest(dir: str, names: Sequence[str]) -> Tuple[int, int, str]:
    """``(segments, bytes, sha256 hex)`` of a seal's prefix: for each segment, ``name "\\n" size "\\n" bytes``."""
    h = hashlib.sha256()
    total = 0
    for name in names:
        with open(os.path.join(dir, name), "rb") as f:
            data = f.read()
        h.update(f"{name}\n{len(data)}\n".encode("utf-8"))
        h.update(data)
        total += len(data)
    return len(names), total, h.hexdigest()


def _fsync_dir(dir: str) -> None:
    fd = os.open(dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _replace_file(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replaces ``path`` so that a crash leaves the old or the new file (write, fsync, rename, fsync dir)."""
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    _fsync_dir(d or ".")


def _ed25519():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return serialization, ed25519


def _key_id(public_key: Any) -> str:
    serialization, _ = _ed25519()
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _public_pem(public_key: Any) -> str:
    serialization, _ = _ed25519()
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def parse_public_key(pem: Union[str, bytes]) -> Any:
    """An Ed25519 public key from SPKI PEM; raises ``ValueError`` for anything else."""
    serialization, ed25519 = _ed25519()
    key = serialization.load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key ({type(key).__name__})")
    return key


@dataclass
class _Keys:
    private_key: Any
    public_key: Any
    public_key_pem: str
    key_id: str
    insecure_mode: Optional[int] = None


def _load_keys(dir: str) -> Tuple[_Keys, Callable[[], None]]:
    """The key pair (generated in memory when ``audit.key`` is missing) and a function that writes
    what is missing or stale on disk (``audit.key``, ``audit.pub``): called only once the log opened."""
    serialization, ed25519 = _ed25519()
    key_path = os.path.join(dir, PRIVATE_KEY_FILE)
    insecure: Optional[int] = None
    new_key: Optional[bytes] = None
    try:
        with open(key_path, "rb") as f:
            pem = f.read()
            mode = os.fstat(f.fileno()).st_mode & 0o777
        if mode & 0o077:
            insecure = mode
    except FileNotFoundError:
        new = ed25519.Ed25519PrivateKey.generate()
        pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        new_key = pem
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, ed25519.Ed25519PrivateKey):
        raise AuditError("not an Ed25519 private key", key_path)
    public_key = private_key.public_key()
    public_pem = _public_pem(public_key)
    pub_path = os.path.join(dir, PUBLIC_KEY_FILE)
    try:
        with open(pub_path, "rb") as f:
            existing: Optional[str] = _text(f.read())
    except FileNotFoundError:
        existing = None

    def write() -> None:
        if new_key is not None:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
            try:
                os.fchmod(fd, 0o600)  # whatever the umask
                _write_all(fd, new_key)
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(dir)
        if existing != public_pem:
            _replace_file(pub_path, public_pem.encode("ascii"), 0o644)

    return _Keys(private_key, public_key, public_pem, _key_id(public_key), insecure), write


def _signing_input(c: Mapping) -> bytes:
    return canonicalize({k: c[k] for k in ("format", "seq", "hash", "key_id", "ts")}).encode("utf-8")


def _sign_checkpoint(seq: int, hash: str, keys: _Keys, ts: str) -> Dict[str, Any]:
    c: Dict[str, Any] = {"format": CHECKPOINT_FORMAT, "seq": seq, "hash": hash, "key_id": keys.key_id, "ts": ts}
    c["sig"] = base64.b64encode(keys.private_key.sign(_signing_input(c))).decode("ascii")
    return c


def _read_checkpoint(dir: str) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """``(checkpoint or None when there is none, None)`` or ``(None, what is wrong with it)``."""
    try:
        with open(os.path.join(dir, CHECKPOINT_FILE), "rb") as f:
            text = _text(f.read())
    except FileNotFoundError:
        return None, None
    return _parse_checkpoint(text, "checkpoint")


def _parse_checkpoint(text: str, what: str) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    try:
        c = parse_json_text(text)
    except NotJson:
        return None, f"{what} is not JSON"
    if (
        type(c) is not dict
        or c.get("format") != CHECKPOINT_FORMAT
        or not _safe_int(c.get("seq"))
        or c["seq"] < 0
        or any(type(c.get(k)) is not str for k in ("hash", "key_id", "ts", "sig"))
    ):
        return None, f"{what} is not a {CHECKPOINT_FORMAT} object"
    c["seq"] = int(c["seq"])
    return c, None


def _checkpoint_signature_valid(c: Mapping, public_key: Any) -> bool:
    try:
        sig = base64.b64decode(c["sig"], validate=False)
        public_key.verify(sig, _signing_input(c))
        return True
    except Exception:
        return False


# -- the witness ------------------------------------------------------------------------

WITNESS_TIMEOUT_S = 5.0
"""How long a witness delivery (POST) or read (GET) may take."""


def _is_url(witness: str) -> bool:
    head = witness[:8].lower()
    return head.startswith("http://") or head.startswith("https://")


def _http() -> Any:
    """A urllib opener that goes straight to the witness (no proxy from the environment, as Node's ``fetch``)."""
    import urllib.request

    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _deliver_witness(witness: str, data: bytes) -> None:
    """Sends one checkpoint line to the witness: atomically replaces the file, or POSTs it to the URL."""
    if _is_url(witness):
        import urllib.request

        req = urllib.request.Request(witness, data=data, method="POST", headers={"content-type": "application/json"})
        with _http().open(req, timeout=WITNESS_TIMEOUT_S) as resp:
            resp.read()
    else:
        _replace_file(witness, data)


def _fetch_witness(witness: str) -> bytes:
    """The witness's checkpoint: the file's bytes, or the body of a GET of the URL."""
    if _is_url(witness):
        import urllib.request

        req = urllib.request.Request(witness, method="GET", headers={"accept": "application/json"})
        with _http().open(req, timeout=WITNESS_TIMEOUT_S) as resp:
            return resp.read()
    with open(witness, "rb") as f:
        return f.read()


# -- the lock ---------------------------------------------------------------------------

_held: set = set()
_held_lock = threading.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except PermissionError:
        return True
    except OSError:
        return False


def _acquire_lock(dir: str) -> Callable[[], None]:
    key = os.path.realpath(dir)
    with _held_lock:
        if key in _held:
            raise AuditError("the audit log is already open in this process", dir)
        path = os.path.join(dir, LOCK_FILE)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                try:
                    with open(path, "rb") as f:
                        pid = int(f.read().strip() or b"0")
                except (OSError, ValueError):
                    pid = 0
                if pid > 0 and pid != os.getpid() and _alive(pid):
                    raise AuditError(f"the audit log is open in process {pid}", dir) from None
                try:
                    os.unlink(path)  # stale
                except FileNotFoundError:
                    pass
                continue
            try:
                _write_all(fd, f"{os.getpid()}\n".encode("ascii"))
            finally:
                os.close(fd)
            _held.add(key)

            def unlock() -> None:
                with _held_lock:
                    _held.discard(key)
                try:
                    os.unlink(path)
                except OSError:
                    pass

            return unlock
    raise AuditError("cannot take the audit lock", dir)


# -- recovery ---------------------------------------------------------------------------


_ADVICE = (
    "nothing was written; run `tollgate audit verify DIR` to see the damage, "
    "and `tollgate audit seal DIR --reason TEXT` to continue past it deliberately"
)
"""What to do about a log that does not open: said as the Node host says it."""


def _refuse(dir: str, message: str, file: Optional[str], line: Optional[int]) -> AuditError:
    return AuditError(f"{message}; {_ADVICE}", file, line)


def _looks_like_json(line: bytes) -> bool:
    try:
        parse_json_text(_text(line))
        return True
    except NotJson:
        return False


def _last_record(dir: str, path: str, line: bytes, number: int) -> Tuple[int, str]:
    try:
        r = _record_at(path, number - 1, line)
    except _Bad as bad:
        raise _refuse(dir, f"the last record does not verify ({bad.message})", path, number) from None
    return r["seq"], r["hash"]


@dataclass
class _Tail:
    """Where the chain ends, found without writing anything (the cut is made once the log verified)."""

    segments: List[Tuple[str, int]]
    segment: str
    """The segment appends go to."""
    size: int
    """Its size after the cut."""
    last_seq: int
    last_hash: str
    created: bool
    kept: List[bytes]
    """The whole lines of the last segment that are kept."""
    cut: int = 0
    """Bytes to cut from the end of the last segment (a torn record, blocks a crash left unwritten)."""


def _find_tail(dir: str) -> _Tail:
    """As Node's ``recoverTail``, without writing: the torn tail to cut and where the chain ends."""
    segments = _list_segments(dir)
    if not segments:
        return _Tail(segments, segment_name(1), 0, 0, GENESIS, True, [])
    name, first_seq = segments[-1]
    path = os.path.join(dir, name)
    with open(path, "rb") as f:
        data = f.read()
    lines, torn = _split_lines(data)
    keep = len(lines)
    cut = len(torn) if torn is not None else 0
    while keep > 0 and not _looks_like_json(lines[keep - 1]):
        keep -= 1
        cut += len(lines[keep]) + 1
    size = len(data) - cut
    if keep > 0:
        seq, h = _last_record(dir, path, lines[keep - 1], keep)
        return _Tail(segments, name, size, seq, h, False, lines[:keep], cut)
    # An empty last segment: the chain ends in the segment before it.
    if len(segments) == 1:
        if first_seq != 1:
            raise _refuse(dir, "the only segment is empty but is not named for seq 1", path, None)
        return _Tail(segments, name, 0, 0, GENESIS, False, [], cut)
    prev_name, _ = segments[-2]
    prev_path = os.path.join(dir, prev_name)
    with open(prev_path, "rb") as f:
        plines, ptorn = _split_lines(f.read())
    if ptorn is not None or not plines:
        raise _refuse(dir, "a segment before the last is empty or ends in an incomplete record", prev_path, None)
    seq, h = _last_record(dir, prev_path, plines[-1], len(plines))
    if seq + 1 != first_seq:
        raise _refuse(dir, f"the empty last segment is named for seq {first_seq} but the chain ends at {seq}", path, None)
    return _Tail(segments, name, 0, seq, h, False, [], cut)


def _cut_tail(dir: str, tail: _Tail, warn: Callable[[AuditWarning], None]) -> None:
    """Truncates the last segment to what is kept (fsynced) and reports the cut."""
    if tail.cut == 0:
        return
    path = os.path.join(dir, tail.segments[-1][0])
    fd = os.open(path, os.O_RDWR)
    try:
        os.ftruncate(fd, tail.size)
        os.fsync(fd)
    finally:
        os.close(fd)
    keep = len(tail.kept)
    warn(
        AuditWarning(
            "torn-record",
            f"{path}:{keep + 1}: cut {tail.cut} bytes of an incomplete record left by a crash; the log continues after line {keep}",
            path,
            keep + 1,
            tail.cut,
        )
    )


def _check_from_checkpoint(dir: str, tail: _Tail, cp: Mapping) -> Optional[Tuple[int, int, int]]:
    """Verifies the log from the checkpoint's position to its end, as Node's ``checkFromCheckpoint``.

    The record at the checkpoint's seq must have its hash, and every record after it must be
    valid and linked (:func:`_walk_chain`); no seal may follow the checkpoint. Returns the
    records after the checkpoint ``(first, last, count)``, or ``None``. Raises :class:`_Bad`.
    """
    where = os.path.join(dir, CHECKPOINT_FILE)
    seq, h = cp["seq"], cp["hash"]
    if seq == tail.last_seq:
        if h != tail.last_hash:
            raise _Bad(where, 1, f"the checkpoint's hash does not match record {seq}")
        return None  # the common case: a clean close signed the end
    segments = tail.segments
    start_segment, start_line, start_seq, start_prev = 0, 0, 1, GENESIS
    if seq > 0:
        idx = len(segments) - 1
        while idx > 0 and segments[idx][1] > seq:
            idx -= 1
        start_segment, start_line, start_seq, start_prev = idx, seq - segments[idx][1], seq, None
    elif h != GENESIS:
        raise _Bad(where, 1, "the checkpoint at seq 0 does not hold the genesis hash")
    walk = _walk_chain(dir, segments, start_segment, start_line, start_seq, start_prev, (seq,), tail.kept)
    if seq > 0:
        at = walk.at.get(seq)
        if at is None:
            raise _Bad(os.path.join(dir, segments[start_segment][0]), 1,
                       f"record {seq}, which the checkpoint covers, is not where its segment's name puts it")
        if at[0] != h:
            raise _Bad(at[1], at[2], f"record {seq} has hash {at[0]} but the checkpoint says {h}")
    for kind, r, file, line in walk.events:
        if kind == "seal" and r["seq"] > seq:
            raise _Bad(file, line, f"the seal record at seq {r['seq']} is not covered by the checkpoint (seq {seq})")
    if walk.last_seq != tail.last_seq or walk.last_hash != tail.last_hash:
        raise _Bad(where, 1, f"the chain ends at seq {walk.last_seq}, not at the last record (seq {tail.last_seq})")
    return seq + 1, tail.last_seq, tail.last_seq - seq


def _exists(path: str) -> bool:
    """Whether ``path`` exists (following links, as Node's ``stat``); other errors are raised."""
    try:
        os.stat(path)
        return True
    except FileNotFoundError:
        return False


def _find_record(dir: str, seq: int) -> Optional[Tuple[str, int, Any]]:
    """``(file, line, parsed JSON)`` of the line holding record ``seq``, found through the segment names
    (as Node's ``findRecord``: read leniently, whole lines only, the line the name puts it on first)."""
    segments = _list_segments(dir)
    s = len(segments) - 1
    while s >= 0 and segments[s][1] > seq:
        s -= 1
    if s < 0:
        return None
    file = os.path.join(dir, segments[s][0])
    with open(file, "rb") as f:
        lines, _torn = _split_lines(f.read())
    guess = seq - segments[s][1]
    order = [guess, *range(len(lines))] if guess < len(lines) else range(len(lines))
    for i in order:
        try:
            r = parse_json_text(_text(lines[i]))
        except NotJson:
            continue
        if type(r) is dict and type(r.get("seq")) in (int, float) and r["seq"] == seq:
            return file, i + 1, r
    return None


def _check_against_witness(dir: str, witness: str, tail: _Tail, keys: _Keys, warn: Callable[[AuditWarning], None]) -> None:
    """As Node's ``checkAgainstWitness``: the log must still hold the record the witness saw.

    A writer that continued a log cut back behind its witness would overwrite the evidence (a
    file witness holds the latest checkpoint only). A witness that does not exist yet is fine
    (first use); one that cannot be read otherwise is a ``witness`` warning. Reads only.
    """
    if not re.match(r"^https?://", witness, re.I) and not os.path.isdir(os.path.dirname(os.path.abspath(witness))):
        # Most likely a mount that is not there: a witness on the local disk instead would be none.
        raise AuditError(f"the witness's directory {os.path.dirname(os.path.abspath(witness))} does not exist", witness)
    w, err = _read_witness(witness, absent_ok=True)
    if w is None and err is None:
        return  # no witness file yet (first use): the first checkpoint creates it
    if w is None:
        warn(AuditWarning("witness", f"{err}; the log was not checked against it at open", witness))
        return
    if w["key_id"] != keys.key_id or not _checkpoint_signature_valid(w, keys.public_key):
        raise _refuse(dir, f"the witness holds a checkpoint that is not signed by this log's key ({w['key_id']})", witness, None)
    ws, wh = w["seq"], w["hash"]
    if ws > tail.last_seq:
        raise _refuse(dir, f"the log ends at seq {tail.last_seq} but the witness holds a checkpoint at seq {ws}: records were deleted", witness, None)
    if ws == 0:
        return
    found = _find_record(dir, ws)
    h = None if found is None else found[2].get("hash", _MISSING)
    if h != wh:
        said = "is missing" if h is None else f"has hash {'undefined' if h is _MISSING else _js_str(h)}"
        file, line = (found[0], found[1]) if found is not None else (witness, None)
        raise _refuse(dir, f"record {ws} {said} but the witness says {wh}", file, line)


# -- the log ----------------------------------------------------------------------------


def _iso_ms(ms: int) -> str:
    secs, milli = divmod(ms, 1000)
    t = time.gmtime(secs)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, milli)


def _now_ms(now: Optional[Callable[[], Any]]) -> int:
    if now is None:
        return time.time_ns() // 1_000_000
    v = now()
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return (v - _EPOCH) // timedelta(milliseconds=1)
    return int(math.floor(float(v) * 1000))  # seconds since the epoch


_Item = Tuple[int, str, bytes, Any]  # seq, hash, line, None or the future of submit() / append_async()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_datasync = getattr(os, "fdatasync", os.fsync)


class AuditLog:
    """An append-only, hash-chained, group-committed log of decisions in one directory.

    Open with :meth:`open`; use as a context manager or call :meth:`close`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - guard
        raise TypeError("use AuditLog.open(dir)")

    @classmethod
    def open(
        cls,
        dir: Union[str, "os.PathLike[str]"],
        *,
        segment_bytes: int = 64 * 1024 * 1024,
        group_commit: bool = True,
        batch_window_ms: float = 0,
        max_batch_records: int = 8192,
        checkpoint_interval_ms: float = 1000,
        now: Optional[Callable[[], Any]] = None,
        on_warning: Optional[Callable[[AuditWarning], None]] = None,
        witness: Union[str, "os.PathLike[str]", None] = None,
    ) -> "AuditLog":
        """Opens (creating if needed) the log in ``dir``.

        Takes the lock (``audit.lock``), loads the key pair (generated only for a new log: a
        missing ``audit.key`` for a log with records or a checkpoint is refused), and verifies the
        log from its checkpoint to its end (docs/audit.md, "Recovery on open"): the checkpoint must
        exist when the log holds records, be signed by the log's key and be reached by the log;
        the record at its seq must have its hash, and every later record must verify and link.
        With a ``witness``, its checkpoint must be signed by the log's key and the log must still
        hold the record at its seq with its hash (a witness file that does not exist yet is fine;
        one that cannot be read is a ``witness`` warning). Otherwise :class:`AuditError`
        (``file``, ``line`` when known; the message advises ``tollgate audit verify`` and
        ``tollgate audit seal``) and nothing is written. Then it cuts a torn tail
        back to the last whole record (a ``torn-record`` warning) and, if records were found
        after the checkpoint (a crash before it was signed), appends a ``recover`` record naming
        them (an ``unsigned-tail`` warning) and signs a checkpoint.

        - ``segment_bytes``: a segment is closed before it would grow past this (64 MiB).
        - ``group_commit``: many records per ``fdatasync`` (default); ``False``: one write and
          one ``fdatasync`` per record.
        - ``batch_window_ms``: how long the thread that syncs a batch first waits for others to
          join it (default 0: a batch is what queued while the previous sync ran).
        - ``max_batch_records``: at most this many records per write (8192).
        - ``checkpoint_interval_ms``: every durable record is covered by a signed checkpoint
          within this long (a background thread), and on :meth:`checkpoint` and :meth:`close`.
        - ``now``: clock for ``ts``: returns a ``datetime`` or seconds since the epoch.
        - ``on_warning``: called with each :class:`AuditWarning` (also kept in ``warnings``).
        - ``witness``: a file path (each checkpoint atomically replaces it) or an ``http(s)://``
          URL (each checkpoint is POSTed to it), written by a background thread, never in the
          way of appends; a failed delivery is a ``witness`` warning. Read at open (the file, or
          a GET of the URL) to check the log against it, as above.
        """
        dir = os.fspath(dir)
        witness_target = os.fspath(witness) if witness is not None else None
        os.makedirs(dir, mode=0o700, exist_ok=True)
        unlock = _acquire_lock(dir)
        warnings: List[AuditWarning] = []

        def warn(w: AuditWarning) -> None:
            warnings.append(w)
            if on_warning is not None:
                on_warning(w)

        try:
            tail = _find_tail(dir)
            cp, err = _read_checkpoint(dir)
            where = os.path.join(dir, CHECKPOINT_FILE)
            if err is not None:
                raise _refuse(dir, err, where, 1)
            # A new key for an existing log would replace the evidence of whose key signed it.
            key_file = os.path.join(dir, PRIVATE_KEY_FILE)
            if (cp is not None or tail.last_seq > 0) and not _exists(key_file):
                holds = f"holds records up to seq {tail.last_seq}" if tail.last_seq > 0 else "has a checkpoint"
                raise _refuse(dir, f"{PRIVATE_KEY_FILE} is missing but the log {holds} (a new key would sign over it)", key_file, None)
            keys, write_keys = _load_keys(dir)
            if keys.insecure_mode is not None:
                warn(AuditWarning("key-permissions", f"{key_file}: the private key has mode {keys.insecure_mode:o}; it should be 600", key_file))
            unsigned: Optional[Tuple[int, int, int]] = None
            if cp is None:
                if tail.last_seq > 0:
                    raise _refuse(dir, f"checkpoint.json is missing but the log holds records up to seq {tail.last_seq} "
                                  "(records may have been deleted with it)", where, 1)
            else:
                if not _checkpoint_signature_valid(cp, keys.public_key):
                    raise _refuse(dir, "the checkpoint signature does not verify with the log's key", where, 1)
                if cp["seq"] > tail.last_seq:
                    raise _refuse(dir, f"the log ends at seq {tail.last_seq} but the checkpoint says {cp['seq']}: records were deleted", where, 1)
                try:
                    unsigned = _check_from_checkpoint(dir, tail, cp)
                except _Bad as bad:
                    raise _refuse(dir, bad.message, bad.file, bad.line) from None
            if witness_target is not None:
                _check_against_witness(dir, witness_target, tail, keys, warn)
            # The log verifies from its last signed position (and against its witness): only now is anything written.
            write_keys()
            _cut_tail(dir, tail, warn)
            fd = os.open(os.path.join(dir, tail.segment), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if tail.created:
                _fsync_dir(dir)
        except BaseException:
            unlock()
            raise
        self = object.__new__(cls)
        self._init(dir, keys, fd, tail.size, tail.last_seq, tail.last_hash, unlock, warnings,
                   segment_bytes, group_commit, batch_window_ms, max_batch_records, checkpoint_interval_ms, now)
        self._on_warning = on_warning
        self._witness_target = witness_target
        try:
            if unsigned is not None:
                # A crash left records the timer had not signed yet (some may have been acknowledged):
                # keep them, and say so in the log itself, so that every later verify sees it.
                assert cp is not None
                first, last, count = unsigned
                warn(
                    AuditWarning(
                        "unsigned-tail",
                        f"{count} record{'' if count == 1 else 's'} after the checkpoint (seq {first}..{last}) were not signed; "
                        "they verify by the chain and are kept, named by a 'recover' record",
                        os.path.join(dir, CHECKPOINT_FILE),
                    )
                )
                self.append(recover_entry(first, last, count, cp["seq"], cp["hash"]))
            if cp is None or cp["seq"] != self._seq:
                self.checkpoint()
        except BaseException:
            self._release()
            raise
        self._start_checkpointer()
        return self

    def _init(self, dir: str, keys: _Keys, fd: int, size: int, seq: int, last: str, unlock: Callable[[], None],
              warnings: List[AuditWarning], segment_bytes: int, group_commit: bool, window_ms: float,
              max_batch: int, checkpoint_interval_ms: float, now: Optional[Callable[[], Any]]) -> None:
        self.dir = dir
        self.warnings: List[AuditWarning] = warnings
        """Warnings: from opening (torn records cut back, key file permissions, an unsigned tail), and witness failures."""
        self._on_warning: Optional[Callable[[AuditWarning], None]] = None
        self._keys = keys
        self._fd = fd
        self._segment_size = size
        self._seq = seq
        self._last = last
        self._durable_seq = seq
        self._durable_hash = last
        self._unlock = unlock
        self._segment_limit = int(segment_bytes)
        self._group = bool(group_commit)
        self._window = max(0.0, float(window_ms)) / 1000.0 if group_commit else 0.0
        self._max_batch = max(1, int(max_batch)) if group_commit else 1
        self._checkpoint_interval = max(0.0, float(checkpoint_interval_ms)) / 1000.0
        self._now = now
        self._lock = threading.Lock()  # the chain: seq, last, pending, durable, failure, closed
        self._cond = threading.Condition(self._lock)
        self._work = threading.Condition(self._lock)  # the writer thread of submit()
        self._io_lock = threading.Lock()  # the segment file
        self._pending: List[_Item] = []
        self._flushing = False
        self._failure: Optional[AuditError] = None
        self._closed = False
        self._cp_lock = threading.Lock()
        self._checkpointed_seq = -1
        self._last_ts_ms = -1
        self._last_ts = ""
        self._stop = threading.Event()
        self._checkpointer: Optional[threading.Thread] = None
        self._writer: Optional[threading.Thread] = None
        self._stop_writer = False
        self._witness_target: Optional[str] = None
        self._witness_cond = threading.Condition(threading.Lock())
        self._witness_next: Optional[Tuple[int, bytes]] = None  # the latest checkpoint not yet sent
        self._witness_thread: Optional[threading.Thread] = None
        self._witness_stop = False

    # -- public -------------------------------------------------------------------------

    @property
    def public_key_pem(self) -> str:
        """SPKI PEM of the key checkpoints are signed with (keep a copy elsewhere for verification)."""
        return self._keys.public_key_pem

    @property
    def last_seq(self) -> int:
        """The seq of the last record appended (not necessarily durable yet); 0 for an empty log."""
        return self._seq

    @property
    def last_hash(self) -> str:
        """The hash of the last record appended (``GENESIS`` for an empty log)."""
        return self._last

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, entry: Union[AuditEntry, Mapping]) -> Appended:
        """Appends one record; returns once it is on disk (after ``fdatasync``).

        The chain position (seq, prev, hash) is fixed in call order. Raises
        :class:`AuditError` if the log is closed or a write or sync failed, after which the
        log refuses all further appends (fail closed).
        """
        return self.append_many((entry,))[0]

    def append_many(self, entries: Iterable[Union[AuditEntry, Mapping]]) -> List[Appended]:
        """Appends several records in order; returns once all are on disk (one write and sync per batch)."""
        entries = list(entries)
        if not entries:
            return []
        with self._lock:
            items = self._assign(entries, None)
            self._pending.extend(items)
            self._wait_durable(items[-1][0])
        return [Appended(s, h) for s, h, _, _ in items]

    def submit(self, entry: Union[AuditEntry, Mapping]) -> "Future[Appended]":
        """Appends one record without waiting: the future resolves when it is on disk.

        The chain position is fixed before ``submit`` returns (in call order); a background
        writer thread syncs what was submitted, in batches. The future fails with the
        :class:`AuditError` of a failed write. Raises at once if the log is closed or failed.
        """
        fut: "Future[Appended]" = Future()
        fut.set_running_or_notify_cancel()  # a record cannot be taken back
        self._enqueue(entry, fut)
        return fut

    async def append_async(self, entry: Union[AuditEntry, Mapping]) -> Appended:
        """``await log.append_async(entry)``: returns when the record is on disk, without blocking the loop.

        As :meth:`submit`: the chain position is fixed at the call, the writer thread syncs in
        batches, so many concurrent ``append_async`` calls share one ``fdatasync`` (group
        commit, as the Node host's ``append``). Cancelling the awaiting task does not take the
        record back.
        """
        fut = asyncio.get_running_loop().create_future()
        self._enqueue(entry, fut)
        return await fut

    def _enqueue(self, entry: Any, fut: Any) -> None:
        with self._lock:
            self._pending.extend(self._assign((entry,), fut))
            if self._writer is None:
                self._writer = threading.Thread(target=self._writer_loop, name="tollgate-audit-writer", daemon=True)
                self._writer.start()
            self._work.notify()

    def flush(self) -> None:
        """Returns when everything appended or submitted so far is durable."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            self._wait_durable(self._seq)

    def checkpoint(self) -> None:
        """Writes a signed checkpoint of the last durable record (atomically replacing the old one)."""
        with self._cp_lock:
            with self._lock:
                seq, h = self._durable_seq, self._durable_hash
            if self._checkpointed_seq == seq:
                return
            cp = _sign_checkpoint(seq, h, self._keys, _iso_ms(_now_ms(self._now)))
            line = (canonicalize(cp) + "\n").encode("utf-8")
            _replace_file(os.path.join(self.dir, CHECKPOINT_FILE), line)
            self._checkpointed_seq = seq
            if self._witness_target is not None:
                self._to_witness(seq, line)

    def close(self) -> None:
        """Syncs what is pending, writes a final checkpoint, closes the segment and releases the lock.

        Raises the :class:`AuditError` of an earlier failed write (after releasing everything).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True  # no more appends
        try:
            self._stop.set()
            if self._checkpointer is not None:
                self._checkpointer.join()
            with self._lock:
                try:
                    if self._failure is None:
                        self._wait_durable(self._seq)
                finally:
                    self._stop_writer = True
                    self._work.notify_all()
            if self._writer is not None:
                self._writer.join()
            if self._failure is not None:
                raise self._failure
            self.checkpoint()
            self._stop_witness(wait=True)  # the final checkpoint reaches the witness
        finally:
            self._release()

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AuditLog {self.dir!r} seq={self._seq}{' closed' if self._closed else ''}>"

    # -- internals ----------------------------------------------------------------------

    def _release(self) -> None:
        self._closed = True
        self._stop.set()
        self._stop_witness(wait=False)
        with self._io_lock:
            if self._fd >= 0:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = -1
        self._unlock()

    def _warn(self, w: AuditWarning) -> None:
        self.warnings.append(w)
        if self._on_warning is not None:
            try:
                self._on_warning(w)
            except Exception:  # a failing callback must not stop the thread that reports
                pass

    def _to_witness(self, seq: int, line: bytes) -> None:
        """Hands the checkpoint to the witness thread (only the latest waiting one is sent)."""
        with self._witness_cond:
            if self._witness_stop:
                return
            self._witness_next = (seq, line)
            if self._witness_thread is None:
                self._witness_thread = threading.Thread(target=self._witness_loop, name="tollgate-audit-witness", daemon=True)
                self._witness_thread.start()
            self._witness_cond.notify()

    def _witness_loop(self) -> None:
        target = self._witness_target
        assert target is not None
        while True:
            with self._witness_cond:
                while self._witness_next is None and not self._witness_stop:
                    self._witness_cond.wait()
                if self._witness_next is None:
                    return
                seq, line = self._witness_next
                self._witness_next = None
            try:
                _deliver_witness(target, line)
            except Exception as err:
                self._warn(AuditWarning("witness", f"{target}: the checkpoint at seq {seq} could not be delivered to the witness: {err}", target))

    def _stop_witness(self, wait: bool) -> None:
        """Stops the witness thread once it has sent what is waiting (``wait``: until then)."""
        with self._witness_cond:
            self._witness_stop = True
            self._witness_cond.notify_all()
            t = self._witness_thread
        if wait and t is not None and t is not threading.current_thread():
            t.join()

    def _timestamp(self) -> str:
        ms = _now_ms(self._now)
        if ms != self._last_ts_ms:
            self._last_ts_ms = ms
            self._last_ts = _iso_ms(ms)
        return self._last_ts

    def _assign(self, entries: Sequence[Any], fut: Any) -> List[_Item]:
        """Fixes the chain position of each entry. Lock held."""
        if self._closed:
            raise AuditError("the audit log is closed", self.dir)
        if self._failure is not None:
            raise self._failure
        ts = self._timestamp()
        seq, last = self._seq, self._last
        out = []
        for entry in entries:  # encode all first: a bad entry leaves the chain as it was
            seq += 1
            last, line = encode_record(entry, seq, ts, last)
            out.append((seq, last, line.encode("utf-8"), fut))
        self._seq, self._last = seq, last
        return out

    def _wait_durable(self, seq: int) -> None:
        """Waits until ``seq`` is durable, writing batches when no other thread is. Lock held.

        One thread at a time (``_flushing``) takes what is pending, writes and syncs it with the
        lock released, while other threads queue records for the next batch.
        """
        while True:
            if self._durable_seq >= seq:
                return
            if self._failure is not None:
                raise self._failure
            if self._flushing:
                self._cond.wait()
                continue
            self._flushing = True
            error: Optional[BaseException] = None
            failed: List[_Item] = []
            try:
                if self._window > 0 and len(self._pending) < self._max_batch:
                    self._lock.release()
                    try:
                        time.sleep(self._window)
                    finally:
                        self._lock.acquire()
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._lock.release()
                try:
                    with self._io_lock:
                        self._write_batch(batch)
                except BaseException as err:
                    error = err
                finally:
                    self._lock.acquire()
                if error is None:
                    self._durable_seq, self._durable_hash = batch[-1][0], batch[-1][1]
                else:
                    failed = self._fail(f"audit write failed: {error}", batch)
            finally:
                self._flushing = False
                self._cond.notify_all()
            if error is not None:
                self._settle(failed)
                raise self._failure from error  # type: ignore[misc]
            if any(item[3] is not None for item in batch):
                # Futures are completed once the batch is marked durable and another thread may
                # sync: a done-callback may itself append.
                self._lock.release()
                try:
                    _resolve(batch, None)
                finally:
                    self._lock.acquire()

    def _fail(self, message: str, batch: Sequence[_Item] = ()) -> List[_Item]:
        """The file's state is unknown: refuse everything from now on. Lock held; returns the items whose futures must fail."""
        if self._failure is None:
            self._failure = AuditError(message, self.dir)
        items = [item for item in list(batch) + self._pending if item[3] is not None]
        self._pending.clear()
        self._cond.notify_all()
        self._work.notify_all()
        return items

    def _settle(self, items: List[_Item]) -> None:
        """Fails the futures of ``items`` with the lock released (their callbacks may append). Lock held."""
        if not items:
            return
        self._lock.release()
        try:
            _resolve(items, self._failure)
        finally:
            self._lock.acquire()

    def _writer_loop(self) -> None:
        """Syncs what :meth:`submit` queued when no appending thread does."""
        with self._lock:
            while True:
                while not self._pending and not self._stop_writer and self._failure is None:
                    self._work.wait()
                if self._failure is not None or (self._stop_writer and not self._pending):
                    return
                try:
                    self._wait_durable(self._pending[-1][0])
                except BaseException:
                    return  # the futures were failed with it

    def _write_batch(self, batch: Sequence[_Item]) -> None:
        """Writes the batch (rotating segments as needed) and fdatasyncs. Only one thread at a time."""
        if self._fd < 0:
            raise OSError(errno.EBADF, "the segment file is closed")
        i = 0
        n = len(batch)
        while i < n:
            if self._segment_size > 0 and self._segment_size + len(batch[i][2]) > self._segment_limit:
                self._rotate(batch[i][0])
            j = i
            size = self._segment_size
            while j < n and (j == i or size + len(batch[j][2]) <= self._segment_limit):
                size += len(batch[j][2])
                j += 1
            data = batch[i][2] if j - i == 1 else b"".join(item[2] for item in batch[i:j])
            _write_all(self._fd, data)
            self._segment_size = size
            i = j
        _datasync(self._fd)

    def _rotate(self, first_seq: int) -> None:
        """Closes the full segment (synced) and starts the next, named for its first record."""
        _datasync(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._fd = os.open(os.path.join(self.dir, segment_name(first_seq)), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _fsync_dir(self.dir)
        self._segment_size = 0

    def _start_checkpointer(self) -> None:
        if self._checkpoint_interval <= 0:
            return
        t = threading.Thread(target=self._checkpoint_loop, name="tollgate-audit-checkpoint", daemon=True)
        self._checkpointer = t
        t.start()

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self._checkpoint_interval):
            with self._lock:
                if self._failure is not None:
                    return
                behind = self._durable_seq != self._checkpointed_seq
            if behind:
                try:
                    self.checkpoint()
                except Exception as err:
                    with self._lock:
                        self._settle(self._fail(f"checkpoint write failed: {err}"))
                    return


def _resolve(items: Sequence[_Item], error: Optional[BaseException]) -> None:
    """Completes the futures of ``items``: concurrent ones here, asyncio ones with one call per event loop."""
    loops: Dict[Any, List[_Item]] = {}
    for item in items:
        f = item[3]
        if f is None:
            continue
        if isinstance(f, Future):
            if not f.done():
                if error is None:
                    f.set_result(Appended(item[0], item[1]))
                else:
                    f.set_exception(error)
        else:
            loops.setdefault(f.get_loop(), []).append(item)
    for loop, group in loops.items():
        try:
            loop.call_soon_threadsafe(_resolve_in_loop, group, error)
        except RuntimeError:  # the loop is closed: nobody is waiting
            pass


def _resolve_in_loop(items: List[_Item], error: Optional[BaseException]) -> None:
    for item in items:
        f = item[3]
        if not f.done():
            if error is None:
                f.set_result(Appended(item[0], item[1]))
            else:
                f.set_exception(error)


# -- verification -----------------------------------------------------------------------


def verify_log(
    dir: Union[str, "os.PathLike[str]"],
    public_key: Any = None,
    *,
    witness: Union[str, "os.PathLike[str]", None] = None,
    allow_unsigned_tail: bool = False,
) -> VerifyResult:
    """Verifies the log in ``dir`` as ``tollgate audit verify`` does; stops at the first problem.

    Reads the segments as bytes (a line that is not valid UTF-8 is an error). If the log was
    sealed, the latest seal's prefix digest must match the segments before it and checking
    starts at the seal. Checks every record from there (nine keys, types, canonical form,
    hash), ``seq`` continuity and ``prev`` links (across segments), segment names, that no last
    line is incomplete, and the checkpoint: signed by ``public_key`` (SPKI PEM text or bytes, a
    path, or a cryptography Ed25519 public key; default the directory's ``audit.pub``),
    ``key_id`` matching, the log reaching its ``seq`` with its ``hash``, covering the latest seal.

    ``witness``: a file path or an ``http(s)://`` URL (read with GET) holding a checkpoint: it
    must be signed by the same key and the log must still hold the record at its seq with its
    hash; records up to its seq count as signed. Records after the last signed position are an
    unsigned tail: an error unless ``allow_unsigned_tail`` (then reported in ``unsigned_tail``).

    Reads only. The result is true when the log verifies; otherwise ``file``, ``line`` and
    ``message`` name the first problem.
    """
    dir = os.fspath(dir)
    if not os.path.exists(dir):
        return VerifyResult(False, file=dir, line=1, message="no such directory")
    if not os.path.isdir(dir):
        return VerifyResult(False, file=dir, line=1, message="not a directory")
    try:
        return _verify(dir, public_key, None if witness is None else os.fspath(witness), allow_unsigned_tail)
    except _Bad as bad:
        return VerifyResult(False, file=bad.file, line=bad.line, message=bad.message)


def _read_witness(witness: str, absent_ok: bool = False) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """The witness's checkpoint, or what is wrong (as Node's ``readWitness``).

    ``absent_ok``: a witness file that does not exist is ``(None, None)`` (open: not written yet).
    """
    try:
        data = _fetch_witness(witness)
    except FileNotFoundError as err:
        if absent_ok and not _is_url(witness):
            return None, None
        return None, f"cannot read the witness {witness}: {err}"
    except Exception as err:
        code = getattr(err, "code", None)
        if type(code) is int and hasattr(err, "headers"):  # urllib's HTTPError: the witness answered
            return None, f"the witness {witness} answered {code}"
        reason = getattr(err, "reason", None)
        return None, f"cannot read the witness {witness}: {reason if reason is not None else err}"
    c, err = _parse_checkpoint(_text(data), "checkpoint")
    if err is not None:
        return None, f"the witness {witness}: {err}"
    return c, None


def _signature_problem(c: Mapping, key: Any, kid: str, what: str) -> Optional[str]:
    if c["key_id"] != kid:
        return f"{what} was signed by key {c['key_id']}, not by the given public key ({kid})"
    if not _checkpoint_signature_valid(c, key):
        return f"{what} signature does not verify"
    return None


def _js_json(v: Any) -> str:
    """``JSON.stringify(v)`` for a parsed JSON value (``undefined`` for a missing one)."""
    if v is _MISSING:
        return "undefined"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


_MISSING = object()


def _verify(dir: str, public_key: Any, witness: Optional[str], allow_unsigned_tail: bool) -> VerifyResult:
    """:func:`verify_log` after the directory checks, in the order of Node's ``verifyLog``; raises :class:`_Bad`."""
    segments = _list_segments(dir)
    cp_path = os.path.join(dir, CHECKPOINT_FILE)
    cp, err = _read_checkpoint(dir)
    if err is not None:
        raise _Bad(cp_path, 1, err)

    try:
        if public_key is None:
            if cp is None and not segments:
                raise _Bad(dir, 1, "no audit log here (no segments, no checkpoint)")
            with open(os.path.join(dir, PUBLIC_KEY_FILE), "rb") as f:
                key = parse_public_key(f.read())
        elif isinstance(public_key, (str, bytes)):
            key = parse_public_key(public_key)
        elif isinstance(public_key, os.PathLike):
            with open(public_key, "rb") as f:
                key = parse_public_key(f.read())
        else:
            key = public_key
        kid = _key_id(key)
    except _Bad:
        raise
    except Exception as e:
        where = os.path.join(dir, PUBLIC_KEY_FILE) if public_key is None else "<public key>"
        raise _Bad(where, 1, f"cannot read the public key: {e}") from None

    w: Optional[Dict[str, Any]] = None
    if witness is not None:
        w, werr = _read_witness(witness)
        if w is None:
            raise _Bad(witness, 1, werr or "the witness holds no checkpoint")
        problem = _signature_problem(w, key, kid, "the witness's checkpoint")
        if problem:
            raise _Bad(witness, 1, problem)

    # A sealed log is checked from its latest seal; the segments before it must be as sealed.
    latest = _latest_seal(dir, segments)
    start_segment, start_seq, start_prev = 0, 1, GENESIS
    seal: Optional[Seal] = None
    witness_in_prefix: Optional[str] = None
    witness_found = False
    if latest is not None:
        index, rec = latest
        ev = rec["decision"]
        seal_file = os.path.join(dir, segments[index][0])
        before = [n for n, _ in segments[:index]]
        k, b, digest = prefix_digest(dir, before)
        if w is not None and 1 <= w["seq"] < rec["seq"]:
            found = _find_in_prefix(dir, segments[:index], w["seq"])
            if found is not None:
                witness_found, witness_in_prefix = True, found
        sealed = ev.get("prefix", _MISSING)
        if (
            type(sealed) is not dict
            or sealed.get("sha256") != digest
            or not _same_number(sealed.get("segments"), k)
            or not _same_number(sealed.get("bytes"), b)
        ):
            raise _Bad(seal_file, 1, (
                f"the {len(before)} segments before the seal at seq {rec['seq']} are not those it sealed "
                f"({k} segments, {b} bytes, sha256 {digest}; sealed: {_js_json(sealed)}): they were changed after the seal"
            ))
        seal = Seal(rec["seq"], rec["ts"], _js_str(ev.get("reason")), _js_str(ev.get("by")), _js_str(ev.get("found")), sealed)
        start_segment, start_seq, start_prev = index, rec["seq"], None

    want = set()
    if cp is not None:
        want.add(cp["seq"])
    if w is not None:
        want.add(w["seq"])
    walk = _walk_chain(dir, segments, start_segment, 0, start_seq, start_prev, want)
    last_seq = walk.last_seq
    end_at = f" ({walk.end[0]}:{walk.end[1]})" if walk.end is not None else ""

    # The checkpoint: signed by the right key, not ahead of the log, covering the latest seal.
    if cp is None:
        raise _Bad(cp_path, 1, "checkpoint.json is missing")
    problem = _signature_problem(cp, key, kid, "checkpoint")
    if problem:
        raise _Bad(cp_path, 1, problem)
    if cp["seq"] > last_seq:
        raise _Bad(cp_path, 1, f"the log ends at seq {last_seq}{end_at} but the checkpoint covers seq {cp['seq']}: records were deleted")
    if seal is not None and cp["seq"] < seal.seq:
        raise _Bad(cp_path, 1, f"the checkpoint covers seq {cp['seq']}, before the seal at seq {seal.seq}: the seal is not signed")
    if cp["seq"] == 0:
        if cp["hash"] != GENESIS:
            raise _Bad(cp_path, 1, "checkpoint at seq 0 does not hold the genesis hash")
    else:
        h, file, line = walk.at[cp["seq"]]
        if h != cp["hash"]:
            raise _Bad(file, line, f"record {cp['seq']} has hash {h} but the checkpoint says {cp['hash']}")

    # The witness: the log must still hold what it saw.
    signed = cp["seq"]
    if w is not None:
        assert witness is not None
        ws, wh = w["seq"], w["hash"]
        if ws > last_seq:
            raise _Bad(witness, 1, f"the log ends at seq {last_seq}{end_at} but the witness holds a checkpoint at seq {ws}: "
                       "records were deleted (or the log was cut back to an older checkpoint)")
        if seal is not None and ws < seal.seq:
            if ws > 0 and (not witness_found or witness_in_prefix != wh):
                holds = "does not hold it" if not witness_found else f"holds it with hash {witness_in_prefix}"
                raise _Bad(witness, 1, f"the witness holds record {ws} with hash {wh}, but the sealed part of the log before seq {seal.seq} {holds}")
        elif ws == 0:
            if wh != GENESIS:
                raise _Bad(witness, 1, "the witness's checkpoint at seq 0 does not hold the genesis hash")
        else:
            h, file, line = walk.at[ws]
            if h != wh:
                raise _Bad(file, line, f"record {ws} has hash {h} but the witness says {wh}")
            signed = max(signed, ws)

    # Records after every signature: reported, and a failure unless allowed.
    unsigned = last_seq - signed
    if unsigned > 0 and not allow_unsigned_tail:
        file, line = walk.place_of(signed + 1) or (cp_path, 1)
        raise _Bad(file, line, (
            f"{unsigned} record{' is' if unsigned == 1 else 's are'} not covered by a signature: seq {signed + 1}..{last_seq}, "
            f"after the last signed checkpoint (seq {signed}); written in the writer's last checkpoint interval, "
            f"or forged without the key (--allow-unsigned-tail accepts them)"
        ))

    recovered = []
    for kind, r, _, _ in walk.events:
        if kind == "recover":
            u = r["decision"].get("unsigned")
            u = u if type(u) is dict else {}
            recovered.append(Recovered(r["seq"], u.get("first"), u.get("last"), u.get("count")))
    return VerifyResult(True, records=walk.records, segments=len(segments), checkpoint_seq=cp["seq"],
                        unsigned_tail=unsigned, seal=seal, recovered=tuple(recovered), witness_seq=None if w is None else w["seq"])


def _same_number(v: Any, n: int) -> bool:
    return type(v) in (int, float) and v == n


def _find_in_prefix(dir: str, segments: Sequence[Tuple[str, int]], seq: int) -> Optional[str]:
    """The ``hash`` of the first line of a seal's prefix (in name order) whose ``seq`` is ``seq``, as Node reads it.

    The prefix was accepted as it is: its lines are read as JSON (bytes decoded leniently), not verified.
    """
    for name, _ in segments:
        with open(os.path.join(dir, name), "rb") as f:
            lines, _torn = _split_lines(f.read())
        for raw in lines:
            try:
                r = parse_json_text(_text(raw))
            except NotJson:
                continue
            if type(r) is dict and type(r.get("seq")) in (int, float) and r["seq"] == seq and type(r.get("hash")) is str:
                return r["hash"]
    return None
