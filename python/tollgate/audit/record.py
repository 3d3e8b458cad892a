"""The record: redaction, the canonical JSON of actions and decisions, and one record's line and hash, as Node's."""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

from ..canonical import canonicalize
from ..jsonline import NotJson, parse_json_text
from .format import AuditEntry, _HEX64, _KEYS, _MAX_DEPTH, _MAX_SAFE, REDACTED, _safe_int, _TS


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
