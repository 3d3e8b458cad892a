"""YAML manifests: text -> JSON value, plus the map from JSON pointers back to positions.

This mirrors ``src/yaml.ts`` of the Node host, which uses the ``yaml`` npm
package with the YAML 1.2 core schema. Common manifests are read by the fast
path (``tollgate.yaml_fast``: libyaml's events straight into values, no
positions); anything it does not handle comes here, as do the positions of
errors the core finds later. PyYAML produces the events; the node tree is
composed here, keeping aliases as nodes (so that their expansions are
counted and their positions known) and letting an anchor be redefined
(YAML 1.2). Plain scalars are resolved by the core schema, not YAML 1.1:
``yes``/``no``/``on``/``off`` stay strings, ``0o17`` is octal and ``017``
decimal, ``1_000`` and ``2001-01-01`` are strings, ``<<`` is an ordinary key.

As in Node:

- mapping keys become strings as JavaScript's ``String()`` prints them
  (``1`` -> ``"1"``, ``null`` -> ``"null"``, ``1e3`` -> ``"1000"``); two keys
  with the same value are the YAML error ``Map keys must be unique``; two
  different keys that print the same (``1`` and ``'1'``) are the error
  ``duplicate key '1'``; a key that is a collection is an error;
- an explicit core tag whose text does not fit it (``!!float 1``) and any
  unknown tag (``!foo x``) leave the scalar a string; ``!!binary`` and
  ``!!timestamp`` are errors;
- NaN and infinities are errors; more than 10,000 alias expansions are an
  error at the alias;
- positions are 1-based; lines are counted by ``\\n`` and columns in UTF-16
  code units, as the ``yaml`` package's ``LineCounter`` counts them.
"""

from __future__ import annotations

import bisect
import math
import re
import sys
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import yaml
from yaml.composer import Composer, ComposerError
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ._abi import MAX_ALIAS_EXPANSIONS, MAX_MANIFEST_BYTES, MAX_YAML_DEPTH, Messages
from ._deprecated import deprecated_names, warn
from .canonical import SURROGATE
from .errors import PolicyError, PolicyProblem
from .yaml_fast import GIVE_UP, fast_value
from .yaml_schema import CoreResolver, UnresolvedTag, Unsupported, js_key, typed_scalar

__all__ = [
    "MAX_MANIFEST_BYTES",
    "LoadedYaml",
    "load_yaml",
    "parse_pointer",
    "read_manifest_file",
    "sort_errors",
    "js_key",
]

# MAX_MANIFEST_BYTES (16 MiB: larger manifests are rejected with an error at 1:1),
# MAX_ALIAS_EXPANSIONS and the messages come from abi/constants.json (tollgate._abi).

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class AliasNode(Node):
    """An alias (``*name``) kept as a node: its own position, and the node it names."""

    id = "alias"

    def __init__(self, target: Node, start_mark: Any, end_mark: Any) -> None:
        super().__init__(None, target, start_mark, end_mark)
        self.target = target


