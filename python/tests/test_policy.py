"""The Policy API: loading, errors, decisions, batches, threads, both call paths, traps, the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import wasmtime

import tollgate
from tollgate import Decision, Policy, PolicyError
from tollgate import engine as engine_mod
from tollgate.canonical import canonicalize

from conftest import CONFORMANCE, REPO, node_available, run_node

BILLING = """\
tollgate: 1
name: billing-agent
description: Refund bot
default: deny
approvers:
  finance-oncall:
    timeout: 15m
    on_timeout: deny
audit:
  redact: [args.card_number, "args[\\"x.y\\"]"]
rules:
  - id: block-destructive-sql
    effect: deny
    reason: Destructive SQL is never allowed
    when:
      tool: { in: [db.query, db.execute] }
      args.sql: { matches: "(?i)\\\\b(drop|truncate)\\\\b" }
  - group: payments
    when: { tool: { prefix: "payments." } }
    rules:
      - id: large-refund
        effect: escalate
        approver: finance-oncall
        timeout: 30m
        reason: Refunds over 500 need a human
        when: { args.amount: { gt: 500 } }
      - id: refunds
        effect: allow
        when: { tool: payments.refund }
tests:
  - name: big refund escalates
    action: { tool: payments.refund, args: { amount: 900 } }
    expect: escalate
    rule: large-refund
