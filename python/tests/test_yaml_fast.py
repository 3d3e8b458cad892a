"""The fast YAML path (tollgate.yaml_fast) against the node-tree path (yaml_loader._load_tree).

Whenever the fast path returns a value, the node-tree path must return the same value (same
types, keys in the same order) and no error; whatever it gives up on must come out of
``load_yaml`` exactly as the node-tree path makes it (value, or errors with positions). The
documents are random event streams written out by PyYAML's emitter in random styles (block and
flow collections, plain, quoted and block scalars, folded lines, escapes).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from tollgate import Policy, PolicyError
from tollgate.yaml_fast import GIVE_UP, MAX_DEPTH, fast_value
from tollgate.canonical import SURROGATE
from tollgate.yaml_loader import _UNPRINTABLE, _load_tree, load_yaml, parse_pointer

from conftest import CONFORMANCE, EXAMPLES, REPO

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="the fast path needs libyaml")

# Plain texts the core schema treats specially (and some it must leave alone).
SCALARS = [
    # ints: decimal, signs, leading zeros, octal, hex, and what is not an int in YAML 1.2
    "0", "-0", "+0", "7", "-17", "+12", "017", "0o17", "0o8", "0x1F", "0xff", "0xg", "0b101", "1_000",
    "12345678901234567890", "-9007199254740993", "9007199254740992", "1e21",
    # floats
    "1.5", ".5", "1.", "-.5e3", "1e3", "1E-3", "+1.5e+2", "1.0", "0.0", "-0.0", "1e-7", "1.e3", ".e3", "e3",
    "0.30000000000000004", "5e-324",
    # not finite: errors of the node-tree path
    "1e400", "-1e400", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", ".NAN", ".Nan",
    # booleans, and YAML 1.1 booleans that are strings now
    "true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "fALSE", "yes", "no", "on", "off", "y", "n", "Y",
    # null
    "~", "null", "Null", "NULL", "nULL", "", "none",
    # strings
    "2001-12-14", "1:30", "<<", "a", "deny", "tool.name", "x y", "é", "日本", "😀", "a#b", "-", "--", ".", "+", "0x",
    "0o", "s3.get", "v1.2.3", "10.0.0.1", 'say "hi"', "it's", "back\\slash", "tab\there", "line\nbreak", "\x07bell",
    "\u2028", "\ufeffbom", "\ue000", "trailing ", " leading", "#comment", "a: b", "[x]", "{y}", "*star", "&amp", "!bang",
    "%pct", "@at", "`tick", "|pipe", ">gt", "?q", "? q", "- d", "long " * 12,
]


def _scalar_text(rnd: random.Random, extra: List[str]) -> str:
    if extra and rnd.random() < 0.3:
        return rnd.choice(extra)
    return rnd.choice(SCALARS)


class _Doc:
    """A random YAML document as events, and whether it uses anything the fast path refuses.

    ``aliases``: anchors (some redefined) and aliases to them (some inside their own node: an
    error); ``unusual``: also tags, keys that are collections, aliases or anchored.
    """

    def __init__(self, rnd: random.Random, unusual: bool, extra: List[str], max_depth: int = 4, aliases: bool = False) -> None:
        self.rnd = rnd
        self.unusual = unusual
        self.aliases = aliases or unusual
        self.extra = extra
        self.max_depth = max_depth
        self.refused = False  # a tag, a key the fast path refuses, or a non-finite number was written
        self.anchors: List[str] = []
        self.events: List[Any] = []

    def _anchor(self, key: bool = False) -> Any:
        if self.aliases and self.rnd.random() < 0.08 and (self.unusual or not key):
            if key:
                self.refused = True
            if self.anchors and self.rnd.random() < 0.2:
                return self.rnd.choice(self.anchors)  # redefined
            name = f"a{len(self.anchors)}"
            self.anchors.append(name)
            return name
        return None

    def _tag(self) -> Tuple[Any, Tuple[bool, bool]]:
        if self.unusual and self.rnd.random() < 0.05:
            self.refused = True
            return self.rnd.choice(["tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                                    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "!foo",
                                    "tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp"]), (False, False)
        return None, (True, True)

    def scalar(self, key: bool = False) -> None:
        text = _scalar_text(self.rnd, self.extra)
        if text.lstrip("+-") in ("1e400", ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"):
            self.refused = True
        style = self.rnd.choice([None, None, None, "'", '"', "|", ">"])
        tag, implicit = self._tag()
        self.events.append(ScalarEvent(self._anchor(key), tag, implicit, text, style=style))

    def node(self, depth: int) -> None:
        r = self.rnd.random()
        if self.aliases and self.anchors and r < 0.08:
            self.events.append(AliasEvent(self.rnd.choice(self.anchors)))
        elif depth >= self.max_depth or r < (0.1 if depth == 0 else 0.4):
            self.scalar()
        elif r < 0.7:
            self.mapping(depth)
        else:
            self.sequence(depth)

    def mapping(self, depth: int) -> None:
        tag, implicit = self._tag()
        flow = self.rnd.random() < 0.3
        self.events.append(MappingStartEvent(self._anchor(), tag, implicit[0], flow_style=flow))
        for _ in range(self.rnd.randrange(0, 5)):
            if self.unusual and self.rnd.random() < 0.05:
                self.refused = True
                self.node(depth + 1)  # a key that may be a collection or an alias
            else:
                self.scalar(key=True)
            self.node(depth + 1)
        self.events.append(MappingEndEvent())

    def sequence(self, depth: int) -> None:
        tag, implicit = self._tag()
        flow = self.rnd.random() < 0.3
        self.events.append(SequenceStartEvent(self._anchor(), tag, implicit[0], flow_style=flow))
        for _ in range(self.rnd.randrange(0, 5)):
            self.node(depth + 1)
        self.events.append(SequenceEndEvent())

    def text(self) -> str:
        rnd = self.rnd
        self.node(0)
        events = [StreamStartEvent(), DocumentStartEvent(explicit=rnd.random() < 0.3)] + self.events
        events += [DocumentEndEvent(explicit=rnd.random() < 0.3), StreamEndEvent()]
        return yaml.emit(
            events,
            allow_unicode=rnd.random() < 0.7,  # else non-ASCII is written as escapes
            width=rnd.choice([12, 40, 80, 1000]),  # narrow: long scalars fold over lines
            indent=rnd.choice([2, 4]),
        )


def _outcome(load: Any, text: str) -> Dict[str, Any]:
    """The value `load` reads from `text`, or its errors (file, line, column, message)."""
    try:
        return {"value": repr(load(text, "f.yaml").value)}
    except PolicyError as err:
        return {"errors": [(e.file, e.line, e.column, e.message) for e in err.errors]}
    except Exception as err:  # a lone surrogate in the text: PyYAML cannot encode it
        return {"exception": repr(err)}


def _slow(text: str) -> Dict[str, Any]:
    return _outcome(_load_tree, text)


def _public(text: str) -> Dict[str, Any]:
    return _outcome(load_yaml, text)


def _check(text: str) -> Any:
    """Both paths agree on ``text``; returns the fast path's result."""
    fast = fast_value(text)
    slow = _slow(text)
    if fast is not GIVE_UP:
        assert slow == {"value": repr(fast)}, text
    if _UNPRINTABLE.search(text.replace("\r", "\n")) is not None:
        # refused before either path reads it (as the Node host refuses it)
        errors = _public(text).get("errors")
        assert errors is not None and len(errors) == 1 and "is not allowed in YAML" in errors[0][3], text
    else:
        assert _public(text) == slow, text
    return fast


