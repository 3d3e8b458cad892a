"""Canonical JSON must be byte-identical to the npm ``canonicalize`` package (the policy hash)."""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate.canonical import (
    canonical_bytes,
    canonicalize,
    canonicalize_parsed,
    fast_canonical_or_none,
    format_number,
    policy_hash,
)

from conftest import REPO, node_available, run_node


@pytest.mark.parametrize(
    "value,text",
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (5e-324, "5e-324"),
        (-5e-324, "-5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (2.0**53, "9007199254740992"),
        (2.0**53 + 2, "9007199254740994"),
        (1e16, "10000000000000000"),
        (4.35, "4.35"),
        (333333333.3333333, "333333333.3333333"),
        (1e-323, "1e-323"),
        (1e23, "1e+23"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_format_number_rejects_non_finite() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            format_number(bad)


def test_ints_are_doubles() -> None:
    # JavaScript reads every number as a double: 2**53 + 1 rounds to 2**53.
    assert canonicalize(2**53 + 1) == "9007199254740992"
    assert canonicalize(10**21) == "1e+21"
    assert canonicalize(-(2**64)) == "-18446744073709552000"
    with pytest.raises(ValueError):
        canonicalize(10**400)


def test_rfc8785_sample() -> None:
    value = {
        "numbers": [1e30, 4.50, 6, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    assert canonicalize(value) == (
        '{"literals":[null,true,false],"numbers":[1e+30,4.5,6,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16: before U+FFFF, although its code point is larger.
    value = {"\uffff": 1, "\U0001F600": 2, "a": 3, "": 4, "B": 5}
    assert canonicalize(value) == '{"":4,"B":5,"a":3,"\U0001F600":2,"\uffff":1}'


def test_string_escapes_like_json_stringify() -> None:
    assert canonicalize("\x00\x08\t\n\x0b\x0c\r\x1f\x7f\u2028/") == '"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\x7f\u2028/"'


def test_surrogates() -> None:
    # A pair written as two code points is the character it encodes; a lone one is refused.
    assert canonicalize("\ud83d\ude00") == '"\U0001F600"'
    with pytest.raises(ValueError):
        canonicalize("\ud800")
    with pytest.raises(ValueError):
        canonicalize({"\udc00": 1})


def test_tuples_are_arrays_and_non_json_is_refused() -> None:
    assert canonicalize((1, "a")) == '[1,"a"]'
    with pytest.raises(TypeError):
        canonicalize({1: "x"})
    with pytest.raises(TypeError):
        canonicalize(b"x")


def test_policy_hash_is_sha256_of_canonical_bytes() -> None:
    import hashlib

    value = {"b": 1, "a": [True, None]}
    assert canonical_bytes(value) == b'{"a":[true,null],"b":1}'
    assert policy_hash(value) == hashlib.sha256(b'{"a":[true,null],"b":1}').hexdigest()


# --- differential against the npm package ------------------------------------------------

_HAVE_CANONICALIZE = (REPO / "node_modules" / "canonicalize").exists()
needs_node = pytest.mark.skipif(
    not (node_available() and _HAVE_CANONICALIZE), reason="node and node_modules/canonicalize are needed"
)

_NODE_CANON = """
import canonicalize from "canonicalize";
import { createInterface } from "node:readline";
const out = [];
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const v = JSON.parse(line);
  const doubles = v.doubles.map((h) => Buffer.from(h, "hex").readDoubleBE(0));
  out.push(JSON.stringify({ value: canonicalize(v.value), doubles: doubles.map((d) => canonicalize(d)) }));
}
process.stdout.write(out.join("\\n") + "\\n");
"""

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


def _node_canonicalize(cases: list) -> list:
    lines = []
    for value, doubles in cases:
        lines.append(
            json.dumps(
                {"value": value, "doubles": [struct.pack(">d", d).hex() for d in doubles]},
                ensure_ascii=False,
            )
        )
    out = run_node(_NODE_CANON, "\n".join(lines) + "\n")
    return [json.loads(line) for line in out.split("\n") if line]


@needs_node
def test_numbers_match_node_on_random_doubles() -> None:
    import random

    rng = random.Random(8785)
    doubles = []
    for _ in range(3000):
        bits = rng.getrandbits(64)
        d = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
        if math.isfinite(d):
            doubles.append(d)
    doubles += [rng.uniform(-1e6, 1e6) for _ in range(1000)]
    doubles += [float(rng.randint(-(2**60), 2**60)) for _ in range(500)]
    doubles += [10.0**e for e in range(-330, 309)] + [1e21, 1e-7, -0.0, 5e-324, 2.0**53 + 2]
    (result,) = _node_canonicalize([(None, doubles)])
    mine = [format_number(d) for d in doubles]
    mismatches = [(d, m, n) for d, m, n in zip(doubles, mine, result["doubles"]) if m != n]
    assert not mismatches[:10]


@needs_node
@settings(max_examples=8, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=100))
def test_values_match_node(values: list) -> None:
    # JSON text carries the values to node; Python ints beyond 2**53 become doubles on both sides.
    cases = [(v, []) for v in values]
    results = _node_canonicalize(cases)
    for value, result in zip(values, results):
        assert canonicalize(value) == result["value"]


# --- the fast path (json.dumps, checked) ------------------------------------------------------

# Characters where sorting by code point and by UTF-16 code unit disagree, escapes, surrogates,
# quotes and backslashes next to digits (the number check counts quotes), number-like texts.
_tricky_text = st.text(
    alphabet=st.sampled_from(['"', "\\", "1", "5", ".", "e", "E", ":", ",", "[", "-", "a", "\n", "\x00", "\x7f",
                              "\u2028", "\ue000", "\uffff", "\U0001F600", "\U00010000", "é", "\ud800", "\udc00"]),
    max_size=12,
)
_numbers = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers(min_value=-(10**16), max_value=10**16)
    | st.sampled_from([0.5, 1.0, -0.0, 1e16, 1e21, 1e-7, 123.25, 10**15 - 1, 10**15, 2**53, 2**53 + 1, 10**21])
)
fast_values = st.recursive(
    st.none() | st.booleans() | _numbers | st.text(max_size=10) | _tricky_text,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=6) | _tricky_text, children, max_size=5),
    max_leaves=30,
)


def _outcome(f, value):
    try:
        return ("text", f(value))
    except (TypeError, ValueError) as err:
        return ("error", type(err))


@settings(max_examples=1500, deadline=None, database=None)
@given(fast_values)
def test_fast_canonical_is_the_exact_text(value) -> None:
    fast = fast_canonical_or_none(value)
    exact = _outcome(canonicalize, value)
    if fast is not None:
        assert exact == ("text", fast)
    assert _outcome(canonicalize_parsed, value) == exact


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1)
        | st.text(alphabet=st.characters(max_codepoint=0xD7FF), max_size=10),
        lambda children: st.lists(children, max_size=5)
        | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=0xD7FF), max_size=6), children, max_size=5),
        max_leaves=30,
    )
)
def test_fast_canonical_takes_plain_values(value) -> None:
    # No floats, short ints, no character past U+D7FF: the fast text is always taken.
    assert fast_canonical_or_none(value) == canonicalize(value)


def test_fast_canonical_cases() -> None:
    cases = [
        ({"a": 1.5, "b": "x1.0"}, '{"a":1.5,"b":"x1.0"}'),  # a float written alike
        ({"a": 1.0}, None),  # 1.0 -> 1
        ([1e21, 1e-7], None),  # 1e+21 is alike, 1e-07 is not
        ({"s": 'q\\"1.0', "n": 2}, '{"n":2,"s":"q\\\\\\"1.0"}'),  # an escaped quote before a number-like text
        ({"s": "\\", "n": 2.0}, None),  # an escaped backslash before the closing quote
        (10**16, "10000000000000000"),
        (10**16 + 1, None),
        ({"\uffff": 1, "\U0001F600": 2}, None),  # code point order differs
        ({"\ud83d\ude00": 1}, None),  # surrogates
        ({1: "x"}, None),  # not a loader value: must not come here (the json module accepts it)
    ]
    for value, fast in cases:
        if fast is not None or not isinstance(value, dict) or all(isinstance(k, str) for k in value):
            assert fast_canonical_or_none(value) == fast, value
