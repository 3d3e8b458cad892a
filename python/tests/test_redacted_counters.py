"""Counters on redacted fields (spec section 2: an audit record must never contain a value at an
``audit.redact`` path), as the Node host's test/gate/redacted-counters.test.ts: a record that
counted carries such keys and amounts sealed with the log's key (tollgate.audit.counted_seal), a
sum of redacted amounts is "[redacted]" in the record's ``counters``, and the gate still rebuilds
exact counts from its log after a restart. Sealed values open in the other host: a value Node
sealed (fixed below) and, with the Node build (build/dist), values and whole logs both ways."""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tollgate import Policy
from tollgate.audit import AuditError, AuditLog, CountedSeal, is_sealed, verify_log
from tollgate.counted import counted_decision_json, rebuild_counters, sealed_counters
from tollgate.gate import Gate
from tollgate.pipeline import Recorder, decide

from conftest import READ_STDIN_JS, REPO, node_available, run_node

POLICY = (REPO / "test" / "fixtures" / "redacted-counters.yaml").read_text(encoding="utf-8")

CARD = "4111-2222-3333-4444"
OTHER = "5500-0000-0000-0004"
# Amounts whose digits appear nowhere else in a record.
AMOUNTS = [61.375, 27.8125, 19.0625]


def pay(card: str, amount: float) -> Dict[str, Any]:
    return {"tool": "pay", "agent": {"id": "a"}, "args": {"card": card, "amount": amount}}


def open_gate(dir: Path, text: str = POLICY) -> Gate:
    return Gate.open(Policy.from_yaml(text), dir)


def records(dir: Path) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for f in sorted(p for p in os.listdir(dir) if p.endswith(".jsonl")):
        out += [json.loads(line) for line in (dir / f).read_text().splitlines() if line]
    return out


def everything(dir: Path) -> str:
    """Every byte the gate left in its directory (log segments, checkpoint, keys, lock...)."""
    return "\n".join((dir / f).read_bytes().decode("latin-1") for f in sorted(os.listdir(dir)) if (dir / f).is_file())


def new_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def test_records_hold_no_redacted_value_yet_a_restarted_gate_continues_the_counts(tmp_path: Path) -> None:
    with open_gate(tmp_path) as gate:
        first = gate.check(pay(CARD, AMOUNTS[0]))
        second = gate.check(pay(CARD, AMOUNTS[1]))
        # The caller sees the real values (the decision is not a record).
        assert first["decision"] == "allow" and first["counters"] == {"per_card": 1, "spent": AMOUNTS[0]}
        assert second["decision"] == "allow" and second["counters"] == {"per_card": 2, "spent": AMOUNTS[0] + AMOUNTS[1]}
        assert gate.check(pay(OTHER, 1))["decision"] == "allow"

    # After a restart, the third use of the card is the third: the counts were rebuilt from sealed values.
    with open_gate(tmp_path) as gate:
        third = gate.check(pay(CARD, AMOUNTS[2]))
        assert (third["decision"], third["rule"], third["counters"]["per_card"]) == ("deny", "card-cap", 3)
        # The budget rebuilt too: 61.375 + 27.8125 + 1 + 20 > 100 escalates.
        over = gate.check(pay(OTHER, 20))
        assert (over["decision"], over["rule"]) == ("escalate", "budget")
        assert over["counters"]["spent"] == AMOUNTS[0] + AMOUNTS[1] + 1 + 20
        assert gate.resolve(over["audit_id"], "denied", by="alice") is True

    everything_text = everything(tmp_path)
    sums = [AMOUNTS[0] + AMOUNTS[1], AMOUNTS[0] + AMOUNTS[1] + 1 + AMOUNTS[2], AMOUNTS[0] + AMOUNTS[1] + 1 + 20]
    for secret in [CARD, OTHER, *map(str, AMOUNTS), *map(str, sums)]:
        assert secret not in everything_text
    rs = records(tmp_path)
    counted = [r for r in rs if "counted" in r["decision"] and "approval" not in r["decision"]]
    assert len(counted) == 4
    for r in counted:
        assert r["action"]["args"] == {"card": "[redacted]", "amount": "[redacted]"}
        for counter, _, key, amount in r["decision"]["counted"]["add"]:
            if counter == "per_card":
                assert is_sealed(key) and set(key) == {"sealed"} and isinstance(key["sealed"], str)
                assert amount == 1
            else:
                assert key == ["a"]
                assert is_sealed(amount) and set(amount) == {"sealed"} and isinstance(amount["sealed"], str)
        # A count is not a redacted value; a sum of redacted amounts is.
        assert r["decision"]["counters"]["spent"] == "[redacted]"
        assert isinstance(r["decision"]["counters"]["per_card"], int)
    # A deny counted nothing, yet showed the sum it read; the resolution copies the escalation's record.
    deny = [r for r in rs if r["decision"].get("rule") == "card-cap"]
    assert len(deny) == 1 and "counted" not in deny[0]["decision"]
    assert deny[0]["decision"]["counters"] == {"per_card": 3, "spent": "[redacted]"}
    resolution = [r for r in rs if "approval" in r["decision"]]
    assert len(resolution) == 1 and resolution[0]["decision"]["decision"] == "deny"
    assert resolution[0]["decision"]["counters"]["spent"] == "[redacted]"
    assert verify_log(tmp_path).ok

    # The denied escalation gave its 20 back: across one more restart, the sum is 61.375 + 27.8125 + 1.
    with open_gate(tmp_path) as gate:
        assert gate.check(pay(OTHER, 0))["counters"]["spent"] == AMOUNTS[0] + AMOUNTS[1] + 1