_text_extra = st.lists(st.text(max_size=12), max_size=6)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), extra=_text_extra)
def test_usual_documents_take_the_fast_path_and_agree(seed: int, extra: List[str]) -> None:
    _fast_and_agreeing(_Doc(random.Random(seed), unusual=False, extra=extra))


def _fast_and_agreeing(doc: "_Doc") -> None:
    text = doc.text()
    fast = _check(text)
    if "errors" not in _slow(text) and not doc.refused:
        # Valid, with nothing the fast path refuses: it must not give up.
        assert fast is not GIVE_UP, text


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), extra=_text_extra)
def test_documents_with_aliases_take_the_fast_path_and_agree(seed: int, extra: List[str]) -> None:
    _fast_and_agreeing(_Doc(random.Random(seed), unusual=False, extra=extra, aliases=True))


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), extra=_text_extra)
def test_unusual_documents_agree(seed: int, extra: List[str]) -> None:
    doc = _Doc(random.Random(seed), unusual=True, extra=extra)
    _check(doc.text())


@settings(max_examples=100, deadline=None, database=None, phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 2**32 - 1))
def test_positions_of_a_fast_load_are_those_of_the_tree(seed: int) -> None:
    text = _Doc(random.Random(seed), unusual=False, extra=[]).text()
    if _UNPRINTABLE.search(text) is not None:
        return  # refused by load_yaml (test__check covers it)
    try:
        slow = _load_tree(text, "f.yaml")
    except PolicyError:
        return
    loaded = load_yaml(text, "f.yaml")
    pointers = list(_pointers(loaded.value, ""))
    for pointer in pointers[:40] + ["/nope", "/0/x/y"]:
        for at in ("value", "key"):
            assert loaded.locate(pointer, at) == slow.locate(pointer, at), (text, pointer, at)


