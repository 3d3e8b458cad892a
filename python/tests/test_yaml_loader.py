"""YAML loading: the YAML 1.2 core schema (as the Node host), positions, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tollgate import Policy, PolicyError
from tollgate.canonical import canonicalize
from tollgate.yaml_loader import MAX_MANIFEST_BYTES, load_yaml, parse_pointer, read_manifest_file

from conftest import REPO, node_available, run_node


def value(text: str):
    return load_yaml(text, "t.yaml").value


@pytest.mark.parametrize(
    "text,expected",
    [
        # YAML 1.1 booleans are strings in YAML 1.2 (the Norway problem)
        ("a: yes", {"a": "yes"}),
        ("a: no", {"a": "no"}),
        ("on: off", {"on": "off"}),
        ("country: NO", {"country": "NO"}),
        ("a: y", {"a": "y"}),
        ("a: True", {"a": True}),
        ("a: FALSE", {"a": False}),
        ("a: tRUE", {"a": "tRUE"}),
        # numbers
        ("a: 017", {"a": 17}),
        ("a: 0o17", {"a": 15}),
        ("a: 0x1F", {"a": 31}),
        ("a: 0b101", {"a": "0b101"}),
        ("a: 1_000", {"a": "1_000"}),
        ("a: 1e3", {"a": 1000.0}),
        ("a: 1.", {"a": 1.0}),
        ("a: .5", {"a": 0.5}),
        ("a: +12", {"a": 12}),
        ("a: 1:30", {"a": "1:30"}),  # sexagesimal in 1.1
        ("a: 12345678901234567890", {"a": 12345678901234567890}),
        # null
        ("a: ~", {"a": None}),
        ("a: Null", {"a": None}),
        ("a:", {"a": None}),
        ("a: nULL", {"a": "nULL"}),
        # strings that YAML 1.1 would convert
        ("a: 2001-12-14", {"a": "2001-12-14"}),
        ("<<: {b: 1}", {"<<": {"b": 1}}),
        ("a: '123'", {"a": "123"}),
        ("a: !!str 123", {"a": "123"}),
        ("a: !!int \"12\"", {"a": 12}),
        ("a: ! 12", {"a": "12"}),  # the non-specific tag makes a string (YAML 1.2, 6.9.1)
        # keys are printed as JavaScript prints them
        ("1: a", {"1": "a"}),
        ("1.50: a", {"1.5": "a"}),
        ("0x10: a", {"16": "a"}),
        ("null: a", {"null": "a"}),
        ("true: a", {"true": "a"}),
        ("1e21: a", {"1e+21": "a"}),
        # anchors, aliases, redefinition (YAML 1.2)
        ("a: &x [1]\nb: *x", {"a": [1], "b": [1]}),
        ("a: &x 1\nb: &x 2\nc: *x", {"a": 1, "b": 2, "c": 2}),
        ("", None),
    ],
)
def test_core_schema(text: str, expected) -> None:
    got = value(text)
    assert got == expected
    assert canonicalize(got) == canonicalize(expected)


@pytest.mark.parametrize("text, tag", [("a: !!float 1", "!!float"), ("a: !custom x", "!custom"), ("%TAG !e! tag:example.com,2000:\n---\na: !e!x 1", "tag:example.com,2000:x")])
def test_a_tag_the_value_does_not_fit_is_an_error(text: str, tag: str) -> None:
    # The yaml package keeps the string (and warns); both hosts refuse it (src/yaml.ts unfitTag).
    with pytest.raises(PolicyError) as info:
        load_yaml(text, "t.yaml")
    assert info.value.errors[0].message.startswith(f"the value does not fit its tag {tag} ")


def test_booleans_do_not_change_a_policys_meaning() -> None:
    # Under YAML 1.1 `yes` would be true and this rule would never match the string "yes".
    policy = Policy.from_yaml(
        "tollgate: 1\nname: p\ndefault: allow\nrules:\n"
        "  - id: r\n    effect: deny\n    reason: r\n    when: { args.confirm: yes, args.country: NO }\n"
    )
    assert policy.evaluate({"args": {"confirm": "yes", "country": "NO"}}).decision == "deny"
    assert policy.evaluate({"args": {"confirm": True, "country": False}}).decision == "allow"


@pytest.mark.parametrize(
    "text,line,column,contains",
    [
        ("a: 1\na: 2", 2, 1, "Map keys must be unique"),
        ("a: 1\n1: 2\n'1': 3", 3, 1, "duplicate key '1'"),
        ("a: 1\n---\nb: 2", 2, 1, "one YAML document, not several"),
        ("a: !!binary aGk=", 1, 13, "unsupported YAML value"),  # the content, after the tag
        ("a: .inf", 1, 4, ".inf is not a JSON number"),
        ("a: [1, .nan]", 1, 8, ".nan is not a JSON number"),
        ("a: &x [*x]", 1, 8, "too many alias expansions"),
        ("? [a]\n: 1", 1, 3, "mapping keys must be scalars"),
        # at the end of the file, which is read with its last line break (there or not)
        ("a: [", 2, 1, ""),
        ("a: 'x", 2, 1, ""),
        ("a:\n\tb: 1", 2, 1, ""),
    ],
)
def test_errors(text: str, line: int, column: int, contains: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_yaml(text, "f.yaml")
    err = info.value
    assert (err.file, err.line, err.column) == ("f.yaml", line, column)
    assert contains in err.message
    assert str(err).startswith(f"f.yaml:{line}:{column}: error: ")


def test_positions() -> None:
    text = "k: &k\n  t:\n  on: yes\n  list: [a, {b: 1}]\n  \U0001F600\U0001F600: x\n"
    y = load_yaml(text, "f.yaml")
    assert y.locate("") == (1, 1)
    assert y.locate("/k") == (2, 3)  # the content, after the anchor
    assert y.locate("/k", "key") == (1, 1)
    assert y.locate("/k/t") == (2, 5)  # an empty value: just after the colon
    assert y.locate("/k/on", "key") == (3, 3)
    assert y.locate("/k/on") == (3, 7)
    assert y.locate("/k/list/1/b") == (4, 17)
    assert y.locate("/k/list/1/b", "key") == (4, 14)
    assert y.locate("/k/list/1", "key") == (4, 13)  # the last step is an index: the value itself
    assert y.locate("/k/missing") == (2, 3)  # a missing key: the mapping that lacks it
    assert y.locate("/k/missing", "key") == (1, 1)  # ... or, for "key", the last key on the way
    # columns count UTF-16 code units, as the yaml package's LineCounter does
    assert y.locate("/k/\U0001F600\U0001F600") == (5, 9)


def test_pointer_escapes() -> None:
    assert parse_pointer("") == []
    assert parse_pointer("/a~1b/c~0d/~01") == ["a/b", "c~d", "~1"]
    y = load_yaml('"a/b": {"c~d": 1}', "f.yaml")
    assert y.locate("/a~1b/c~0d") == (1, 16)


def test_size_limit(tmp_path: Path) -> None:
    big = "a: " + "x" * MAX_MANIFEST_BYTES + "\n"
    with pytest.raises(PolicyError) as info:
        load_yaml(big, "big.yaml")
    assert (info.value.line, info.value.column) == (1, 1)
    assert "larger than 16 MiB" in info.value.message
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(PolicyError) as info:
        Policy.from_file(path)
    assert (info.value.file, info.value.line, info.value.column) == (str(path), 1, 1)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        read_manifest_file(str(tmp_path / "nope.yaml"))
    assert info.value.message == "cannot read the policy: no such file"


# --- differential against the Node host's loader ----------------------------------------

_NODE_YAML = REPO / "build" / "dist" / "src" / "yaml.js"

_SNIPPETS = [
    "a: yes\nb: no\non: off\nc: 017\nd: 0o17\ne: 0x1f\nf: 1_000\ng: 1e3\nh: ~\ni: 2001-01-01\nj: .5\nk: 1.",
    "1: a\n0x10: b\nnull: c\ntrue: d\n-0: e\n1.50: f\n1e21: g",
    "a: !!str 1\nb: !!int '12'\nc: !!float 1\nd: !foo x\ne: !!null ''\nf: !!bool yes",
    "a: &x [1, {b: 2}]\nb: *x\nc: &x 3\nd: *x",
    "a: 1\na: 2",
    "a: 1\n1: 2\n'1': 3",
    "a: !!binary aGk=\nb: !!timestamp 2001-01-01",
    "a: .inf\nb: [-.Inf, .NaN]",
    # ("a: &x [*x]" is left out: the Node loader overflows its stack on it)
    "? [a]\n: 1\nb: 2",
    "a: |\n  line\n  two\nb: >\n  folded\n  text\nc: \"esc\\t\\u00e9\\U0001F600\"",
    "list:\n- a\n- b:\n    c: [1, 2, {d: e}]\n",
    "\U0001F600: \"\U0001F600\"\n\u00e9t\u00e9: x",
    "",
    "# only a comment\n",
    "a: 1\n---\nb: 2",
    "x: 12345678901234567890\ny: -9007199254740993\nz: 0.1",
    # A comment line before a node on a later line is only separation (src/yaml-document.ts):
    # the anchor and the multi-line scalar keep the Node host off its fast reader.
    "- &q\n#a\n no\n- x\n",
    "-\n#c\n x\n y\n- z\n",
    "a:\n#c\n  x\n  y\nb: 1\n",
    "a:\n    - &q\n  \n# c\n     no\n    - x\n",
    # The last line break, there or not, changes nothing; an alias key is its scalar.
    "a: |\n  x",
    "a: >\n  x\n  y",
    "|+\n ",
    "x: &k y\n*k : 1",
    "x: &k [y]\n*k : 1",
    "&k y: 1\n*k : 2",
    'a: !!int "5\\n"\nb: !!null "\\n"',
]


@pytest.mark.skipif(not (node_available() and _NODE_YAML.exists()), reason="the Node host is not built")
def test_loader_matches_node() -> None:
    script = f"""
