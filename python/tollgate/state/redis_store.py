"""The Redis counter store (spec section 8; ``docs/redis.md``): the counters of many processes
or machines, Python and Node alike, in one Redis.

The twin of the Node host's ``src/state/redis-store.ts``: the same key names and the same Lua
script (``src/state/redis-counters.lua``, copied here as ``redis_counters.lua`` by
``scripts/gen-lua.mjs``), so processes of both hosts share counters. Synchronous, on the
``redis`` package (``pip install "tollgate[redis]"``)::

    store = RedisCounterStore("redis://localhost:6379")
    store.retain([CounterDefinition("refunds", 3_600_000, "<canonical text>")])
    refs = [CounterRef("refunds", ["agent-7"])]
    sums = store.read(refs, now_ms)                       # [4.0]
    # ... decide with the sums; an allow records 1:
    result = store.commit(refs, sums, [Contribution("refunds", ["agent-7"], 1)], now_ms)
    if not result.ok:
        ...  # another decider recorded first: decide again with result.sums

Compare-and-record: :meth:`RedisCounterStore.commit` records only if the window sums of ``refs``
at ``now`` are still the ``sums`` the decision was taken with, atomically (one script); else it
records nothing and returns the current sums. A decision depends on the state only through
those sums, so a commit that succeeds is the decision a one-at-a-time order would have taken.

Semantics are those of :class:`~tollgate.state.MemoryCounterStore` per counter and key (its
documentation lists every choice), with these differences, all about sharing:

- Clock: each store object keeps the memory store's clock (the latest time it was given); each
  counter+key in Redis keeps the latest time any process used on it. A call runs at the latest
  of its time, the object's clock and the clocks of the counter+keys it touches. From one
  process alone the sums are the memory store's.
- Identity of state is global: contributions belong to (name, window, definition) in Redis, not
  to this object's last ``retain``; retaining a definition used before (by any process) finds
  its contributions still in their windows.
- Approvals are global too: :meth:`~RedisCounterStore.resolve` settles an approval in every
  counter it touched, including counters this object has since dropped.
- Memory: a counter+key's keys expire once its newest entry has left the window, plus
  ``expiry_grace_ms`` (Redis's clock measures the TTL: times must be milliseconds that pass like
  the wall clock's).

Thread-safe as the ``redis`` client is (the object's clock is guarded by a lock).
"""

from __future__ import annotations

import hashlib
import math
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from .memory_store import Contribution, CounterDefinition, Key, Pending, _as_float, _check_definition, _check_time, _is_number, encode_key

__all__ = ["CommitResult", "CounterRef", "RedisCounterStore", "approval_key", "base_key", "counter_namespace"]

DEFAULT_PREFIX = "tollgate:"
DEFAULT_EXPIRY_GRACE_MS = 10_000

_LUA_PATH = Path(__file__).with_name("redis_counters.lua")


def _load_lua() -> str:
    try:
        return _LUA_PATH.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeError(
            f"{_LUA_PATH} is missing: it is build output of src/state/redis-counters.lua "
            "(run `npm run build:ts`, or `node scripts/gen-lua.mjs`, in the repository)"
        ) from None


class CounterRef(NamedTuple):
    """A counter and one key of it, whose window sum a decision reads."""

    counter: str
    key: Key


class CommitResult(NamedTuple):
    """``ok``: recorded. Otherwise ``sums`` are the current sums of the refs (decide again)."""

    ok: bool
    sums: Optional[List[float]] = None


def _hash(text: str, hex_digits: int) -> str:
    # UTF-16 code units, lone surrogates included: Node's Buffer.from(text, "utf16le").
    return hashlib.sha256(text.encode("utf-16-le", "surrogatepass")).hexdigest()[:hex_digits]


def counter_namespace(name: str, window_ms: float, definition: str) -> str:
    """The namespace of a counter's state in Redis: its name, window and definition."""
    return _hash(encode_key([name, window_ms, definition]), 24)


def base_key(prefix: str, namespace: str, key: Key) -> str:
    """The Redis key names of a counter+key (``B:h``, ``B:q``, ``B:p``) share this base and its
    hash tag."""
    return f"{prefix}{namespace}:{{{_hash(namespace + chr(10) + encode_key(key), 32)}}}"


def approval_key(prefix: str, id: str) -> str:
    """The Redis key of a pending approval."""
    return f"{prefix}ap:{{{_hash(id, 32)}}}"


def _num(x: float) -> str:
    """A double as text the script parses exactly (shortest round trip; 'inf' as strtod reads it)."""
    return repr(float(x))