def _pointers(value: Any, prefix: str) -> Any:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _pointers(v, prefix + "/" + k.replace("~", "~0").replace("/", "~1"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _pointers(v, f"{prefix}/{i}")


def test_every_scalar_alone_and_as_a_key() -> None:
    for text in SCALARS:
        for style in ("", "'", '"'):
            quoted = yaml.emit([StreamStartEvent(), DocumentStartEvent(), ScalarEvent(None, None, (True, True), text, style=style or None),
                                DocumentEndEvent(), StreamEndEvent()], allow_unicode=True)
            _check(quoted)
            _check(f"x: {quoted.strip()}\n" if "\n" not in quoted.strip() else quoted)
            _check("{" + quoted.strip().replace("\n", " ") + ": 1}\n")


# What the fast path gives up on, each with the node-tree path's answer (a value or errors).
UNUSUAL = [
    ("a: *x\n", "errors"),  # an alias without anchor
    ("a: *x\nb: &x 1\n", "errors"),  # an alias before its anchor
    ("a: &x [*x]\n", "errors"),  # an alias inside its own anchor
    ("a: &x [1]\nb: &x [*x]\n", "errors"),  # ... which a redefinition opens again
    ("&k a: 1\nb: *k\n", "value"),  # an anchored key
    ("a: &k x\n*k : 1\n", "value"),  # an alias as a key
    ("a: &x " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\nb: [*x]\n", "value"),  # too deep, expanded
    ("a: !!str 1\n", "value"),
    ("a: !!int '12'\n", "value"),
    ("a: !!float 1\n", "errors"),  # a tag the value does not fit
    ("a: !foo x\n", "errors"),  # a tag the core schema does not have
    ("a: ! 1\n", "value"),
    ("a: !!binary aGk=\n", "errors"),
    ("a: !!timestamp 2001-01-01\n", "errors"),
    ("!!map {a: 1}\n", "value"),
    ("? [a]\n: 1\n", "errors"),  # a key that is a collection
    ("? {a: 1}\n: 1\n", "errors"),
    ("a: 1\na: 2\n", "errors"),  # the same key twice
    ("1: a\n'1': b\n", "errors"),  # two keys that print the same
    ("1.0: a\n1: b\n", "errors"),
    ("null: a\n~: b\n", "errors"),
    ("a: .nan\n", "errors"),
    ("a: -.inf\n", "errors"),
    ("a: 1e400\n", "errors"),
    (".nan: 1\n", "value"),  # a key that is not finite prints as NaN
    (".inf: 1\n", "value"),
    ("a: 1\n---\nb: 2\n", "errors"),  # two documents
    ("", "value"),  # no document
    ("# only a comment\n", "value"),
    ("%YAML 1.2\n---\na: 1\n", "value"),
    ("%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n", "errors"),  # a tag the core schema does not have
    ("a: [1, 2\n", "errors"),  # syntax errors
    ("a: b: c\n", "errors"),
    ("a:\n  - b\n c: d\n", "errors"),
    ('a: "\\ud800"\n', "errors"),
    ("a: '\ud800'\n", None),  # a lone surrogate in the text (a policy error, at it)
    ("a: '\ud83d\ude00'\n", None),  # two surrogates in a str (not one character: errors too)
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n", "value"),  # deeper than MAX_DEPTH
]


@pytest.mark.parametrize("text,outcome", UNUSUAL)
def test_unusual_constructs_fall_back(text: str, outcome: Any) -> None:
    assert fast_value(text) is GIVE_UP
    slow = _slow(text)
    if outcome is not None:
        assert outcome in slow, slow
    if SURROGATE.search(text) is not None:
        # refused by load_yaml before either path reads it: a policy error, where the tree path
        # (libyaml) cannot even encode the text
        errors = _public(text).get("errors")
        assert errors is not None and "lone surrogate" in errors[0][3], text
        return
    assert _public(text) == slow


# Anchors and aliases the fast path reads, each agreeing with the node-tree path.
ALIASES = [
    "a: &x 1\nb: *x\n",
    "a: &x 1\n",
    "a: &x {b: [1, {c: d}]}\ne: *x\nf: [*x, *x]\n",
    "a: &x [1]\nb: &x [2]\nc: *x\n",  # redefined (YAML 1.2): the later one
    "a: &x 1\nb: &y [*x, *x]\nc: [*y, *y]\n",
    "- &x .5\n- *x\n- &n ~\n- *n\n",
    "a: &x " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\nb: *x\n",
]


@pytest.mark.parametrize("text", ALIASES)
def test_aliases_are_read_by_the_fast_path(text: str) -> None:
    value = _check(text)
    assert value is not GIVE_UP
    if isinstance(value, dict) and "f" in value:
        assert value["f"][0] is not value["f"][1] and value["f"][0] is not value["a"]  # copies, as built anew


def _laughs(levels: int, width: int, extra: int) -> str:
    """Aliases that multiply: level i holds ``width`` aliases of level i - 1."""
    lines = ["l0: &l0 x"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    lines += [f"e{j}: *l0" for j in range(extra)]
    return "\n".join(lines) + "\n"


def test_alias_expansions_are_counted_as_the_tree_counts_them() -> None:
    from tollgate._abi import MAX_ALIAS_EXPANSIONS

    # Level i: 10 aliases, each 1 + the expansions inside level i - 1: 10 + 110 + 1110.
    base = 10 + 110 + 1110
    at_limit = _laughs(3, 10, MAX_ALIAS_EXPANSIONS - base)
    assert _check(at_limit) is not GIVE_UP
    over = _laughs(3, 10, MAX_ALIAS_EXPANSIONS - base + 1)
    assert fast_value(over) is GIVE_UP
    assert "errors" in _slow(over)
    _check(over)


def test_nesting_up_to_max_depth_is_fast() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    assert _check(text) is not GIVE_UP


def test_lone_cr_is_a_line_break_on_both_paths() -> None:
    assert load_yaml("a: 1\rb:\r  c: 2\r").value == _load_tree("a: 1\nb:\n  c: 2\n", "x").value


def _manifests() -> List[Path]:
    return sorted(EXAMPLES.glob("*.yaml")) + sorted(CONFORMANCE.rglob("*.yaml")) + sorted((REPO / "bench" / "policies").glob("*.yaml"))


def test_repository_yaml_files_agree() -> None:
    fast_count = 0
    for path in _manifests():
        text = path.read_text(encoding="utf-8")
        if len(text) > 500_000:
            continue
        fast_count += _check(text) is not GIVE_UP
    assert fast_count > 10


def test_generated_benchmark_policy_is_fast_and_equal() -> None:
    path = REPO / "bench" / "policies" / "generated-1000.yaml"
    if not path.exists():
        pytest.skip("bench/policies/generated-1000.yaml is not there")
    _check(path.read_text(encoding="utf-8"))
    assert fast_value(path.read_text(encoding="utf-8")) is not GIVE_UP


def test_core_errors_of_a_fast_load_have_the_tree_positions() -> None:
    text = "tollgate: 1\nname: t\nrules:\n  - id: a\n    effect: allow\n    when: {tool: x}\n  - id: b\n    effect: maybe\n"
    assert fast_value(text) is not GIVE_UP
    with pytest.raises(PolicyError) as err:
        Policy.from_yaml(text, "f.yaml")
    loaded = _load_tree(text, "f.yaml")
    first = err.value.errors[0]
    assert (first.file, first.line, first.column) == ("f.yaml", 8, 13)
    assert loaded.locate("/rules/1/effect") == (8, 13)


def test_fast_and_tree_loads_give_the_same_policy_hash() -> None:
    path = EXAMPLES / "devops-agent.yaml"
    text = path.read_text(encoding="utf-8")
    assert fast_value(text) is not GIVE_UP
    from tollgate.canonical import policy_hash

    assert Policy.from_yaml(text).hash == policy_hash(_load_tree(text, "x").value)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1, &x 2]\nb: *x\n",  # an inner node redefines the anchor: *x is the inner one
        "a: &x {k: &x v}\nb: *x\n",
        "a: &x 1\nb: &x [2]\nc: *x\n",
        "a: &x [1, 2]\nb: *x\n",
    ],
)
def test_an_alias_means_the_latest_definition_of_its_anchor(text: str) -> None:
    # Found by test_documents_with_aliases_take_the_fast_path_and_agree (seed 22384502): the
    # fast path let a collection take its anchor back when it ended.
    assert _public(text) == _slow(text)
    assert _check(text) is not GIVE_UP
