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
from dataclasses import dataclass
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
    "audit_record",
    "audit_record_json",
    "encode_record",
    "parse_record",
    "redact",
    "verify_log",
    "segment_name",
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
    """A warning from opening a log: ``torn-record`` (a crash's incomplete tail, cut) or ``key-permissions``."""

    code: str
    message: str
    file: str
    line: Optional[int] = None
    """1-based line of the first byte cut (``torn-record``)."""
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
class VerifyResult:
    """What :func:`verify_log` found. ``ok`` is true, or ``file``/``line``/``message`` name the first problem."""

    ok: bool
    records: int = 0
    segments: int = 0
    checkpoint_seq: int = 0
    file: Optional[str] = None
    line: Optional[int] = None
    message: Optional[str] = None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.records} records in {self.segments} segments"
        return f"{self.file}:{self.line}: error: {self.message}"


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


def audit_record(policy: Any, action: Any, decision: Any, eval_ns: Union[int, float]) -> AuditEntry:
    """The record fields for one decision, with the policy's ``audit.redact`` paths redacted.

    ``policy`` is a :class:`~tollgate.Policy` (or anything with ``name``, ``hash`` and
    ``redact_paths``); ``decision`` the :class:`~tollgate.Decision` it returned (or its dict);
    ``eval_ns`` the evaluation time in nanoseconds (a float is rounded as ``Math.round``).
    The caller's action is never modified.
    """
    paths = getattr(policy, "redact_paths", None)
    if paths is None:
        paths = getattr(policy, "redact", ())
        if callable(paths):
            paths = ()
    return AuditEntry(
        decision=decision,
        action=redact(action, paths),
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


def canonical_action(action: Any) -> str:
    """Canonical JSON of an action, or of ``"[not JSON]"`` when it is not a JSON value."""
    try:
        s = _scan(action, 0, _MAX_DEPTH)
        if s == 0:
            return _NOT_JSON_TEXT
        if s == 1:
            out = _fast_encoder.encode(action)
            if out.isascii() or _SLOW_TEXT.search(out) is None:
                return out
        if not _is_json(action, 0):
            return _NOT_JSON_TEXT
        return canonicalize(action)
    except (TypeError, ValueError, RecursionError):
        return _NOT_JSON_TEXT  # NaN, infinities, lone surrogates, cycles, objects that are not JSON


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
    return b.decode("utf-8", "replace")  # as Node's readFile(..., "utf8")


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


def _load_or_create_keys(dir: str) -> _Keys:
    serialization, ed25519 = _ed25519()
    key_path = os.path.join(dir, PRIVATE_KEY_FILE)
    insecure: Optional[int] = None
    try:
        with open(key_path, "rb") as f:
            pem = f.read()
            mode = os.fstat(f.fileno()).st_mode & 0o777
        if mode & 0o077:
            insecure = mode
    except FileNotFoundError:
        new = ed25519.Ed25519PrivateKey.generate()
        pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            _write_all(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(dir)
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
    if existing != public_pem:
        _replace_file(pub_path, public_pem.encode("ascii"), 0o644)
    return _Keys(private_key, public_key, public_pem, _key_id(public_key), insecure)


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
    try:
        c = parse_json_text(text)
    except NotJson:
        return None, "checkpoint is not JSON"
    if (
        type(c) is not dict
        or c.get("format") != CHECKPOINT_FORMAT
        or not _safe_int(c.get("seq"))
        or c["seq"] < 0
        or any(type(c.get(k)) is not str for k in ("hash", "key_id", "ts", "sig"))
    ):
        return None, f"checkpoint is not a {CHECKPOINT_FORMAT} object"
    c["seq"] = int(c["seq"])
    return c, None


def _checkpoint_signature_valid(c: Mapping, public_key: Any) -> bool:
    try:
        sig = base64.b64decode(c["sig"], validate=False)
        public_key.verify(sig, _signing_input(c))
        return True
    except Exception:
        return False


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


def _looks_like_json(line: bytes) -> bool:
    try:
        parse_json_text(_text(line))
        return True
    except NotJson:
        return False


def _last_record(path: str, line: bytes, number: int) -> Tuple[int, str]:
    r, err = parse_record(_text(line))
    if r is None:
        raise AuditError(f"the last record does not verify ({err}); run `tollgate audit verify`", path, number)
    return r["seq"], r["hash"]


def _recover_tail(dir: str, warn: Callable[[AuditWarning], None]) -> Tuple[str, int, int, str, bool]:
    """(segment, its size, last seq, last hash, created): as Node's ``recoverTail``."""
    segments = _list_segments(dir)
    if not segments:
        return segment_name(1), 0, 0, GENESIS, True
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
    if cut > 0:
        fd = os.open(path, os.O_RDWR)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
        warn(
            AuditWarning(
                "torn-record",
                f"{path}:{keep + 1}: cut {cut} bytes of an incomplete record left by a crash; the log continues after line {keep}",
                path,
                keep + 1,
                cut,
            )
        )
    if keep > 0:
        seq, h = _last_record(path, lines[keep - 1], keep)
        return name, size, seq, h, False
    # An empty last segment: the chain ends in the segment before it.
    if len(segments) == 1:
        if first_seq != 1:
            raise AuditError("the only segment is empty but is not named for seq 1", path)
        return name, 0, 0, GENESIS, False
    prev_name, _ = segments[-2]
    prev_path = os.path.join(dir, prev_name)
    with open(prev_path, "rb") as f:
        plines, ptorn = _split_lines(f.read())
    if ptorn is not None or not plines:
        raise AuditError("a segment before the last is empty or ends in an incomplete record", prev_path)
    seq, h = _last_record(prev_path, plines[-1], len(plines))
    if seq + 1 != first_seq:
        raise AuditError(f"the empty last segment is named for seq {first_seq} but the chain ends at {seq}", path)
    return name, 0, seq, h, False


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
    ) -> "AuditLog":
        """Opens (creating if needed) the log in ``dir``.

        Takes the lock (``audit.lock``), loads or generates the key pair, cuts a torn tail
        back to the last whole record (a ``torn-record`` warning), and refuses a log that is
        shorter than its checkpoint or whose checkpoint does not verify (:class:`AuditError`).

        - ``segment_bytes``: a segment is closed before it would grow past this (64 MiB).
        - ``group_commit``: many records per ``fdatasync`` (default); ``False``: one write and
          one ``fdatasync`` per record.
        - ``batch_window_ms``: how long the thread that syncs a batch first waits for others to
          join it (default 0: a batch is what queued while the previous sync ran).
        - ``max_batch_records``: at most this many records per write (8192).
        - ``checkpoint_interval_ms``: the checkpoint is re-signed at most this often while
          appending (by a background thread), and on :meth:`checkpoint` and :meth:`close`.
        - ``now``: clock for ``ts``: returns a ``datetime`` or seconds since the epoch.
        - ``on_warning``: called with each :class:`AuditWarning` (also kept in ``warnings``).
        """
        dir = os.fspath(dir)
        os.makedirs(dir, mode=0o700, exist_ok=True)
        unlock = _acquire_lock(dir)
        warnings: List[AuditWarning] = []

        def warn(w: AuditWarning) -> None:
            warnings.append(w)
            if on_warning is not None:
                on_warning(w)

        try:
            keys = _load_or_create_keys(dir)
            if keys.insecure_mode is not None:
                kf = os.path.join(dir, PRIVATE_KEY_FILE)
                warn(AuditWarning("key-permissions", f"{kf}: the private key has mode {keys.insecure_mode:o}; it should be 600", kf))
            segment, size, last_seq, last_hash, created = _recover_tail(dir, warn)
            cp, err = _read_checkpoint(dir)
            where = os.path.join(dir, CHECKPOINT_FILE)
            if err is not None:
                raise AuditError(err, where)
            if cp is not None:
                if not _checkpoint_signature_valid(cp, keys.public_key):
                    raise AuditError("the checkpoint signature does not verify with the log's key", where)
                if cp["seq"] > last_seq:
                    raise AuditError(f"the log ends at seq {last_seq} but the checkpoint says {cp['seq']}: records were deleted", where)
                if cp["seq"] == last_seq and cp["hash"] != last_hash:
                    raise AuditError(f"the checkpoint's hash does not match record {cp['seq']}", where)
            fd = os.open(os.path.join(dir, segment), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if created:
                _fsync_dir(dir)
        except BaseException:
            unlock()
            raise
        self = object.__new__(cls)
        self._init(dir, keys, fd, size, last_seq, last_hash, unlock, warnings,
                   segment_bytes, group_commit, batch_window_ms, max_batch_records, checkpoint_interval_ms, now)
        try:
            if cp is None or cp["seq"] != last_seq:
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
        self.warnings: List[AuditWarning] = list(warnings)
        """Warnings from opening (torn records cut back, key file permissions)."""
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
            _replace_file(os.path.join(self.dir, CHECKPOINT_FILE), (canonicalize(cp) + "\n").encode("utf-8"))
            self._checkpointed_seq = seq

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
        with self._io_lock:
            if self._fd >= 0:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = -1
        self._unlock()

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


def verify_log(dir: Union[str, "os.PathLike[str]"], public_key: Any = None) -> VerifyResult:
    """Verifies the log in ``dir`` as ``tollgate audit verify`` does; stops at the first problem.

    Checks every record (nine keys, types, canonical form, hash), ``seq`` continuity and
    ``prev`` links (across segments), segment names, that no last line is incomplete, and the
    checkpoint: signed by ``public_key`` (SPKI PEM text or bytes, or a cryptography Ed25519
    public key; default the directory's ``audit.pub``), ``key_id`` matching, the log reaching
    its ``seq`` with its ``hash``. Reads only. The result is true when the log verifies;
    otherwise ``file``, ``line`` and ``message`` name the first problem.
    """
    dir = os.fspath(dir)

    def fail(file: str, line: int, message: str) -> VerifyResult:
        return VerifyResult(False, file=file, line=line, message=message)

    if not os.path.exists(dir):
        return fail(dir, 1, "no such directory")
    if not os.path.isdir(dir):
        return fail(dir, 1, "not a directory")
    segments = _list_segments(dir)
    expected = 1
    prev = GENESIS
    records = 0
    end_file, end_line = os.path.join(dir, CHECKPOINT_FILE), 1
    cp_path = os.path.join(dir, CHECKPOINT_FILE)
    cp, err = _read_checkpoint(dir)
    if err is not None:
        return fail(cp_path, 1, err)
    at_checkpoint: Optional[Tuple[str, str, int]] = None
    for s, (name, first_seq) in enumerate(segments):
        file = os.path.join(dir, name)
        if first_seq != expected:
            return fail(file, 1, f"segment is named for seq {first_seq} but the previous segment ends at seq {expected - 1}")
        with open(file, "rb") as f:
            lines, torn = _split_lines(f.read())
        if not lines and s < len(segments) - 1:
            return fail(file, 1, "empty segment before the last one")
        for i, raw in enumerate(lines):
            r, perr = parse_record(_text(raw))
            if r is None:
                return fail(file, i + 1, perr or "bad record")
            if r["seq"] != expected:
                return fail(file, i + 1, f"first record of the segment has seq {r['seq']}; expected {expected}"
                            if i == 0 else f"seq {r['seq']} follows seq {expected - 1}")
            if r["prev"] != prev:
                if i == 0 and s > 0:
                    return fail(file, i + 1, f"prev does not link to the last record of {segments[s - 1][0]} ({prev})")
                return fail(file, i + 1, f"prev {r['prev']} is not the previous record's hash {prev}")
            if cp is not None and r["seq"] == cp["seq"]:
                at_checkpoint = (r["hash"], file, i + 1)
            prev = r["hash"]
            expected += 1
            records += 1
            end_file, end_line = file, i + 1
        if torn is not None:
            return fail(file, len(lines) + 1, "incomplete last record (cut short by a crash; opening the log repairs it)")
    if cp is None:
        if not segments:
            return fail(dir, 1, "no audit log here (no segments, no checkpoint)")
        return fail(cp_path, 1, "checkpoint.json is missing")
    try:
        if public_key is None:
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
    except Exception as e:
        where = os.path.join(dir, PUBLIC_KEY_FILE) if public_key is None else "<public key>"
        return fail(where, 1, f"cannot read the public key: {e}")
    if cp["key_id"] != kid:
        return fail(cp_path, 1, f"checkpoint was signed by key {cp['key_id']}, not by the given public key ({kid})")
    if not _checkpoint_signature_valid(cp, key):
        return fail(cp_path, 1, "checkpoint signature does not verify")
    if cp["seq"] > records:
        where = f" ({end_file}:{end_line})" if records > 0 else ""
        return fail(cp_path, 1, f"the log ends at seq {records}{where} but the checkpoint covers seq {cp['seq']}: records were deleted")
    if cp["seq"] == 0:
        if cp["hash"] != GENESIS:
            return fail(cp_path, 1, "checkpoint at seq 0 does not hold the genesis hash")
    else:
        assert at_checkpoint is not None
        h, file, line = at_checkpoint
        if h != cp["hash"]:
            return fail(file, line, f"record {cp['seq']} has hash {h} but the checkpoint says {cp['hash']}")
    return VerifyResult(True, records=records, segments=len(segments), checkpoint_seq=cp["seq"])
