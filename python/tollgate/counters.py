"""The host's half of counters (spec section 8; docs/abi.md, "Counters").

A port of the Node host's ``src/counters.ts``: reads each counter's key from the encoded input
record (so that the host and the core agree on which keys are known), writes the stored window
sums into the counter region, and after ``evaluate`` reads back what the core decided to record
and the values a decision carries. No policy logic: the core evaluates ``when``, ``sum``, the
values and the rules.

The definition text and digest of a counter (:class:`CounterInfo`) are byte-identical to the
Node host's: state belongs to them (section 8, "Identity of state"), and audit records carry
the digest.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ._abi import (
    COUNTER_CONTRIBUTION_KNOWN,
    COUNTER_ENTRY_SIZE,
    COUNTER_KEY_KNOWN,
    COUNTER_RECORD,
    ENTRY_SIZE,
    RECORD_HEADER,
    TAG_NUMBER,
    TAG_STRING,
)
from .canonical import canonicalize
from .state.memory_store import CounterDefinition, _utf16_length, encode_key

__all__ = [
    "CounterInfo",
    "CounterEntry",
    "CounterRef",
    "CounterRegion",
    "carried_values",
    "counter_infos",
    "counter_definitions",
    "js_key_order",
    "js_number",
    "ref_text",
]

KeyPart = Union[str, int, float]
Key = List[KeyPart]

_f64 = struct.Struct("<d")
_u32x2 = struct.Struct("<II")
_KNOWN = COUNTER_KEY_KNOWN | COUNTER_CONTRIBUTION_KNOWN
_SAFE = 2.0**53


def js_number(x: float) -> Union[int, float]:
    """A double as Python holds what ``JSON.parse`` of JavaScript's text of it gives: an ``int``
    when it is integral and below 2**53 in magnitude (``-0`` is ``0``), else the float. So a
    decision's ``to_dict()`` prints through ``json.dumps`` as ``JSON.stringify`` prints it."""
    if x.is_integer() and -_SAFE < x < _SAFE:
        return int(x)
    return x


@dataclass(frozen=True)
class CounterInfo:
    """A counter of a policy (Node: ``CounterInfo``), from the core's policy table and the
    manifest (for ``when``)."""

    name: str
    window_ms: int
    per: Tuple[Tuple[str, ...], ...]
    """The parsed ``per`` paths (``()`` when absent: one key for all)."""
    sum: Optional[Tuple[str, ...]]
    """The parsed ``sum`` path, or None (each action counts 1)."""
    referenced: bool
    """Whether a rule reads it: a decision carries the value of every such counter."""
    definition: str
    """Definition as parsed (``per``, window, ``when`` with sorted keys, ``sum``), canonical
    JSON: state belongs to this and the name (section 8, identity of state)."""
    digest: str
    """A short digest of name and definition (16 hex digits), carried by audit records."""


def counter_infos(table: Sequence[Mapping[str, Any]], manifest: Any) -> List[CounterInfo]:
    """The counters of a policy, in the policy table's order (sorted by name)."""
    declared = manifest.get("counters") if isinstance(manifest, dict) else None
    if not isinstance(declared, dict):
        declared = {}
    out: List[CounterInfo] = []
    for c in table:
        name = c["name"]
        spec = declared.get(name)
        when = spec.get("when") if isinstance(spec, dict) else None
        per = [list(p) for p in c["per"]]
        total = None if c.get("sum") is None else list(c["sum"])
        # canonicalize sorts keys: key order never changes a condition's meaning.
        definition = canonicalize([per, c["window_ms"], when, total])
        digest = hashlib.sha256(canonicalize([name, definition]).encode("utf-8")).hexdigest()[:16]
        out.append(
            CounterInfo(
                name=name,
                window_ms=c["window_ms"],
                per=tuple(tuple(p) for p in per),
                sum=None if total is None else tuple(total),
                referenced=bool(c.get("referenced")),
                definition=definition,
                digest=digest,
            )
        )
    return out


def counter_definitions(counters: Sequence[CounterInfo]) -> List[CounterDefinition]:
    """What a :class:`~tollgate.state.MemoryCounterStore` keeps state by."""
    return [CounterDefinition(c.name, c.window_ms, c.definition) for c in counters]


