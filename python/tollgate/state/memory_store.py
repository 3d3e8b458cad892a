"""The in-memory counter store (spec section 8, "State: counters").

Exact sliding-window sums per (counter, key), with pending escalations that are approved,
denied or expire into ``on_timeout``. A port of the Node host's ``src/state/memory-store.ts``:
the same choices, the same key encoding (:func:`encode_key`), and, operation for operation,
the same floating-point steps, so both hosts give the same sums bit for bit. ``Policy.step``
reads its sums before a decision and records the decision's contributions after it; this
module knows nothing of policies, actions or approvals beyond what it is given::

    store = MemoryCounterStore([CounterDefinition("refunds", 3_600_000, "<canonical text>")])
    store.record([Contribution("refunds", ["agent-7"], 1)], now_ms)
    store.record([Contribution("refunds", ["agent-7"], 1)], now_ms,
                 Pending("apr_1", expires_at=now_ms + 60_000, on_timeout="deny"))
    store.sum("refunds", ["agent-7"], now_ms)      # 2.0 (the pending one counts)
    store.resolve("apr_1", "denied", now_ms + 5)   # True; from now on it counts in no sum

Choices (as in the Node store):

- Time never goes backward in a store. The store keeps a clock (:attr:`~MemoryCounterStore.clock`):
  the largest ``now`` (or ``at``) it has been given. A call with an earlier time is taken at the
  clock: it records, sums and resolves at the clock's time. Calls at the same time are ordered
  by arrival.
- A window holds contributions at ``t`` with ``now - window < t <= now``: one recorded at ``t``
  stops counting at ``t + window`` exactly. Each counter keeps one queue of its contributions in
  time order (all keys); when the clock advances every counter evicts from its front, so memory
  is what is inside the windows at the clock (a key with no entry left is dropped). Every
  operation is amortized O(1), plus O(log P) per escalation for the expiry heap.
- Pending (escalate) contributions count like recorded ones. ``resolve(..., "approved")``: they
  stay, with their original time. ``"denied"``: removed from every later sum. Unresolved at a
  clock ``>= expires_at``: settled as approved (``on_timeout="allow"``) or removed (``"deny"``).
  A resolution at or after ``expires_at`` is too late and changes nothing; a second resolution
  changes nothing. The store forgets an approval once it is resolved, expired, or all its
  contributions have left their windows: :meth:`~MemoryCounterStore.resolve` then returns False.
  An approval id may not be reused while the store holds it.
- Keys: a sequence of strings and finite numbers (``int`` or ``float``, not ``bool``). Numbers
  compare as doubles (``0 == -0.0``, ``1 == 1.0``, ``2**53 + 1 == 2**53``); a number is never the
  same key as a string (``1`` and ``"1"`` differ).
- Identity of state: :meth:`~MemoryCounterStore.retain` keeps the state of every counter whose
  name, definition text and window are unchanged, starts the others empty and drops the rest.
- Float drift: each key keeps a running sum with Neumaier (compensated) summation and resets to
  exactly 0 when nothing counts. While every amount is an integer or a multiple of 1/1024 and
  the sums stay below 2**40 (the spec's bound), every step is exact.
- Sums, the clock and windows are floats (IEEE doubles, as in Node): ints are converted.
- A refused call (``TypeError`` for a value of the wrong type, ``ValueError`` otherwise) changes
  no contribution.

Not thread-safe: callers serialize access (the spec's atomicity is the caller's lock).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Deque, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

__all__ = ["Contribution", "CounterDefinition", "MemoryCounterStore", "Pending", "StoreSize", "encode_key"]

KeyPart = Union[str, int, float]
Key = Sequence[KeyPart]


class Contribution(NamedTuple):
    """One contribution of a decision: ``amount`` (finite, >= 0; 0 records nothing) to
    ``counter`` under ``key``. A plain ``(counter, key, amount)`` tuple works as well."""

    counter: str
    key: Key
    amount: Union[int, float]


class Pending(NamedTuple):
    """The approval an escalated decision's contributions wait for: from ``expires_at``
    (``t + timeout_ms``) on, an unresolved one is settled by ``on_timeout`` ("allow"/"deny")."""

    id: str
    expires_at: Union[int, float]
    on_timeout: str


class CounterDefinition(NamedTuple):
    """A counter as the policy declares it. ``definition`` is the caller's canonical text of
    its definition (per, window, when, sum): state is kept across ``retain`` only while it
    (and the window) is unchanged."""

    name: str
    window_ms: Union[int, float]
    definition: str


class StoreSize(NamedTuple):
    """What the store holds: entries in the windows (removed ones included until they leave),
    keys with at least one entry, approvals it can still resolve, and the expiry heap's length
    (stale items included)."""

    entries: int
    keys: int
    pending: int
    heap: int


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_float(v: Union[int, float]) -> float:
    """A number as the double JavaScript would hold (an int too large is +-inf)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _js_number_text(x: float) -> str:
    """``String(x)`` in JavaScript for a finite double: the shortest round-trip digits
    (``repr``), laid out by ECMAScript's Number::toString (``-0`` is ``"0"``)."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _js_number_text(-x)
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    n = len(whole) + (int(exp) if exp else 0)  # x = 0.DIGITS * 10**n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    return (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + sign + str(abs(e))


def _utf16_length(s: str) -> int:
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def encode_key(key: Key) -> str:
    """The canonical text of a key, as the Node host's ``encodeKey``: equal keys (as section 8
    compares them), equal texts, and only them. A string part is ``s<length>:<text>`` (length in
    UTF-16 code units, as JavaScript counts), a number part is ``n<String(number)>;`` with
    JavaScript's shortest round-trip text (``-0`` is ``"0"``). Raises ``TypeError`` for a key
    that is not a list or tuple, or a part that is neither a string nor a finite number."""
    # (list and tuple first: isinstance against typing's Sequence is an ABC check, ~1 µs)
    if type(key) is not list and type(key) is not tuple and (isinstance(key, (str, bytes)) or not isinstance(key, Sequence)):
        raise TypeError(f"a key must be a list of strings and numbers, not {type(key).__name__}")
    out: List[str] = []
    for v in key:
        if type(v) is str:
            out.append(f"s{len(v) if v.isascii() else _utf16_length(v)}:{v}")
        elif isinstance(v, str):
            out.append(f"s{_utf16_length(v)}:{v}")
        elif _is_number(v):
            f = _as_float(v)
            if not math.isfinite(f):
                raise TypeError(f"a key part must be a string or a finite number, not {_js_number_text_any(f)}")
            out.append(f"n{_js_number_text(f)};")
        else:
            raise TypeError(f"a key part must be a string or a finite number, not {type(v).__name__}")
    return "".join(out)


def _js_number_text_any(f: float) -> str:
    if math.isnan(f):
        return "NaN"
    return "Infinity" if f > 0 else "-Infinity"


def _check_time(t: object, name: str) -> float:
    if type(t) is float:
        if t - t == 0.0:  # finite (inf - inf and nan - nan are nan)
            return t
        raise TypeError(f"{name} must be a finite number of milliseconds")
    if not _is_number(t):
        raise TypeError(f"{name} must be a finite number of milliseconds")
    f = _as_float(t)  # type: ignore[arg-type]
    if not math.isfinite(f):
        raise TypeError(f"{name} must be a finite number of milliseconds")
    return f


def _evict_bound(t: float, window_ms: float) -> float:
    """A clock before which an entry at ``t`` still counts in a window of ``window_ms``: the
    largest double ``c`` such that every double ``now < c`` has ``now - window_ms < t`` (the
    eviction test, rounding included; double subtraction is monotonic in ``now``), found from
    ``t + window_ms`` downwards; ``-inf`` (test every time) if that takes more than a few steps."""
    c = t + window_ms
    for _ in range(8):
        below = math.nextafter(c, -math.inf)
        if below - window_ms < t:
            return c
        c = below
    return -math.inf


class _Bucket:
    """One key of one counter: the Neumaier running sum (``sum + comp``) of its counting
    entries, how many count, and how many are in the counter's queue (removed ones included);
    ``val`` is :meth:`value`, kept with every change (a decision reads sums far more often
    than it changes them)."""

    __slots__ = ("counter", "key", "sum", "comp", "counting", "entries", "val")

    def __init__(self, counter: "_CounterSlot", key: str) -> None:
        self.counter = counter
        self.key = key
        self.sum = 0.0
        self.comp = 0.0
        self.counting = 0
        self.entries = 0
        self.val = 0.0

    def add(self, x: float) -> None:
        """Neumaier summation. A sum that overflows is infinity with no compensation (which
        would be -infinity, and the value NaN, read as 0: a limit failing open); it stays so
        until an entry leaves (``take``)."""
        s = self.sum + x
        if s == math.inf:
            self.sum = self.val = s
            self.comp = 0.0
            return
        if abs(self.sum) >= abs(x):
            self.comp += self.sum - s + x
        else:
            self.comp += x - s + self.sum
        self.sum = s
        v = s + self.comp
        self.val = v if v > 0 and self.counting else 0.0

    def take(self, amount: float) -> None:
        """Stops counting ``amount`` (its entry already out of the queue, or marked removed);
        back to exactly 0 when nothing counts. An overflowed sum cannot have an amount taken
        back (infinity - x): it is summed again from the entries that still count."""
        self.counting -= 1
        if self.counting == 0:
            self.sum = self.comp = self.val = 0.0
        elif self.sum == math.inf or amount >= _HUGE_AMOUNT:
            self.resum()  # (a huge amount's rounding would swamp the others: HUGE_AMOUNT in Node)
        else:
            self.add(-amount)

    def resum(self) -> None:
        """The sum from the counting entries of this key in its counter's queue, oldest first."""
        self.sum = self.comp = self.val = 0.0
        for e in self.counter.queue:
            if e[_BUCKET] is self and not e[_REMOVED]:
                self.add(e[_AMOUNT])

    def value(self) -> float:
        if self.counting == 0:
            return 0.0
        v = self.sum + self.comp
        return v if v > 0 else 0.0


