"""The fast way to read a manifest: libyaml's parser events straight into plain values.

``tollgate.yaml_loader`` composes a node tree (kept for positions and aliases) and then builds
the JSON value from it; for a large manifest most of the load went there. For the common case
(one document of mappings, sequences and untagged scalars) :func:`fast_value` builds the same
value from the events in one loop, with the same core schema (``tollgate.yaml_schema``), and
records no positions. Anything else makes it give up (return :data:`GIVE_UP`) and the node-tree
path runs, which stays the authority for errors and positions:

- no libyaml (``yaml.__with_libyaml__`` false), or a surrogate anywhere in the text;
- a YAML syntax error, no document or more than one, a ``%YAML``/``%TAG`` directive;
- any tag (``!!str``, ``!``, ``!foo``);
- a mapping key that is not a plain or quoted scalar (a collection, an alias, an anchored
  scalar), two keys that print the same (``a``/``a``, ``1``/``'1'``);
- an alias to an anchor not (yet) defined or still open (inside its own node), more than
  ``MAX_ALIAS_EXPANSIONS`` alias expansions (counted as the node-tree path counts them);
- a number that is not finite (``.nan``, ``.inf``, ``1e999``), as a value or as a key;
- nesting deeper than :data:`MAX_DEPTH`, aliases expanded (the node-tree path decides what is
  too deep).

Anchors (redefined as YAML 1.2 lets them be) and aliases are read here too: an alias is a
fresh copy of its anchor's value, as the node-tree path builds it.

``python/tests/test_yaml_fast.py`` holds the two paths to the same value on generated documents.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List

import yaml
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

from ._abi import MAX_ALIAS_EXPANSIONS
from .canonical import SURROGATE
from .yaml_schema import CoreResolver, UnresolvedTag, js_key, typed_scalar

__all__ = ["GIVE_UP", "MAX_DEPTH", "fast_value"]

GIVE_UP: Any = object()
"""What :func:`fast_value` returns when the node-tree path must read the text."""

MAX_DEPTH = 64
"""Collections nested deeper than this go to the node-tree path."""

_CParser: Any = None
if getattr(yaml, "__with_libyaml__", False):
    from yaml.cyaml import CParser as _CParser
_INF = math.inf
_BIG = 2**1023  # an int at least this large may not fit a double: the tree path decides
_NINF = -math.inf
_MISSING: Any = object()
_ROOT: Any = object()
_IN_LIST: Any = object()
_WANT_KEY: Any = object()
_RESOLVERS: Dict[Any, Any] = CoreResolver.yaml_implicit_resolvers

# Plain scalars whose implicit tag and value are known without the regular expressions: the
# spellings of null and the booleans (what the resolvers give them, checked by the tests).
_WORDS: Dict[str, Any] = {"": None, "~": None, "null": None, "Null": None, "NULL": None}
_WORDS.update({w: True for w in ("true", "True", "TRUE")})
_WORDS.update({w: False for w in ("false", "False", "FALSE")})
# Other plain scalars need the resolvers only when they start like a number: the resolvers of
# the other first characters (~nNtTfF) match only _WORDS (or a word and a line break, which a
# plain scalar cannot end with, but which goes to the resolvers all the same).
_NUMERIC_START = frozenset("-+.0123456789")


class _GiveUp(Exception):
    pass


def _plain(text: str) -> Any:
    """A plain scalar's value, resolved as ``CoreResolver.resolve`` and ``typed_scalar`` do."""
    value = _WORDS.get(text, _MISSING)
    if value is not _MISSING:
        return value
    resolvers = _RESOLVERS.get(text[0])
    if resolvers is None:
        return text
    for tag, regexp in resolvers:
        if regexp.match(text):
            try:
                value = typed_scalar(tag, text)
            except UnresolvedTag:
                raise _GiveUp() from None  # (never, for an implicit tag: the tree path says why if it does)
            if value.__class__ is float and (value != value or value == _INF or value == _NINF):
                raise _GiveUp()
            if value.__class__ is int and not -_BIG < value < _BIG:
                raise _GiveUp()  # beyond a double: the tree path reports it
            return value
    return text


def fast_value(text: str) -> Any:
    """The JSON value of a one-document YAML text, or :data:`GIVE_UP` (see the module docstring).

    When it returns a value, ``yaml_loader``'s node-tree path returns an equal one (same keys in
    the same order) and raises no error for the text.
    """
    if _CParser is None or SURROGATE.search(text) is not None:
        return GIVE_UP
    parser = _CParser(text)
    try:
        return _read(parser.get_event)
    except (_GiveUp, yaml.YAMLError):
        return GIVE_UP
    finally:
        parser.dispose()


