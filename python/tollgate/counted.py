"""Counters made durable by the audit log (spec section 8), as the Node host's ``src/pipeline/counted.ts``.

The record of a decision that recorded contributions carries them in its decision object, as
``counted`` — ``{"at": now_ms, "add": [[counter, digest, key, amount], ...], "pending": id}`` —
so a gate's in-memory counters are a view of the last window of its log, rebuilt when it opens.
Records written by either host rebuild the same state in both. A resolution of an escalation's
pending contributions is a record too (``decision.approval`` links the escalate record by hash;
the Node host writes one per approval transition, the Python gate one per :meth:`Gate.resolve`).

A counter keyed by, or summing, a field that ``audit.redact`` removes has those values sealed in
the record (:mod:`tollgate.audit.counted_seal`), and its value in the record's ``counters`` is
``"[redacted]"`` when it sums one (spec section 2): the record must not hold a redacted value.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from .audit import REDACTED, AuditError
from .audit.counted_seal import CountedSeal, is_sealed
from .canonical import canonicalize
from .state.memory_store import Contribution, MemoryCounterStore, Pending

__all__ = ["Escalation", "PendingByRecord", "PendingContributions", "SealedParts", "counted_decision_json", "rebuild_counters", "recorded_decision", "sealed_counters"]

_SEGMENT = re.compile(r"^audit-(\d{20})\.jsonl\Z")
_WEEK_MS = 7 * 86_400_000


class SealedParts(NamedTuple):
    """What a record must seal of a counter's contributions: its key, its amount (spec section 2)."""

    key: bool
    amount: bool


