"""Python values the encoder and the record must read alike, and inputs that must not raise (found
by review): a list that changes while it is encoded, str/int subclasses (an Enum member, an
overridden __int__) in the record, non-text lines, and a manifest nested past the stack."""

import json
from enum import Enum

import pytest

from tollgate import Policy, PolicyError
from tollgate.canonical import canonicalize

_PATHS = Policy.from_yaml(
    "tollgate: 1\nname: g\nrules:\n"
    "  - { id: deny-etc, effect: deny, reason: r, when: { tool: paths, args.paths: { some: { prefix: /etc } } } }\n"
    "  - { id: ok, effect: allow, when: { tool: [paths] } }\n"
)


def test_a_list_that_grows_while_it_is_encoded_cannot_hide_an_element():
    class Grows(list):  # says 1, holds 2: the count and the entries came from different reads
        def __len__(self):
            return 1

    d = _PATHS.evaluate({"tool": "paths", "args": {"paths": Grows(["/etc/shadow-and-some-more-text", "/tmp/ok"])}})
    assert (d.decision, d.rule) == ("deny", "deny-etc")


def test_a_list_subclass_is_read_as_json_dumps_reads_it_by_iterating():
    class Iter(list):
        def __iter__(self):
            return iter(["/etc/x"])

    assert json.dumps(Iter(["/tmp/ok"])) == '["/etc/x"]'
    assert _PATHS.evaluate({"tool": "paths", "args": {"paths": Iter(["/tmp/ok"])}}).decision == "deny"


def test_subclasses_are_recorded_by_their_own_values():
    class Cmd(str, Enum):
        R = "rm -rf /"

    class Evil(int):
        def __int__(self):
            return 5

    action = {"cmd": Cmd.R, "n": Evil(1000)}
    assert canonicalize(action) == '{"cmd":"rm -rf /","n":1000}'
    p = Policy.from_yaml("tollgate: 1\nname: x\ndefault: allow\nrules:\n  - { id: big, effect: deny, reason: r, when: { args.n: { gt: 100 } } }\n")
    assert p.evaluate({"tool": "t", "args": {"n": Evil(1000)}}).decision == "deny"


def test_lines_that_are_not_text_are_not_objects_as_in_node():
    p = Policy.from_yaml("tollgate: 1\nname: x\ndefault: allow\nrules: []\n")
    assert p.evaluate_json(None).error == "action is not a JSON object"  # type: ignore[arg-type]
    assert p.evaluate_json(memoryview(b"{}")).decision == "allow"  # type: ignore[arg-type]
    assert [d.error for d in p.evaluate_lines([None, 1, b"{}"])] == ["action is not a JSON object", "action is not a JSON object", None]  # type: ignore[list-item]


def test_a_manifest_nested_past_the_stack_is_a_policy_error():
    d: dict = {}
    c = d
    for _ in range(5000):
        c["a"] = {}
        c = c["a"]
    with pytest.raises(PolicyError):
        Policy.from_object(d)