import {{ loadYaml }} from {json.dumps(_NODE_YAML.as_uri())};
import {{ createInterface }} from "node:readline";
const out = [];
for await (const line of createInterface({{ input: process.stdin, crlfDelay: Infinity }})) {{
  const r = loadYaml(JSON.parse(line), "f.yaml");
  out.push(JSON.stringify(r.ok ? {{ ok: true, value: r.yaml.value }} : {{ ok: false, problems: r.problems }}));
}}
process.stdout.write(out.join("\\n") + "\\n");
"""
    out = run_node(script, "\n".join(json.dumps(s) for s in _SNIPPETS) + "\n")
    results = [json.loads(line) for line in out.split("\n") if line]
    assert len(results) == len(_SNIPPETS)
    for text, node in zip(_SNIPPETS, results):
        try:
            mine = {"ok": True, "value": load_yaml(text, "f.yaml").value}
        except PolicyError as err:
            mine = {
                "ok": False,
                "problems": [{"file": e.file, "line": e.line, "column": e.column, "message": e.message} for e in err.errors],
            }
        if node["ok"]:
            assert mine["ok"], (text, mine)
            assert canonicalize(mine["value"]) == canonicalize(node["value"]), text
        else:
            assert not mine["ok"], (text, mine, node)
            # The first problem's position always agrees; the message too, except for YAML syntax
            # errors, whose wording belongs to each parser.
            first_mine, first_node = mine["problems"][0], node["problems"][0]
            assert (first_mine["line"], first_mine["column"]) == (first_node["line"], first_node["column"]), text
            assert first_mine["message"] == first_node["message"], text


def test_lone_cr_is_a_line_break() -> None:
    loaded = load_yaml("a: 1\rb:\r  c: 2\r")
    assert loaded.value == {"a": 1, "b": {"c": 2}}
    with pytest.raises(PolicyError) as err:
        load_yaml("a: 1\rb: [\r", "f.yaml")
    assert err.value.errors[0].line > 1


@pytest.mark.parametrize("ch", ["\x01", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\ufffe"])
def test_a_character_yaml_may_not_hold_is_refused_where_it_is(ch: str) -> None:
    """As the Node host refuses it (src/yaml.ts): position and message alike."""
    text = f"tollgate: 1\nname: x\n# \u00e9 {ch}\ndescription: \"a{ch}\"\nrules: []\n"
    with pytest.raises(PolicyError) as info:
        load_yaml(text, "p.yaml")
    code = f"{ord(ch):04x}"
    assert [(e.line, e.column, e.message) for e in info.value.errors] == [
        (3, 5, f"character U+{code.upper()} is not allowed in YAML (write it as an escape, \\u{code}, in a double-quoted string)")
    ]


def test_surrogate_pair_escapes_are_one_character_and_lone_ones_an_error_not_a_crash() -> None:
    assert load_yaml('a: "x\\ud83d\\ude00"\n', "p.yaml").value == {"a": "x\U0001F600"}
    for text in ['a: "\\ud800"\n', 'a: "x\ud800"\n', 'a: "\\U00110000"\n']:
        with pytest.raises(PolicyError):
            load_yaml(text, "p.yaml")


@pytest.mark.parametrize("text", ["a: |\n  x", "a: |+\n  x\n ", "a: >-\n  x", "reason: \"quoted\"", "a: [1, 2]", "# only a comment"])
def test_the_last_line_break_changes_nothing(text: str) -> None:
    """An editor that adds or drops the file's final line break does not change the policy."""
    assert load_yaml(text).value == load_yaml(text + "\n").value


