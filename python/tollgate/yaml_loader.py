"""YAML manifests: text -> JSON value, plus the map from JSON pointers back to positions.

PyYAML composes the node tree (keeping every node's mark) with a resolver
for the YAML 1.2 core schema, the schema of the ``yaml`` npm package that
the Node host uses: ``yes``/``no``/``on``/``off`` stay strings, ``0o17`` is
octal and ``017`` is decimal, ``1_000`` is a string, timestamps are strings,
``<<`` is an ordinary key. The value is then built from the nodes as the
``yaml`` package's ``toJS`` builds it: non-string mapping keys become strings
the way JavaScript prints them (``1`` -> ``"1"``, ``null`` -> ``""``,
``true`` -> ``"true"``), and duplicate keys are errors.

Errors are :class:`~tollgate.errors.PolicyError` with 1-based line and
column (columns count Unicode code points).
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .canonical import format_number, fix_surrogates
from .errors import PolicyError, PolicyErrorItem

__all__ = ["MAX_MANIFEST_BYTES", "LoadedYaml", "load_yaml", "parse_pointer", "read_manifest_file", "sort_errors"]

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""Manifest files larger than this (16 MiB) are rejected with an error at 1:1."""

_MAX_VALUES = 20_000_000
"""Aliases can make a small file expand into a huge value: refuse beyond this many values."""

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

# The core schema's plain-scalar tests, in the yaml package's order
# (null, bool, int octal/decimal/hex, float nan/inf, float exp, float).
_NULL_RE = re.compile(r"^(?:~|[Nn]ull|NULL)?$")
_BOOL_RE = re.compile(r"^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$")
_INT_OCT_RE = re.compile(r"^0o[0-7]+$")
_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_INT_HEX_RE = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT_NAN_RE = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$")
_FLOAT_EXP_RE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$")


class _CoreResolver(yaml.resolver.BaseResolver):
    """Implicit tags of the YAML 1.2 core schema (and nothing from YAML 1.1)."""

    yaml_implicit_resolvers: Dict[Any, Any] = {}


_CoreResolver.add_implicit_resolver(_NULL, _NULL_RE, ["~", "n", "N", ""])
_CoreResolver.add_implicit_resolver(_BOOL, _BOOL_RE, list("tTfF"))
_CoreResolver.add_implicit_resolver(_INT, _INT_OCT_RE, ["0"])
_CoreResolver.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))
_CoreResolver.add_implicit_resolver(_INT, _INT_HEX_RE, ["0"])
_CoreResolver.add_implicit_resolver(_FLOAT, _FLOAT_NAN_RE, list("-+."))
_CoreResolver.add_implicit_resolver(_FLOAT, _FLOAT_EXP_RE, list("-+.0123456789"))
_CoreResolver.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+.0123456789"))