def _read(get: Any) -> Any:
    if get().__class__ is not StreamStartEvent:
        raise _GiveUp()
    event = get()
    if event.__class__ is not DocumentStartEvent or event.version is not None or event.tags is not None:
        raise _GiveUp()
    value = _node(get)
    if get().__class__ is not DocumentEndEvent or get().__class__ is not StreamEndEvent:
        raise _GiveUp()
    return value


def _node(get: Any) -> Any:
    """One node's value from its events; the collections being filled are kept on a stack."""
    plain = _plain
    words = _WORDS
    numeric = _NUMERIC_START
    key_text = js_key
    stack: List[Any] = []  # (collection, key, anchor, expansions, definition) of the enclosing collections
    container: Any = None  # the collection being filled
    key: Any = _ROOT  # _IN_LIST, _WANT_KEY (in a dict, before a key), or the key read in a dict
    # Anchors of finished nodes: name -> (value, alias expansions inside it, depth). An anchor is
    # dropped while its collection is open: an alias inside it (endless) gives up.
    anchors: Dict[str, Any] = {}
    # Where each anchor name was last defined (a count of definitions): an alias means the most
    # recent definition by position, so a collection whose anchor an inner node redefined does
    # not take it back when it ends (`&x [1, &x 2]` then `*x` is 2, as in the yaml package).
    defined: Dict[str, int] = {}
    definitions = 0
    expansions = 0  # as the node-tree path counts them: an alias, and the aliases inside its node
    while True:
        event = get()
        cls = event.__class__
        if cls is ScalarEvent:
            if event.tag is not None:
                raise _GiveUp()
            value = event.value
            if event.implicit[0]:  # plain (untagged and unquoted): the core schema's implicit tags
                if value in words:
                    value = words[value]
                elif value[0] in numeric or value[-1] == "\n":
                    value = plain(value)
            if key is _WANT_KEY:
                if event.anchor is not None or (event.value == "" and event.implicit[0]):
                    raise _GiveUp()  # ... or no key at all (`? `), an error of the node-tree path
                if value.__class__ is not str:
                    value = key_text(value)
                if value in container:  # the same key twice, or two keys that print the same
                    raise _GiveUp()
                key = value
                continue
            if event.anchor is not None:
                anchors[event.anchor] = (value, 0, 0)
                definitions += 1
                defined[event.anchor] = definitions
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            if event.tag is not None or key is _WANT_KEY or len(stack) >= MAX_DEPTH:
                raise _GiveUp()  # ... or a collection as a key, or too deep
            anchor = event.anchor
            started = 0
            if anchor is not None:
                anchors.pop(anchor, None)
                definitions += 1
                defined[anchor] = started = definitions
            stack.append((container, key, anchor, expansions, started))
            if cls is MappingStartEvent:
                container, key = {}, _WANT_KEY
            else:
                container, key = [], _IN_LIST
            continue
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            value = container
            container, key, anchor, before, started = stack.pop()
            if anchor is not None and defined[anchor] == started:
                anchors[anchor] = (value, expansions - before, _depth(value))
        elif cls is AliasEvent:
            target = anchors.get(event.anchor)
            if target is None or key is _WANT_KEY:  # no such anchor (or open), or an alias as a key
                raise _GiveUp()
            value, inside, depth = target
            expansions += 1 + inside
            if expansions > MAX_ALIAS_EXPANSIONS or len(stack) + depth > MAX_DEPTH:
                raise _GiveUp()
            if depth:
                value = _copy(value)  # the node-tree path builds each expansion anew
        else:  # an event out of place
            raise _GiveUp()
        if key is _IN_LIST:
            container.append(value)
        elif key is _ROOT:
            return value
        else:
            container[key] = value
            key = _WANT_KEY


def _depth(value: Any) -> int:
    """How deep collections nest in a value (0 for a scalar)."""
    if value.__class__ is dict:
        return 1 + max(map(_depth, value.values()), default=0)
    if value.__class__ is list:
        return 1 + max(map(_depth, value), default=0)
    return 0


def _copy(value: Any) -> Any:
    if value.__class__ is dict:
        return {k: _copy(v) for k, v in value.items()}
    if value.__class__ is list:
        return [_copy(v) for v in value]
    return value
