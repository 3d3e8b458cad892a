"""tollgate.state.MemoryCounterStore (spec section 8, counters): the Node store's unit tests
(test/state/memory-store.test.ts) bullet by bullet, then a cross-host differential: seeded random
sequences of records (pending ones included), resolutions, time steps across window and expiry
boundaries, retains and refused calls, replayed through the Node host's store
(tests/memory_store_replay.mjs on build/dist/src/state/memory-store.js) and through this one,
comparing every counter x key sum, the clock, the store's size and each call's outcome after
every step; and the key encoding against Node's encodeKey.

The cross-host tests are skipped when the Node build (build/dist) is missing.
"""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tollgate.state import Contribution, CounterDefinition, MemoryCounterStore, Pending, StoreSize, encode_key

from conftest import REPO, node_available

STORE_JS = REPO / "build" / "dist" / "src" / "state" / "memory-store.js"
DRIVER = REPO / "python" / "tests" / "memory_store_replay.mjs"

needs_node = pytest.mark.skipif(
    not (STORE_JS.exists() and node_available()),
    reason="the Node build is missing (build/dist/src/state/memory-store.js; run `npm run build`)",
)


def d(name: str, window_ms: float, definition: Optional[str] = None) -> CounterDefinition:
    return CounterDefinition(name, window_ms, definition if definition is not None else f"{name}/{window_ms}")


def store(window_ms: float = 100) -> MemoryCounterStore:
    return MemoryCounterStore([d("n", window_ms)])


def c(counter: str, key: List[Any], amount: float) -> Contribution:
    return Contribution(counter, key, amount)


def esc(id: str, expires_at: float, on_timeout: str = "deny") -> Pending:
    return Pending(id, expires_at, on_timeout)


EMPTY = StoreSize(0, 0, 0, 0)


# -- windows ---------------------------------------------------------------------------


def test_a_contribution_counts_from_t_until_t_plus_window_exactly():
    s = store(100)
    s.record([c("n", ["a"], 1)], 1000)
    assert s.sum("n", ["a"], 1000) == 1
    assert s.sum("n", ["a"], 1099) == 1
    assert s.sum("n", ["a"], 1099.5) == 1
    assert s.sum("n", ["a"], 1100) == 0


def test_a_sum_that_overflows_is_infinity_until_its_entries_leave_never_zero():
    # Never 0: a limit would fail open. As in Node (test/state/memory-store.test.ts).
    s = store(10)
    s.record([c("n", [], 1)], 0)
    s.record([c("n", [], 1e308)], 1)
    s.record([c("n", [], 1e308)], 2)
    assert s.sum("n", [], 2) == math.inf
    s.record([c("n", [], 2)], 3)
    assert s.sum("n", [], 3) == math.inf
    assert s.sum("n", [], 10) == math.inf
    assert s.sum("n", [], 11) == 1e308 + 2
    assert s.sum("n", [], 12) == 2
    assert s.sum("n", [], 13) == 0
    s.record([c("n", [], 5)], 20)
    s.record([c("n", [], sys.float_info.max)], 21, esc("p", 1000))
    s.record([c("n", [], sys.float_info.max)], 21)
    assert s.sum("n", [], 21) == math.inf
    assert s.resolve("p", "denied", 22) is True
    assert s.sum("n", [], 22) == 5 + sys.float_info.max


def test_sums_several_contributions_and_lets_them_leave_one_by_one():
    s = store(10)
    s.record([c("n", [], 1)], 0)
    s.record([c("n", [], 2)], 3)
    s.record([c("n", [], 4)], 3)
    s.record([c("n", [], 8)], 7)
    assert s.sum("n", [], 9) == 15
    assert s.sum("n", [], 10) == 14
    assert s.sum("n", [], 12) == 14
    assert s.sum("n", [], 13) == 8
    assert s.sum("n", [], 17) == 0


def test_counters_and_keys_count_separately_zero_amounts_record_nothing():
    s = MemoryCounterStore([d("a", 100), d("b", 100)])
    s.record([c("a", ["k"], 1), c("b", ["k"], 5), ("a", ["j"], 0)], 0)  # a plain tuple works too
    assert s.sum("a", ["k"], 1) == 1
    assert s.sum("b", ["k"], 1) == 5
    assert s.sum("a", ["j"], 1) == 0
    assert s.size() == StoreSize(entries=2, keys=2, pending=0, heap=0)
    assert isinstance(s.sum("a", ["k"], 1), float)