class _PyComposer(
    yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer, _CoreResolver
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _CoreResolver.__init__(self)


_Composer: Any = _PyComposer
if getattr(yaml, "__with_libyaml__", False):  # libyaml parses ~10x faster; same marks

    class _CComposer(yaml.cyaml.CParser, _CoreResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            _CoreResolver.__init__(self)

    _Composer = _CComposer


class _LoadError(Exception):
    def __init__(self, node: Optional[Node], message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.mark = mark if mark is not None else (node.start_mark if node is not None else None)


def _js_key(value: Any) -> str:
    """A mapping key as the yaml package turns it into a JavaScript property name."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value == math.inf:
            return "Infinity"
        if value == -math.inf:
            return "-Infinity"
        return format_number(value)
    if isinstance(value, int):
        try:
            return format_number(float(value))
        except OverflowError:
            return "Infinity" if value > 0 else "-Infinity"
    raise TypeError(type(value).__name__)  # pragma: no cover


def _scalar(node: ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _STR or tag == "!":
        return fix_surrogates(text)
    if tag == _NULL:
        if _NULL_RE.match(text):
            return None
    elif tag == _BOOL:
        if _BOOL_RE.match(text):
            return text[0] in "tT"
    elif tag == _INT:
        if _INT_OCT_RE.match(text):
            return int(text[2:], 8)
        if _INT_HEX_RE.match(text):
            return int(text[2:], 16)
        if _INT_RE.match(text):
            return int(text)
    elif tag == _FLOAT:
        if _FLOAT_NAN_RE.match(text):
            return math.nan if text[-3:].lower() == "nan" else (-math.inf if text[0] == "-" else math.inf)
        if _FLOAT_EXP_RE.match(text) or _FLOAT_RE.match(text) or _INT_RE.match(text):
            return float(text)
    else:
        raise _LoadError(node, f"unsupported YAML tag '{_short_tag(tag)}' (only the YAML 1.2 core schema)")
    raise _LoadError(node, f"'{text}' is not a valid {_short_tag(tag)}")


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


class _Builder:
    __slots__ = ("count", "active")

    def __init__(self) -> None:
        self.count = 0
        self.active: set = set()

    def build(self, node: Node) -> Any:
        self.count += 1
        if self.count > _MAX_VALUES:
            raise _LoadError(node, "YAML aliases expand to too many values")
        if isinstance(node, ScalarNode):
            value = _scalar(node)
            if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
                raise _LoadError(node, f"'{node.value}' is not a JSON number (no NaN or infinity in a manifest)")
            return value
        key = id(node)
        if key in self.active:
            raise _LoadError(node, "recursive YAML alias")
        self.active.add(key)
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    raise _LoadError(node, f"unsupported YAML tag '{_short_tag(node.tag)}' (only the YAML 1.2 core schema)")
                return [self.build(item) for item in node.value]
            if isinstance(node, MappingNode):
                if node.tag != _MAP:
                    raise _LoadError(node, f"unsupported YAML tag '{_short_tag(node.tag)}' (only the YAML 1.2 core schema)")
                out: Dict[str, Any] = {}
                seen: Dict[Any, bool] = {}
                for key_node, value_node in node.value:
                    if not isinstance(key_node, ScalarNode):
                        raise _LoadError(key_node, "mapping keys must be scalars")
                    raw = _scalar(key_node)
                    ident = ("s", raw) if isinstance(raw, str) else ("v", _js_key(raw), type(raw) is bool, raw is None)
                    if ident in seen:
                        raise _LoadError(key_node, f"duplicate key '{_js_key(raw)}' (map keys must be unique)")
                    seen[ident] = True
                    out[_js_key(raw)] = self.build(value_node)
                return out
            raise _LoadError(node, "unsupported YAML node")  # pragma: no cover
        finally:
            self.active.discard(key)


def parse_pointer(pointer: str) -> List[str]:
    """RFC 6901: ``"/rules/0/a~1b"`` -> ``["rules", "0", "a/b"]``; ``""`` -> ``[]``."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


class LoadedYaml:
    """A parsed manifest: its JSON ``value`` and the node tree to locate pointers in."""

    __slots__ = ("value", "filename", "_root")

    def __init__(self, value: Any, filename: str, root: Optional[Node]) -> None:
        self.value = value
        self.filename = filename
        self._root = root

    def position(self, pointer: str, at: str = "value") -> Tuple[int, int]:
        """1-based (line, column) of the node that ``pointer`` names.

        With ``at="key"`` the position is that of the mapping key whose entry
        the pointer names. A pointer that goes past the tree (or names a
        missing key) resolves to the deepest node that exists.
        """
        node = self._root
        if node is None:
            return (1, 1)
        try:
            tokens = parse_pointer(pointer)
        except ValueError:
            tokens = []
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            nxt: Optional[Node] = None
            if isinstance(node, MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, ScalarNode) and _key_matches(key_node, token):
                        nxt = key_node if (last and at == "key") else value_node
            elif isinstance(node, SequenceNode):
                if token.isdigit() and (token == "0" or token[0] != "0") and int(token) < len(node.value):
                    nxt = node.value[int(token)]
            if nxt is None:
                break
            node = nxt
        mark = node.start_mark
        return (mark.line + 1, mark.column + 1)

    def error(self, pointer: str, at: str, message: str) -> PolicyErrorItem:
        """A positioned error for a pointer reported by the core."""
        line, column = self.position(pointer, at)
        return PolicyErrorItem(self.filename, line, column, message)


def _key_matches(key_node: ScalarNode, token: str) -> bool:
    try:
        return _js_key(_scalar(key_node)) == token
    except _LoadError:
        return key_node.value == token


def _yaml_error(filename: str, err: yaml.YAMLError) -> PolicyError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    message = f"YAML: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return PolicyError.single(filename, 1, 1, message)
    return PolicyError.single(filename, mark.line + 1, mark.column + 1, message)


def load_yaml(text: str, filename: str = "<string>") -> LoadedYaml:
    """Parse one YAML document (YAML 1.2 core schema) into a JSON value and a position map.

    Raises :class:`PolicyError` for syntax errors, several documents,
    duplicate keys, tags outside the core schema, NaN/infinite numbers, and
    texts over 16 MiB in UTF-8.
    """
    if len(text) * 4 > MAX_MANIFEST_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
        raise PolicyError.single(filename, 1, 1, "manifest is larger than 16 MiB")
    if text.startswith("\ufeff"):
        text = text[1:]
    composer = _Composer(text)
    try:
        try:
            root = composer.get_single_node()
        finally:
            composer.dispose()
    except yaml.composer.ComposerError as err:
        if err.problem and "but found another document" in err.problem:
            mark = err.problem_mark
            raise PolicyError.single(
                filename, mark.line + 1, mark.column + 1, "the file holds several YAML documents; a manifest is one"
            ) from None
        raise _yaml_error(filename, err) from None
    except yaml.YAMLError as err:
        raise _yaml_error(filename, err) from None
    except RecursionError:
        raise PolicyError.single(filename, 1, 1, "YAML is nested too deeply") from None
    if root is None:
        return LoadedYaml(None, filename, None)
    try:
        value = _Builder().build(root)
    except _LoadError as err:
        mark = err.mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise PolicyError.single(filename, line, column, err.message) from None
    except RecursionError:
        raise PolicyError.single(filename, 1, 1, "YAML is nested too deeply") from None
    return LoadedYaml(value, filename, root)


def read_manifest_file(path: str) -> str:
    """Read a manifest file as text (UTF-8; bad bytes become U+FFFD as in Node), refusing files over 16 MiB."""
    with open(path, "rb") as f:
        data = f.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise PolicyError.single(str(path), 1, 1, "manifest is larger than 16 MiB")
    return data.decode("utf-8", "replace")


def sort_errors(errors: Sequence[PolicyErrorItem]) -> List[PolicyErrorItem]:
    """Errors in position order (stable for errors at the same position)."""
    return sorted(errors, key=lambda e: (e.line, e.column))