def test_a_sealed_value_opens_only_with_the_key_that_sealed_it_and_not_once_altered() -> None:
    one = CountedSeal.of(new_key())
    other = CountedSeal.of(new_key())
    s = one.seal(["a", 7])
    assert is_sealed(s) and one.open(s) == ["a", 7]
    assert one.seal(["a", 7])["sealed"] != s["sealed"]  # a fresh nonce each time: equal keys do not show
    with pytest.raises(ValueError, match="does not open with this log's key"):
        other.open(s)
    raw = bytearray(base64.b64decode(s["sealed"]))
    raw[-20] ^= 1
    with pytest.raises(ValueError, match="does not open"):
        one.open({"sealed": base64.b64encode(bytes(raw)).decode("ascii")})
    with pytest.raises(ValueError, match="too short"):
        one.open({"sealed": base64.b64encode(bytes(27)).decode("ascii")})
    with pytest.raises(ValueError, match="does not open"):
        one.open({"sealed": "not base64!"})
    assert one.open(one.seal(math.inf)) == math.inf  # an overflowed sum stays infinite
    assert one.open(one.seal(-math.inf)) == -math.inf
    with pytest.raises(ValueError, match="NaN"):
        one.seal(math.nan)
    # Any key a policy may count by: strings (a lone surrogate too) and numbers.
    key = ["é\ud800", 2.5, -3, "x" * 300]
    assert one.open(one.seal(key)) == key
    assert not is_sealed({"sealed": "x", "more": 1}) and not is_sealed({"sealed": 1}) and not is_sealed(["sealed"])


def test_the_log_keeps_its_seal_and_its_key_file_gives_the_same(tmp_path: Path) -> None:
    with AuditLog.open(tmp_path) as log:
        seal = log.counted_seal
        assert log.counted_seal is seal
        sealed = seal.seal([CARD])
    assert CountedSeal.load(tmp_path).open(sealed) == [CARD]


def test_a_policy_without_redacted_counter_fields_records_keys_and_amounts_as_they_are(tmp_path: Path) -> None:
    text = POLICY.replace("redact: [args.card, args.amount]", "redact: [args.note, args.cardholder]")
    with open_gate(tmp_path, text) as gate:
        gate.check(pay(CARD, 5))
    [r] = [x for x in records(tmp_path) if "counted" in x["decision"]]
    assert [e[2:] for e in r["decision"]["counted"]["add"]] == [[[CARD], 1], [["a"], 5]]
    assert r["decision"]["counters"] == {"per_card": 1, "spent": 5}
    # Nothing to seal and nothing counted: the decision is recorded as it is (the fast path).
    policy = Policy.from_yaml(text)
    assert sealed_counters(policy.counters, policy.redact) == {}
    d = policy.evaluate(pay(CARD, 5))
    assert counted_decision_json(d, policy, [], 0, None, None) is None