def test_an_unclosed_quote_at_the_end_of_the_file_is_refused() -> None:
    with pytest.raises(PolicyError):
        load_yaml('a: "\\"', "f.yaml")


@pytest.mark.parametrize("text", ['a: !!int "5\\n"', "a: !!int |\n  5\n", 'a: !!null "\\n"', 'a: !!bool "true\\n"', 'a: !!float "1.5\\n"'])
def test_a_tag_fits_the_whole_value_not_a_line_of_it(text: str) -> None:
    """A core-schema pattern matches the whole value: "5\\n" is not an integer."""
    with pytest.raises(PolicyError) as info:
        load_yaml(text, "f.yaml")
    assert "does not fit its tag" in info.value.errors[0].message


@pytest.mark.parametrize("text", ["?\n: 1\n", ": a\n", "? 'a' b\n: 1\n", "a: [x]: y\nb: 1\n", "{? : a}\n", "{a, : b}\n", "&a : b\n"])
def test_a_mapping_entry_with_no_key_is_refused(text: str) -> None:
    """As in Node (test/yaml-reading.test.ts): not read as the key "null"."""
    with pytest.raises(PolicyError):
        load_yaml(text, "f.yaml")


@pytest.mark.parametrize("text,value", [("~: 1\n", {"null": 1}), ("null: 1\n", {"null": 1}), ("'': 1\n", {"": 1}), ("!!str : a\n", {"": "a"})])
def test_a_key_written_null_or_empty_is_kept(text: str, value: object) -> None:
    assert load_yaml(text, "f.yaml").value == value