def test_memory_is_what_is_inside_the_windows():
    s = MemoryCounterStore([d("a", 10), d("b", 1000)])
    for i in range(50):
        s.record([c("a", [i % 5], 1), c("b", ["x", i], 1)], i)
    assert s.size() == StoreSize(10 + 50, 5 + 50, 0, 0)
    # only counter a is asked; b is evicted as well when the clock moves
    assert s.sum("a", [0], 2000) == 0
    assert s.size() == EMPTY


def test_a_long_run_keeps_only_the_window():
    s = store(100)
    for t in range(20_000):
        s.record([c("n", ["k"], 1)], t)
        assert s.sum("n", ["k"], t) == min(t + 1, 100)
    assert s.size().entries == 100


# -- time ------------------------------------------------------------------------------


def test_time_never_goes_back():
    s = store(100)
    assert s.clock == -math.inf
    s.record([c("n", [], 1)], 1000)
    assert s.clock == 1000
    s.record([c("n", [], 2)], 500)  # recorded at 1000
    assert s.clock == 1000
    assert s.sum("n", [], 0) == 3  # summed at 1000
    assert s.sum("n", [], 1099) == 3
    assert s.sum("n", [], 1100) == 0


def test_same_now_ordered_by_arrival_all_counted():
    s = store(100)
    for i in range(5):
        assert s.sum("n", ["k"], 7) == i
        s.record([c("n", ["k"], 1)], 7)
    assert s.sum("n", ["k"], 7) == 5