def _is_array_index(key: str) -> bool:
    """A canonical array index (``"0"``, ``"12"``, below 2**32 - 1): JavaScript lists such object
    keys first, in ascending order."""
    if not key or len(key) > 10 or not key.isdigit() or not key.isascii():
        return False
    if key != "0" and key[0] == "0":
        return False
    return int(key) < 2**32 - 1


def js_key_order(keys: Sequence[str]) -> List[str]:
    """``keys`` in the order JavaScript's ``Object.keys`` lists an object built by inserting
    them in this order: array indexes first (ascending), then the others as inserted. The Node
    host reads a manifest's counters in this order ("declaration order"), and a decision's
    ``counters`` object is printed in it."""
    index = sorted((k for k in keys if _is_array_index(k)), key=int)
    return index + [k for k in keys if not _is_array_index(k)]


class CounterEntry(NamedTuple):
    """A contribution the core marked for recording (allowed, or pending on an escalation)."""

    counter: str
    key: Key
    amount: Union[int, float]


class CounterRef(NamedTuple):
    """A counter and key whose window sum a decision reads."""

    counter: str
    key: Key


class _NoText(Exception):
    """A key with a part encode_key refuses."""


def _read_key(record: Union[bytes, bytearray, memoryview], entries: Iterable[int], base: int) -> Optional[Key]:
    """The key whose parts are the value entries at ``entries`` of the encoded record at ``base``
    of ``record``, or None when it is UNKNOWN (a part absent or neither a string nor a number)."""
    key: Key = []
    for e in entries:
        tag = record[e]
        if tag == TAG_NUMBER:
            x = _f64.unpack_from(record, e + 8)[0]
            key.append(int(x) if x.is_integer() and -_SAFE < x < _SAFE else x)
        elif tag == TAG_STRING:
            off, length = _u32x2.unpack_from(record, e + 4)
            start = base + off
            key.append(bytes(record[start : start + length]).decode("utf-8", "replace"))
        else:
            return None
    return key


def _key_and_text(record: bytearray, entries: Tuple[int, ...]) -> Tuple[Optional[Key], Optional[str]]:
    """The key at record entries ``entries`` (as :meth:`CounterRegion.key_at`) and its text."""
    key = _read_key(record, entries, 0)
    if key is None:
        return None, None
    try:
        return key, encode_key(key)
    except TypeError:
        raise _NoText() from None


# Names the code of read_source and sum_source uses (the namespace of the code they are part of).
READ_NAMESPACE: Dict[str, Any] = {}


def read_source(region: "CounterRegion", with_keys: bool) -> List[str]:
    """Lines (in a function, indented by 4) that set, per group of counters ``g``, ``t{g}`` to the
    text of its key in the encoded record ``record`` at offset 0 (None when UNKNOWN) and, when
    ``with_keys``, ``k{g}`` to the key; ``return None`` when a key has no text. Names in
    :data:`READ_NAMESPACE`."""
    groups = [tuple(RECORD_HEADER + slot * ENTRY_SIZE for slot in g) for g in region.groups]
    src = ["    try:", "        pass"]
    for g, entries in enumerate(groups):
        if len(entries) == 1:
            e = entries[0]
            src += [
                f"        tag = record[{e}]",
                f"        if tag == {TAG_STRING}:",
                f"            off, length = unpack_u32x2(record, {e + 4})",
                "            v = record[off : off + length].decode('utf-8', 'replace')",
                f"            k{g} = [v]" if with_keys else "            pass",
                f"            t{g} = f's{{len(v) if v.isascii() else utf16_length(v)}}:{{v}}'",
                f"        elif tag == {TAG_NUMBER}:",
                f"            k{g}, t{g} = key_and_text(record, {entries!r})",
                "        else:",
                f"            k{g} = t{g} = None",
            ]
        else:
            src.append(f"        k{g}, t{g} = key_and_text(record, {entries!r})")
    src += ["    except NoText:", "        return None"]
    return src