class _Approval:
    __slots__ = ("id", "expires_at", "on_timeout", "entries", "live")

    def __init__(self, id: str, expires_at: float, on_timeout: str) -> None:
        self.id = id
        self.expires_at = expires_at
        self.on_timeout = on_timeout
        self.entries: List[_Entry] = []
        self.live = 0  # entries not yet evicted


# One contribution in its counter's queue: a list ``[t, amount, bucket, approval, removed,
# evicted]`` (made by a list display, a quarter of what a class instance costs: every allowed or
# escalated decision makes one per contribution), read and written by these indexes.
_Entry = List[Any]
_T, _AMOUNT, _BUCKET, _APPROVAL, _REMOVED, _EVICTED = range(6)
_INF = math.inf
# An amount at least this large is taken back from a sum by summing the others again, not by
# subtraction, whose rounding would swamp them (HUGE_AMOUNT of src/state/memory-store.ts).
_HUGE_AMOUNT = 2.0**40


class _CounterSlot:
    __slots__ = ("name", "window_ms", "definition", "buckets", "queue", "dropped", "evict_at")

    def __init__(self, name: str, window_ms: float, definition: str) -> None:
        self.name = name
        self.window_ms = window_ms
        self.definition = definition
        self.buckets: Dict[str, _Bucket] = {}
        self.queue: Deque[_Entry] = deque()  # every entry of this counter, in time order
        self.dropped = False
        # _evict_bound of the queue's front (inf when empty): below it the queue evicts nothing
        self.evict_at = math.inf