def test_refuses_times_and_amounts_it_cannot_order_or_add():
    s = store()
    with pytest.raises(TypeError):
        s.sum("n", [], math.nan)
    with pytest.raises(TypeError):
        s.record([c("n", [], 1)], math.inf)
    with pytest.raises(TypeError):
        s.record([c("n", [], 1)], "0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        s.record([c("n", [], 1)], True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        s.record([c("n", [], -1)], 0)
    with pytest.raises(ValueError):
        s.record([c("n", [], math.inf)], 0)
    with pytest.raises(ValueError):
        s.record([c("n", [], 10**400)], 0)
    with pytest.raises(TypeError):
        s.record([c("n", [], "1")], 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown counter 'm'"):
        s.record([c("m", [], 1)], 0)
    # a refused call records nothing, even its valid entries
    with pytest.raises(TypeError):
        s.record([c("n", [], 1), c("n", [math.nan], 1)], 0)
    with pytest.raises(TypeError):
        s.record([c("n", [], 1)], 0, esc("a", 10, "maybe"))
    with pytest.raises(TypeError):
        s.record([c("n", [], 1)], 0, esc("a", math.nan))
    assert s.sum("n", [], 0) == 0
    assert s.size().entries == 0


# -- keys ------------------------------------------------------------------------------


def test_numbers_compare_as_doubles():
    s = store()
    s.record([c("n", [0], 1)], 0)
    s.record([c("n", [-0.0], 1)], 0)
    s.record([c("n", [1], 10)], 0)
    s.record([c("n", ["1"], 100)], 0)
    s.record([c("n", [2**53 + 1], 1000)], 0)
    assert s.sum("n", [-0.0], 0) == 2
    assert s.sum("n", [0], 0) == 2
    assert s.sum("n", [1.0], 0) == 10
    assert s.sum("n", ["1"], 0) == 100
    assert s.sum("n", ["0"], 0) == 0
    assert s.sum("n", [0.1 + 0.2], 0) == 0
    assert s.sum("n", [float(2**53)], 0) == 1000
    assert s.sum("n", (1,), 0) == 10  # a tuple is a key too


def test_the_encoding_is_unambiguous_across_parts():
    keys: List[List[Any]] = [[], [""], ["", ""], ["a", "b"], ["ab"], ["a:", "b"], ["a", ":b"], ["s1:a"], [1, 2], [12],
                             ["1", 2], [1, "2"], ["n1;"], [1e21], [1e-7], [1.7976931348623157e308], [-5e-324]]
    texts = [encode_key(k) for k in keys]
    assert len(set(texts)) == len(keys)
    assert encode_key([0]) == encode_key([-0.0])
    # JavaScript's String(number) and UTF-16 lengths
    assert encode_key([1e21, 1e-7, 1e16, 123.0, 0.001, -1.5, 2**53 + 1]) == (
        "n1e+21;n1e-7;n10000000000000000;n123;n0.001;n-1.5;n9007199254740992;"
    )
    assert encode_key(["😀", "é", ""]) == "s2:😀s1:és0:"
    for bad in ([math.nan], [math.inf], [True], [None], [[1]], [10**400]):
        with pytest.raises(TypeError):
            encode_key(bad)
    with pytest.raises(TypeError):
        encode_key("ab")  # type: ignore[arg-type]


def test_keys_of_one_to_eight_parts():
    s = store()
    s.record([c("n", ["a", 1, "b", 2, "c", 3, "d", 4], 3)], 0)
    assert s.sum("n", ["a", 1, "b", 2, "c", 3, "d", 4], 0) == 3
    assert s.sum("n", ["a", 1, "b", 2, "c", 3, "d", "4"], 0) == 0
    assert s.sum("n", ["a", 1, "b", 2, "c", 3, "d"], 0) == 0


# -- pending contributions -------------------------------------------------------------


def test_pending_counts_like_recorded():
    s = store(1000)
    s.record([c("n", [], 5)], 0, esc("a", 100))
    assert s.sum("n", [], 50) == 5
    size = s.size()
    assert (size.entries, size.pending, size.heap) == (1, 1, 1)


def test_approved_stays_with_its_original_time():
    s = store(1000)
    s.record([c("n", [], 5)], 10, esc("a", 100))
    assert s.resolve("a", "approved", 50) is True
    assert s.sum("n", [], 500) == 5
    assert s.sum("n", [], 1009) == 5
    assert s.sum("n", [], 1010) == 0
    assert s.size() == EMPTY


def test_denied_is_removed_from_every_counter_and_key_of_the_decision():
    s = MemoryCounterStore([d("n", 1000), d("m", 500)])
    s.record([c("n", ["k"], 5), c("m", [1], 2)], 10, esc("a", 100))
    s.record([c("n", ["k"], 1)], 20)
    assert s.sum("n", ["k"], 30) == 6
    assert s.resolve("a", "denied", 40) is True
    assert s.sum("n", ["k"], 40) == 1
    assert s.sum("m", [1], 40) == 0
    assert s.size().pending == 0


def test_a_denial_after_one_contribution_left_its_shorter_window():
    s = MemoryCounterStore([d("short", 10), d("long", 100)])
    s.record([c("short", [], 1), c("long", [], 1)], 0, esc("x", 50))
    s.record([c("short", [], 1)], 5)
    assert s.sum("short", [], 12) == 1
    assert s.resolve("x", "denied", 12) is True
    assert s.sum("short", [], 12) == 1
    assert s.sum("long", [], 12) == 0


def test_expired_into_allow_counts_as_approved():
    s = store(1000)
    s.record([c("n", [], 5)], 0, esc("a", 100, "allow"))
    assert s.sum("n", [], 99) == 5
    assert s.sum("n", [], 100) == 5
    assert s.resolve("a", "denied", 100) is False  # too late: the expiry outcome holds
    assert s.sum("n", [], 999) == 5
    assert s.sum("n", [], 1000) == 0


def test_expired_into_deny_is_removed():
    s = store(1000)
    s.record([c("n", [], 5)], 0, esc("a", 100, "deny"))
    assert s.sum("n", [], 99) == 5
    assert s.sum("n", [], 100) == 0
    assert s.resolve("a", "approved", 100) is False
    assert s.sum("n", [], 101) == 0
    size = s.size()
    assert (size.entries, size.pending, size.heap) == (1, 0, 0)  # the removed entry leaves with its window
    assert s.sum("n", [], 1000) == 0
    assert s.size() == EMPTY


def test_an_expiry_is_settled_when_the_clock_jumps_past_it():
    s = store(1000)
    s.record([c("n", [], 5)], 0, esc("a", 100, "deny"))
    s.record([c("n", [], 1)], 500)
    assert s.sum("n", [], 500) == 1


def test_resolution_before_expiry_applies_first_stands_unknown_ids_nothing():
    s = store(1000)
    s.record([c("n", [], 5)], 0, esc("a", 100, "deny"))
    assert s.resolve("a", "approved", 99) is True
    assert s.resolve("a", "denied", 99) is False
    assert s.resolve("zzz", "denied", 99) is False
    assert s.sum("n", [], 200) == 5
    with pytest.raises(TypeError):
        s.resolve("a", "maybe", 200)
    with pytest.raises(TypeError):
        s.resolve("a", "approved", math.nan)


def test_a_pending_whose_expiry_is_reached_is_settled_at_once():
    s = store(1000)
    s.record([c("n", [], 5)], 100, esc("a", 100, "deny"))
    s.record([c("n", [], 3)], 100, esc("b", 50, "allow"))
    assert s.sum("n", [], 100) == 3
    size = s.size()
    assert (size.entries, size.pending) == (1, 0)


def test_an_approval_whose_contributions_left_is_forgotten():
    s = store(10)
    s.record([c("n", [], 5)], 0, esc("a", 1_000_000))
    assert s.sum("n", [], 10) == 0
    assert s.size().pending == 0
    assert s.resolve("a", "denied", 11) is False


def test_a_held_pending_id_cannot_be_reused_a_forgotten_one_can():
    s = store(1000)
    s.record([c("n", [], 1)], 0, esc("a", 100))
    with pytest.raises(ValueError, match="already pending"):
        s.record([c("n", [], 1)], 0, esc("a", 100))
    s.resolve("a", "approved", 1)
    s.record([c("n", [], 1)], 2, esc("a", 100))
    s.resolve("a", "denied", 3)
    assert s.sum("n", [], 3) == 1


def test_the_expiry_heap_stays_bounded():
    s = store(10)
    for t in range(5000):
        s.record([c("n", [], 1)], t, esc(f"a{t}", t + 1_000_000))
        s.resolve(f"a{t}", "approved" if t % 2 else "denied", t)
    assert s.size().heap < 200
    assert s.sum("n", [], 5000) == 5  # the approved (odd) t in 4991..4999


# -- identity of state -----------------------------------------------------------------


def test_retain_keeps_unchanged_restarts_changed_drops_others():
    s = MemoryCounterStore([d("a", 100, "A"), d("b", 100, "B"), d("c", 100, "C"), d("d", 100, "D")])
    for name in "abcd":
        s.record([c(name, [], 1)], 0)
    s.retain([d("a", 100, "A"), d("b", 100, "B2"), d("c", 200, "C"), d("e", 100, "E")])
    assert s.sum("a", [], 1) == 1
    assert s.sum("b", [], 1) == 0
    assert s.sum("c", [], 1) == 0
    assert s.sum("e", [], 1) == 0
    with pytest.raises(ValueError, match="unknown counter 'd'"):
        s.sum("d", [], 1)
    size = s.size()
    assert (size.entries, size.keys) == (1, 1)


def test_retain_keeps_pending_resolvable_for_the_counters_kept():
    s = MemoryCounterStore([d("a", 100), d("b", 100)])
    s.record([c("a", [], 1), c("b", [], 1)], 0, Pending("x", 50, "allow"))
    s.record([c("b", [], 1)], 0, Pending("y", 50, "allow"))
    s.retain([d("a", 100)])
    assert s.size().pending == 1  # y had nothing left
    assert s.resolve("x", "denied", 1) is True
    assert s.sum("a", [], 1) == 0


def test_refuses_definitions_it_cannot_use():
    with pytest.raises(ValueError):
        MemoryCounterStore([d("a", 0)])
    with pytest.raises(ValueError):
        MemoryCounterStore([d("a", math.nan)])
    with pytest.raises(ValueError):
        MemoryCounterStore([d("a", math.inf)])
    with pytest.raises(ValueError, match="twice"):
        MemoryCounterStore([d("a", 1), d("a", 1)])
    s = MemoryCounterStore([d("a", 100)])
    s.record([c("a", [], 1)], 0)
    with pytest.raises(ValueError):  # a refused retain changes nothing
        s.retain([d("b", 100), d("a", -1)])
    assert s.sum("a", [], 1) == 1


# -- float drift -----------------------------------------------------------------------


def test_sums_of_1024ths_stay_exact_through_many_evictions():
    s = store(50)
    amounts = [123 / 1024, 1 / 1024, 3 / 1024, 7.5, 1, 1000]
    window: List[float] = []
    for t in range(3000):
        a = 2**30 + 5 / 1024 if t % 7 == 0 else amounts[t % len(amounts)]
        s.record([c("n", [], a)], t)
        window.append(a)
        if len(window) > 50:
            window.pop(0)
        exact = 0.0
        for x in window:
            exact += x
        assert s.sum("n", [], t) == exact


@pytest.mark.parametrize("seed", range(4))
def test_evictions_at_fractional_times_and_windows_match_the_window_test(seed: int) -> None:
    # The store skips its queues while the clock is below _evict_at (a bound computed from the
    # front entries, rounding included): sums must still be exactly those of the entries with
    # now - window < t, for times and windows that are no integers (0.1 + 0.2 and the like).
    r = random.Random(seed)
    windows = [0.3, 1e-3 * 7, 0.1 + 0.2, 2.5, 1e6 + 0.1]
    s = MemoryCounterStore([d(f"w{i}", w) for i, w in enumerate(windows)])
    recorded: List[Tuple[int, float, float]] = []  # (counter, t, amount)
    now = r.choice([0.0, 1e12 + 0.1, 1716000000000.0])
    for _ in range(600):
        now = now + r.choice([0.0, 0.1, 0.2, 1e-3, 0.3, 0.30000000000000004, 2.5, 1e-9, 7e-3])
        if r.random() < 0.5:
            i = r.randrange(len(windows))
            s.record([c(f"w{i}", ["k"], 1)], now)
            recorded.append((i, now, 1.0))
        for i, w in enumerate(windows):
            expected = sum(a for j, t, a in recorded if j == i and now - w < t)
            assert s.sum(f"w{i}", ["k"], now) == expected, (seed, i, now)


def test_a_huge_amount_leaving_does_not_take_the_small_ones_precision():
    s = store(10)
    s.record([c("n", [], 1e20)], 0)
    s.record([c("n", [], 1)], 5)
    s.record([c("n", [], 0.25)], 6)
    assert s.sum("n", [], 10) == 1.25


def test_a_key_with_nothing_counting_is_exactly_0():
    s = store(10)
    s.record([c("n", [], 0.1)], 0)
    s.record([c("n", [], 0.2)], 1, Pending("a", 100, "deny"))
    s.record([c("n", [], 0.3)], 1)
    s.resolve("a", "denied", 2)
    assert s.sum("n", [], 10) == 0.3
    v = s.sum("n", [], 11)
    assert v == 0 and math.copysign(1, v) == 1


# -- cross-host differential -------------------------------------------------------------------

NAMES = ["c0", "c1", "c2", "c3"]
WINDOWS = [10, 25, 7, 3]
KEYS: List[List[Any]] = [[], ["a"], ["b"], [0], [-0.0], [1], ["1"], ["a", 1], ["a", "1"], [1.5], ["😀"], [2**53]]
RECORD_KEYS = KEYS + [[2**53 + 1], [1.0]]
EXACT_AMOUNTS = [1, 1, 1, 2, 5, 0, 0.5, 1 / 1024, 3 / 1024, 1000, 2**39, 7 + 5 / 1024]
DTS = [0, 0, 0, 1, 1, 1, 2, 3, 5, 7, 10, 25, 0.5, 3]
TIMEOUTS = [0, 1, 3, 5, 7, 10, 12, 20, 25, 30, 100]

Defs = List[Tuple[str, float, str]]


def _random_amount(rng: random.Random) -> float:
    if rng.random() < 0.5:
        return rng.choice(EXACT_AMOUNTS)
    return rng.choice([rng.uniform(0, 1), rng.uniform(0, 1e12), rng.expovariate(1e-3), 0.1, 0.2, 0.3, 1e20])


def _sequence(rng: random.Random, exact: bool) -> Dict[str, Any]:
    version = {n: 0 for n in NAMES + ["c4"]}
    windows = dict(zip(NAMES + ["c4"], WINDOWS + [12]))
    present = list(NAMES)

    def defs() -> Defs:
        return [(n, windows[n], f"{n}|{version[n]}|{windows[n]}") for n in present]

    definitions = defs()
    ops: List[Dict[str, Any]] = []
    opened: List[str] = []
    t: float = rng.choice([0, 0, 1000, 0.25])
    for _ in range(rng.randint(1, 120)):
        r = rng.random()
        if r < 0.3:
            t += rng.choice(DTS)
        at = t - rng.choice([1, 2, 5, 30]) if rng.random() < 0.05 else t  # a clock that goes back
        r = rng.random()
        if r < 0.45:
            entries = []
            for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 4])):
                x = rng.random()  # a counter of the policy, or one it does not have (the call is refused)
                counter = rng.choice(present) if x < 0.97 and present else rng.choice(NAMES + ["c4", "zz"])
                key = rng.choice(RECORD_KEYS[:2]) if rng.random() < 0.5 else rng.choice(RECORD_KEYS)
                if rng.random() < 0.01:
                    key = rng.choice([[True], [None], ["a", [1]]])  # refused (JSON has no NaN)
                amount = rng.choice(EXACT_AMOUNTS) if exact else _random_amount(rng)
                if rng.random() < 0.01:
                    amount = -1
                entries.append([counter, key, amount])
            pending = None
            if rng.random() < 0.4:
                if opened and rng.random() < 0.1:
                    pid = rng.choice(opened)  # refused while the store holds it
                else:
                    pid = f"p{len(opened)}"
                    opened.append(pid)
                pending = [pid, t + rng.choice(TIMEOUTS) - (rng.choice([0, 5]) if rng.random() < 0.1 else 0),
                           rng.choice(["allow", "deny"])]
            ops.append({"op": "record", "now": at, "entries": entries, "pending": pending})
        elif r < 0.75:
            if opened and rng.random() < 0.95:
                pid = opened[-1 - min(int(rng.expovariate(1.0)), len(opened) - 1)]  # mostly recent ones
            else:
                pid = "zzz"
            ops.append({"op": "resolve", "id": pid, "outcome": rng.choice(["approved", "denied"]), "at": at})
        elif r < 0.85:
            for n in NAMES + ["c4"]:
                if rng.random() < 0.3:
                    version[n] += 1
                if rng.random() < 0.3:
                    windows[n] = rng.choice(WINDOWS + [12, 0.5])
            present = [n for n in NAMES + ["c4"] if rng.random() < (0.9 if n != "c4" else 0.4)]
            rng.shuffle(present)
            ops.append({"op": "retain", "definitions": defs()})
        else:
            ops.append({"op": "sum", "now": at})
    ops.append({"op": "sum", "now": t + 1000})  # every window and expiry is past
    return {"definitions": definitions, "keys": KEYS, "ops": ops}


