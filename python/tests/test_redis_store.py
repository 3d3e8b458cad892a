"""tollgate.state.RedisCounterStore against a real redis-server (tests/redis_server.py): windows,
keys, pending approvals, compare-and-record, reloads, key expiry and the script cache; a
differential test against the Python MemoryCounterStore (seeded random sequences, sums compared
exactly after every operation); exactness under contention from 2 processes; and the Node host's
store (build/dist/src/state/redis-store.js, through tests/redis_store_node.mjs) sharing counters
with this one."""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import random
import subprocess
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
import redis

from tollgate.state import (
    CommitResult,
    Contribution,
    CounterDefinition,
    CounterRef,
    MemoryCounterStore,
    Pending,
    RedisCounterStore,
)

from conftest import REPO, node_available

STORE_JS = REPO / "build" / "dist" / "src" / "state" / "redis-store.js"
NODE_DRIVER = REPO / "python" / "tests" / "redis_store_node.mjs"

needs_node = pytest.mark.skipif(
    not (STORE_JS.exists() and node_available()),
    reason="the Node build is missing (build/dist/src/state/redis-store.js; run `npm run build`)",
)

_prefixes = itertools.count()


def d(name: str, window_ms: float, definition: Optional[str] = None) -> CounterDefinition:
    return CounterDefinition(name, window_ms, definition if definition is not None else f"{name}/{window_ms}")


def c(counter: str, key: List[Any], amount: float) -> Contribution:
    return Contribution(counter, key, amount)


def ref(counter: str, key: List[Any]) -> CounterRef:
    return CounterRef(counter, key)


def esc(id: str, expires_at: float, on_timeout: str = "deny") -> Pending:
    return Pending(id, expires_at, on_timeout)


@pytest.fixture(scope="module")
def client(redis_url: str):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


