"""A policy file that is not UTF-8 is a policy error at its first bad byte (as src/policy-text.ts):
never loaded with U+FFFD in place of the bytes. The cases are shared with the Node host
(test/fixtures/not-utf8-cases.json); an action line that is not UTF-8 is not JSON."""

import json
import os

import pytest

from tollgate import Policy, PolicyError

_CASES = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "not-utf8-cases.json"), encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", _CASES, ids=[c["name"] for c in _CASES])
def test_not_utf8_policy_file(tmp_path, case):
    path = tmp_path / "p.yaml"
    path.write_bytes(bytes.fromhex(case["hex"]))
    with pytest.raises(PolicyError) as info:
        Policy.from_file(str(path))
    [p] = info.value.errors
    assert (p.line, p.column, p.message) == (case["line"], case["column"], f"the policy is not valid UTF-8 (byte 0x{case['byte']} here): save it as UTF-8")


def test_action_bytes_that_are_not_utf8_are_not_json():
    p = Policy.from_yaml("tollgate: 1\nname: x\ndefault: allow\nrules: []\n")
    d = p.evaluate_json(b'{"tool":"read","x":"\xff"}')
    assert (d.decision, d.error) == ("deny", "input is not valid JSON")
    assert p.evaluate_json('{"tool":"read","x":"\u00e9"}'.encode()).decision == "allow"


def test_an_integer_longer_than_4300_digits_in_an_unread_field_is_still_json():
    p = Policy.from_yaml("tollgate: 1\nname: x\ndefault: allow\nrules: []\n")
    d = p.evaluate_json(b'{"tool":"read","junk":' + b"1" * 4301 + b"}")
    assert (d.decision, d.error) == ("allow", None)


def test_a_byte_order_mark_is_not_a_column():
    with pytest.raises(PolicyError) as info:
        Policy.from_yaml("\ufefftollgate: 2\nname: x\nrules:\n  - { id: r, effect: deny, reason: r, efect: x }\n", filename="bom.yaml")
    assert [(e.line, e.column) for e in info.value.errors] == [(1, 11), (4, 39)]


def _groups(n):
    s = "tollgate: 1\nname: g\nrules:\n"
    ind = "  "
    for i in range(n):
        s += f"{ind}- group: g{i}\n{ind}  rules:\n"
        ind += "    "
    return s + f"{ind}- {{ id: r, effect: allow }}\n"


def _at_depth(d, f):
    return f() if d == 0 else _at_depth(d - 1, f)


@pytest.mark.parametrize("caller_depth", [0, 600])
def test_yaml_nesting_is_bounded_at_512_whatever_the_callers_stack(caller_depth):
    # As in Node (test/policy-api.test.ts): 254 groups are 511 levels and load, 255 do not; called
    # from deep in a program's stack, the same (the limit is MAX_YAML_DEPTH, not the stack).
    assert len(_at_depth(caller_depth, lambda: Policy.from_yaml(_groups(254))).rules) == 1
    with pytest.raises(PolicyError) as info:
        _at_depth(caller_depth, lambda: Policy.from_yaml(_groups(255)))
    e = info.value.errors[0]
    assert (e.line, e.column, e.message) == (1, 1, "the YAML is nested too deeply (more than 512 mappings and lists inside one another; conditions may nest at most 64 levels)")
