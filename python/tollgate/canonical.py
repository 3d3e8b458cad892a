"""Canonical JSON (RFC 8785, JCS), byte for byte as the npm ``canonicalize`` package.

The policy hash is the SHA-256 of these bytes, so the Python and Node hosts
must agree exactly: object keys sorted by UTF-16 code units, no white space,
strings escaped as ``JSON.stringify`` does (a string holding a lone
surrogate is refused, as ``canonicalize`` refuses it), numbers in ECMAScript ``Number.prototype.toString`` form.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, List, Optional

__all__ = [
    "canonicalize",
    "canonical_bytes",
    "canonicalize_parsed",
    "fast_canonical_or_none",
    "policy_hash",
    "format_number",
    "fix_surrogates",
    "SURROGATE",
]

#: A surrogate code point: in a Python str, half of a pair (see fix_surrogates) or a lone one.
SURROGATE = re.compile("[\ud800-\udfff]")
_json_string = json.encoder.py_encode_basestring  # type: ignore[attr-defined]
try:  # the C accelerator, same output
    from _json import encode_basestring as _c_encode  # type: ignore

    _json_string = _c_encode
except ImportError:  # pragma: no cover
    pass


def fix_surrogates(s: str) -> str:
    """Join surrogate pairs into the code point they encode (as a UTF-16 string would).

    Python strings can hold a high and a low surrogate as two code points,
    which a JavaScript string reads as one character; lone ones are kept.
    """
    if SURROGATE.search(s) is None:
        return s
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _string(s: str) -> str:
    if SURROGATE.search(s) is not None:
        s = fix_surrogates(s)
        if SURROGATE.search(s) is not None:
            # canonicalize (npm) refuses strings that are not well-formed UTF-16.
            raise ValueError("string contains a lone surrogate (not well-formed Unicode)")
    return _json_string(s)


def format_number(x: float) -> str:
    """ECMAScript ``Number::toString(x)`` for a finite double (``-0`` gives ``"0"``)."""
    if x != x or x in (math.inf, -math.inf):
        raise ValueError(f"{x!r} is not a JSON number")
    if x == 0:
        return "0"
    r = repr(x)
    sign = ""
    if r[0] == "-":
        sign = "-"
        r = r[1:]
    e = r.find("e")
    if e >= 0:
        mant, exp = r[:e], int(r[e + 1 :])
    else:
        mant, exp = r, 0
    dot = mant.find(".")
    if dot >= 0:
        ip, fp = mant[:dot], mant[dot + 1 :]
    else:
        ip, fp = mant, ""
    digits = ip + fp
    n = len(ip) + exp  # value = 0.DIGITS x 10^n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * (-n) + digits
    else:
        p = n - 1
        s = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if p >= 0 else "e-") + str(abs(p))
    return sign + s


def _int_to_float(v: int) -> float:
    try:
        return float(v)
    except OverflowError:  # beyond the doubles: Infinity in JavaScript
        raise ValueError(f"integer {v} is too large for a JSON number") from None


def _utf16_key(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def _index_key(k: str) -> bool:
    """Whether JavaScript orders ``k`` as an array index (before the other keys, ascending)."""
    return k.isdigit() and k.isascii() and (k == "0" or k[0] != "0") and int(k) < 4294967295


def _js_order(keys: List[str]) -> List[str]:
    """The order in which ``JSON.stringify`` writes an object's keys: array-index keys
    ascending, then the others in insertion order."""
    index = [k for k in keys if _index_key(k)]
    if not index:
        return keys
    index.sort(key=int)
    return index + [k for k in keys if not _index_key(k)]


def _write(v: Any, out: List[str], sort: bool = True) -> None:
    t = type(v)
    if t is str:
        out.append(_string(v))
    elif v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif t is int:
        # JavaScript numbers are doubles: large integers round as there.
        out.append(format_number(_int_to_float(v)))
    elif t is float:
        out.append(format_number(v))
    elif isinstance(v, dict):
        keys = list(v.keys())
        for k in keys:
            if not isinstance(k, str):
                raise TypeError(f"object key {k!r} is not a string")
        if sort:
            keys.sort(key=_utf16_key)
        else:
            keys = _js_order(keys)
        out.append("{")
        first = True
        for k in keys:
            if first:
                first = False
            else:
                out.append(",")
            out.append(_string(k))
            out.append(":")
            _write(v[k], out, sort)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _write(item, out, sort)
        out.append("]")
    elif isinstance(v, bool):  # pragma: no cover - bool subclasses cannot exist
        out.append("true" if v else "false")
    # Subclasses by their own value, as json.dumps writes them and the encoder reads them (a
    # (str, Enum) member or a subclass's __str__/__int__/__float__ would make the record show
    # something else than what was decided).
    elif isinstance(v, int):
        out.append(format_number(_int_to_float(int.__int__(v))))
    elif isinstance(v, float):
        out.append(format_number(float.__float__(v)))
    elif isinstance(v, str):
        out.append(_string(str.__str__(v)))
    else:
        raise TypeError(f"{type(v).__name__} is not JSON")


def js_json(value: Any) -> str:
    """``JSON.stringify(value)`` as the Node host writes it: the canonical form's strings and
    numbers, object keys in JavaScript's order (array indexes ascending, then as inserted)."""
    out: List[str] = []
    _write(value, out, False)
    return "".join(out)


