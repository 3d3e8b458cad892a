"""Segments and the hash chain: segment names, reading and checking records, walking the chain, the seal's prefix."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ..jsonline import NotJson, parse_json_text
from .format import _SEGMENT
from .record import _event, parse_record
from .files import _text


def segment_name(first_seq: int) -> str:
    """``audit-<first seq, 20 digits>.jsonl``."""
    return f"audit-{first_seq:020d}.jsonl"


def _list_segments(dir: str) -> List[Tuple[str, int]]:
    out = []
    for name in os.listdir(dir):
        m = _SEGMENT.fullmatch(name)
        if m:
            out.append((name, int(m.group(1))))
    out.sort()
    return out


def _split_lines(data: bytes) -> Tuple[List[bytes], Optional[bytes]]:
    """Whole lines (without ``\\n``) and the torn remainder, if any."""
    if not data:
        return [], None
    lines = data.split(b"\n")
    last = lines.pop()
    return lines, (last if last else None)


class _Bad(Exception):
    """A finding: ``file``, ``line``, ``message`` (as verify prints it)."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


def _record_at(file: str, index: int, raw: bytes) -> Dict[str, Any]:
    """The verified record of line ``index`` (0-based) of ``file``: strict UTF-8, canonical, hash right."""
    try:
        text = raw.decode("utf-8")  # strict: a line with invalid bytes is never read with U+FFFD
    except UnicodeDecodeError:
        raise _Bad(file, index + 1, "line is not valid UTF-8") from None
    r, err = parse_record(text)
    if r is None:
        raise _Bad(file, index + 1, err or "bad record")
    return r


@dataclass
class _Walk:
    """What :func:`_walk_chain` saw (as Node's ``ChainWalk``)."""

    records: int
    last_seq: int
    last_hash: Optional[str]
    end: Optional[Tuple[str, int]] = None
    at: Dict[int, Tuple[str, str, int]] = field(default_factory=dict)
    """seq -> (hash, file, line) of the records asked for."""
    events: List[Tuple[str, Dict[str, Any], str, int]] = field(default_factory=list)
    """(kind, record, file, line) of each event record walked, in order."""
    segment_starts: List[Tuple[int, str, int]] = field(default_factory=list)
    """(seq, file, 0-based line) where each segment walked starts being walked."""

    def place_of(self, seq: int) -> Optional[Tuple[str, int]]:
        """Where record ``seq`` is, for a seq within the walk (its records are consecutive)."""
        for first_seq, file, first_line in reversed(self.segment_starts):
            if first_seq <= seq:
                return file, first_line + (seq - first_seq) + 1
        return None