def sum_source(region: "CounterRegion") -> List[str]:
    """Lines (in a function, indented by 4, after :func:`read_source`'s) that set ``s{i}`` to the
    window sum of counter ``i`` at ``t`` in ``store`` (``b{i}``: that store's ``buckets`` of the
    counter), 0.0 when it is not referenced or its key is UNKNOWN, moving the store's clock to
    ``t`` when a referenced counter has a known key (as ``MemoryCounterStore._advance``, its work
    skipped when it has none: no expiry due, the clock below its ``_evict_at``)."""
    counters = region.counters
    group_of = region.group_of
    src = [f"    s{i} = 0.0" for i in range(len(counters))]
    reads = [i for i, c in enumerate(counters) if c.referenced]
    if not reads:
        return src
    read_groups = sorted({group_of[i] for i in reads})
    src += [
        f"    if {' or '.join(f't{g} is not None' for g in read_groups)}:",
        "        if t > store._now:",
        "            heap = store._heap",
        "            if t < store._evict_at and not (heap and heap[0].expires_at <= t):",
        "                store._now = t",
        "            else:",
        "                store._advance(t)",
    ]
    for g in read_groups:
        src.append(f"        if t{g} is not None:")
        for i in reads:
            if group_of[i] == g:
                # MemoryCounterStore.sum (its _Bucket.value, kept in val)
                src += [
                    f"            b = b{i}.get(t{g})",
                    "            if b is not None:",
                    f"                s{i} = b.val",
                ]
    return src


