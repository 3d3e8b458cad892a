"""The YAML 1.2 core schema as the ``yaml`` npm package applies it (``src/yaml.ts`` of the Node host).

Shared by the two ways a manifest is read (``tollgate.yaml_loader``, the node tree that knows
positions, and ``tollgate.yaml_fast``, straight from parser events): the implicit tags of plain
scalars (:class:`CoreResolver`), the value a tag gives a scalar's text (:func:`typed_scalar`), and
the text a scalar key becomes (:func:`js_key`). The rules are listed in ``yaml_loader``'s docstring.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict

import yaml

from .canonical import fix_surrogates, format_number

__all__ = ["CoreResolver", "Unsupported", "typed_scalar", "js_key"]

_YAML_ORG = "tag:yaml.org,2002:"
_STR = _YAML_ORG + "str"
_NULL = _YAML_ORG + "null"
_BOOL = _YAML_ORG + "bool"
_INT = _YAML_ORG + "int"
_FLOAT = _YAML_ORG + "float"
_UNSUPPORTED_SCALAR_TAGS = (_YAML_ORG + "binary", _YAML_ORG + "timestamp")

# The core schema's tests, as in the yaml package (schema/core/*.js).
_NULL_RE = re.compile(r"^(?:~|[Nn]ull|NULL)?\Z")
_BOOL_RE = re.compile(r"^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)\Z")
_INT_OCT_RE = re.compile(r"^0o[0-7]+\Z")
_INT_RE = re.compile(r"^[-+]?[0-9]+\Z")
_INT_HEX_RE = re.compile(r"^0x[0-9a-fA-F]+\Z")
_FLOAT_NAN_RE = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)\Z")
_FLOAT_EXP_RE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)\Z")


class CoreResolver(yaml.resolver.BaseResolver):
    """Implicit tags of the YAML 1.2 core schema (and nothing of YAML 1.1)."""

    yaml_implicit_resolvers: Dict[Any, Any] = {}


CoreResolver.add_implicit_resolver(_NULL, _NULL_RE, ["~", "n", "N", ""])
CoreResolver.add_implicit_resolver(_BOOL, _BOOL_RE, list("tTfF"))
CoreResolver.add_implicit_resolver(_INT, _INT_OCT_RE, ["0"])
CoreResolver.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))
CoreResolver.add_implicit_resolver(_INT, _INT_HEX_RE, ["0"])
CoreResolver.add_implicit_resolver(_FLOAT, _FLOAT_NAN_RE, list("-+."))
CoreResolver.add_implicit_resolver(_FLOAT, _FLOAT_EXP_RE, list("-+.0123456789"))
CoreResolver.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+.0123456789"))


class Unsupported(Exception):
    """A scalar tag the JSON value of a manifest cannot hold (``!!binary``, ``!!timestamp``)."""


class UnresolvedTag(Exception):
    """An explicit tag the scalar's text does not fit (``!!float 1``, ``!!bool yes``) or that is
    not the core schema's (``!foo``): a policy error, as in Node (src/yaml.ts, TAG_RESOLVE_FAILED),
    since keeping the string would make ``eq: !!float 1`` silently never match 1."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = "!!" + tag[len(_YAML_ORG):] if tag.startswith(_YAML_ORG) else tag


def typed_scalar(tag: str, text: str) -> Any:
    """The JSON value of a scalar with its (resolved or explicit) tag, as the yaml package's core
    schema makes it. Raises :class:`Unsupported` for ``!!binary`` and ``!!timestamp``, and
    :class:`UnresolvedTag` for a tag the text does not fit or that the core schema does not have
    (the non-specific ``!`` is made ``!!str`` where the tree is composed)."""
    if tag == _STR:
        return fix_surrogates(text)
    if not tag.startswith(_YAML_ORG):
        raise UnresolvedTag(tag)
    if tag == _NULL:
        if _NULL_RE.match(text):
            return None
    elif tag == _BOOL:
        if _BOOL_RE.match(text):
            return text[0] in "tT"
    elif tag == _INT:
        if _INT_OCT_RE.match(text):
            return int(text[2:], 8)
        if _INT_RE.match(text):
            # (Past CPython's 4,300-digit limit for int(), the double it is, as in Node: inf when
            # too large, which the loader refuses as not a JSON number.)
            return int(text) if len(text) <= 4000 else float(text)
        if _INT_HEX_RE.match(text):
            return int(text[2:], 16)
    elif tag == _FLOAT:
        if _FLOAT_NAN_RE.match(text):
            return math.nan if text[-3:].lower() == "nan" else (-math.inf if text[0] == "-" else math.inf)
        if _FLOAT_EXP_RE.match(text) or _FLOAT_RE.match(text):
            return float(text)
    elif tag in _UNSUPPORTED_SCALAR_TAGS:
        raise Unsupported()
    elif tag == _YAML_ORG + "merge":
        raise Unsupported("symbol")  # the yaml package's merge key: a JavaScript symbol
    raise UnresolvedTag(tag)  # a tag the text does not fit (the yaml package keeps the string, and warns)


def js_key(value: Any) -> str:
    """A scalar mapping key as JavaScript's ``String(value ?? "null")`` prints it."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:
            return "Infinity" if value > 0 else "-Infinity"
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return format_number(value)
