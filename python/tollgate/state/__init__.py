"""Counter state (spec section 8, "State: counters").

:class:`MemoryCounterStore` is the in-memory store: exact sliding-window sums per
(counter, key), with pending escalations that are approved, denied or expire into
``on_timeout``. It mirrors the Node host's ``src/state/memory-store.ts`` (same choices,
same key encoding, the same sums bit for bit). Each stateful :class:`~tollgate.Policy` keeps
one (``Policy.state``), which ``Policy.evaluate`` and ``Policy.step`` read and record into.

:class:`RedisCounterStore` shares counters between processes and machines, Python and Node
alike, through Redis, with the same sums (``docs/redis.md``; needs the ``redis`` package:
``pip install "tollgate[redis]"``).
"""

from __future__ import annotations

from .memory_store import (
    Contribution,
    CounterDefinition,
    MemoryCounterStore,
    Pending,
    StoreSize,
    encode_key,
)
from .redis_store import CommitResult, CounterRef, RedisCounterStore

__all__ = [
    "CommitResult",
    "Contribution",
    "CounterDefinition",
    "CounterRef",
    "MemoryCounterStore",
    "Pending",
    "RedisCounterStore",
    "StoreSize",
    "encode_key",
]