def _generate_hot_path(
    region: "CounterRegion",
) -> Tuple[Callable[..., Any], Callable[..., Any], Optional[Callable[..., Any]], Callable[..., Any], Callable[..., Any]]:
    """The policy's own code for a step against a MemoryCounterStore (``Policy.step``'s hot
    path), straight-line Python made from its counters (as the encoder is made from its fields):

    - ``read_sums(record, store, buckets, t)``: per group of counters with the same ``per``
      paths (:attr:`CounterRegion.groups`), the key in the encoded record at offset 0 (as
      :meth:`CounterRegion.key_at` reads it; None when UNKNOWN) and its text (``encode_key``),
      each read and encoded once (a key of one string inline: ``per: [agent.id]``); then, the
      store's clock moved to ``t`` when a referenced counter has a known key, the window sum of
      each referenced counter (``buckets``: its store's ``buckets`` per counter), 0.0 for the
      others. Returns ``(keys, texts, sums)``, or None when a key has no text (a number part that
      is not finite: the caller takes the path that reports it where it did). The store's clock
      moves as :meth:`MemoryCounterStore._advance` moves it, its work skipped when it has none
      (no expiry due, the clock below its ``_evict_at``).
    - ``read_texts(record, store, buckets, t)``: the same without the keys: ``(texts, sums)``
      (``Policy.evaluate`` has no use for the keys; :meth:`CounterRegion.group_keys` reads them).
    - ``put_sums(doubles, sums)``: writes them at offset 8 of each counter's entry, ``doubles``
      being memory as doubles (None when the region is not 8-byte aligned: write_sums then).
    - ``collect(table, texts, slots)``: after evaluate, from :meth:`CounterRegion.read`'s tuple,
      what the store records of the contributions the core marked for recording: ``(slot, key
      text, amount)`` for the non-zero amounts; None when the core marked none.
    - ``entries(table, keys)`` (:attr:`CounterRegion.group_entries`): those contributions, as
      :meth:`CounterRegion.entries` gives them, from the keys per group.
    """
    counters = region.counters
    groups = [tuple(RECORD_HEADER + slot * ENTRY_SIZE for slot in g) for g in region.groups]
    group_of = region.group_of
    n = len(counters)
    ks = "".join(f"k{g}, " for g in range(len(groups)))
    ts = "".join(f"t{g}, " for g in range(len(groups)))
    ns: Dict[str, Any] = {
        **READ_NAMESPACE,
        "new_tuple": tuple.__new__,
        "CounterEntry": CounterEntry,
        "SAFE": _SAFE,
    }
    for i, c in enumerate(counters):
        ns[f"name{i}"] = c.name
        ns[f"unknown{i}"] = f"counter '{c.name}': the core recorded a contribution for an unknown key"

    # read_sums, and read_texts (the same without the keys: evaluate has no use for them)
    src: List[str] = []
    for with_keys in (True, False):
        src.append(f"def {'read_sums' if with_keys else 'read_texts'}(record, store, buckets, t):")
        src += read_source(region, with_keys)
        src.append(f"    {''.join(f'b{i}, ' for i in range(n))}= buckets" if n else "    pass")
        src += sum_source(region)
        sums = f"({''.join(f's{i}, ' for i in range(n))})"
        src.append(f"    return [{ks}], [{ts}], {sums}" if with_keys else f"    return [{ts}], {sums}")

    # put_sums
    put = region.region + 8
    if put % 8 == 0:
        src.append("def put_sums(doubles, sums):")
        src.append(f"    {''.join(f's{i}, ' for i in range(n))}= sums" if n else "    pass")
        for i in range(n):
            src.append(f"    doubles[{(put + i * COUNTER_ENTRY_SIZE) // 8}] = s{i}")

    # collect: what the store records (the entries are made only when asked for: evaluate does not)
    src += [
        "def collect(table, texts, slots):",
        f"    if not ({' or '.join(f'table[{4 * i}] & {COUNTER_RECORD}' for i in range(n))}):",
        "        return None",
        f"    {ts}= texts" if groups else "    pass",
        "    items = []",
    ]
    for i in range(n):
        g = group_of[i]
        src += [
            f"    if table[{4 * i}] & {COUNTER_RECORD}:",
            f"        if t{g} is None:",  # (a key has a text exactly when it is known)
            f"            raise RuntimeError(unknown{i})",
            f"        x = table[{4 * i + 2}]",
            "        if x != 0:",
            f"            items.append((slots[{i}], t{g}, x))",
        ]
    src.append("    return items")

    # entries: CounterRegion.entries, with the keys per group
    src += ["def entries(table, keys):", f"    {ks}= keys" if groups else "    pass", "    out = []"]
    shared = {g for g in range(len(groups)) if sum(1 for x in group_of if x == g) > 1}
    for g in sorted(shared):
        src.append(f"    used{g} = False")
    for i in range(n):
        g = group_of[i]
        key = f"k{g}"
        if g in shared:
            # each entry its own list, as CounterRegion.entries gives them (a group shares the text)
            key = f"(list(k{g}) if used{g} else k{g})"
        src += [
            f"    if table[{4 * i}] & {COUNTER_RECORD}:",
            f"        if k{g} is None:",
            f"            raise RuntimeError(unknown{i})",
            f"        x = table[{4 * i + 2}]",
            f"        out.append(new_tuple(CounterEntry, (name{i}, {key}, int(x) if x.is_integer() and -SAFE < x < SAFE else x)))",
        ]
        if g in shared:
            src.append(f"        used{g} = True")
    src.append("    return out")
    exec(compile("\n".join(src), f"<tollgate counters hot path for {n} counters>", "exec"), ns)
    return ns["read_sums"], ns["read_texts"], ns.get("put_sums"), ns["collect"], ns["entries"]


READ_NAMESPACE.update(
    unpack_u32x2=_u32x2.unpack_from, utf16_length=_utf16_length, key_and_text=_key_and_text, NoText=_NoText
)


def carried_values(carried: Sequence[Tuple[str, int]]) -> Callable[[Tuple[Any, ...]], Dict[str, Optional[Union[int, float]]]]:
    """``values(table)``: from :meth:`CounterRegion.read`'s tuple, the ``counters`` object of a
    decision (:meth:`CounterRegion.value` of each carried counter, by name, in this order), as
    straight-line code with the names as keys."""
    ns: Dict[str, Any] = {"SAFE": _SAFE}
    src = ["def values(table):"]
    for k, (name, i) in enumerate(carried):
        ns[f"name{k}"] = name
        src += [
            f"    if table[{4 * i}] & {_KNOWN} != {_KNOWN}:",
            f"        v{k} = None",
            "    else:",
            f"        x = table[{4 * i + 3}]",
            f"        v{k} = int(x) if x.is_integer() and -SAFE < x < SAFE else x",
        ]
    src.append("    return {" + ", ".join(f"name{k}: v{k}" for k in range(len(carried))) + "}")
    exec(compile("\n".join(src), f"<tollgate counter values for {len(carried)} counters>", "exec"), ns)
    return ns["values"]  # type: ignore[no-any-return]