@pytest.fixture
def open_store(client):
    """A store on its own key prefix; synthetic times, so a long grace unless a test wants expiry."""
    made: List[RedisCounterStore] = []

    def make(defs: List[CounterDefinition], **options: Any) -> RedisCounterStore:
        options.setdefault("prefix", f"py{next(_prefixes)}:")
        options.setdefault("expiry_grace_ms", 3_600_000)
        s = RedisCounterStore(client, **options)
        s.retain(defs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def record(s: RedisCounterStore, entries: List[Contribution], now: float, pending: Optional[Pending] = None) -> None:
    """Records as an allowing decider does: read the sums, commit with them."""
    refs = [ref(e.counter, e.key) for e in entries]
    result = s.commit(refs, s.read(refs, now), entries, now, pending)
    assert result.ok, f"conflict in a single-process test: {result.sums}"


def total(s: RedisCounterStore, counter: str, key: List[Any], now: float) -> float:
    return s.read([ref(counter, key)], now)[0]


def keys_of(client, prefix: str) -> List[bytes]:
    return list(client.scan_iter(match=f"{prefix}*", count=1000))


# -- as MemoryCounterStore ---------------------------------------------------------------


def test_a_contribution_counts_until_t_plus_window_exactly(open_store):
    s = open_store([d("n", 100)])
    record(s, [c("n", ["a"], 1)], 1000)
    assert total(s, "n", ["a"], 1000) == 1
    assert total(s, "n", ["a"], 1099.5) == 1
    assert total(s, "n", ["a"], 1100) == 0


def test_a_sum_that_overflows_is_infinity_until_its_entries_leave_never_zero(open_store):
    # As MemoryCounterStore (test_memory_store.py) and Node (test/state/redis-store.test.ts).
    s = open_store([d("n", 10)])
    record(s, [c("n", [], 1)], 0)
    record(s, [c("n", [], 1e308)], 1)
    record(s, [c("n", [], 1e308)], 2)
    assert total(s, "n", [], 2) == math.inf
    record(s, [c("n", [], 2)], 3)  # its commit carries the infinite sum it read
    assert total(s, "n", [], 3) == math.inf
    assert total(s, "n", [], 10) == math.inf
    assert total(s, "n", [], 11) == 1e308 + 2
    assert total(s, "n", [], 12) == 2
    assert total(s, "n", [], 13) == 0


def test_numbers_compare_as_doubles_and_never_equal_strings(open_store):
    s = open_store([d("n", 100)])
    record(s, [c("n", [0], 1), c("n", [-0.0], 1), c("n", [1], 10), c("n", ["1"], 100), c("n", [2**53 + 1], 1000)], 0)
    got = s.read([ref("n", [-0.0]), ref("n", [0]), ref("n", [1.0]), ref("n", ["1"]), ref("n", ["0"]), ref("n", [2**53])], 0)
    assert got == [2, 2, 10, 100, 0, 1000]


def test_sums_of_1024ths_are_exact_and_returned_as_doubles(open_store):
    s = open_store([d("n", 1000)])
    for i in range(10):
        record(s, [c("n", [], 3 / 1024)], i)
    record(s, [c("n", [], 2**39 + 0.5)], 10)
    assert total(s, "n", [], 10) == 2**39 + 0.5 + 30 / 1024
    assert total(s, "n", [], 1005) == 2**39 + 0.5 + 4 * (3 / 1024)


def test_the_clock_never_goes_back(open_store):
    s = open_store([d("n", 100)])
    record(s, [c("n", [], 1)], 1000)
    record(s, [c("n", [], 2)], 500)  # at 1000
    assert total(s, "n", [], 0) == 3
    assert total(s, "n", [], 1099) == 3
    assert total(s, "n", [], 1100) == 0
    assert s.clock == 1100


def test_refuses_what_the_memory_store_refuses_recording_nothing(open_store):
    s = open_store([d("n", 100)])
    with pytest.raises(ValueError, match="unknown counter 'm'"):
        s.read([ref("m", [])], 0)
    with pytest.raises(TypeError):
        s.read([ref("n", [math.nan])], 0)
    with pytest.raises(TypeError):
        s.read([ref("n", [])], math.inf)
    with pytest.raises(ValueError):
        s.commit([], [], [c("n", [], -1)], 0)
    with pytest.raises(TypeError):
        s.commit([], [], [c("n", [], 1), c("n", [True], 1)], 0)
    with pytest.raises(TypeError):
        s.commit([ref("n", [])], [], [], 0)
    with pytest.raises(ValueError):
        s.retain([d("a", 0)])
    with pytest.raises(ValueError, match="twice"):
        s.retain([d("a", 1), d("a", 2)])
    assert total(s, "n", [], 0) == 0


def test_pending_approved_stay_denied_leave_every_counter_and_key(open_store):
    s = open_store([d("n", 1000), d("m", 500)])
    record(s, [c("n", ["k"], 5), c("m", [1], 2)], 10, esc("a", 100))
    record(s, [c("n", ["k"], 5)], 10, esc("b", 100))
    record(s, [c("n", ["k"], 1)], 20)
    assert s.read([ref("n", ["k"]), ref("m", [1])], 30) == [11, 2]
    assert s.resolve("a", "denied", 40) is True
    assert s.resolve("a", "approved", 41) is False
    assert s.resolve("b", "approved", 42) is True
    assert s.read([ref("n", ["k"]), ref("m", [1])], 50) == [6, 0]
    assert total(s, "n", ["k"], 1009) == 6
    assert total(s, "n", ["k"], 1010) == 1
    assert s.resolve("nope", "approved", 1010) is False


def test_pending_expire_into_on_timeout_and_a_late_resolution_changes_nothing(open_store):
    s = open_store([d("n", 1000)])
    record(s, [c("n", ["allow"], 5)], 0, esc("x", 100, "allow"))
    record(s, [c("n", ["deny"], 5)], 0, esc("y", 100, "deny"))
    record(s, [c("n", ["never"], 5)], 0, esc("z", math.inf, "deny"))
    assert s.read([ref("n", ["allow"]), ref("n", ["deny"]), ref("n", ["never"])], 99) == [5, 5, 5]
    assert s.read([ref("n", ["allow"]), ref("n", ["deny"]), ref("n", ["never"])], 100) == [5, 0, 5]
    assert s.resolve("x", "denied", 100) is False
    assert s.resolve("y", "approved", 150) is False
    assert s.resolve("z", "denied", 500) is True
    assert s.read([ref("n", ["allow"]), ref("n", ["deny"]), ref("n", ["never"])], 999) == [5, 0, 0]


def test_a_held_pending_id_cannot_be_reused_a_forgotten_one_can(open_store):
    s = open_store([d("n", 100)])
    record(s, [c("n", [], 1)], 0, esc("x", 1000))
    with pytest.raises(ValueError, match="approval 'x' is already pending"):
        record(s, [c("n", [], 1)], 50, esc("x", 1000))
    assert total(s, "n", [], 50) == 1
    record(s, [c("n", [], 2)], 100, esc("x", 1000))
    assert s.resolve("x", "denied", 101) is True
    assert total(s, "n", [], 101) == 0


# -- compare-and-record --------------------------------------------------------------------


def test_a_commit_with_stale_sums_records_nothing_and_returns_the_current_sums(open_store):
    s = open_store([d("n", 100), d("m", 100)])
    refs = [ref("n", ["k"]), ref("m", ["k"])]
    before = s.read(refs, 10)
    assert before == [0, 0]
    record(s, [c("m", ["k"], 4)], 10)  # another decider's
    entries = [c("n", ["k"], 1), c("m", ["k"], 1)]
    assert s.commit(refs, before, entries, 10) == CommitResult(False, [0, 4])
    assert s.read(refs, 10) == [0, 4]
    assert s.commit(refs, [0, 4], entries, 10) == CommitResult(True)
    assert s.read(refs, 10) == [1, 5]


def test_the_window_moving_between_read_and_commit_is_a_change(open_store):
    s = open_store([d("n", 100)])
    record(s, [c("n", [], 1)], 0)
    [v] = s.read([ref("n", [])], 50)
    assert s.commit([ref("n", [])], [v], [c("n", [], 1)], 100) == CommitResult(False, [0])


# -- identity of state, memory, the script -----------------------------------------------------


def test_retain_keeps_unchanged_counters_and_starts_changed_ones_empty(open_store, client):
    s = open_store([d("a", 100, "A"), d("b", 100, "B"), d("w", 100, "W")])
    record(s, [c("a", [], 1), c("b", [], 2), c("w", [], 3)], 0)
    s.retain([d("a", 100, "A"), d("b", 100, "B2"), d("w", 200, "W")])
    assert s.read([ref("a", []), ref("b", []), ref("w", [])], 1) == [1, 0, 0]
    other = RedisCounterStore(client, prefix=s.prefix)  # another process, the old policy
    other.retain([d("a", 100, "A"), d("b", 100, "B")])
    assert other.read([ref("a", []), ref("b", [])], 1) == [1, 2]


def test_keys_expire_once_nothing_in_them_can_count(open_store, client):
    s = open_store([d("n", 200), d("m", 300)], expiry_grace_ms=0)
    t0 = time.time() * 1000
    record(s, [c("n", ["a"], 1), c("m", ["a"], 1)], t0)
    record(s, [c("n", ["b"], 1)], t0, esc("p", t0 + 100_000))
    keys = keys_of(client, s.prefix)
    assert len(keys) >= 5
    assert all(client.pttl(k) > 0 for k in keys)
    time.sleep(0.45)
    assert keys_of(client, s.prefix) == []
    assert s.resolve("p", "denied", time.time() * 1000) is False


def test_the_script_is_sent_again_when_the_server_lost_it(open_store, client):
    s = open_store([d("n", 100)])
    record(s, [c("n", [], 1)], 0)
    client.script_flush()
    assert total(s, "n", [], 1) == 1
    record(s, [c("n", [], 1)], 1)
    assert total(s, "n", [], 1) == 2


def test_a_store_from_a_url_and_a_decoding_client(redis_url):
    prefix = f"py{next(_prefixes)}:"
    with RedisCounterStore(redis_url, prefix=prefix) as s:
        s.retain([d("n", 100)])
        record(s, [c("n", [], 1)], 0, esc("q", 50))
    decoding = redis.Redis.from_url(redis_url, decode_responses=True)
    t = RedisCounterStore(decoding, prefix=prefix)
    t.retain([d("n", 100)])
    assert total(t, "n", [], 0) == 1
    assert t.resolve("q", "denied", 1) is True
    assert total(t, "n", [], 1) == 0
    t.close()
    assert decoding.ping()  # a client given to the store stays open
    decoding.close()
    with pytest.raises(RuntimeError, match="closed"):
        total(t, "n", [], 0)


# -- differential against MemoryCounterStore -------------------------------------------------

EXACT = [0, 1, 1, 2, 3, 0.5, 1 / 1024, 3 / 1024, 7.25, 1000, 2**30, 12345 / 1024]
KEYS: List[List[Any]] = [[], ["a"], ["b"], [0], [-0.0], ["0"], [1], ["1"], ["a", 1], [1.5]]
NAMES = ["c1", "c2", "c3"]
WINDOWS = [100, 37, 250, 60, 1]


def _sequence(open_store, seed: int, length: int) -> None:
    rng = random.Random(seed)
    # a definition never comes back after a change: Redis keeps state by definition (docs/redis.md)
    version = {n: 0 for n in NAMES}
    windows = dict(zip(NAMES, WINDOWS))
    present = list(NAMES)

    def defs() -> List[CounterDefinition]:
        return [d(n, windows[n], f"{n}/v{version[n]}") for n in present]

    mem = MemoryCounterStore(defs())
    red = open_store(defs())
    opened: List[Tuple[str, Dict[str, int]]] = []
    t = 1000 + rng.randrange(100)
    for n in range(length):
        x = rng.random()
        now = t
        if x < 0.45:
            if rng.random() < 0.05:
                now = t - rng.choice([1, 5, 30])
            entries = [c(rng.choice(present), rng.choice(KEYS), rng.choice(EXACT)) for _ in range(1 + rng.randrange(3))]
            pending = None
            if rng.random() < 0.4:
                pending = esc(f"p{seed}-{n}", now + rng.choice([0, 5, 20, 60, 150, 400]) - (3 if rng.random() < 0.1 else 0),
                              rng.choice(["allow", "deny"]))
                opened.append((pending.id, {e.counter: version[e.counter] for e in entries}))
            what = f"record {entries} {pending}"
            mem.record(entries, now, pending)
            record(red, entries, now, pending)
        elif x < 0.6 and opened:
            pid, counters = rng.choice(opened) if rng.random() < 0.9 else ("unknown", {})
            outcome = rng.choice(["approved", "denied"])
            what = f"resolve {pid} {outcome}"
            m = mem.resolve(pid, outcome, now)
            r = red.resolve(pid, outcome, now)
            # Redis settles an approval in counters this process has since reloaded (others may
            # count them): its answer may then differ, never its sums
            if all(version[name] == v and name in present for name, v in counters.items()):
                assert r == m, f"seed {seed} op {n}: {what}"
        elif x < 0.9:
            t += rng.choice([0, 1, 5, 13, 37, 50, 100, 120, 300])
            now = t
            what = f"advance to {t}"
        elif x < 0.96:
            name = rng.choice(NAMES)
            y = rng.random()
            if name not in present:
                present.append(name)
                version[name] += 1
            elif y < 0.25 and len(present) > 1:
                present = [p for p in present if p != name]
            elif y < 0.5:
                windows[name] = rng.choice(WINDOWS)
                version[name] += 1
            elif y < 0.75:
                version[name] += 1
            what = f"retain {defs()}"
            mem.retain(defs())
            red.retain(defs())
        else:
            now = t - rng.choice([1, 10, 100])
            what = f"sum at {now}"
        refs = [ref(name, k) for name in present for k in KEYS]
        want = [mem.sum(q.counter, q.key, now) for q in refs]
        got = red.read(refs, now)
        for q, g, w in zip(refs, got, want):
            assert g == w and math.copysign(1, g) == math.copysign(1, w), (
                f"seed {seed} op {n} ({what}) at {now}: {q.counter} {q.key}: redis {g!r}, memory {w!r}")
        assert red.clock == mem.clock


def test_differential_same_sums_as_the_memory_store_after_every_operation(open_store):
    for seed in range(1, 31):
        _sequence(open_store, seed, 120)


# -- atomicity across processes ---------------------------------------------------------------


def _contend(url: str, prefix: str, attempts: int, limit: int, start: Any, out: Any) -> None:
    store = RedisCounterStore(url, prefix=prefix)
    store.retain([d("n", 3_600_000, "n")])
    refs = [ref("n", ["hot"])]
    entry = [c("n", ["hot"], 1)]
    recorded = denied = conflicts = 0
    start.wait()
    for _ in range(attempts):
        now = time.time() * 1000
        [s] = store.read(refs, now)
        while True:
            if not (s + 1 <= limit):
                denied += 1
                break
            result = store.commit(refs, [s], entry, now)
            if result.ok:
                recorded += 1
                break
            conflicts += 1
            s = result.sums[0]
    store.close()
    out.put((recorded, denied, conflicts))


def test_1000_attempts_from_2_processes_at_a_limit_of_50_record_exactly_50(open_store, redis_url):
    prefix = f"py{next(_prefixes)}:"
    s = open_store([d("n", 3_600_000, "n")], prefix=prefix)
    record(s, [c("n", ["cold"], 7)], time.time() * 1000)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(redis_url, prefix, 500, 50, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # both connected and waiting (they also re-check the sum on every attempt)
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sum(r[0] for r in results) == 50
    assert sum(r[0] + r[1] for r in results) == 1000
    assert s.read([ref("n", ["hot"]), ref("n", ["cold"])], time.time() * 1000) == [50, 7]


# -- Node and Python share counters --------------------------------------------------------------


def _node(payload: Dict[str, Any]) -> List[Any]:
    proc = subprocess.run(["node", str(NODE_DRIVER)], input=json.dumps(payload), capture_output=True, text=True,
                          cwd=REPO, timeout=120, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"node failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


@needs_node
def test_node_and_python_stores_see_each_others_contributions(open_store, redis_url):
    defs = [d("spent", 60_000, "sum args.amount per agent"), d("calls", 1_000, "per agent")]
    s = open_store(defs)
    node = {"url": redis_url, "prefix": s.prefix, "definitions": [list(x) for x in defs]}
    key = ["agent-7", 0.0, "é\U0001f600"]  # a float that is an integer, a non-ASCII and an astral string
    record(s, [c("spent", key, 3 + 1 / 1024), c("calls", key, 1)], 10_000)
    out = _node({**node, "ops": [
        {"op": "read", "refs": [["spent", ["agent-7", -0, "é\U0001f600"]], ["calls", key]], "now": 10_000},
        {"op": "record", "entries": [["spent", key, 4], ["calls", key, 1]], "now": 10_500},
        {"op": "record", "entries": [["spent", key, 100]], "now": 10_600, "pending": ["nodes-approval", 70_000, "deny"]},
        {"op": "read", "refs": [["spent", key], ["calls", key]], "now": 10_700},
    ]})
    assert out == [[3 + 1 / 1024, 1], None, None, [107 + 1 / 1024, 2]]
    assert s.read([ref("spent", key), ref("calls", key)], 10_700) == [107 + 1 / 1024, 2]
    # an approval opened by Node, denied by Python; the window moves on both sides alike
    assert s.resolve("nodes-approval", "denied", 10_800) is True
    assert s.read([ref("spent", key), ref("calls", key)], 11_000) == [7 + 1 / 1024, 1]
    out = _node({**node, "ops": [
        {"op": "read", "refs": [["spent", key], ["calls", key]], "now": 11_500},
        {"op": "resolve", "id": "nodes-approval", "resolution": "approved", "at": 11_500},
        {"op": "read", "refs": [["spent", key]], "now": 70_000},
    ]})
    assert out == [[7 + 1 / 1024, 0], False, [4]]