"""


@pytest.fixture(scope="module")
def billing() -> Policy:
    return Policy.from_yaml(BILLING, "policies/billing-agent.yaml")


def test_issue_example(billing: Policy, tmp_path: Path) -> None:
    path = tmp_path / "billing-agent.yaml"
    path.write_text(BILLING)
    policy = Policy.from_file(path)
    decision = policy.evaluate({"tool": "payments.refund", "args": {"amount": 900}})
    assert decision.decision == "escalate"
    assert (decision.rule, decision.reason, decision.approver, decision.timeout_ms) == (
        "large-refund",
        "Refunds over 500 need a human",
        "finance-oncall",
        1_800_000,
    )
    assert decision.to_dict() == {
        "decision": "escalate",
        "rule": "large-refund",
        "reason": "Refunds over 500 need a human",
        "undetermined": False,
        "approver": "finance-oncall",
        "timeout_ms": 1800000,
        "on_timeout": "deny",
        "policy": "billing-agent",
    }
    assert policy.hash == billing.hash and len(policy.hash) == 64
    assert policy.name == "billing-agent"
    assert [r.id for r in policy.rules] == ["block-destructive-sql", "large-refund", "refunds"]
    assert ("args", "amount") in policy.fields
    assert policy.tests[0]["rule"] == "large-refund"


def test_decisions(billing: Policy) -> None:
    allow = billing.evaluate({"tool": "payments.refund", "args": {"amount": 10}})
    assert allow.to_dict() == {
        "decision": "allow",
        "rule": "refunds",
        "reason": None,
        "undetermined": False,
        "policy": "billing-agent",
    }
    assert allow.allowed
    default = billing.evaluate({"tool": "email.send"})
    assert default.to_dict() == {
        "decision": "deny",
        "rule": None,
        "reason": "no rule matched",
        "undetermined": False,
        "policy": "billing-agent",
    }
    sql = billing.evaluate({"tool": "db.query", "args": {"sql": "DROP table x"}})
    assert (sql.decision, sql.rule) == ("deny", "block-destructive-sql")
    # a refund whose amount is a string cannot slip past `gt: 500`
    slip = billing.evaluate({"tool": "payments.refund", "args": {"amount": "900"}})
    assert (slip.decision, slip.undetermined) == ("escalate", True)


def test_decision_is_frozen_and_shared(billing: Policy) -> None:
    a = billing.evaluate({"tool": "payments.refund", "args": {"amount": 10}})
    b = billing.evaluate({"tool": "payments.refund", "args": {"amount": 20}})
    assert a is b
    with pytest.raises(Exception):
        a.decision = "deny"  # type: ignore[misc]
    assert isinstance(a, Decision)
    d = a.to_dict()
    d["decision"] = "deny"
    assert a.to_dict()["decision"] == "allow"


def test_policy_error_format() -> None:
    text = "tollgate: 1\nname: bad\nrules:\n  - id: r\n    efect: deny\n"
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(text, "policies/bad.yaml")
    err = info.value
    # one typo, one error (spec section 5's example): not also "missing required key 'effect'"
    assert (err.file, err.line, err.column) == ("policies/bad.yaml", 5, 5)
    lines = str(err).split("\n")
    assert lines == ["policies/bad.yaml:5:5: error: unknown key 'efect' in rule (did you mean 'effect'?)"]
    assert [(e.line, e.column) for e in err.errors] == [(5, 5)]
    assert err.format() == str(err)


def test_policy_error_format_is_what_tollgate_check_prints(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("tollgate: 1\nname: bad\napprovers: { ops: { timeout: 2x } }\nrules:\n  - id: r\n    efect: deny\n  - { id: r, effect: escalate, approver: nobody }\n")
    with pytest.raises(PolicyError) as info:
        Policy.from_file(path)
    cli = subprocess.run(["node", str(REPO / "bin" / "tollgate.js"), "check", str(path)], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2
    assert info.value.format() == cli.stdout.rstrip("\n")
    assert len(info.value.errors) >= 3


def test_from_object_positions_refer_to_indented_json() -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_object({"tollgate": 1, "name": "x", "rules": [{"id": "r", "efect": "deny"}]}, "m.json")
    assert [(e.line, e.column) for e in info.value.errors] == [(7, 7)]
    with pytest.raises(PolicyError):
        Policy.from_object({"tollgate": 1, "x": float("nan")})


def test_batches_larger_than_a_call(billing: Policy) -> None:
    actions = []
    for i in range(5000):
        if i % 7 == 0:
            actions.append({"tool": "payments.refund", "args": {"amount": i}})
        elif i % 7 == 1:
            actions.append({"tool": "db.query", "args": {"sql": "drop" if i % 2 else "select"}})
        elif i % 7 == 2:
            actions.append([i])
        elif i % 7 == 3:
            actions.append({"tool": "payments.refund", "args": {"amount": float("nan")}})
        else:
            actions.append({"tool": "payments.refund", "args": {"amount": "x" * (i % 3000), "sql": "y" * 10_000}})
    single = [billing.evaluate(a) for a in actions]
    assert billing.evaluate_batch(actions) == single
    assert billing.evaluate_batch(iter(actions)) == single  # any iterable
    assert billing.evaluate_batch([]) == []
    # many large records force flushes on the input capacity, not only on the result capacity
    big = [{"tool": "db.query", "args": {"sql": "s" * 200_000 + (" drop" if i % 2 else "")}} for i in range(40)]
    assert [d.rule for d in billing.evaluate_batch(big)] == [
        "block-destructive-sql" if i % 2 else None for i in range(40)
    ]


def test_eight_threads_hammer_one_policy(billing: Policy) -> None:
    actions = [
        {"tool": "payments.refund", "args": {"amount": 900}},
        {"tool": "payments.refund", "args": {"amount": 10}},
        {"tool": "db.query", "args": {"sql": "truncate t"}},
        {"tool": "x"},
        {"tool": "payments.refund", "args": {"amount": "s"}},
        {"tool": "payments.refund", "args": {"amount": float("inf")}},
    ]
    expected = [billing.evaluate(a).to_dict() for a in actions]
    errors: list = []
    barrier = threading.Barrier(8)

    def hammer(k: int) -> None:
        try:
            barrier.wait()
            for i in range(3000):
                j = (i + k) % len(actions)
                got = billing.evaluate(actions[j])
                if got.to_dict() != expected[j]:
                    errors.append((k, i, got))
                if i % 500 == 0:
                    batch = billing.evaluate_batch(actions * 10)
                    if [d.to_dict() for d in batch] != expected * 10:
                        errors.append((k, i, "batch"))
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_public_api_fallback_agrees_with_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = Policy.from_yaml(BILLING, fast=True)
    slow = Policy.from_yaml(BILLING, fast=False)
    assert fast._core.fast is True
    assert slow._core.fast is False
    monkeypatch.setenv("TOLLGATE_WASMTIME_FASTPATH", "0")
    env_slow = Policy.from_yaml(BILLING)
    assert env_slow._core.fast is False
    for path in sorted(CONFORMANCE.glob("*.yaml")):
        from tollgate.yaml_loader import load_yaml

        spec = load_yaml(path.read_text(), str(path)).value
        if spec.get("errors") is not None:
            continue
        if "policy_text" in spec:
            p_fast = Policy.from_yaml(spec["policy_text"], fast=True)
            p_slow = Policy.from_yaml(spec["policy_text"], fast=False)
        else:
            p_fast = Policy.from_object(spec["policy"], fast=True)
            p_slow = Policy.from_object(spec["policy"], fast=False)
        cases = spec.get("cases") or [s for q in spec.get("sequences", []) for s in q["steps"]]
        actions = [c["action"] for c in cases if "action" in c]
        # (a policy with counters decides both runs at the same times, from the same state)
        assert [p_slow.evaluate(a, now=0) for a in actions] == [p_fast.evaluate(a, now=0) for a in actions]
        assert p_slow.evaluate_batch(actions, now=0) == p_fast.evaluate_batch(actions, now=0)


def test_fast_path_is_used_with_the_pinned_wasmtime() -> None:
    from importlib.metadata import version

    if version("wasmtime") == "49.0.0":
        assert engine_mod.fast_path_available()
        assert Policy.from_yaml(BILLING)._core.fast


# --- a trapping core ---------------------------------------------------------------------

_REPORT = json.dumps(
    {"abi": 1, "name": "stub", "default": "allow", "rules": [], "fields": [["t"]], "redact": []}
)
_STUB_WAT = f"""
(module
  (memory (export "memory") 4)
  (data (i32.const 512) {json.dumps(_REPORT)})
  (func (export "abi_version") (result i32) i32.const {engine_mod.SUPPORTED_ABI})
  (func (export "manifest_buffer") (param i32) (result i32) i32.const 1024)
  (func (export "compile") (param i32) (result i32) i32.const 0)
  (func (export "report_ptr") (result i32) i32.const 512)
  (func (export "report_len") (result i32) i32.const {len(_REPORT)})
  (func (export "field_count") (result i32) i32.const 1)
  (func (export "input_ptr") (result i32) i32.const 65536)
  (func (export "input_capacity") (result i32) i32.const 65536)
  (func (export "result_ptr") (result i32) i32.const 131072)
  (func (export "result_capacity") (result i32) i32.const 64)
  (func (export "counter_count") (result i32) i32.const 0)
  (func (export "counter_ptr") (result i32) i32.const 0)
  ;; an evaluation image of 16 bytes, loaded as is (docs/abi.md, "Images")
  (func (export "image_size") (result i32) i32.const 16)
  (func (export "image_ptr") (result i32) i32.const 1024)
  (func (export "image_buffer") (param i32) (result i32) i32.const 1024)
  (func (export "load_image") (param i32) (result i32) i32.const 0)
  ;; traps when a record's first slot holds a string; otherwise decides the default
  (func (export "evaluate") (param $n i32) (result i32)
    (local $i i32) (local $rec i32)
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 1)) (i32.gt_s (local.get $n) (i32.const 64)))
      (then (return (i32.const -1))))
    (local.set $rec (i32.const 65536))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (if (i32.and (i32.gt_u (i32.load (local.get $rec)) (i32.const 8))
                   (i32.eq (i32.load8_u (i32.add (local.get $rec) (i32.const 8))) (i32.const 5)))
        (then unreachable))
      (i64.store (i32.add (i32.const 131072) (i32.mul (local.get $i) (i32.const 8)))
                 (i64.const 0xffffffff00000000))
      (local.set $rec (i32.add (local.get $rec) (i32.load (local.get $rec))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    local.get $n))
