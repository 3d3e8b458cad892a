"""Action -> input record, following ``docs/abi.md`` ("Input region").

An :class:`ActionEncoder` is built once per policy from its field table. It holds
one accessor per field path and appends records to a ``bytearray``: value
entries written in place with ``struct.pack_into``, each string encoded to
UTF-8 once and appended to the data area. The caller copies the finished
bytes into linear memory with a single slice assignment.

Python values and the record:

- ``dict`` (and other ``Mapping``) are objects; only **string keys** are
  addressed by field paths, so a non-string key (``{1: ...}``) is invisible
  to the policy, as if absent. A value that is an object gets tag 7 and its
  contents are never inspected.
- ``list`` and ``tuple`` are arrays; ``str`` is a string; ``None``, ``True``
  and ``False`` are null and the booleans (``True`` is never the number 1).
- ``int`` and ``float`` are numbers, read as IEEE-754 doubles: integers
  beyond 2**53 round exactly as ``JSON.parse`` rounds them.
- Anything else in a field the policy reads (NaN, infinities, an integer
  beyond the doubles, ``bytes``, ``set``, ``Decimal``, any other object) is
  not JSON: the record gets status 7 and the decision is a deny with
  ``error``. Values the policy never reads are never looked at.
- Strings with lone surrogates are encoded with U+FFFD in their place, as
  ``TextEncoder`` does; a surrogate pair written as two code points is the
  character it encodes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Sequence, Tuple

from ._abi import (
    ENTRY_SIZE,
    ERROR_TEXT,
    MAX_ARRAY_DEPTH,
    MAX_DATA_BYTES,
    RECORD_HEADER,
    TAG_ABSENT,
    TAG_ARRAY,
    TAG_FALSE,
    TAG_NULL,
    TAG_NUMBER,
    TAG_OBJECT,
    TAG_STRING,
    TAG_TRUE,
    ErrorCode,
)
from ._deprecated import deprecated_names
from .canonical import SURROGATE, fix_surrogates

__all__ = [
    "ActionEncoder",
    "MAX_DATA_BYTES",
    "MAX_ARRAY_DEPTH",
    "ErrorCode",
    "ERROR_TEXT",
    "encode_string",
    "error_record",
    "decode_record",
]

# ErrorCode, ERROR_TEXT, the tags and the limits come from abi/constants.json (tollgate._abi).

_ABSENT: Any = object()

_pack_number = struct.Struct("<B3xId").pack_into  # tag, 0, f64
_pack_ref = struct.Struct("<B3xII4x").pack_into  # tag, offset, length/count
_pack_u32 = struct.Struct("<I").pack_into
_header_error = struct.Struct("<II").pack
_ZERO8 = bytes(8)


class _Fail(Exception):
    """Internal: stop encoding this record with a status code."""

    def __init__(self, status: int) -> None:
        self.status = status


def encode_string(s: str) -> bytes:
    """UTF-8 of ``s`` as ``TextEncoder`` writes it: lone surrogates become U+FFFD."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE.sub("\ufffd", fix_surrogates(s)).encode("utf-8")


def _mapping_get(m: Mapping, key: str) -> Any:
    try:
        return m.get(key, _ABSENT)
    except Exception:  # a hostile Mapping: treat as not JSON
        raise _Fail(ErrorCode.NOT_JSON_VALUE) from None


