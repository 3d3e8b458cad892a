"""Python values that JSON does not have, or has differently, and how they are decided.

Decisions are compared with what the Node host decides for the JSON text of the
same action (``JSON.parse`` semantics), where such a text exists.
"""

from __future__ import annotations

import enum
import math
import types
from collections import OrderedDict
from decimal import Decimal

import pytest

from tollgate import Policy

POLICY = """
tollgate: 1
name: py-values
default: allow
rules:
  - id: eq-big
    effect: deny
    reason: eq big
    when: { tool: eq-big, args.v: { eq: 9007199254740992 } }
  - id: eq-one
    effect: deny
    reason: eq one
    when: { tool: eq-one, args.v: { eq: 1 } }
  - id: eq-true
    effect: deny
    reason: eq true
    when: { tool: eq-true, args.v: { eq: true } }
  - id: gt-half
    effect: deny
    reason: gt half
    when: { tool: gt-half, args.v: { gt: 0.5 } }
  - id: exists
    effect: deny
    reason: exists
    when: { tool: exists, args.v: { exists: true } }
  - id: contains
    effect: deny
    reason: contains
    when: { tool: contains, args.v: { contains: b } }
  - id: len3
    effect: deny
    reason: len3
    when: { tool: len3, args.v: { len: 3 } }
  - id: eq-str
    effect: deny
    reason: eq str
    when: { tool: eq-str, args.v: { eq: "\\uFFFD" } }
  - id: deep
    effect: deny
    reason: deep
    when: { tool: deep, args.v: { exists: false } }
  - id: obj
    effect: deny
    reason: obj
    when: { tool: obj, args.v: { eq: 1 } }
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.from_yaml(POLICY, "py-values.yaml")


NOT_JSON = "action contains a value that is not JSON"


def decide(policy: Policy, tool: str, v: object) -> tuple:
    d = policy.evaluate({"tool": tool, "args": {"v": v}})
    return (d.decision, d.rule, d.undetermined, d.error)


def test_ints_beyond_2_53_round_like_json_parse(policy: Policy) -> None:
    assert decide(policy, "eq-big", 2**53) == ("deny", "eq-big", False, None)
    assert decide(policy, "eq-big", 2**53 + 1) == ("deny", "eq-big", False, None)  # rounds to 2**53
    assert decide(policy, "eq-big", 2**53 + 2) == ("allow", None, False, None)
    assert policy.evaluate_json('{"tool":"eq-big","args":{"v":9007199254740993}}').rule == "eq-big"


def test_int_beyond_the_doubles_is_not_json(policy: Policy) -> None:
    assert decide(policy, "eq-big", 10**400)[3] == NOT_JSON


def test_floats(policy: Policy) -> None:
    assert decide(policy, "gt-half", 0.5000000000000001)[0] == "deny"
    assert decide(policy, "gt-half", 0.5)[0] == "allow"
    assert decide(policy, "eq-one", 1.0)[0] == "deny"  # 1 and 1.0 are the same JSON number
    assert decide(policy, "gt-half", -0.0)[0] == "allow"


def test_true_is_not_one(policy: Policy) -> None:
    assert decide(policy, "eq-one", True) == ("allow", None, False, None)
    assert decide(policy, "eq-true", 1) == ("allow", None, False, None)
    assert decide(policy, "eq-true", True)[0] == "deny"
    # gt on a boolean does not apply: UNKNOWN, and an undetermined deny fails closed
    assert decide(policy, "gt-half", True) == ("deny", "gt-half", True, None)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, b"x", bytearray(b"x"), {1, 2}, frozenset(), Decimal("1"), object(), 1j, range(3), print])
def test_values_that_are_not_json_fail_closed(policy: Policy, bad: object) -> None:
    d = policy.evaluate({"tool": "eq-one", "args": {"v": bad}})
    assert d.to_dict() == {
        "decision": "deny",
        "rule": None,
        "reason": NOT_JSON,
        "undetermined": False,
        "error": NOT_JSON,
        "policy": "py-values",
    }


def test_non_json_inside_arrays_fails_closed(policy: Policy) -> None:
    assert decide(policy, "contains", ["a", math.nan])[3] == NOT_JSON
    assert decide(policy, "contains", ("a", b"b"))[3] == NOT_JSON


def test_values_never_read_are_never_inspected(policy: Policy) -> None:
    d = policy.evaluate({"tool": "eq-one", "args": {"v": 2, "other": math.nan}, "blob": b"\x00" * 10, "x": object()})
    assert (d.decision, d.error) == ("allow", None)
    # an object that is read is tag 7 and its contents are not looked at
    assert decide(policy, "obj", {"nan": math.nan, 1: b"x"}) == ("allow", None, False, None)


def test_tuples_are_arrays(policy: Policy) -> None:
    assert decide(policy, "contains", ("a", "b")) == ("deny", "contains", False, None)
    assert decide(policy, "len3", (1, 2, 3)) == ("deny", "len3", False, None)
    assert decide(policy, "len3", [1, (2,), [3]]) == ("deny", "len3", False, None)


def test_non_string_keys_are_invisible(policy: Policy) -> None:
    # Field paths address string keys only; {1: ...} has no key "1".
    p = Policy.from_yaml(
        "tollgate: 1\nname: k\ndefault: allow\nrules:\n"
        "  - id: r\n    effect: deny\n    reason: r\n    when: { args.1: { exists: true } }\n"
    )
    assert p.evaluate({"args": {1: "x"}}).decision == "allow"
    assert p.evaluate({"args": {"1": "x"}}).decision == "deny"
    assert p.evaluate({"args": {True: "x", None: 1, 1.5: 2, (1,): 3}}).decision == "allow"
    assert p.evaluate({1: "x", "args": {}}).decision == "allow"


def test_dict_like_values(policy: Policy) -> None:
    action = types.MappingProxyType({"tool": "eq-one", "args": OrderedDict(v=1)})
    assert policy.evaluate(action).rule == "eq-one"


def test_subclasses_of_json_types(policy: Policy) -> None:
    class Color(str, enum.Enum):
        RED = "\ufffd"

    class Level(enum.IntEnum):
        ONE = 1

    class MyList(list):
        pass

    assert decide(policy, "eq-str", Color.RED)[0] == "deny"
    assert decide(policy, "eq-one", Level.ONE)[0] == "deny"
    assert decide(policy, "len3", MyList([1, 2, 3]))[0] == "deny"


def test_lone_surrogates_become_replacement_characters(policy: Policy) -> None:
    assert decide(policy, "eq-str", "\ud800") == ("deny", "eq-str", False, None)
    assert decide(policy, "eq-str", "\udfff")[0] == "deny"
    assert decide(policy, "eq-str", "\ud83d\ude00")[0] == "allow"  # a pair: one character, U+1F600
    assert policy.evaluate_json('{"tool":"eq-str","args":{"v":"\\ud800"}}').rule == "eq-str"


def test_deeply_nested_input(policy: Policy) -> None:
    def nest(depth: int) -> object:
        v: object = []
        for _ in range(depth - 1):
            v = [v]
        return v

    assert decide(policy, "len3", nest(64))[3] is None
    assert decide(policy, "len3", nest(65))[3] == "values read by the policy are nested too deeply"
    cyclic: list = []
    cyclic.append(cyclic)
    assert decide(policy, "len3", cyclic)[3] == "values read by the policy are nested too deeply"
    # a deep structure the policy does not read is not inspected
    deep: dict = {}
    node = deep
    for _ in range(100_000):
        node["x"] = {}
        node = node["x"]
    assert policy.evaluate({"tool": "eq-one", "args": {"v": 1}, "deep": deep}).rule == "eq-one"
    # a path through a non-object is absent
    assert decide(policy, "deep", None) == ("allow", None, False, None)
    assert policy.evaluate({"tool": "deep", "args": [1]}).rule == "deep"
    assert policy.evaluate({"tool": "deep", "args": "str"}).rule == "deep"


def test_size_limit(policy: Policy) -> None:
    # The data area holds every string read, here "eq-str" (6 bytes) and the value: 1 MiB in all.
    room = (1 << 20) - len("eq-str")
    assert policy.evaluate({"tool": "eq-str", "args": {"v": "x" * room}}).error is None
    too_big = "values read by the policy exceed 1 MiB when encoded"
    assert policy.evaluate({"tool": "eq-str", "args": {"v": "x" * (room + 1)}}).error == too_big
    assert policy.evaluate({"tool": "eq-str", "args": {"v": "\u00e9" * (room // 2 + 1)}}).error == too_big
    assert policy.evaluate({"tool": "contains", "args": {"v": ["ab"] * 70_000}}).error == too_big
    # in a batch, a record too large is decided alone and the others are unaffected
    batch = policy.evaluate_batch(
        [{"tool": "eq-one", "args": {"v": 1}}, {"tool": "eq-str", "args": {"v": "x" * (room + 1)}}, {"tool": "eq-one", "args": {"v": 1}}]
    )
    assert [d.error for d in batch] == [None, too_big, None]


@pytest.mark.parametrize("action", [None, [], "x", 1, ("tool", "x"), b"{}"])
def test_actions_that_are_not_objects(policy: Policy, action: object) -> None:
    d = policy.evaluate(action)
    assert (d.decision, d.error) == ("deny", "action is not a JSON object")


@pytest.mark.parametrize("line", ['{"tool": ', "NaN", '{"a": NaN}', '{"a": Infinity}', "", "{'a': 1}"])
def test_lines_that_are_not_json(policy: Policy, line: str) -> None:
    d = policy.evaluate_json(line)
    assert (d.decision, d.error) == ("deny", "input is not valid JSON")
    assert policy.evaluate_json("[1]").error == "action is not a JSON object"


def test_json_lines_nested_deeper_than_python_recursion(policy: Policy) -> None:
    from tollgate.jsonline import NotJson, parse_json_text

    deep = '{"tool": "eq-one", "args": {"v": 1}, "x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    assert policy.evaluate_json(deep).rule == "eq-one"
    deep_obj = '{"tool": "eq-one", "args": {"v": 1}, "x": ' + '{"a":' * 20_000 + "1" + "}" * 20_000 + "}"
    assert policy.evaluate_json(deep_obj).rule == "eq-one"
    assert policy.evaluate_json("[" * 50_000 + "]" * 49_999).error == "input is not valid JSON"
    for bad in ["[1,]", '{"a":1,}', "[1 2]", '{"a" 1}', "[", "[NaN]", '"x', "01", "1.", "[1]x", "[" * 5000 + '"x' + "]" * 5000]:
        with pytest.raises(NotJson):
            parse_json_text(bad)