class CounterRegion:
    """Reads keys from records and exchanges the counter region with one core instance."""

    __slots__ = (
        "counters", "per_slots", "region", "size", "_table", "group_of", "groups",
        "read_sums", "read_texts", "put_sums", "collect", "group_entries",
    )

    def __init__(self, counters: Sequence[CounterInfo], fields: Sequence[Sequence[str]], region: int) -> None:
        self.counters = tuple(counters)
        slot_of = {tuple(f): i for i, f in enumerate(fields)}
        per_slots: List[Tuple[int, ...]] = []
        for c in counters:
            slots = []
            for p in c.per:
                slot = slot_of.get(tuple(p))
                if slot is None:
                    raise RuntimeError(f"the core's field table lacks counter '{c.name}''s per path {list(p)}")
                slots.append(slot)
            per_slots.append(tuple(slots))
        self.per_slots = tuple(per_slots)
        # Counters with the same `per` paths share one key: read and encoded once per record
        # (read_sums), as the Node host's groupOf.
        group_index: Dict[Tuple[int, ...], int] = {}
        self.group_of = tuple(group_index.setdefault(s, len(group_index)) for s in self.per_slots)
        self.groups = tuple(group_index)
        self.region = region
        self.size = COUNTER_ENTRY_SIZE * len(self.counters)
        # Every entry at once: flags, the sum, the contribution and the value, per counter.
        self._table = struct.Struct("<" + "B7xddd" * len(self.counters))
        # The hot path's functions (_generate_hot_path), made for these counters and this region.
        self.read_sums, self.read_texts, self.put_sums, self.collect, self.group_entries = _generate_hot_path(self)

    def key_at(self, record: Union[bytes, bytearray, memoryview], i: int, base: int = 0) -> Optional[Key]:
        """The key of counter ``i`` in the encoded record at ``base`` of ``record``, or None when it
        is UNKNOWN (a ``per`` value absent or neither a string nor a number)."""
        return _read_key(record, (base + RECORD_HEADER + slot * ENTRY_SIZE for slot in self.per_slots[i]), base)

    def group_keys(self, record: Union[bytes, bytearray, memoryview]) -> List[Optional[Key]]:
        """Per group of counters (:attr:`groups`), the key in the encoded record at offset 0, as
        :meth:`read_sums` gives them (None when UNKNOWN)."""
        return [_read_key(record, (RECORD_HEADER + slot * ENTRY_SIZE for slot in g), 0) for g in self.groups]

    def write_sums(self, view: memoryview, sums: Sequence[float]) -> None:
        """Writes the stored window sum of every counter (offset 8 of its entry)."""
        at = self.region + 8
        for s in sums:
            _f64.pack_into(view, at, s)
            at += COUNTER_ENTRY_SIZE

    def read(self, view: memoryview) -> Tuple[Any, ...]:
        """The region after ``evaluate``: per counter, flags, sum, contribution and value (read
        them with :meth:`value` and :meth:`entries`)."""
        return self._table.unpack_from(view, self.region)

    @staticmethod
    def value(region: Tuple[Any, ...], i: int) -> Optional[Union[int, float]]:
        """The value of counter ``i`` for the decided record, or None when UNKNOWN."""
        if region[4 * i] & _KNOWN != _KNOWN:
            return None
        return js_number(region[4 * i + 3])

    def entries(self, region: Tuple[Any, ...], keys: Sequence[Optional[Key]]) -> List[CounterEntry]:
        """The contributions the core marked for recording, with their keys."""
        out: List[CounterEntry] = []
        for i, c in enumerate(self.counters):
            if region[4 * i] & COUNTER_RECORD == 0:
                continue
            key = keys[i]
            if key is None:
                raise RuntimeError(f"counter '{c.name}': the core recorded a contribution for an unknown key")
            out.append(CounterEntry(c.name, key, js_number(region[4 * i + 2])))
        return out


def ref_text(counter: str, key: Sequence[KeyPart]) -> str:
    """``counter`` + encoded key: one text per (counter, key), as the Node host's ``refText``."""
    return f"{counter}\u0000{encode_key(key)}"