def _text(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


class _Call:
    """The distinct counter+keys ("bases") of one call, numbered from 1 as the script sees them."""

    __slots__ = ("keys", "windows", "index")

    def __init__(self) -> None:
        self.keys: List[str] = []
        self.windows: List[float] = []
        self.index: Dict[str, int] = {}

    def args(self) -> List[str]:
        return [str(len(self.windows))] + [_num(w) for w in self.windows]


class RedisCounterStore:
    """Counter sums shared through Redis (see the module's documentation).

    ``target`` is a ``redis://`` (or ``rediss://``) URL, for which the store creates and closes
    its own client, or a ``redis.Redis`` client, which stays the caller's (:meth:`close` leaves
    it open; ``decode_responses`` may be either). ``prefix`` is prepended to every key (for Redis
    Cluster put a hash tag in it, ``"tollgate:{t}:"``: every key is then in one slot);
    ``expiry_grace_ms`` is how long a counter+key is kept past its window."""

    def __init__(self, target: Any, prefix: str = DEFAULT_PREFIX, expiry_grace_ms: float = DEFAULT_EXPIRY_GRACE_MS) -> None:
        if not isinstance(prefix, str) or "\n" in prefix or "\r" in prefix:
            raise TypeError("prefix must be a string without line breaks")
        if not _is_number(expiry_grace_ms) or not math.isfinite(expiry_grace_ms) or expiry_grace_ms < 0:
            raise ValueError("expiry_grace_ms must be a finite number >= 0")
        import redis  # the optional dependency: only a store that is used needs it

        self._lua = _load_lua()
        self._sha = hashlib.sha1(self._lua.encode("utf-8")).hexdigest()
        if isinstance(target, str):
            self._client = redis.Redis.from_url(target, socket_connect_timeout=5)
            self._owned = True
        elif hasattr(target, "evalsha") and hasattr(target, "hget"):
            self._client = target
            self._owned = False
        else:
            raise TypeError("a RedisCounterStore needs a redis:// URL or a redis.Redis client")
        self._no_script = redis.exceptions.NoScriptError
        self._response_error = redis.exceptions.ResponseError
        self.prefix = prefix
        self._grace = _num(expiry_grace_ms)
        self._slots: Dict[str, Tuple[float, str]] = {}
        self._now = -math.inf
        self._lock = threading.Lock()
        self._closed = False

    @property
    def clock(self) -> float:
        """This object's clock: the latest time it was given (``-inf`` before any)."""
        return self._now

    def retain(self, definitions: Iterable[Union[CounterDefinition, Tuple[str, float, str]]]) -> None:
        """Sets the counters, validating as ``MemoryCounterStore.retain``. State lives in Redis by
        (name, window, definition): an unchanged counter keeps it, a changed one reads another,
        empty, namespace. Also loads the script, so a Redis that cannot be reached is reported at
        policy load."""
        nxt: Dict[str, Tuple[float, str]] = {}
        for d in definitions:
            name, window, definition = _check_definition(d, nxt)
            nxt[name] = (window, counter_namespace(name, window, definition))
        self._check_open()
        self._client.script_load(self._lua)
        self._slots = nxt

    def read(self, refs: Sequence[Union[CounterRef, Tuple[str, Key]]], now: Union[int, float]) -> List[float]:
        """The window sums of ``refs`` at ``now`` (taken at the clock if earlier), in order."""
        t = _check_time(now, "now")
        call = _Call()
        idx = [self._base(call, counter, key) for counter, key in refs]
        t = self._advance(t)
        if not idx:
            return []
        reply = self._run(call.keys, ["read", _num(t), self._grace, *call.args(), str(len(idx)), *map(str, idx)])
        return [float(_text(v)) for v in reply[1:]]

    def commit(
        self,
        refs: Sequence[Union[CounterRef, Tuple[str, Key]]],
        sums: Sequence[float],
        entries: Iterable[Union[Contribution, Tuple[str, Key, float]]],
        now: Union[int, float],
        pending: Optional[Union[Pending, Tuple[str, float, str]]] = None,
    ) -> CommitResult:
        """Records ``entries`` at ``now`` (pending on ``pending``) if the sums of ``refs`` at
        ``now`` still equal ``sums`` (as doubles; 0 == -0); else records nothing and returns the
        current sums. Validates as ``MemoryCounterStore.record`` (``TypeError``/``ValueError``,
        recording nothing); a pending id the store still holds is refused (``ValueError``) before
        the sums are compared."""
        t = _check_time(now, "now")
        sums = list(sums)
        if len(sums) != len(refs):
            raise TypeError("commit needs one sum per ref")
        for s in sums:
            # inf is a sum (one that overflowed); the script reads "inf" as strtod does.
            if not _is_number(s) or math.isnan(_as_float(s)) or _as_float(s) == -math.inf:
                raise TypeError("a sum must be a number (finite, or inf)")
        call = _Call()
        idx = [self._base(call, counter, key) for counter, key in refs]
        items: List[Tuple[int, float]] = []
        for c in entries:
            counter, key, amount = c
            i = self._base(call, counter, key)
            if not _is_number(amount):
                raise TypeError(f"counter '{counter}': an amount must be a finite number >= 0")
            x = _as_float(amount)
            if not math.isfinite(x) or x < 0:
                raise ValueError(f"counter '{counter}': an amount must be a finite number >= 0")
            if x != 0:
                items.append((i, x))
        if pending is not None:
            pid, expires_raw, on_timeout = pending
            if not isinstance(pid, str):
                raise TypeError("a pending id must be a string")
            if not _is_number(expires_raw) or math.isnan(_as_float(expires_raw)):
                raise TypeError("expires_at must be a number")
            if on_timeout not in ("allow", "deny") or not isinstance(on_timeout, str):
                raise TypeError("on_timeout must be 'allow' or 'deny'")
        t = self._advance(t)
        if not idx and not items and pending is None:
            return CommitResult(True)
        args = ["commit", _num(t), self._grace, *call.args(), str(len(idx))]
        for i, s in zip(idx, sums):
            args += [str(i), _num(_as_float(s))]
        args.append(str(len(items)))
        for i, x in items:
            args += [str(i), _num(x)]
        keys = call.keys
        if pending is None:
            args.append("0")
        else:
            args += ["1", pid, _num(_as_float(expires_raw)), on_timeout]
            keys = keys + [approval_key(self.prefix, pid)]
        try:
            reply = self._run(keys, args)
        except self._response_error as e:
            if str(e).startswith("TOLLGATE_PENDING"):
                raise ValueError(f"approval '{pid}' is already pending") from None
            raise
        if _text(reply[0]) == "1":
            return CommitResult(True)
        return CommitResult(False, [float(_text(v)) for v in reply[2:]])

    def resolve(self, id: str, outcome: str, at: Union[int, float]) -> bool:
        """Approves (``"approved"``) or denies (``"denied"``) the pending approval ``id`` at ``at``
        (taken at the clock if earlier), as ``MemoryCounterStore.resolve``: True when this changed
        it; False when the store does not hold it (unknown, already resolved, expired, or with no
        contribution left in any window)."""
        t = _check_time(at, "at")
        if outcome not in ("approved", "denied") or not isinstance(outcome, str):
            raise TypeError("a resolution is 'approved' or 'denied'")
        if not isinstance(id, str):
            raise TypeError("an approval id must be a string")
        t = self._advance(t)
        self._check_open()
        akey = approval_key(self.prefix, id)
        # Two steps, so that the script is given every key it touches (Redis Cluster's rule): the
        # approval's keys, then the script, which answers "retry" if the approval was replaced.
        for _ in range(10):
            keys = self._client.hget(akey, "keys")
            if keys is None:
                return False
            text = _text(keys)
            reply = _text(self._run([akey, *text.split("\n")], ["resolve", _num(t), self._grace, outcome, text]))
            if reply != "retry":
                return reply == "1"
        raise RuntimeError(f"approval '{id}': replaced while being resolved, 10 times")

    def close(self) -> None:
        """Closes the client the store created from a URL; a client given to it stays open."""
        if self._closed:
            return
        self._closed = True
        if self._owned:
            self._client.close()

    def __enter__(self) -> "RedisCounterStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _base(self, call: _Call, counter: str, key: Key) -> int:
        slot = self._slots.get(counter) if isinstance(counter, str) else None
        if slot is None:
            raise ValueError(f"unknown counter '{counter}'")
        window, namespace = slot
        b = base_key(self.prefix, namespace, key)
        i = call.index.get(b)
        if i is None:
            call.windows.append(window)
            i = len(call.windows)
            call.index[b] = i
            call.keys += [b + ":h", b + ":q", b + ":p"]
        return i

    def _advance(self, t: float) -> float:
        with self._lock:
            if t > self._now:
                self._now = t
            return self._now

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the counter store is closed")

    def _run(self, keys: List[str], args: List[str]) -> Any:
        """EVALSHA, and EVAL when the server does not have the script (a restart, SCRIPT FLUSH)."""
        self._check_open()
        try:
            return self._client.evalsha(self._sha, len(keys), *keys, *args)
        except self._no_script:
            return self._client.eval(self._lua, len(keys), *keys, *args)