class _TreeComposer(Composer):
    def compose_node(self, parent: Any, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.get_event()
            if event.anchor not in self.anchors:
                raise ComposerError(
                    None, None, Messages.alias_without_anchor(event.anchor), event.start_mark
                )
            return AliasNode(self.anchors[event.anchor], event.start_mark, event.end_mark)
        event = self.peek_event()
        anchor = event.anchor
        self.descend_resolver(parent, index)
        if self.check_event(ScalarEvent):
            nonspecific = event.tag == "!"
            node = self.compose_scalar_node(anchor)
            if nonspecific:
                # YAML 1.2, 6.9.1: a scalar tagged "!" is a string (the yaml package's reading);
                # PyYAML resolves it as if untagged, and "! 123" would be the number 123.
                node.tag = "tag:yaml.org,2002:str"
        elif self.check_event(SequenceStartEvent):
            node = self.compose_sequence_node(anchor)
        elif self.check_event(MappingStartEvent):
            node = self.compose_mapping_node(anchor)
        else:  # pragma: no cover
            raise ComposerError(None, None, "unexpected event", event.start_mark)
        self.ascend_resolver()
        return node


class _PyComposer(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _TreeComposer, CoreResolver):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _TreeComposer.__init__(self)
        CoreResolver.__init__(self)


_Composer: Any = _PyComposer
if getattr(yaml, "__with_libyaml__", False):  # libyaml scans and parses; the tree is composed here

    class _CComposer(_TreeComposer, yaml.cyaml.CParser, CoreResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            _TreeComposer.__init__(self)
            CoreResolver.__init__(self)

    _Composer = _CComposer


def _scalar(node: ScalarNode) -> Any:
    """The JSON value of a scalar, as the yaml package's core schema resolves it (a string's
    surrogate pairs, two ``\\u`` escapes as JSON writes a character beyond the BMP, joined)."""
    return typed_scalar(node.tag, node.value)


def _value_identity(v: Any) -> Any:
    """A key such that two scalars have equal keys exactly when JavaScript's ``===`` holds
    (the yaml package's uniqueKeys test); ``None`` for NaN, which equals nothing."""
    if isinstance(v, str):
        return ("s", v)
    if v is None or isinstance(v, bool):
        return ("c", v)
    try:
        f = float(v)
    except OverflowError:
        f = math.inf if v > 0 else -math.inf
    if f != f:
        return None
    return ("n", f + 0.0)  # -0 === 0


def _fits_double(v: int) -> bool:
    try:
        float(v)
    except OverflowError:
        return False
    return True


class _TooDeep(Exception):
    pass


@contextmanager
def stack_for_nesting() -> Iterator[None]:
    """Enough Python stack for MAX_YAML_DEPTH levels (a few frames each, in the composer, the
    builder and canonical JSON) above the caller's own frames, so that what loads does not depend
    on how deep the caller is. Raised while a load runs (re-entrant), then put back."""
    global _raised, _original
    depth = 0
    f = sys._getframe()
    while f is not None:
        depth += 1
        f = f.f_back  # type: ignore[assignment]
    need = depth + 4 * MAX_YAML_DEPTH + 200
    with _stack_lock:
        if _raised == 0:
            _original = sys.getrecursionlimit()
        _raised += 1
        if need > sys.getrecursionlimit():
            sys.setrecursionlimit(need)
    try:
        yield
    finally:
        with _stack_lock:
            _raised -= 1
            if _raised == 0:
                sys.setrecursionlimit(_original)


_stack_lock = threading.Lock()
_raised = 0  # loads running (in any thread) with the limit raised
_original = 1000  # the limit before the first of them


class _Builder:
    """Node tree -> JSON value, collecting problems as ``(mark, message)``, like Node's JsonConverter."""

    def __init__(self) -> None:
        self.expansions = 0
        self.depth = 0  # mappings and sequences being built, one inside the other
        self.active: set = set()
        self.yaml_errors: List[Tuple[Any, str]] = []
        self.problems: List[Tuple[Any, str]] = []

    def build(self, node: Optional[Node]) -> Any:
        if node is None:
            return None
        if isinstance(node, AliasNode):
            self.expansions += 1
            if self.expansions > MAX_ALIAS_EXPANSIONS or id(node.target) in self.active:
                # An alias inside its own anchor expands without end: in Node it runs into the limit.
                self.problems.append((node.start_mark, Messages.TOO_MANY_ALIASES))
                return None
            return self.build(node.target)
        if isinstance(node, ScalarNode):
            try:
                value = _scalar(node)
            except Unsupported as err:
                self.problems.append((node.start_mark, Messages.unsupported_value(err.args[0] if err.args else "object")))
                return None
            except UnresolvedTag as err:
                self.problems.append((node.start_mark, Messages.unresolved_tag(err.tag)))
                return None
            if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
                self.problems.append((node.start_mark, Messages.not_json_number(node.value)))
                return None
            if isinstance(value, int) and not isinstance(value, bool) and not _fits_double(value):
                # An integer beyond a double (310 digits and more) is no more a JSON number than 1e999.
                self.problems.append((node.start_mark, Messages.not_json_number(node.value)))
                return None
            if isinstance(value, str) and SURROGATE.search(value) is not None:
                self.problems.append((node.start_mark, Messages.LONE_SURROGATE))  # (pairs are joined: lone)
                return None
            return value
        if isinstance(node, (SequenceNode, MappingNode)):
            # Nesting is bounded by MAX_YAML_DEPTH, as in Node, not by the stack.
            self.depth += 1
            if self.depth > MAX_YAML_DEPTH:
                raise _TooDeep()
            self.active.add(id(node))
            try:
                return [self.build(item) for item in node.value] if isinstance(node, SequenceNode) else self._mapping(node)
            finally:
                self.active.discard(id(node))
                self.depth -= 1
        self.problems.append((node.start_mark, Messages.UNSUPPORTED_NODE))  # pragma: no cover
        return None

    def _mapping(self, node: MappingNode) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        seen_values: set = set()
        for key_node, value_node in node.value:
            target = key_node
            while isinstance(target, AliasNode):
                target = target.target
            if not isinstance(target, ScalarNode):
                self.problems.append((key_node.start_mark, Messages.KEY_NOT_SCALAR))
                continue
            if not target.style and target.value == "" and target.tag == "tag:yaml.org,2002:null":
                # No key at all (`? ` with nothing after it): an error, as in Node (src/yaml.ts),
                # not the key "null".
                self.problems.append((key_node.start_mark, Messages.EMPTY_KEY))
                continue
            try:
                raw = _scalar(target)
            except Unsupported as err:
                # A !!binary, !!timestamp or !!merge key: an error, as in Node (src/yaml.ts).
                self.problems.append((key_node.start_mark, Messages.unsupported_value(err.args[0] if err.args else "object")))
                continue
            except UnresolvedTag as err:
                self.problems.append((target.start_mark, Messages.unresolved_tag(err.tag)))
                continue
            if isinstance(raw, str) and SURROGATE.search(raw) is not None:
                self.problems.append((key_node.start_mark, Messages.LONE_SURROGATE))
                continue
            if isinstance(key_node, ScalarNode):
                ident = _value_identity(raw)
                if ident is not None:
                    if ident in seen_values:
                        self.yaml_errors.append((key_node.start_mark, "Map keys must be unique"))
                    seen_values.add(ident)
            key = js_key(raw)
            if key in out:
                self.problems.append((key_node.start_mark, Messages.duplicate_key(key)))
                continue
            out[key] = self.build(value_node)
        return out


def parse_pointer(pointer: str) -> List[str]:
    """RFC 6901: ``"/rules/0/a~1b"`` -> ``["rules", "0", "a/b"]``; ``""`` -> ``[]``."""
    if pointer == "":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


class _Positions:
    """Character index -> (line, column) as the yaml package's LineCounter reports them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: Optional[List[int]] = None

    def at(self, index: int) -> Tuple[int, int]:
        if self._starts is None:
            starts = [0]
            find = self.text.find
            i = find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._starts = starts
        line = bisect.bisect_right(self._starts, index)
        start = self._starts[line - 1]
        column = index - start + 1
        if index > start:
            column += len(_ASTRAL.findall(self.text, start, index))
        return (line, column)

    def mark(self, mark: Any) -> Tuple[int, int]:
        """Position of a node's mark. PyYAML starts a node at its properties (``&anchor``,
        ``!tag``); the yaml package at its content: skip the properties."""
        if mark is None:
            return (1, 1)
        index = mark.index
        text = self.text
        if index < len(text) and text[index] in "&!":
            index = _skip_properties(text, index)
        return self.at(index)


_PROPERTY_END = re.compile(r"[\s,\[\]{}]")
_SPACE_OR_COMMENT = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")


def _skip_properties(text: str, index: int) -> int:
    """From the start of node properties to the start of the node's content."""
    n = len(text)
    while index < n and text[index] in "&!":
        if text.startswith("!<", index):
            end = text.find(">", index)
            index = n if end < 0 else end + 1
        else:
            m = _PROPERTY_END.search(text, index)
            index = n if m is None else m.start()
        m2 = _SPACE_OR_COMMENT.match(text, index)
        if m2 is not None:
            index = m2.end()
    return min(index, n)


class LoadedYaml:
    """A parsed manifest: its JSON ``value`` and the node tree to locate JSON pointers in.

    A manifest read by the fast path (``tollgate.yaml_fast``) has no tree: it keeps its text,
    and the first :meth:`locate` composes the tree (only an error needs a position).
    """

    __slots__ = ("value", "filename", "_root", "_positions", "_text")

    def __init__(
        self,
        value: Any,
        filename: str,
        root: Optional[Node],
        positions: Optional[_Positions] = None,
        *,
        text: Optional[str] = None,
    ) -> None:
        self.value = value
        self.filename = filename
        self._root = root
        self._positions = positions
        self._text = text

    def _tree(self) -> None:
        """Compose the node tree of a manifest the fast path read."""
        text, self._text = self._text, None
        if text is not None:
            slow = _load_tree(text, self.filename)
            self._root, self._positions = slow._root, slow._positions

    def locate(self, pointer: str, at: str = "value") -> Tuple[int, int]:
        """1-based (line, column) of the node that ``pointer`` names (as ``locate`` of ``src/yaml.ts``).

        With ``at="key"`` the position is that of the mapping key of the
        entry. A pointer that goes past the tree resolves to the deepest node
        that exists.
        """
        if self._text is not None:
            self._tree()
        node = self._root
        if node is None or self._positions is None:
            return (1, 1)
        key_node: Optional[Node] = None
        for token in parse_pointer(pointer):
            while isinstance(node, AliasNode):
                node = node.target
            if isinstance(node, MappingNode):
                found = None
                for k, v in node.value:
                    if isinstance(k, ScalarNode) and _key_text(k) == token:
                        found = (k, v)
                        break
                if found is None:
                    break
                key_node, node = found
            elif isinstance(node, SequenceNode):
                if not _is_index(token) or int(token) >= len(node.value):
                    break
                key_node = None
                node = node.value[int(token)]
            else:
                break
        if at == "key" and key_node is not None:
            return self._positions.mark(key_node.start_mark)
        return self._positions.mark(node.start_mark if node is not None else None)

    def position(self, pointer: str, at: str = "value") -> Tuple[int, int]:
        """Deprecated name of :meth:`locate`."""
        warn("LoadedYaml.position", "LoadedYaml.locate")
        return self.locate(pointer, at)

    def error(self, pointer: str, at: str, message: str) -> PolicyProblem:
        """A positioned error for a pointer reported by the core."""
        line, column = self.locate(pointer, at)
        return PolicyProblem(self.filename, line, column, message)


def _is_index(token: str) -> bool:
    # JavaScript's Number(token) for an array index: decimal digits (leading zeros are fine there).
    return token.isdigit() and token.isascii()


def _key_text(key_node: ScalarNode) -> str:
    try:
        return js_key(_scalar(key_node))
    except (Unsupported, UnresolvedTag):
        return key_node.value


def _yaml_error(filename: str, err: yaml.YAMLError, positions: _Positions) -> PolicyError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    message = f"{problem} ({context})" if context else problem
    if mark is not None:  # name the character found there (libyaml's messages do not)
        index = mark.index
        if index >= len(positions.text):
            message += " (found the end of the text)"
        elif positions.text[index] in "\r\n":
            message += " (found a line break)"
        elif positions.text[index] not in message:
            message += f" (found '{positions.text[index]}')"
    line, column = positions.mark(mark)
    return PolicyError.single(filename, line, column, message)


_LONE_CR = re.compile(r"\r(?!\n)")
# Characters a YAML stream may not hold (YAML 1.2 c-printable), and NEL, LS and PS (line breaks
# to PyYAML, characters to the yaml package): refused at the first one, with the Node host's position and
# message (src/yaml.ts, unprintableProblem).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")
# Those of them json.dumps writes as they are (it escapes C0 controls), and surrogates, which it
# writes raw too where JSON.stringify escapes them (src/yaml.ts, escapeWrittenRaw).
_WRITTEN_RAW = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def escape_written_raw(text: str) -> str:
    """``text`` with what ``_WRITTEN_RAW`` matches written as ``\\uXXXX`` escapes: for a text in
    which they can only be inside double-quoted strings (JSON from ``json.dumps``), where the escape
    says the same and the text becomes one a YAML reader takes (a lone surrogate is then refused
    at its node, as in Node)."""
    return _WRITTEN_RAW.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def load_yaml(text: str, filename: str = "<policy>") -> LoadedYaml:
    """Parse one YAML document (YAML 1.2 core schema) into a JSON value and a position map.

    Raises :class:`PolicyError` for texts over 16 MiB in UTF-8, YAML syntax
    errors, several documents, and the problems listed in the module
    docstring.
    """
    if len(text) * 3 > MAX_MANIFEST_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
        raise PolicyError.single(filename, 1, 1, Messages.MANIFEST_TOO_LARGE)
    # A lone CR is a line break in YAML (as CRLF and LF are); made an LF so that lines count the
    # same in the parser and in positions (one character for one: offsets do not move).
    if text.startswith("\ufeff"):
        # A byte order mark is not part of the first line (as src/yaml.ts lineBreaks): positions
        # are those a person sees, in both hosts.
        text = text[1:]
    text = _LONE_CR.sub("\n", text)
    if text and not text.endswith("\n"):
        # A file's last line break, there or not, changes nothing (as src/yaml.ts lineBreaks):
        # without it, libyaml dropped a final block scalar's clipped line break.
        text += "\n"
    lone = SURROGATE.search(text)
    if lone is not None:  # (a raw one; a str from a file never holds one: it is decoded strictly)
        line, column = _Positions(text).at(lone.start())
        raise PolicyError.single(filename, line, column, Messages.LONE_SURROGATE)
    bad = _UNPRINTABLE.search(text)
    if bad is not None:
        code = f"{ord(bad.group()):04x}"
        line, column = _Positions(text).at(bad.start())
        raise PolicyError.single(filename, line, column, Messages.unprintable_character(f"U+{code.upper()}", code))
    value = fast_value(text)
    if value is not GIVE_UP:
        return LoadedYaml(value, filename, None, text=text)
    return _load_tree(text, filename)


def _compose(composer_class: Any, text: str) -> Any:
    """The node tree of ``text``. libyaml refuses a ``\\u`` escape of a surrogate, which JSON
    writes in pairs for a character beyond the BMP (``json.dumps`` of an emoji): PyYAML's own
    scanner reads those (the pairs are joined by ``typed_scalar``), with the same marks."""
    composer = composer_class(text)
    try:
        return composer.get_single_node()
    except yaml.YAMLError as err:
        if composer_class is _PyComposer or "invalid Unicode character escape code" not in str(getattr(err, "problem", "")):
            raise
        refused = err
    finally:
        composer.dispose()
    try:
        return _compose(_PyComposer, text)
    except ValueError:  # an escape past U+10FFFF (libyaml's same message): libyaml's error stands
        raise refused from None


def _load_tree(text: str, filename: str) -> LoadedYaml:
    """``load_yaml`` by the node tree, for a text already checked for size and lone CRs."""
    positions = _Positions(text)
    with stack_for_nesting():
        return _load_tree_deep(text, filename, positions)


def _load_tree_deep(text: str, filename: str, positions: "_Positions") -> LoadedYaml:
    try:
        root = _compose(_Composer, text)
    except ComposerError as err:
        if err.problem and "but found another document" in err.problem:
            line, column = positions.mark(err.problem_mark)
            raise PolicyError.single(filename, line, column, Messages.MULTIPLE_DOCUMENTS) from None
        raise _yaml_error(filename, err, positions) from None
    except yaml.YAMLError as err:
        raise _yaml_error(filename, err, positions) from None
    except RecursionError:
        raise PolicyError.single(filename, 1, 1, Messages.YAML_TOO_DEEP) from None
    builder = _Builder()
    try:
        value = builder.build(root)
    except (RecursionError, _TooDeep):
        raise PolicyError.single(filename, 1, 1, Messages.YAML_TOO_DEEP) from None
    problems = builder.yaml_errors or builder.problems
    if problems:
        items = []
        for mark, message in problems:
            line, column = positions.mark(mark)
            items.append(PolicyProblem(filename, line, column, message))
        raise PolicyError(items)
    return LoadedYaml(value, filename, root, positions)


def read_manifest_file(path: str) -> str:
    """Read a manifest file (UTF-8: a byte that is not is a policy error at its position, as in Node).

    Raises :class:`PolicyError` at 1:1 for files over 16 MiB and files that
    cannot be read.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise PolicyError.single(path, 1, 1, Messages.cannot_read_policy(Messages.NO_SUCH_FILE)) from None
    except OSError as err:
        raise PolicyError.single(path, 1, 1, Messages.cannot_read_policy(f"{err.strerror or err}")) from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise PolicyError.single(path, 1, 1, Messages.MANIFEST_TOO_LARGE)
    return policy_text(data, path)


def policy_text(data: bytes, path: str) -> str:
    """The text of a policy's bytes; raises :class:`PolicyError` at the first byte that is not
    UTF-8 (as ``policyText`` of ``src/policy-text.ts``): a U+FFFD in its place could make a deny
    rule's operand silently stop matching the real text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8")
        if before.startswith("\ufeff"):
            before = before[1:]  # a BOM is no column (as load_yaml)
        lines = re.split(r"\r\n|\r|\n", before)  # lines end at LF, CRLF or a lone CR
        line = len(lines)
        column = len(lines[-1].encode("utf-16-le", "surrogatepass")) // 2 + 1  # UTF-16 units, as the yaml package counts
        raise PolicyError.single(path, line, column, Messages.not_utf8(f"{data[err.start]:02X}")) from None


def sort_errors(errors: Sequence[PolicyProblem]) -> List[PolicyProblem]:
    """Errors in position order (stable for errors at the same position)."""
    return sorted(errors, key=lambda e: (e.line, e.column))


__getattr__ = deprecated_names(__name__, {"TOO_LARGE_MESSAGE": ("Messages.MANIFEST_TOO_LARGE", lambda: Messages.MANIFEST_TOO_LARGE)})