def test_a_redact_path_over_or_under_a_counter_field_seals_it() -> None:
    def parts(redact: str, per: str, total: str) -> Dict[str, Any]:
        policy = Policy.from_yaml(
            f"""tollgate: 1
name: p
default: allow
audit:
  redact: [{redact}]
counters:
  c:
    per: [{per}]
    window: 1h
    sum: {total}
rules:
  - {{ id: cap, effect: deny, reason: r, when: {{ $c: {{ gt: 9 }} }} }}
"""
        )
        return {n: (p.key, p.amount) for n, p in sealed_counters(policy.counters, policy.redact).items()}

    assert parts("args", "args.card", "args.amount") == {"c": (True, True)}  # redact over both
    assert parts("args.card.number", "args.card", "n") == {"c": (True, False)}  # redact under the key
    assert parts("args.amount", "agent.id", "args.amount.cents") == {"c": (False, True)}
    assert parts("args.cardholder", "args.card", "args.amounts") == {}  # segments, not text prefixes
    assert parts("tool", "agent.id", "args.amount") == {}


def test_a_decision_that_will_not_be_recorded_holds_placeholders_which_a_rebuild_refuses(tmp_path: Path) -> None:
    policy = Policy.from_yaml(POLICY)
    decided = decide(policy, pay(CARD, AMOUNTS[0]))  # no seal: this record is not meant to be written
    assert decided.decision.counters == {"per_card": 1, "spent": AMOUNTS[0]}  # the caller's view is real
    recorded = json.loads(decided.decision_json or "null")
    assert recorded["counters"] == {"per_card": 1, "spent": "[redacted]"}
    assert [e[2:] for e in recorded["counted"]["add"]] == [["[redacted]", 1], [["a"], "[redacted]"]]
    assert CARD not in (decided.decision_json or "") and str(AMOUNTS[0]) not in (decided.decision_json or "")
    # Recorded anyway, it cannot rebuild the counts: refused, not skipped (a limit would fail open).
    with AuditLog.open(tmp_path) as log:
        Recorder(log).record(decided)
    with pytest.raises(AuditError, match=r'recorded as "\[redacted\]"'):
        rebuild_counters(tmp_path, policy.counters, policy.new_state(), recorded["counted"]["at"])


def test_a_rebuild_refuses_sealed_values_it_cannot_open(tmp_path: Path) -> None:
    with open_gate(tmp_path) as gate:
        gate.check(pay(CARD, AMOUNTS[0]))
    policy = Policy.from_yaml(POLICY)
    now = records(tmp_path)[-1]["decision"]["counted"]["at"]
    with pytest.raises(AuditError, match="no key to open it was given"):
        rebuild_counters(tmp_path, policy.counters, policy.new_state(), now)
    with pytest.raises(AuditError, match="does not open with this log's key") as e:
        rebuild_counters(tmp_path, policy.counters, policy.new_state(), now, CountedSeal.of(new_key()))
    assert e.value.file is not None and e.value.file.endswith(".jsonl") and e.value.line == 1
    store = policy.new_state()
    rebuild_counters(tmp_path, policy.counters, store, now, CountedSeal.load(tmp_path))
    assert store.sum("per_card", (CARD,), now) == 1 and store.sum("spent", ("a",), now) == AMOUNTS[0]


# -- the other host -----------------------------------------------------------------------------

# Made once by a Node script (src/audit/counted-seal.ts of commit a79dc57): an Ed25519 key as
# `audit.key` holds it, the AES key Node derives from it (hkdfSync("sha256", d, empty salt,
# "tollgate counted seal v1", 32), hex) and values Node's CountedSeal sealed with it.
NODE_PEM = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIOldqM9UIg/3nZkTv4tBR7/S61zHiVT95GFvr0aPHdJ9\n-----END PRIVATE KEY-----\n"
NODE_AES_KEY = "48684f23700dc6db06986af11f9e2d7021228621184ca13467cb22e77906aad3"
NODE_SEALED = [
    ({"sealed": "73rTQK5jgo8tnWltzslL0jAMCZeQcSM7Qgr+gcfGGQCFHjLfS5ZXvGdw5WdLEl7zVLSHDPL3VU+Nm0/BHFLCew=="}, [CARD, 7, "é\ud800"]),
    ({"sealed": "Cc/U/BZby7UNadxNqnX6WqP798odubFBrYqMCf22VRl0rg=="}, 61.375),
    ({"sealed": "VOyQ1QGyARO2ZkqPzzlo9+PPosIZVYn2ey/8z7J5RCD9Rw=="}, -math.inf),
]