def _walk_chain(
    dir: str,
    segments: Sequence[Tuple[str, int]],
    start_segment: int,
    start_line: int,
    start_seq: int,
    start_prev: Optional[str],
    want: Iterable[int] = (),
    last_lines: Optional[List[bytes]] = None,
    each: Optional[Callable[[Dict[str, Any], str, int], None]] = None,
) -> _Walk:
    """Walks every record from a start to the end of the log, as Node's ``walkChain``; raises :class:`_Bad`.

    Each line must be valid UTF-8, a canonical record whose hash is right, with ``seq`` + 1 and
    ``prev`` the previous hash (``start_prev`` ``None``: the first one's ``prev`` is taken as
    given); segment names must continue the seqs, only the last segment may be empty, no last
    line may be incomplete, and a seal may only be the first record walked.
    ``last_lines``: the last segment's whole lines, instead of reading it (open, before its cut).
    ``each``: called with every record walked once it links (the record, its file, its 1-based line).
    """
    wanted = set(want)
    expected = start_seq
    prev = start_prev
    walk = _Walk(0, start_seq - 1, prev)
    for s in range(start_segment, len(segments)):
        name, first_seq = segments[s]
        file = os.path.join(dir, name)
        first = start_line if s == start_segment else 0
        if first == 0 and first_seq != expected:
            raise _Bad(file, 1, f"segment is named for seq {first_seq} but the previous segment ends at seq {expected - 1}")
        if last_lines is not None and s == len(segments) - 1:
            lines, torn = last_lines, None
        else:
            with open(file, "rb") as f:
                lines, torn = _split_lines(f.read())
        if not lines and s < len(segments) - 1:
            raise _Bad(file, 1, "empty segment before the last one")
        walk.segment_starts.append((expected, file, first))
        for i in range(first, len(lines)):
            r = _record_at(file, i, lines[i])
            if r["seq"] != expected:
                raise _Bad(file, i + 1, f"first record of the segment has seq {r['seq']}; expected {expected}"
                           if i == 0 else f"seq {r['seq']} follows seq {expected - 1}")
            if prev is not None and r["prev"] != prev:
                if i == 0 and s > 0:
                    raise _Bad(file, i + 1, f"prev does not link to the last record of {segments[s - 1][0]} ({prev})")
                raise _Bad(file, i + 1, f"prev {r['prev']} is not the previous record's hash {prev}")
            kind = _event(r)
            if kind is not None:
                if kind == "seal" and (i != 0 or walk.records > 0):
                    raise _Bad(file, i + 1, "a seal record that does not start the checked part of the log "
                               "(it must be the first line of its segment, and the latest seal)")
                walk.events.append((kind, r, file, i + 1))
            if r["seq"] in wanted:
                walk.at[r["seq"]] = (r["hash"], file, i + 1)
            if each is not None:
                each(r, file, i + 1)
            prev = r["hash"]
            expected += 1
            walk.records += 1
            walk.end = (file, i + 1)
        if torn is not None:
            raise _Bad(file, len(lines) + 1, "incomplete last record (cut short by a crash; opening the log repairs it)")
    walk.last_seq = expected - 1
    walk.last_hash = prev
    return walk


def _first_line(path: str) -> Optional[bytes]:
    """The first line of a file (without ``\\n``; all of it if it has none); ``None`` for an empty file."""
    with open(path, "rb") as f:
        line = f.readline()
    if not line:
        return None
    return line[:-1] if line.endswith(b"\n") else line


def _latest_seal(dir: str, segments: Sequence[Tuple[str, int]]) -> Optional[Tuple[int, Dict[str, Any]]]:
    """The latest segment whose first line is a (valid) seal record, with that record; as Node's ``latestSeal``."""
    for s in range(len(segments) - 1, -1, -1):
        raw = _first_line(os.path.join(dir, segments[s][0]))
        if raw is None:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        r, _ = parse_record(text)
        if r is not None and _event(r) == "seal":
            return s, r
    return None


def prefix_digest(dir: str, names: Sequence[str]) -> Tuple[int, int, str]:
    """``(segments, bytes, sha256 hex)`` of a seal's prefix: for each segment, ``name "\\n" size "\\n" bytes``."""
    h = hashlib.sha256()
    total = 0
    for name in names:
        with open(os.path.join(dir, name), "rb") as f:
            data = f.read()
        h.update(f"{name}\n{len(data)}\n".encode("utf-8"))
        h.update(data)
        total += len(data)
    return len(names), total, h.hexdigest()


def _find_record(dir: str, seq: int) -> Optional[Tuple[str, int, Any]]:
    """``(file, line, parsed JSON)`` of the line holding record ``seq``, found through the segment names
    (as Node's ``findRecord``: read leniently, whole lines only, the line the name puts it on first)."""
    segments = _list_segments(dir)
    s = len(segments) - 1
    while s >= 0 and segments[s][1] > seq:
        s -= 1
    if s < 0:
        return None
    file = os.path.join(dir, segments[s][0])
    with open(file, "rb") as f:
        lines, _torn = _split_lines(f.read())
    guess = seq - segments[s][1]
    order = [guess, *range(len(lines))] if guess < len(lines) else range(len(lines))
    for i in order:
        try:
            r = parse_json_text(_text(lines[i]))
        except NotJson:
            continue
        if type(r) is dict and type(r.get("seq")) in (int, float) and r["seq"] == seq:
            return file, i + 1, r
    return None