class ActionEncoder:
    """Writes input records for one policy's field table.

    :meth:`append` is generated per field table (``exec`` of Python source
    built from the paths): a path prefix shared by several fields is looked
    up once, each slot's common cases (absent, string, number, null) are
    inlined, and arrays, booleans and anything unusual go through
    :meth:`_value`. On CPython this is 2-3x faster than a loop over one
    accessor per field.
    """

    __slots__ = ("field_count", "header_size", "append", "_max_record", "__weakref__")

    def __init__(self, fields: Sequence[Sequence[str]]) -> None:
        self.field_count = len(fields)
        self.header_size = RECORD_HEADER + ENTRY_SIZE * self.field_count
        self._max_record = self.header_size + MAX_DATA_BYTES + 8 * (MAX_ARRAY_DEPTH + 2)
        self.append: Callable[[bytearray, Any], int] = _generate_append(self, [tuple(p) for p in fields])

    @property
    def max_record_size(self) -> int:
        """An upper bound on the size of one record (for sizing batches)."""
        return self._max_record

    def _value(self, buf: bytearray, base: int, entry: int, v: Any, depth: int, limit: int) -> None:
        """Write the value entry at ``entry`` for ``v``, found inside arrays ``depth`` deep (0: a slot)."""
        t = type(v)
        if t is str:
            b = encode_string(v)
            _pack_ref(buf, entry, TAG_STRING, len(buf) - base, len(b))
            buf += b
            if len(buf) > limit:
                raise _Fail(ErrorCode.TOO_LARGE)
        elif t is float:
            if v - v != 0.0:
                raise _Fail(ErrorCode.NOT_JSON_VALUE)
            _pack_number(buf, entry, TAG_NUMBER, 0, v)
        elif t is int:
            _pack_number(buf, entry, TAG_NUMBER, 0, _int_float(v))
        elif v is None:
            buf[entry] = TAG_NULL
        elif v is True:
            buf[entry] = TAG_TRUE
        elif v is False:
            buf[entry] = TAG_FALSE
        elif t is dict:
            buf[entry] = TAG_OBJECT
        elif t is list or t is tuple:
            self._array(buf, base, entry, v, depth + 1, limit)
        else:
            self._other(buf, base, entry, v, depth + 1, limit)

    def _array(self, buf: bytearray, base: int, entry: int, items: Any, depth: int, limit: int) -> None:
        if depth > MAX_ARRAY_DEPTH:
            raise _Fail(ErrorCode.TOO_DEEP)
        if type(items) is not tuple:
            # One snapshot for the count and the entries: a list that grows between len() and the
            # loop (another thread, a subclass) would write past the entries it has room for, over
            # strings already encoded, and a deny rule would read broken UTF-8 (fail open). Read
            # by iterating, as json.dumps reads a list or tuple subclass.
            items = tuple(items)
        n = len(items)
        pad = -(len(buf) - base) & 7
        if pad:
            buf += _ZERO8[:pad]
        run = len(buf)
        if run + ENTRY_SIZE * n > limit:
            raise _Fail(ErrorCode.TOO_LARGE)
        _pack_ref(buf, entry, TAG_ARRAY, run - base, n)
        buf += bytes(ENTRY_SIZE * n)
        for item in items:
            if type(item) is str:  # the common case, inline
                try:
                    b = item.encode()
                except UnicodeEncodeError:
                    b = encode_string(item)
                _pack_ref(buf, run, TAG_STRING, len(buf) - base, len(b))
                buf += b
                if len(buf) > limit:
                    raise _Fail(ErrorCode.TOO_LARGE)
            else:
                self._value(buf, base, run, item, depth, limit)
            run += ENTRY_SIZE

    def _other(self, buf: bytearray, base: int, entry: int, v: Any, depth: int, limit: int) -> None:
        """Subclasses of the JSON types; everything else is not JSON."""
        if isinstance(v, bool):  # pragma: no cover - bool cannot be subclassed
            buf[entry] = TAG_TRUE if v else TAG_FALSE
        elif isinstance(v, str):
            b = encode_string(str.__str__(v))
            _pack_ref(buf, entry, TAG_STRING, len(buf) - base, len(b))
            buf += b
            if len(buf) > limit:
                raise _Fail(ErrorCode.TOO_LARGE)
        elif isinstance(v, int):
            _pack_number(buf, entry, TAG_NUMBER, 0, _int_float(int.__int__(v)))  # its own value, as json.dumps writes it
        elif isinstance(v, float):
            f = float.__float__(v)
            if f - f != 0.0:
                raise _Fail(ErrorCode.NOT_JSON_VALUE)
            _pack_number(buf, entry, TAG_NUMBER, 0, f)
        elif isinstance(v, Mapping):
            buf[entry] = TAG_OBJECT
        elif isinstance(v, (list, tuple)):
            self._array(buf, base, entry, v, depth, limit)
        else:
            raise _Fail(ErrorCode.NOT_JSON_VALUE)

    def encode(self, action: Any) -> bytearray:
        """One record for ``action`` as a new ``bytearray`` (for tests and tools)."""
        buf = bytearray()
        self.append(buf, action)
        return buf