def test_values_node_sealed_open_here_with_the_key_node_derived() -> None:
    key = serialization.load_pem_private_key(NODE_PEM, password=None)
    # RFC 5869: no salt is HashLen zeros, which HMAC pads as it pads Node's empty salt.
    assert CountedSeal.derive_key(key).hex() == NODE_AES_KEY
    seal = CountedSeal.of(key)
    for sealed, value in NODE_SEALED:
        assert seal.open(sealed) == value


SEAL_JS = REPO / "build" / "dist" / "src" / "audit" / "counted-seal.js"
needs_node = pytest.mark.skipif(
    not (SEAL_JS.exists() and node_available()),
    reason="the Node build is missing (build/dist/src/audit/counted-seal.js; run `npm run build`)",
)

_READ_STDIN = READ_STDIN_JS

# Opens what Python sealed, seals what Python will open (infinities as the text "Infinity").
_NODE_SEAL = (
    """
import { createPrivateKey } from "node:crypto";
import { CountedSeal } from "./build/dist/src/audit/counted-seal.js";
"""
    + _READ_STDIN
    + """
const seal = CountedSeal.of(createPrivateKey(input.pem));
const text = (v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v);
const value = (v) => (v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : v);
console.log(JSON.stringify({
  opened: input.sealed.map((s) => text(seal.open(s))),
  sealed: input.values.map((v) => seal.seal(value(v))),
}));
"""
)

# A Node gate on the directory: rebuilds from its log, decides the actions, closes.
_NODE_GATE = (
    """
import { Gate, Policy } from "./build/dist/src/index.js";
"""
    + _READ_STDIN
    + """
const gate = await Gate.open({ policy: Policy.fromYaml(input.policy), auditDir: input.dir, audit: { batchWindowMs: 0 } });
const out = [];
try {
  for (const a of input.actions) out.push(await gate.check(a));
} finally {
  await gate.close();
}
console.log(JSON.stringify(out));
"""
)


@needs_node
def test_either_host_opens_what_the_other_sealed() -> None:
    key = new_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode("ascii")
    seal = CountedSeal.of(key)
    values: List[Any] = [[CARD, 7, "é"], 61.375, 3, [], ["\ud800x"]]
    mine = [seal.seal(v) for v in values] + [seal.seal(math.inf)]
    out = json.loads(run_node(_NODE_SEAL, json.dumps({"pem": pem, "sealed": mine, "values": [*values, "Infinity"]})))
    assert out["opened"] == [*values, "Infinity"]
    assert [seal.open(s) for s in out["sealed"]] == [*values, math.inf]


GATE_JS = REPO / "build" / "dist" / "src" / "gate" / "gate.js"


@needs_node
@pytest.mark.skipif(not GATE_JS.exists(), reason="the Node build is missing (build/dist/src/gate)")
def test_a_node_gate_continues_the_counts_of_a_python_log_and_back(tmp_path: Path) -> None:
    with open_gate(tmp_path) as gate:
        assert [gate.check(pay(CARD, a))["decision"] for a in AMOUNTS[:2]] == ["allow", "allow"]
    # Node rebuilds from what Python sealed: the card's third use is denied, the sum continues.
    node = json.loads(run_node(_NODE_GATE, json.dumps({"policy": POLICY, "dir": str(tmp_path), "actions": [pay(CARD, AMOUNTS[2]), pay(OTHER, 1)]})))
    assert (node[0]["decision"], node[0]["rule"], node[0]["counters"]["per_card"]) == ("deny", "card-cap", 3)
    assert node[1]["decision"] == "allow" and node[1]["counters"] == {"per_card": 1, "spent": AMOUNTS[0] + AMOUNTS[1] + 1}
    # And Python from what Node sealed (OTHER's first use is Node's record).
    with open_gate(tmp_path) as gate:
        d = gate.check(pay(OTHER, 2))
        assert d["decision"] == "allow" and d["counters"] == {"per_card": 2, "spent": AMOUNTS[0] + AMOUNTS[1] + 1 + 2}
    everything_text = everything(tmp_path)
    for secret in [CARD, OTHER, *map(str, AMOUNTS)]:
        assert secret not in everything_text
    assert verify_log(tmp_path).ok