"""


@pytest.fixture()
def trapping_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "stub.wasm"
    path.write_bytes(wasmtime.wat2wasm(_STUB_WAT))
    monkeypatch.setenv("TOLLGATE_WASM", str(path))
    engine_mod.reset_shared_module()
    yield
    monkeypatch.undo()
    engine_mod.reset_shared_module()


@pytest.mark.parametrize("fast", [True, False])
def test_a_trap_is_a_deny_with_error(trapping_core: None, fast: bool) -> None:
    policy = Policy.from_yaml("tollgate: 1\nname: stub\nrules: []\n", fast=fast)
    assert policy._core.fast is fast
    assert policy.evaluate({"t": 1}).decision == "allow"
    trap = policy.evaluate({"t": "boom"})
    assert trap.to_dict() == {
        "decision": "deny",
        "rule": None,
        "reason": "evaluation failed inside the engine",
        "undetermined": False,
        "error": "evaluation failed inside the engine",
        "policy": "stub",
    }
    core_before = policy._core
    assert policy.evaluate({"t": 2}).decision == "allow"  # a fresh instance took over
    # in a batch, the records decided in the same call fail closed together (as in Node)
    got = policy.evaluate_batch([{"t": 1}, {"t": "boom"}, {"t": 3}])
    assert [d.error for d in got] == ["evaluation failed inside the engine"] * 3
    assert policy.evaluate_batch([{"t": 1}, {"t": 2}])[0].decision == "allow"
    assert policy._core is not core_before


# --- hash and decisions agree with Node -----------------------------------------------------

_NODE_INDEX = REPO / "build" / "dist" / "src" / "index.js"


@pytest.mark.skipif(not (node_available() and _NODE_INDEX.exists()), reason="the Node host is not built")
def test_policy_hash_matches_node(tmp_path: Path) -> None:
    texts = [BILLING] + [
        # escaped (ensure_ascii, and DEL): a YAML text may not hold DEL, C1 or U+2028 raw
        json.dumps(spec["policy"], indent=2).replace("\x7f", "\\u007f")
        for spec in (json.loads(json.dumps(_load(p))) for p in sorted(CONFORMANCE.glob("*.yaml")))
        if spec.get("policy") is not None
    ]
    script = f"""