def _generate_append(encoder: "ActionEncoder", fields: List[Tuple[str, ...]]) -> Callable[[bytearray, Any], int]:
    """Python source for ``append(buf, action) -> status``, specialised to ``fields``."""
    lines = [
        "def append(buf, action):",
        "    base = len(buf)",
        "    if type(action) is not dict and not isinstance(action, Mapping):",
        f"        buf += _header_error({RECORD_HEADER}, {ErrorCode.NOT_OBJECT})",
        f"        return {ErrorCode.NOT_OBJECT}",
        "    buf += HEADER_ZERO",
        "    limit = base + LIMIT_OFFSET",
        "    try:",
        "        pass",
    ]
    names: Dict[Tuple[str, ...], str] = {(): "action"}
    consts: Dict[str, Any] = {}

    def const(value: Any) -> str:
        name = f"K{len(consts)}"
        consts[name] = value
        return name

    def container(prefix: Tuple[str, ...]) -> str:
        """A variable holding the mapping at ``prefix`` (or None when there is none)."""
        if prefix in names:
            return names[prefix]
        parent = container(prefix[:-1])
        name = f"m{len(names)}"
        names[prefix] = name
        key = const(prefix[-1])
        if parent == "action":
            lines.append(f"        {name} = action.get({key})")
        else:
            lines.append(f"        {name} = {parent}.get({key}) if {parent} is not None else None")
        lines.append(f"        if type({name}) is not dict and not isinstance({name}, Mapping):")
        lines.append(f"            {name} = None")
        return name

    for i, path in enumerate(fields):
        parent = container(path[:-1])
        key = const(path[-1])
        entry = f"base + {RECORD_HEADER + ENTRY_SIZE * i}"
        getter = (
            f"{parent}.get({key}, _ABSENT)"
            if parent == "action"
            else f"{parent}.get({key}, _ABSENT) if {parent} is not None else _ABSENT"
        )
        lines += [
            f"        v = {getter}",
            "        if v is not _ABSENT:",
            "            t = type(v)",
            "            if t is str:",
            "                try:",
            "                    b = v.encode()",
            "                except UnicodeEncodeError:",
            "                    b = encode_string(v)",
            f"                _pack_ref(buf, {entry}, {TAG_STRING}, len(buf) - base, len(b))",
            "                buf += b",
            "                if len(buf) > limit:",
            f"                    raise _Fail({ErrorCode.TOO_LARGE})",
            "            elif t is int:",
            f"                _pack_number(buf, {entry}, {TAG_NUMBER}, 0, _int_float(v))",
            "            elif t is float:",
            "                if v - v != 0.0:",
            f"                    raise _Fail({ErrorCode.NOT_JSON_VALUE})",
            f"                _pack_number(buf, {entry}, {TAG_NUMBER}, 0, v)",
            "            elif v is None:",
            f"                buf[{entry}] = {TAG_NULL}",
            "            elif t is list or t is tuple:",  # (value's own dispatch, skipped)
            f"                array(buf, base, {entry}, v, 1, limit)",
            "            else:",
            f"                value(buf, base, {entry}, v, 0, limit)",
        ]
    lines += [
        "    except _Fail as fail:",
        "        del buf[base:]",
        f"        buf += _header_error({RECORD_HEADER}, fail.status)",
        "        return fail.status",
        "    except RecursionError:",
        "        del buf[base:]",
        f"        buf += _header_error({RECORD_HEADER}, {ErrorCode.TOO_DEEP})",
        f"        return {ErrorCode.TOO_DEEP}",
        "    except Exception:  # a Mapping whose get() fails, or the like: not JSON",
        "        del buf[base:]",
        f"        buf += _header_error({RECORD_HEADER}, {ErrorCode.NOT_JSON_VALUE})",
        f"        return {ErrorCode.NOT_JSON_VALUE}",
        "    size = len(buf) - base",
        "    pad = -size & 7",
        "    if pad:",
        "        buf += ZERO8[:pad]",
        "        size += pad",
        "    _pack_u32(buf, base, size)",
        "    return 0",
    ]
    namespace: Dict[str, Any] = {
        "Mapping": Mapping,
        "_header_error": _header_error,
        "HEADER_ZERO": bytes(encoder.header_size),
        "LIMIT_OFFSET": encoder.header_size + MAX_DATA_BYTES,
        "_ABSENT": _ABSENT,
        "_pack_ref": _pack_ref,
        "_pack_number": _pack_number,
        "_pack_u32": _pack_u32,
        "_int_float": _int_float,
        "_Fail": _Fail,
        "encode_string": encode_string,
        "value": encoder._value,
        "array": encoder._array,
        "ZERO8": _ZERO8,
    }
    namespace.update(consts)
    exec(compile("\n".join(lines), f"<tollgate encoder for {len(fields)} fields>", "exec"), namespace)
    return namespace["append"]  # type: ignore[no-any-return]