def _check_definition(d: Any, seen: Mapping[str, Any]) -> Tuple[str, float, str]:
    """``(name, window in ms as a float, definition)`` of a usable definition whose name is not in
    ``seen`` yet; raises otherwise (``retain``, in every store)."""
    name, window_ms, definition = d
    if not isinstance(name, str):
        raise TypeError("a counter name must be a string")
    if name in seen:
        raise ValueError(f"counter '{name}' is defined twice")
    if not _is_number(window_ms):
        raise TypeError(f"counter '{name}': the window must be a finite number of milliseconds > 0")
    window = _as_float(window_ms)
    if not (window > 0) or window == math.inf:
        raise ValueError(f"counter '{name}': the window must be a finite number of milliseconds > 0")
    if not isinstance(definition, str):
        raise TypeError(f"counter '{name}': the definition must be a string")
    return name, window, definition

class MemoryCounterStore:
    """Exact sliding-window counter sums in memory (see the module's documentation)."""

    def __init__(self, definitions: Iterable[Union[CounterDefinition, Tuple[str, float, str]]] = ()) -> None:
        self._slots: Dict[str, _CounterSlot] = {}
        self._queues: Tuple[Tuple[Deque[_Entry], float, _CounterSlot], ...] = ()
        self._approvals: Dict[str, _Approval] = {}
        # Min-heap by expires_at (the Node store's own heap, step for step); items whose approval
        # the store has forgotten are stale and skipped (compacted when they are the majority).
        self._heap: List[_Approval] = []
        self._stale = 0
        self._now = -math.inf
        # A clock before which no counter's queue evicts anything (see _evict_bound): advancing
        # the clock below it skips the queues (most decisions evict nothing).
        self._evict_at = math.inf
        self.retain(definitions)

    @property
    def clock(self) -> float:
        """The store's clock: the latest time it was given (``-inf`` before any)."""
        return self._now

    def retain(self, definitions: Iterable[Union[CounterDefinition, Tuple[str, float, str]]]) -> None:
        """Sets the counters (a policy load or reload): keeps the state of every counter whose
        name, definition and window are unchanged; the others start empty; counters not listed
        are dropped, with their contributions to pending approvals. Raises, changing nothing,
        on a definition it cannot use or a name given twice."""
        nxt: Dict[str, _CounterSlot] = {}
        for d in definitions:
            name, window, definition = _check_definition(d, nxt)
            old = self._slots.get(name)
            keep = old is not None and old.definition == definition and old.window_ms == window
            nxt[name] = old if keep and old is not None else _CounterSlot(name, window, definition)
        dropped_any = False
        for name, slot in self._slots.items():
            if nxt.get(name) is not slot:
                slot.dropped = True
                dropped_any = True
        self._slots = nxt
        # (each counter's queue, window and slot, for _advance: a slot keeps its queue for life)
        self._queues = tuple((slot.queue, slot.window_ms, slot) for slot in nxt.values())
        self._evict_at = min((slot.evict_at for slot in nxt.values()), default=math.inf)
        if not dropped_any:
            return
        for a in list(self._approvals.values()):
            kept = [e for e in a.entries if not e[_BUCKET].counter.dropped]
            if len(kept) == len(a.entries):
                continue
            a.entries = kept
            a.live = sum(0 if e[_EVICTED] else 1 for e in kept)
            if a.live == 0:
                self._forget(a)

    def record(
        self,
        entries: Iterable[Union[Contribution, Tuple[str, Key, float]]],
        now: Union[int, float],
        pending: Optional[Union[Pending, Tuple[str, float, str]]] = None,
        key_texts: Optional[Sequence[Optional[str]]] = None,
    ) -> None:
        """Records a decision's contributions at ``now`` (taken at the clock if earlier):
        allowed without ``pending``, escalated with it. Zero amounts record nothing. Raises,
        recording nothing, on an unknown counter, a bad key, an amount that is not a finite
        number >= 0, a bad ``pending``, or a pending id the store still holds.

        ``key_texts``, when given, holds per entry (in order) ``encode_key(entry.key)`` or None:
        a caller that has the texts already (the host's hot path) spares their encoding; a text
        is trusted to be its key's (as the Node store's ``keyText``)."""
        t = _check_time(now, "now")
        items: List[Tuple[_CounterSlot, str, float]] = []
        for n, c in enumerate(entries):
            counter, key, amount = c
            slot = self._slot_of(counter)
            text = key_texts[n] if key_texts is not None and n < len(key_texts) else None
            k = encode_key(key) if text is None else text
            if not _is_number(amount):
                raise TypeError(f"counter '{counter}': an amount must be a finite number >= 0")
            x = _as_float(amount)
            if not math.isfinite(x) or x < 0:
                raise ValueError(f"counter '{counter}': an amount must be a finite number >= 0")
            if x != 0:
                items.append((slot, k, x))
        if pending is None:
            self._commit(items, t, None, 0.0, "")
            return
        pid, expires_raw, on_timeout = pending
        if not isinstance(pid, str):
            raise TypeError("a pending id must be a string")
        if not _is_number(expires_raw):
            raise TypeError("expires_at must be a number")
        expires_at = _as_float(expires_raw)
        if math.isnan(expires_at):
            raise TypeError("expires_at must be a number")
        if on_timeout not in ("allow", "deny") or not isinstance(on_timeout, str):
            raise TypeError("on_timeout must be 'allow' or 'deny'")
        self._commit(items, t, pid, expires_at, on_timeout)

    def _commit(
        self,
        items: Sequence[Tuple["_CounterSlot", str, float]],
        t: float,
        pid: Optional[str],
        expires_at: float,
        on_timeout: str,
    ) -> None:
        """:meth:`record` once its arguments are checked: ``items`` are (slot of this store,
        key text, finite amount > 0); ``pid`` None for an allowed decision, else the pending
        approval's id, with its ``expires_at`` (not NaN) and ``on_timeout`` ("allow"/"deny")."""
        if t > self._now:
            self._advance(t)
        if pid is not None and pid in self._approvals:
            raise ValueError(f"approval '{pid}' is already pending")
        if not items:
            return
        now = self._now
        approval: Optional[_Approval] = None
        if pid is not None:
            if expires_at <= now:
                # Already expired: for every sum from now on it is settled.
                if on_timeout == "deny":
                    return
            else:
                approval = _Approval(pid, expires_at, on_timeout)
                self._approvals[pid] = approval
                self._push(approval)
        for slot, key, amount in items:
            buckets = slot.buckets
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = _Bucket(slot, key)
            e = [now, amount, bucket, approval, False, False]  # an _Entry
            q = slot.queue
            if not q:  # the queue's new front: when it evicts
                at = slot.evict_at = _evict_bound(now, slot.window_ms)
                if at < self._evict_at:
                    self._evict_at = at
            q.append(e)
            bucket.entries += 1
            bucket.counting += 1
            # bucket.add(amount), inline (the same steps)
            total = bucket.sum
            s = total + amount
            if s == _INF:  # overflowed: see _Bucket.add
                bucket.sum = bucket.val = s
                bucket.comp = 0.0
            else:
                if abs(total) >= abs(amount):
                    comp = bucket.comp = bucket.comp + (total - s + amount)
                else:
                    comp = bucket.comp = bucket.comp + (amount - s + total)
                bucket.sum = s
                v = s + comp  # (counting > 0)
                bucket.val = v if v > 0 else 0.0
            if approval is not None:
                approval.entries.append(e)
                approval.live += 1

    def sum(self, counter: str, key: Key, now: Union[int, float], key_text: Optional[str] = None) -> float:
        """The sum of the contributions to ``counter`` under ``key`` at times ``t`` with
        ``now - window < t <= now`` (now taken at the clock if earlier), pending ones included,
        denied and expired-into-deny ones not. Raises on an unknown counter or a bad key.
        ``key_text``, when given, is ``encode_key(key)`` (trusted, as the Node store's ``keyText``)."""
        t = _check_time(now, "now")
        slot = self._slot_of(counter)
        k = encode_key(key) if key_text is None else key_text
        self._advance(t)
        bucket = slot.buckets.get(k)
        return 0.0 if bucket is None else bucket.value()

    def resolve(self, id: str, outcome: str, at: Union[int, float]) -> bool:
        """Approves (``"approved"``) or denies (``"denied"``) the pending approval ``id`` at
        ``at`` (taken at the clock if earlier). True when this changed it; False when the store
        does not hold it: unknown, already resolved, expired (``at >= expires_at``), or with no
        contribution left in any window."""
        t = _check_time(at, "at")
        if outcome not in ("approved", "denied") or not isinstance(outcome, str):
            raise TypeError("a resolution is 'approved' or 'denied'")
        self._advance(t)
        a = self._approvals.get(id)
        if a is None:
            return False
        self._settle(a, outcome == "approved")
        return True

    def size(self) -> StoreSize:
        """What the store holds (for tests and metrics)."""
        entries = 0
        keys = 0
        for slot in self._slots.values():
            entries += len(slot.queue)
            keys += len(slot.buckets)
        return StoreSize(entries, keys, len(self._approvals), len(self._heap))

    # -- internals ---------------------------------------------------------------------

    def _slot_of(self, counter: str) -> _CounterSlot:
        slot = self._slots.get(counter) if isinstance(counter, str) else None
        if slot is None:
            raise ValueError(f"unknown counter '{counter}'")
        return slot

    def _advance(self, now: float) -> None:
        """Moves the clock to ``now`` if later: expiries up to it, then evictions."""
        if not (now > self._now):
            return
        self._now = now
        heap = self._heap
        while heap and heap[0].expires_at <= now:
            a = self._pop()
            if self._approvals.get(a.id) is a:
                self._settle(a, a.on_timeout == "allow")
            else:
                self._stale -= 1
        if now < self._evict_at:
            return  # no queue evicts yet
        at = math.inf
        for q, window_ms, slot in self._queues:
            b = slot.evict_at
            if not (now < b):  # this queue may evict: its own test of the front, then its new bound
                if q and not (now - window_ms < q[0][0]):  # (q[0][_T])
                    self._evict(slot)
                b = slot.evict_at = _evict_bound(q[0][0], window_ms) if q else math.inf
            if b < at:
                at = b
        self._evict_at = at

    def _evict(self, slot: _CounterSlot) -> None:
        q = slot.queue
        limit = self._now - slot.window_ms  # counts while limit < t
        # (an _Entry's fields by their indexes: 0 _T, 1 _AMOUNT, 2 _BUCKET, 3 _APPROVAL, 4 _REMOVED,
        # 5 _EVICTED)
        while q and not (limit < q[0][0]):
            e = q.popleft()
            e[5] = True
            b = e[2]
            if not e[4]:
                # b.take(e[_AMOUNT]), inline (the same steps)
                b.counting -= 1
                if b.counting == 0:
                    b.sum = b.comp = b.val = 0.0
                elif b.sum == _INF or e[1] >= _HUGE_AMOUNT:
                    b.resum()  # (e has left the queue)
                else:
                    x = -e[1]
                    total = b.sum
                    s = total + x
                    if abs(total) >= abs(x):
                        comp = b.comp = b.comp + (total - s + x)
                    else:
                        comp = b.comp = b.comp + (x - s + total)
                    b.sum = s
                    v = s + comp  # (counting > 0)
                    b.val = v if v > 0 else 0.0
            b.entries -= 1
            if b.entries == 0:
                del slot.buckets[b.key]
            a = e[3]
            if a is not None:
                a.live -= 1
                if a.live == 0 and self._approvals.get(a.id) is a:
                    self._forget(a)

    def _settle(self, a: _Approval, approved: bool) -> None:
        """Approved (or expired into allow): the entries stay as recorded ones. Otherwise they
        stop counting. The store then forgets the approval."""
        for e in a.entries:
            e[_APPROVAL] = None
            if not approved and not e[_EVICTED] and not e[_REMOVED]:
                e[_REMOVED] = True
                e[_BUCKET].take(e[_AMOUNT])
        a.entries = []
        self._forget(a)

    def _forget(self, a: _Approval) -> None:
        self._approvals.pop(a.id, None)
        for e in a.entries:
            e[_APPROVAL] = None
        a.entries = []
        # Its heap item is stale unless its expiry has been reached (then it was just popped:
        # expired items are popped before anything else happens).
        if a.expires_at > self._now:
            self._stale += 1
            if self._stale > 64 and self._stale * 2 > len(self._heap):
                self._compact()

    def _compact(self) -> None:
        live = [a for a in self._heap if self._approvals.get(a.id) is a]
        self._heap = []
        self._stale = 0
        for a in live:
            self._push(a)

    def _push(self, a: _Approval) -> None:
        h = self._heap
        i = len(h)
        h.append(a)
        while i > 0:
            p = (i - 1) >> 1
            if h[p].expires_at <= a.expires_at:
                break
            h[i] = h[p]
            i = p
        h[i] = a

    def _pop(self) -> _Approval:
        h = self._heap
        top = h[0]
        last = h.pop()
        if h:
            i = 0
            n = len(h)
            while True:
                left = 2 * i + 1
                if left >= n:
                    break
                c = left + 1 if left + 1 < n and h[left + 1].expires_at < h[left].expires_at else left
                if h[c].expires_at >= last.expires_at:
                    break
                h[i] = h[c]
                i = c
            h[i] = last
        return top
