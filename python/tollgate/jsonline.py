"""Reading one JSON text (a line of ``tollgate eval`` input) as ``JSON.parse`` reads it.

``json.loads`` with two differences: ``NaN``/``Infinity`` are refused (they
are not JSON), and nesting depth is unlimited, as in JavaScript: parts of an
action that the policy never reads are never inspected, however deep. The
C decoder is used first; only a text too deeply nested for it goes through
the iterative parser below.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, List, Tuple, Union

__all__ = ["parse_json_text", "NotJson"]


class NotJson(ValueError):
    """The text is not one JSON value."""


def _reject_constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _parse_long_int(s: str) -> Any:
    return int(s) if len(s) < 4300 else float(s)


def parse_json_text(text: Union[str, bytes, bytearray]) -> Any:
    """The value of a JSON text; raises :class:`NotJson` when it is not one."""
    if isinstance(text, memoryview):
        text = text.tobytes()
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            # Bytes that are not UTF-8 are not JSON (RFC 8259 section 8.1): the action would be
            # decided on U+FFFD where the tool gets the real bytes (Node's reader refuses them too).
            raise NotJson(f"not UTF-8: {err.reason} at byte {err.start}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        pass
    except ValueError as err:
        if "integer string conversion" not in str(err) and "Exceeds the limit" not in str(err):
            raise NotJson(str(err)) from None
        # An integer longer than CPython's int_max_str_digits (4,300 digits) is still JSON; read
        # as the double it is in JSON's number model (JavaScript's JSON.parse: inf when too large),
        # so a field the policy never reads is no reason to refuse the action (spec section 1).
        try:
            return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_long_int)
        except RecursionError:
            pass
        except ValueError as err2:
            raise NotJson(str(err2)) from None
    try:
        return _parse_iterative(text)
    except NotJson:
        raise
    except ValueError as err:  # from scanstring
        raise NotJson(str(err)) from None


def _read_key(s: str, i: int) -> Tuple[str, int]:
    """An object key and its colon at ``i``; returns the key and where its value starts."""
    n = len(s)
    if i >= n or s[i] != '"':
        raise NotJson("expected a key")
    key, i = scanstring(s, i + 1, True)
    i = _WS.match(s, i).end()
    if i >= n or s[i] != ":":
        raise NotJson("expected ':'")
    return key, _WS.match(s, i + 1).end()


def _parse_iterative(s: str) -> Any:
    """A JSON parser with an explicit stack (no recursion), for deeply nested texts."""
    ws = _WS.match
    i = ws(s, 0).end()
    n = len(s)
    stack: List[Any] = []  # containers being filled; for objects, (dict, pending key)
    keys: List[Any] = []
    value: Any = None
    while True:
        if i >= n:
            raise NotJson("unexpected end of JSON input")
        c = s[i]
        if c == "{" or c == "[":
            container: Any = {} if c == "{" else []
            i = ws(s, i + 1).end()
            if i < n and s[i] == ("}" if c == "{" else "]"):
                value = container
                i += 1
            else:
                stack.append(container)
                keys.append(None)
                if c == "{":
                    keys[-1], i = _read_key(s, i)
                continue
        elif c == '"':
            value, i = scanstring(s, i + 1, True)
        elif s.startswith("true", i):
            value, i = True, i + 4
        elif s.startswith("false", i):
            value, i = False, i + 5
        elif s.startswith("null", i):
            value, i = None, i + 4
        else:
            m = _NUMBER.match(s, i)
            if m is None:
                raise NotJson(f"unexpected character at {i}")
            value = float(m.group()) if (m.group(1) or m.group(2)) else int(m.group())
            i = m.end()
        # a value is complete: attach it, then close as many containers as end here
        while True:
            i = ws(s, i).end()
            if not stack:
                if i != n:
                    raise NotJson("unexpected text after the JSON value")
                return value
            top = stack[-1]
            if type(top) is dict:
                top[keys[-1]] = value
                if i < n and s[i] == ",":
                    keys[-1], i = _read_key(s, ws(s, i + 1).end())
                    break
                if i < n and s[i] == "}":
                    value = stack.pop()
                    keys.pop()
                    i += 1
                    continue
                raise NotJson("expected ',' or '}'")
            top.append(value)
            if i < n and s[i] == ",":
                i = ws(s, i + 1).end()
                break
            if i < n and s[i] == "]":
                value = stack.pop()
                keys.pop()
                i += 1
                continue
            raise NotJson("expected ',' or ']'")