_ERRORS = {"TypeError": "TypeError", "RangeError": "ValueError", "Error": "ValueError"}


def _attempt(f) -> Any:
    try:
        r = f()
        return None if r is None else r
    except (TypeError, ValueError) as e:
        return {"error": type(e).__name__}


def _replay(seq: Dict[str, Any]) -> List[Any]:
    current: Defs = [tuple(x) for x in seq["definitions"]]  # type: ignore[misc]
    s = MemoryCounterStore(current)
    out = []
    for op in seq["ops"]:
        kind = op["op"]
        result: Any = None
        if kind == "record":
            now = op["now"]
            result = _attempt(lambda: s.record([tuple(e) for e in op["entries"]], op["now"],
                                               None if op["pending"] is None else Pending(*op["pending"])))
        elif kind == "resolve":
            now = op["at"]
            result = _attempt(lambda: s.resolve(op["id"], op["outcome"], op["at"]))
        elif kind == "retain":
            now = s.clock
            nxt = [tuple(x) for x in op["definitions"]]
            result = _attempt(lambda: s.retain(nxt))  # type: ignore[arg-type]
            if result is None:
                current = nxt  # type: ignore[assignment]
        else:
            now = op["now"]
        if not math.isfinite(now):
            now = 0
        sums = [s.sum(name, k, now) for (name, _, _) in current for k in seq["keys"]]
        out.append([result, s.clock, sums, list(s.size())])
    return out