def _overlaps(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether one path is the other or lies under it: redacting either hides the other's value."""
    n = min(len(a), len(b))
    return tuple(a[:n]) == tuple(b[:n])


# id(counters) -> (counters, redact, parts): the policy's objects themselves are kept, so an id is
# not reused while its entry lives; checked by identity, so a lookup costs a dict get.
_sealed_cache: Dict[int, Tuple[Any, Any, Dict[str, SealedParts]]] = {}


def sealed_counters(counters: Sequence[Any], redact_paths: Sequence[Sequence[str]]) -> Dict[str, SealedParts]:
    """The counters whose contributions a record must seal, by name: keyed by a field (``per``) or
    summing one (``sum``) that an ``audit.redact`` path is, lies under or lies over. Empty for
    most policies. Cached per policy (its ``counters`` and ``redact`` objects): the result must
    not be changed."""
    cached = _sealed_cache.get(id(counters))
    if cached is not None and cached[0] is counters and cached[1] is redact_paths:
        return cached[2]
    parts: Dict[str, SealedParts] = {}
    redact = [r for r in redact_paths if len(r) > 0]
    if redact:
        def hidden(path: Sequence[str]) -> bool:
            return any(_overlaps(r, path) for r in redact)

        for c in counters:
            key = any(hidden(p) for p in c.per)
            amount = c.sum is not None and hidden(c.sum)
            if key or amount:
                parts[c.name] = SealedParts(key, amount)
    if len(_sealed_cache) >= 256:
        _sealed_cache.clear()  # many policies loaded and dropped: start again (a cache, not a registry)
    _sealed_cache[id(counters)] = (counters, redact_paths, parts)
    return parts


def counted_decision_json(decision: Any, policy: Any, entries: Sequence[Any], at: Union[int, float], pending: Optional[str], seal: Optional[CountedSeal]) -> Optional[str]:
    """The canonical JSON of the record's decision: ``decision`` plus what it counted; None when it
    counted nothing and shows no sealed counter's sum (the decision is recorded as it is).

    ``policy`` gives ``counters`` and ``redact``: a counter on a redacted field has its keys
    and/or amounts sealed with ``seal`` (the log's, :attr:`AuditLog.counted_seal
    <tollgate.audit.AuditLog.counted_seal>`) — ``"[redacted]"`` when ``seal`` is None, for a
    record that will never be written — and a sum of redacted amounts is ``"[redacted]"`` in the
    decision's ``counters``, whether or not this decision counted (a deny that read it)."""
    counters = policy.counters
    sealed = sealed_counters(counters, policy.redact)
    if not sealed:
        if not entries:
            return None
        d = decision.to_dict()
        digest = {c.name: c.digest for c in counters}
        add: List[Any] = [[e.counter, digest[e.counter], list(e.key), e.amount] for e in entries]
    else:
        d = decision.to_dict()
        values = d.get("counters")
        hid = False
        if values is not None:
            # A sum of redacted amounts is theirs to hide too (the first contribution is the sum).
            for name in values:
                parts = sealed.get(name)
                if parts is not None and parts.amount:
                    values[name] = REDACTED
                    hid = True
        if not entries:
            return canonicalize(d) if hid else None
        digest = {c.name: c.digest for c in counters}

        def hide(v: Any) -> Any:
            return REDACTED if seal is None else seal.seal(v)

        add = []
        for e in entries:
            parts = sealed.get(e.counter)
            key: Any = list(e.key)
            amount: Any = e.amount
            if parts is not None:
                if parts.key:
                    key = hide(key)
                if parts.amount:
                    amount = hide(amount)
            add.append([e.counter, digest[e.counter], key, amount])
    counted: Dict[str, Any] = {"at": at, "add": add}
    if pending is not None:
        counted["pending"] = pending
    d["counted"] = counted
    return canonicalize(d)


def recorded_decision(decision: Any, decision_json: Optional[str]) -> Dict[str, Any]:
    """The decision as its record holds it, without ``counted``: what a later record copies (the
    resolution of an escalation), so that it shows no more than the escalation's record did (a
    sealed counter's sum ``"[redacted]"``)."""
    if decision_json is None:
        return decision.to_dict()  # type: ignore[no-any-return]
    d: Dict[str, Any] = json.loads(decision_json)
    d.pop("counted", None)
    return d


class Escalation(NamedTuple):
    """An escalation whose contributions are pending: what its resolution record needs."""

    id: str
    expires_at: Union[int, float]
    seq: int
    decision: Dict[str, Any]
    action_json: str


class PendingContributions(NamedTuple):
    """An escalation's contributions pending in a store under ``id`` until ``expires_at`` (a
    shadow candidate's: no record of its own)."""

    id: str
    expires_at: Union[int, float]


_Pending = Union[Escalation, PendingContributions]


class PendingByRecord:
    """Escalations with pending contributions by the hash of their record, for the resolutions that settle them."""

    def __init__(self) -> None:
        self._map: Dict[str, _Pending] = {}

    def add(self, record_hash: str, escalation: _Pending) -> None:
        self._map[record_hash] = escalation

    def get(self, record_hash: str) -> Optional[_Pending]:
        return self._map.get(record_hash)

    def take(self, record_hash: str) -> Optional[_Pending]:
        return self._map.pop(record_hash, None)

    def prune(self, now: Union[int, float]) -> None:
        if len(self._map) < 1024:
            return
        for h in [h for h, e in self._map.items() if e.expires_at <= now]:
            del self._map[h]


def _key(key: Any) -> Any:
    """A key as the store takes it (a tuple); anything else as it is, for the store to refuse."""
    return tuple(key) if isinstance(key, list) else key


def _ts_ms(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000


def _opened(v: Any, seal: Optional[CountedSeal], what: str, file: str, line: int) -> Any:
    """A contribution's key or amount as recorded, opened with the log's seal if it was sealed."""
    if not is_sealed(v):
        if v == REDACTED:
            # Decided without the log's seal (counted_decision_json's seal None) yet recorded.
            raise AuditError(f"the log holds a counter {what} recorded as \"[redacted]\" (decided without the log's seal): the counts cannot be rebuilt", file, line)
        return v
    if seal is None:
        raise AuditError(f"the log holds a sealed counter {what}, and no key to open it was given", file, line)
    try:
        return seal.open(v)
    except ValueError as e:
        raise AuditError(str(e), file, line) from None


def rebuild_counters(dir: Union[str, "os.PathLike[str]"], counters: Sequence[Any], store: MemoryCounterStore, now: Union[int, float], seal: Optional[CountedSeal] = None) -> PendingByRecord:
    """Replays into ``store`` (empty, with ``counters``' definitions) every contribution of the
    log in ``dir`` whose counter (name and definition digest) the policy still has and that can
    still count at ``now``, and every resolution that settled one. Reads back from the end only as
    far as the longest window (+ 7 days of approval timeout) reaches. Returns the pending ids of
    escalations still open, by record hash.

    Sealed keys and amounts (counters on redacted fields) are opened with ``seal``, the log's
    (:attr:`AuditLog.counted_seal <tollgate.audit.AuditLog.counted_seal>`); one that cannot be
    opened (no ``seal``, another log's key, altered) raises :class:`~tollgate.audit.AuditError`
    naming its record: skipping it would undercount, and a limit would fail open."""
    pending = PendingByRecord()
    if not counters:
        return pending
    known = {c.name: c.digest for c in counters}
    horizon = now - max(c.window_ms for c in counters) - _WEEK_MS
    names = sorted(n for n in os.listdir(dir) if _SEGMENT.match(n))
    chosen: List[str] = []
    for name in reversed(names):
        chosen.insert(0, name)
        with open(os.path.join(dir, name), "rb") as f:
            first = f.readline()
        if not first.endswith(b"\n"):
            continue
        try:
            if _ts_ms(json.loads(first)["ts"]) < horizon:
                break
        except (ValueError, KeyError):
            continue
    open_ids: Dict[str, str] = {}
    for name in chosen:
        with open(os.path.join(dir, name), "rb") as f:
            data = f.read()
        for n, raw in enumerate(data.split(b"\n")[:-1]):  # whole lines only (the log was verified when opened)
            if b'"counted":' not in raw and b'"approval":' not in raw:
                continue
            r = json.loads(raw)
            d = r["decision"]
            c = d.get("counted")
            link = d.get("approval")
            if c is not None and link is None:
                if b'"sealed":' in raw or b'"[redacted]"' in raw:  # (else no value is sealed: the fast path)
                    file = os.path.join(dir, name)
                    entries = [Contribution(counter, _key(_opened(key, seal, "key", file, n + 1)), _opened(amount, seal, "amount", file, n + 1))
                               for counter, digest, key, amount in c["add"] if known.get(counter) == digest]
                else:
                    entries = [Contribution(counter, tuple(key), amount) for counter, digest, key, amount in c["add"] if known.get(counter) == digest]
                if not entries:
                    continue
                if c.get("pending") is not None and d.get("timeout_ms") is not None:
                    expires = c["at"] + d["timeout_ms"]
                    store.record(entries, c["at"], Pending(c["pending"], expires, d.get("on_timeout", "deny")))
                    open_ids[r["hash"]] = c["pending"]
                    pending.add(r["hash"], Escalation(c["pending"], expires, r["seq"], d, canonicalize(r["action"])))
                else:
                    store.record(entries, c["at"])
                continue
            if not isinstance(link, dict) or link.get("decision_hash") is None:
                continue
            id = open_ids.pop(link["decision_hash"], None)
            if id is None:
                continue
            pending.take(link["decision_hash"])
            if link.get("state") in ("approved", "denied"):
                store.resolve(id, link["state"], _ts_ms(r["ts"]))
    return pending
