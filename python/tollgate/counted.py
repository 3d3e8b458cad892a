"""Counters made durable by the audit log (spec section 8), as the Node host's ``src/pipeline/counted.ts``.

The record of a decision that recorded contributions carries them in its decision object, as
``counted`` — ``{"at": now_ms, "add": [[counter, digest, key, amount], ...], "pending": id}`` —
so a gate's in-memory counters are a view of the last window of its log, rebuilt when it opens.
Records written by either host rebuild the same state in both. A resolution of an escalation's
pending contributions is a record too (``decision.approval`` links the escalate record by hash;
the Node host writes one per approval transition, the Python gate one per :meth:`Gate.resolve`).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Union

from .canonical import canonicalize
from .state.memory_store import Contribution, MemoryCounterStore, Pending

__all__ = ["Escalation", "PendingByRecord", "counted_decision_json", "rebuild_counters"]

_SEGMENT = re.compile(r"^audit-(\d{20})\.jsonl$")
_WEEK_MS = 7 * 86_400_000


def counted_decision_json(decision: Any, counters: Sequence[Any], entries: Sequence[Any], at: Union[int, float], pending: Optional[str]) -> Optional[str]:
    """The canonical JSON of the record's decision: ``decision`` plus what it counted; None when
    it counted nothing (the decision is recorded as it is)."""
    if not entries:
        return None
    digest = {c.name: c.digest for c in counters}
    counted: Dict[str, Any] = {"at": at, "add": [[e.counter, digest[e.counter], list(e.key), e.amount] for e in entries]}
    if pending is not None:
        counted["pending"] = pending
    d = decision.to_dict()
    d["counted"] = counted
    return canonicalize(d)


class Escalation(NamedTuple):
    """An escalation whose contributions are pending: what its resolution record needs."""

    id: str
    expires_at: Union[int, float]
    seq: int
    decision: Dict[str, Any]
    action_json: str


class PendingByRecord:
    """Escalations with pending contributions by the hash of their record, for the resolutions that settle them."""

    def __init__(self) -> None:
        self._map: Dict[str, Escalation] = {}

    def add(self, record_hash: str, escalation: Escalation) -> None:
        self._map[record_hash] = escalation

    def get(self, record_hash: str) -> Optional[Escalation]:
        return self._map.get(record_hash)

    def take(self, record_hash: str) -> Optional[Escalation]:
        return self._map.pop(record_hash, None)

    def prune(self, now: Union[int, float]) -> None:
        if len(self._map) < 1024:
            return
        for h in [h for h, e in self._map.items() if e.expires_at <= now]:
            del self._map[h]


def _ts_ms(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000


def rebuild_counters(dir: Union[str, "os.PathLike[str]"], counters: Sequence[Any], store: MemoryCounterStore, now: Union[int, float]) -> PendingByRecord:
    """Replays into ``store`` (empty, with ``counters``' definitions) every contribution of the
    log in ``dir`` whose counter (name and definition digest) the policy still has and that can
    still count at ``now``, and every resolution that settled one. Reads back from the end only as
    far as the longest window (+ 7 days of approval timeout) reaches. Returns the pending ids of
    escalations still open, by record hash."""
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
        for raw in data.split(b"\n")[:-1]:  # whole lines only (the log was verified when opened)
            if b'"counted":' not in raw and b'"approval":' not in raw:
                continue
            r = json.loads(raw)
            d = r["decision"]
            c = d.get("counted")
            link = d.get("approval")
            if c is not None and link is None:
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