def _node(payload: Dict[str, Any]) -> Dict[str, Any]:
    proc = subprocess.run(["node", str(DRIVER)], input=json.dumps(payload, allow_nan=False), capture_output=True, text=True,
                          cwd=REPO, timeout=300, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"node failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def _compare(seqs: List[Dict[str, Any]], exact: bool) -> None:
    node = _node({"sequences": seqs})["sequences"]
    assert len(node) == len(seqs)
    for i, (seq, theirs) in enumerate(zip(seqs, node)):
        mine = _replay(seq)
        assert len(mine) == len(theirs)
        for j, (m, r) in enumerate(zip(mine, theirs)):
            where = f"sequence {i}, op {j} {json.dumps(seq['ops'][j])}"
            m_result, m_clock, m_sums, m_size = m
            r_result, r_clock, r_sums, r_size = r
            if isinstance(r_result, dict):
                r_result = {"error": _ERRORS[r_result["error"]]}
            assert m_result == r_result, where
            assert m_clock == (-math.inf if r_clock is None else r_clock), where
            assert m_size == r_size, where
            assert len(m_sums) == len(r_sums), where
            for n, (x, y) in enumerate(zip(m_sums, r_sums)):
                y = float(y)  # JSON writes 1e20 as 100000000000000000000: an int in Python
                if exact:
                    ok = x == y
                else:
                    ok = abs(x - y) <= 1e-9 * max(1.0, y)
                assert ok, f"{where}: sum {n}: python {x!r}, node {y!r}"
        assert mine[-1][3] == [0, 0, 0, 0], f"sequence {i}: the store still holds something"


@needs_node
def test_cross_host_exact_amounts_equal_sums_everywhere():
    rng = random.Random(13)
    _compare([_sequence(rng, exact=True) for _ in range(200)], exact=True)


@needs_node
def test_cross_host_any_finite_amounts_close_sums():
    rng = random.Random(1313)
    _compare([_sequence(rng, exact=False) for _ in range(60)], exact=False)


def _random_double(rng: random.Random) -> float:
    while True:
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            return x


@needs_node
def test_cross_host_key_encoding():
    rng = random.Random(7)
    parts: List[Any] = [0, -0.0, 1, -1, 1.5, 0.1 + 0.2, 1e21, 1e-7, 1e-6, 1e20, 123456789.125, 2**53, 2**53 + 1, 5e-324,
                        1.7976931348623157e308, 10**300, "", "a", "1", "é", "😀", "日本", "\ud800", "s1:a", "n1;", ":",
                        math.nan, math.inf, -math.inf, True, None, 10**400]
    keys: List[List[Any]] = [[p] for p in parts]
    for _ in range(2000):
        k: List[Any] = []
        for _ in range(rng.randint(0, 8)):
            x = rng.random()
            if x < 0.3:
                k.append(_random_double(rng))
            elif x < 0.45:
                k.append(rng.randint(-(2**60), 2**60))
            elif x < 0.6:
                k.append(round(rng.uniform(-1e6, 1e6), rng.randint(0, 12)))
            elif x < 0.75:
                k.append(rng.uniform(0, 1) * 10.0 ** rng.randint(-30, 30))
            else:
                k.append("".join(rng.choice("ab:;s1n😀é\u0000") for _ in range(rng.randint(0, 5))))
        keys.append(k)
    # JSON cannot carry NaN or Infinity as numbers, nor 10**400 as a double: those are refused on both sides
    sendable = [k for k in keys if all(not isinstance(p, float) or math.isfinite(p) for p in k)
                and all(not (isinstance(p, int) and abs(p) > 2**1023) for p in k)]
    theirs = _node({"keys": sendable})["keys"]
    for k, r in zip(sendable, theirs):
        m = _attempt(lambda: encode_key(k))
        if isinstance(r, dict):
            r = {"error": _ERRORS[r["error"]]}
        assert m == r, f"key {k!r}"
    for k in keys:
        if k not in sendable:
            with pytest.raises(TypeError):
                encode_key(k)
