"""The stateful hot path (``_StatefulPolicy._step_fast``: keys read and encoded once per group of
counters, the store's internals) against the general path it stands in for (``Policy.step``:
``_decide`` with one ``MemoryCounterStore.sum`` per counter, then ``record``): seeded random runs
on two copies of a policy, one step through each, comparing after every step the decision (its
JSON text, the types of its counter values), the entries (types included), the pending id, the
error raised if any, and the whole state of both stores (clock, size, every bucket's running sum,
approvals and expiry heap). Also: the hot path is the one taken, and what it leaves to the
general path (a store that lacks a counter, a ``now`` that is no finite double).
"""

from __future__ import annotations

import json
import random
import textwrap
from typing import Any, Dict, List, Tuple

import pytest

from tollgate import MemoryCounterStore, Policy
from tollgate.counters import counter_definitions
from tollgate.policy import Policy as GeneralPolicy
from tollgate.policy import _StatefulPolicy

POLICY = textwrap.dedent(
    """
    tollgate: 1
    name: hot
    default: allow
    approvers:
      fin: { timeout: 50ms, on_timeout: deny }
      ops: { timeout: 30ms, on_timeout: allow }
    counters:
      calls: { per: [agent], window: 40ms }
      "7": { per: [agent], window: 25ms, sum: amount }
      pair: { per: [agent, session], window: 60ms, when: { tool: { prefix: "p" } } }
      glob: { window: 35ms, sum: amount, when: { amount: { exists: true } } }
      num: { per: [n], window: 20ms }
      quiet: { per: [session], window: 10ms }
    rules:
      - { id: many, effect: deny, reason: many, when: { $calls: { gt: 6 } } }
      - { id: big, effect: escalate, approver: fin, reason: big, when: { $7: { gt: 30 } } }
      - { id: pairs, effect: escalate, approver: ops, reason: pairs, when: { $pair: { gt: 3 } } }
      - { id: g, effect: deny, reason: g, when: { $glob: { gte: 100 } } }
      - { id: n, effect: deny, reason: n, when: { $num: { gt: 2 }, tool: { prefix: "n" } } }
    """
)


def _value(r: random.Random) -> Any:
    k = r.random()
    if k < 0.55:
        return r.choice(["a", "b", "\u00e9", "x\U0001F600", "", "a b", "s1:a", "\ud800"])
    if k < 0.8:
        return r.choice([1, 1.0, -0.0, 0, 2.5, 2**53 + 1, 1e21, 1e-7, -3])
    return r.choice([None, True, [1], {"x": 1}])


def _action(r: random.Random) -> Any:
    if r.random() < 0.02:
        return r.choice(["not a mapping", {"tool": float("nan")}, {"agent": float("inf")}])
    a: Dict[str, Any] = {"tool": r.choice(["p.x", "q", "n1", "pz"])}
    for f in ("agent", "session", "n"):
        if r.random() < 0.85:
            a[f] = _value(r)
    if r.random() < 0.7:
        a["amount"] = r.choice([0, 1, 5, 12.5, -1, "3", 0.1, 1e300, 2**60])
    return a


def _state(s: MemoryCounterStore) -> Tuple[Any, ...]:
    for slot in s._slots.values():  # each bucket's kept value (what the hot path reads) is its value
        for b in slot.buckets.values():
            assert b.val == b.value(), (slot.name, b.key)
    buckets = sorted(
        (name, k, b.value(), b.counting, b.entries, b.sum, b.comp)
        for name, slot in s._slots.items()
        for k, b in slot.buckets.items()
    )
    def named(id: str) -> str:  # a fresh UUID (no pending_id given) differs from step to step
        return id if id.startswith("p") else "<uuid>"

    heap = [(named(a.id), a.expires_at, a.on_timeout, a.live, len(a.entries)) for a in s._heap]
    return (s.clock, tuple(s.size()), buckets, sorted(named(id) for id in s._approvals), heap)


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> Tuple[Any, ...]:
    try:
        s = fn(*args, **kwargs)
    except Exception as e:  # the same error, in the same words
        return ("raised", type(e).__name__, str(e))
    d = s.decision
    counters = None if d.counters is None else [(k, v, type(v).__name__) for k, v in d.counters.items()]
    entries = [(e.counter, e.key, [type(p).__name__ for p in e.key], e.amount, type(e.amount).__name__) for e in s.entries]
    return ("ok", json.dumps(d.to_dict()), counters, entries, s.pending, s.now)