def canonicalize(value: Any) -> str:
    """The canonical JSON text of ``value`` (dicts with str keys, lists, tuples, scalars).

    Raises ``ValueError`` for NaN and infinities and ``TypeError`` for
    anything else that is not JSON, as ``canonicalize`` does in Node.
    """
    out: List[str] = []
    _write(value, out)
    return "".join(out)


# The fast path: the json module's key-sorted compact text. It is the RFC 8785 text when every
# string is well-formed, no key holds a character past U+FFFF (code points then sort as UTF-16
# code units do) and every number is written as format_number writes it. Ints of at most 15
# digits are (they are exactly doubles). A float's repr has a digit then '.' or 'e', and a longer
# int 16 digits in a row: each such place outside the strings (counting the quotes before it;
# inside a string it is a false alarm) is a number token to compare with format_number's text.
_fast_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")).encode
_NOT_INT15 = re.compile(r"[0-9](?:[.eE]|[0-9]{15})")
_NOT_UTF16_ORDER = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")


_NUMBER_TOKEN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _same_number(text: str, at: int) -> bool:
    """Whether the number token of the fast text around ``at`` is as format_number writes it."""
    start = max(text.rfind(":", 0, at), text.rfind(",", 0, at), text.rfind("[", 0, at)) + 1
    token = _NUMBER_TOKEN.match(text, start)
    if token is None:  # pragma: no cover - a number token always matches
        return False
    written = token.group()
    return format_number(float(written)) == written


def fast_canonical_or_none(value: Any) -> Optional[str]:
    """The RFC 8785 text of a value made by the JSON or YAML loaders (dicts with str keys, lists,
    str, int, float, bool, None) when the fast text is certainly that text, else ``None`` (the
    caller takes :func:`canonicalize`). Not for other values: the json module would write a key
    ``1`` as ``"1"`` where :func:`canonicalize` refuses it. As ``fastCanonicalOrNull`` of
    ``src/canonical.ts``; ``tests/test_canonical.py`` holds it equal to :func:`canonicalize`.
    """
    try:
        text = _fast_json(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if not text.isascii() and _NOT_UTF16_ORDER.search(text) is not None:
        return None
    hits = _NOT_INT15.finditer(text)
    hit = next(hits, None)
    if hit is not None:
        # Escapes blanked out (the same length): every '"' left opens or closes a string.
        quotes_only = text.replace("\\\\", "  ").replace('\\"', "  ")
        count = quotes_only.count
        quotes = 0
        start = 0
        while hit is not None:
            at = hit.start()
            quotes += count('"', start, at)
            if not quotes & 1 and not _same_number(text, at):
                return None
            start = at
            hit = next(hits, None)
    return text


def canonicalize_parsed(value: Any) -> str:
    """:func:`canonicalize` for a value made by the JSON or YAML loaders: the same text or error,
    by :func:`fast_canonical_or_none` where it can."""
    text = fast_canonical_or_none(value)
    return canonicalize(value) if text is None else text


def canonical_bytes(value: Any) -> bytes:
    """UTF-8 bytes of :func:`canonicalize`."""
    return canonicalize(value).encode("utf-8")


def policy_hash(value: Any) -> str:
    """Lowercase hex SHA-256 of the canonical bytes: the policy hash."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()