import {{ Policy }} from {json.dumps(_NODE_INDEX.as_uri())};
import {{ readFileSync }} from "node:fs";
const texts = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(texts.map((t) => Policy.fromYaml(t).hash)));
"""
    hashes = json.loads(run_node(script, json.dumps(texts)))
    assert hashes == [Policy.from_yaml(t).hash for t in texts]


def _load(path: Path):
    from tollgate.yaml_loader import load_yaml

    return load_yaml(path.read_text(), str(path)).value


# --- module cache ------------------------------------------------------------------------------

_COLD = """
import time, sys
t0 = time.perf_counter()
from tollgate import Policy
p = Policy.from_yaml("tollgate: 1\\nname: c\\nrules: []\\n")
d = p.evaluate({"tool": "x"})
print(d.decision, time.perf_counter() - t0)
"""


def _cold_run(env: dict) -> tuple:
    out = subprocess.run([sys.executable, "-c", _COLD], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    decision, seconds = out.stdout.split()
    return decision, float(seconds)


def test_module_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = dict(os.environ, TOLLGATE_CACHE_DIR=str(cache))
    assert _cold_run(env)[0] == "deny"
    files = list(cache.glob("tollgate-*.cwasm"))
    assert len(files) == 1
    assert _cold_run(env)[0] == "deny"  # from the cache
    files[0].write_bytes(b"garbage")  # a corrupt entry is compiled again and replaced
    assert _cold_run(env)[0] == "deny"
    assert files[0].read_bytes() != b"garbage"
    # a directory other users can write to is never trusted
    unsafe = tmp_path / "unsafe"
    unsafe.mkdir(mode=0o777)
    os.chmod(unsafe, 0o777)
    env_unsafe = dict(os.environ, TOLLGATE_CACHE_DIR=str(unsafe))
    assert _cold_run(env_unsafe)[0] == "deny"
    assert list(unsafe.iterdir()) == []
    # an empty value turns the cache off
    assert _cold_run(dict(os.environ, TOLLGATE_CACHE_DIR=""))[0] == "deny"


def test_missing_core_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_WASM", str(tmp_path / "none.wasm"))
    engine_mod.reset_shared_module()
    try:
        with pytest.raises(tollgate.EngineError, match="npm run build:wasm"):
            Policy.from_yaml("tollgate: 1\nname: c\nrules: []\n")
    finally:
        monkeypatch.undo()
        engine_mod.reset_shared_module()


def test_redact(billing: Policy) -> None:
    assert billing.redact == (("args", "card_number"), ("args", "x.y"))  # the paths, as Node's Policy.redact
    action = {"tool": "payments.refund", "args": {"card_number": "4111", "x.y": 1, "amount": 3}}
    red = tollgate.redact(action, billing.redact)
    assert red == {"tool": "payments.refund", "args": {"card_number": "[redacted]", "x.y": "[redacted]", "amount": 3}}
    assert action["args"]["card_number"] == "4111"
    assert tollgate.redact({"tool": "t"}, billing.redact) == {"tool": "t"}
    assert canonicalize(tollgate.redact({"args": {"card_number": None}}, billing.redact)) == '{"args":{"card_number":"[redacted]"}}'
    # The method of earlier versions: the same result, with a DeprecationWarning.
    with pytest.warns(DeprecationWarning, match=r"tollgate\.audit\.redact\(action, policy\.redact\)"):
        assert billing.redact(action) == red
    with pytest.warns(DeprecationWarning, match="Policy.redact_paths"):
        assert billing.redact_paths is billing.redact


# --- evaluation images (docs/abi.md, "Images") ----------------------------------------------

_GENERATED = REPO / "bench" / "policies"


def test_a_loaded_policy_decides_in_a_small_instance_as_the_compiling_one() -> None:
    """The deciding instance loaded the image of a throw-away compiling instance: it holds a few
    MiB (the compiling one 124 at 10,000 rules) and decides as an instance that compiled the
    manifest (explain runs in one: its decision is that instance's ``evaluate``)."""
    big = Policy.from_file(str(_GENERATED / "generated-10000.yaml"))
    core = big._core  # type: ignore[attr-defined]
    assert core.call("report_len") == 0  # it never compiled
    assert core.memory.data_len(core.store) < 16 * 1024 * 1024
    p = Policy.from_file(str(_GENERATED / "generated-100.yaml"))
    lines = (_GENERATED / "generated-100.actions.jsonl").read_text(encoding="utf-8").splitlines()
    actions = [json.loads(line) for line in lines[:300]]
    assert [p.evaluate(a).to_dict() for a in actions] == [p.explain(a)["decision"] for a in actions]
    assert p._explain_core is not p._core  # type: ignore[attr-defined]


def test_many_large_patterns_are_a_policy_error_not_a_trap() -> None:
    """The core bounds a policy's patterns together (as in Node: test/pattern-budget.test.ts)."""
    rules = "".join(
        f'  - id: r{i}\n    effect: deny\n    reason: x\n    when: {{ a: {{ matches: "{"." * 4000}{i}" }} }}\n' for i in range(60)
    )
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml(f"tollgate: 1\nname: many\nrules:\n{rules}", "many.yaml")
    assert "program states in all" in info.value.errors[0].message