def _int_float(v: int) -> float:
    try:
        return float(v)
    except OverflowError:  # 1e400 in JSON is Infinity in JavaScript: not JSON
        raise _Fail(ErrorCode.NOT_JSON_VALUE) from None


def error_record(status: int) -> bytes:
    """A header-only record carrying ``status``."""
    return _header_error(RECORD_HEADER, status)


def decode_record(record: bytes, fields: Sequence[Sequence[str]]) -> List[Any]:
    """Read a record back into Python values (``_ABSENT`` as ``...``); for tests."""
    size, status = struct.unpack_from("<II", record, 0)
    if status:
        raise ValueError(f"status {status}")
    assert size == len(record) and size % 8 == 0

    def entry(off: int) -> Any:
        tag = record[off]
        if tag == TAG_ABSENT:
            return ...
        if tag == TAG_NULL:
            return None
        if tag in (TAG_TRUE, TAG_FALSE):
            return tag == TAG_TRUE
        if tag == TAG_NUMBER:
            return struct.unpack_from("<d", record, off + 8)[0]
        if tag == TAG_STRING:
            o, n = struct.unpack_from("<II", record, off + 4)
            return bytes(record[o : o + n]).decode("utf-8")
        if tag == TAG_ARRAY:
            o, n = struct.unpack_from("<II", record, off + 4)
            assert o % 8 == 0
            return [entry(o + ENTRY_SIZE * i) for i in range(n)]
        if tag == TAG_OBJECT:
            return {}
        raise ValueError(f"bad tag {tag}")

    return [entry(RECORD_HEADER + ENTRY_SIZE * i) for i in range(len(fields))]


# Names before docs/abi.md's naming table; importing one warns (DeprecationWarning).
__getattr__ = deprecated_names(
    __name__,
    {
        "Encoder": ("ActionEncoder", lambda: ActionEncoder),
        "REASONS": ("ERROR_TEXT", lambda: ERROR_TEXT),
        "STATUS_NOT_JSON": ("ErrorCode.NOT_JSON", lambda: ErrorCode.NOT_JSON),
        "STATUS_NOT_OBJECT": ("ErrorCode.NOT_OBJECT", lambda: ErrorCode.NOT_OBJECT),
        "STATUS_TOO_LARGE": ("ErrorCode.TOO_LARGE", lambda: ErrorCode.TOO_LARGE),
        "STATUS_TOO_DEEP": ("ErrorCode.TOO_DEEP", lambda: ErrorCode.TOO_DEEP),
        "STATUS_MALFORMED": ("ErrorCode.MALFORMED", lambda: ErrorCode.MALFORMED),
        "STATUS_ENGINE_FAILED": ("ErrorCode.TRAP", lambda: ErrorCode.TRAP),
        "STATUS_NOT_JSON_VALUE": ("ErrorCode.NOT_JSON_VALUE", lambda: ErrorCode.NOT_JSON_VALUE),
    },
)