def _run(seed: int, steps: int, subset: bool) -> None:
    r = random.Random(seed)
    hot = Policy.from_yaml(POLICY)
    general = Policy.from_yaml(POLICY)
    assert type(hot) is _StatefulPolicy
    stores = [None, None]
    if subset:  # a store that lacks some of the policy's counters: the general path, its errors
        defs = [d for d in counter_definitions(hot.counters) if r.random() < 0.6]
        stores = [MemoryCounterStore(defs), MemoryCounterStore(defs)]
    now: Any = 0
    for i in range(steps):
        if r.random() < 0.1:
            pid = f"p{r.randrange(max(1, i))}"
            how = r.choice(["approved", "denied"])
            assert hot.resolve(pid, how, now) == general.resolve(pid, how, now)
            continue
        now = now + r.choice([0, 0, 1, 2, 5, 13, 0.5]) if r.random() < 0.95 else now - 3
        at = now if r.random() < 0.9 else r.choice([float(now), now + 0.25, 10**400, float("inf"), True])
        pid = f"p{i}" if r.random() < 0.95 else r.choice([7, None])
        a = _action(r)
        mine = _outcome(hot.step, a, at, pid, stores[0])
        theirs = _outcome(GeneralPolicy.step, general, a, at, pid, stores[1])
        if pid is None and mine[0] == theirs[0] == "ok":  # fresh UUIDs: the same when both or neither
            assert (mine[4] is None) == (theirs[4] is None)
            mine, theirs = mine[:4] + mine[5:], theirs[:4] + theirs[5:]
        assert mine == theirs, (seed, i, a)
        s0 = stores[0] if stores[0] is not None else hot.state
        s1 = stores[1] if stores[1] is not None else general.state
        assert _state(s0) == _state(s1), (seed, i)


@pytest.mark.parametrize("seed", range(12))
def test_the_hot_path_steps_as_the_general_path(seed: int) -> None:
    _run(seed, 300, subset=False)


@pytest.mark.parametrize("seed", range(6))
def test_evaluate_decides_and_records_as_the_general_path(seed: int) -> None:
    r = random.Random(seed)
    hot = Policy.from_yaml(POLICY)
    general = Policy.from_yaml(POLICY)
    now = 0
    for i in range(300):
        now += r.choice([0, 0, 1, 2, 5, 13, 0.5])
        a = _action(r)
        if r.random() < 0.5:
            mine = hot.evaluate(a, now)
        else:
            mine = hot.evaluate_batch([a], now)[0]
        theirs = GeneralPolicy.step(general, a, now).decision
        assert json.dumps(mine.to_dict()) == json.dumps(theirs.to_dict()), (seed, i, a)
        assert _state(hot.state) == _state(general.state), (seed, i)


@pytest.mark.parametrize("seed", range(6))
def test_a_store_lacking_counters_is_left_to_the_general_path(seed: int) -> None:
    _run(seed, 150, subset=True)


def test_the_hot_path_is_taken_and_leaves_the_unusual_to_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    p = Policy.from_yaml(POLICY)
    taken: List[bool] = []
    step_fast = _StatefulPolicy._step_fast
    evaluate_fast = p._evaluate_code  # (evaluate's own, _evaluate_fast: no keys or entries)

    def spy(self: Any, *args: Any) -> Any:
        got = step_fast(self, *args)
        taken.append(got is not None)
        return got

    def spy_evaluate(self: Any, *args: Any) -> Any:
        got = evaluate_fast(self, *args)
        taken.append(got is not None)
        return got

    monkeypatch.setattr(_StatefulPolicy, "_step_fast", spy)
    monkeypatch.setattr(p, "_evaluate_code", spy_evaluate)
    assert p.evaluate({"tool": "q", "agent": "a", "amount": 5}, now=1).counters == {
        "7": 5, "calls": 1, "glob": 5, "num": None, "pair": None,
    }
    assert p.step({"tool": "p.x", "agent": "a", "session": "s"}, now=2).decision.counters["pair"] == 1
    assert p.evaluate_batch([{"tool": "q", "agent": "a"}] * 2, now=3)[1].counters["calls"] == 4
    assert taken == [True, True, True, True]
    del taken[:]
    # not a finite double: Policy.step (which lets the store say so)
    with pytest.raises(TypeError, match="now must be a finite number"):
        p.evaluate({"tool": "q", "agent": "a"}, now=float("inf"))
    # a store without 'calls': the store's own error, raised where it raised it
    other = MemoryCounterStore([d for d in counter_definitions(p.counters) if d.name != "calls"])
    with pytest.raises(ValueError, match="unknown counter 'calls'"):
        p.step({"tool": "q", "agent": "a"}, now=4, state=other)
    assert taken == [False]
    assert other.clock == 4  # the sums read before it advanced the clock, as before


def test_sum_and_record_take_the_key_text_when_the_caller_has_it() -> None:
    from tollgate.state import Contribution, CounterDefinition, encode_key

    s = MemoryCounterStore([CounterDefinition("n", 100, "n")])
    s.record([Contribution("n", ["a", 1], 2), Contribution("n", ["b"], 3)], 10, key_texts=[encode_key(["a", 1]), None])
    assert s.sum("n", ["a", 1], 10) == 2 and s.sum("n", ["b"], 10) == 3
    assert s.sum("n", ["ignored"], 10, key_text=encode_key(["a", 1.0])) == 2
    assert s.sum("n", ["b"], 10, key_text=encode_key(["b"])) == 3
