"""Opening a log: find where the chain ends, verify it from the checkpoint (and against the witness), cut a torn tail."""

from __future__ import annotations

import calendar
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from ..jsonline import NotJson, parse_json_text
from .format import AuditError, AuditWarning, CHECKPOINT_FILE, GENESIS, _js_str, _MISSING, _TS
from .files import _text
from .chain import _Bad, _find_record, _list_segments, _record_at, segment_name, _split_lines, _walk_chain
from .keys import _Keys
from .checkpoint import _checkpoint_signature_valid
from .witness import _is_url, _read_witness


_ADVICE = (
    "nothing was written; run `tollgate audit verify DIR` to see the damage, "
    "and `tollgate audit seal DIR --reason TEXT` to continue past it deliberately"
)
"""What to do about a log that does not open: said as the Node host says it."""


def _refuse(dir: str, message: str, file: Optional[str], line: Optional[int]) -> AuditError:
    return AuditError(f"{message}; {_ADVICE}", file, line)


def _looks_like_json(line: bytes) -> bool:
    try:
        parse_json_text(_text(line))
        return True
    except NotJson:
        return False


def _last_record(dir: str, path: str, line: bytes, number: int) -> Tuple[int, str]:
    try:
        r = _record_at(path, number - 1, line)
    except _Bad as bad:
        raise _refuse(dir, f"the last record does not verify ({bad.message})", path, number) from None
    return r["seq"], r["hash"]


@dataclass
class _Tail:
    """Where the chain ends, found without writing anything (the cut is made once the log verified)."""

    segments: List[Tuple[str, int]]
    segment: str
    """The segment appends go to."""
    size: int
    """Its size after the cut."""
    last_seq: int
    last_hash: str
    created: bool
    kept: List[bytes]
    """The whole lines of the last segment that are kept."""
    cut: int = 0
    """Bytes to cut from the end of the last segment (a torn record, blocks a crash left unwritten)."""


def _find_tail(dir: str) -> _Tail:
    """As Node's ``recoverTail``, without writing: the torn tail to cut and where the chain ends."""
    segments = _list_segments(dir)
    if not segments:
        return _Tail(segments, segment_name(1), 0, 0, GENESIS, True, [])
    name, first_seq = segments[-1]
    path = os.path.join(dir, name)
    with open(path, "rb") as f:
        data = f.read()
    lines, torn = _split_lines(data)
    keep = len(lines)
    cut = len(torn) if torn is not None else 0
    while keep > 0 and not _looks_like_json(lines[keep - 1]):
        keep -= 1
        cut += len(lines[keep]) + 1
    size = len(data) - cut
    if keep > 0:
        seq, h = _last_record(dir, path, lines[keep - 1], keep)
        return _Tail(segments, name, size, seq, h, False, lines[:keep], cut)
    # An empty last segment: the chain ends in the segment before it.
    if len(segments) == 1:
        if first_seq != 1:
            raise _refuse(dir, "the only segment is empty but is not named for seq 1", path, None)
        return _Tail(segments, name, 0, 0, GENESIS, False, [], cut)
    prev_name, _ = segments[-2]
    prev_path = os.path.join(dir, prev_name)
    with open(prev_path, "rb") as f:
        plines, ptorn = _split_lines(f.read())
    if ptorn is not None or not plines:
        raise _refuse(dir, "a segment before the last is empty or ends in an incomplete record", prev_path, None)
    seq, h = _last_record(dir, prev_path, plines[-1], len(plines))
    if seq + 1 != first_seq:
        raise _refuse(dir, f"the empty last segment is named for seq {first_seq} but the chain ends at {seq}", path, None)
    return _Tail(segments, name, 0, seq, h, False, [], cut)


def _cut_tail(dir: str, tail: _Tail, warn: Callable[[AuditWarning], None]) -> None:
    """Truncates the last segment to what is kept (fsynced) and reports the cut."""
    if tail.cut == 0:
        return
    path = os.path.join(dir, tail.segments[-1][0])
    fd = os.open(path, os.O_RDWR)
    try:
        os.ftruncate(fd, tail.size)
        os.fsync(fd)
    finally:
        os.close(fd)
    keep = len(tail.kept)
    warn(
        AuditWarning(
            "torn-record",
            f"{path}:{keep + 1}: cut {tail.cut} bytes of an incomplete record left by a crash; the log continues after line {keep}",
            path,
            keep + 1,
            tail.cut,
        )
    )


CRASH_SLACK_MS = 60_000
"""How much longer than one checkpoint interval a crash's unsigned records may span (clock steps, a slow disk)."""


def _ts_ms(ts: object) -> Optional[int]:
    """Milliseconds since the epoch of a record's ``ts`` (``YYYY-MM-DDTHH:MM:SS.mmmZ``), else ``None``."""
    if type(ts) is not str or not _TS.fullmatch(ts):
        return None
    secs = calendar.timegm((int(ts[0:4]), int(ts[5:7]), int(ts[8:10]), int(ts[11:13]), int(ts[14:16]), int(ts[17:19]), 0, 0, 0))
    return secs * 1000 + int(ts[20:23])


def _check_from_checkpoint(dir: str, tail: _Tail, cp: Mapping, interval_ms: float = 1000) -> Optional[Tuple[int, int, int]]:
    """Verifies the log from the checkpoint's position to its end, as Node's ``checkFromCheckpoint``.

    The record at the checkpoint's seq must have its hash, and every record after it must be
    valid and linked (:func:`_walk_chain`); no seal may follow the checkpoint. The records after
    it may span at most ``max(interval_ms, 1000)`` plus 60 s (from the first one's ``ts``): a
    crash leaves no more unsigned, so a longer tail means an older checkpoint was put back (and
    what follows it rewritten). Returns the records after the checkpoint
    ``(first, last, count)``, or ``None``. Raises :class:`_Bad`.
    """
    where = os.path.join(dir, CHECKPOINT_FILE)
    seq, h = cp["seq"], cp["hash"]
    if seq == tail.last_seq:
        if h != tail.last_hash:
            raise _Bad(where, 1, f"the checkpoint's hash does not match record {seq}")
        return None  # the common case: a clean close signed the end
    segments = tail.segments
    start_segment, start_line, start_seq, start_prev = 0, 0, 1, GENESIS
    if seq > 0:
        idx = len(segments) - 1
        while idx > 0 and segments[idx][1] > seq:
            idx -= 1
        start_segment, start_line, start_seq, start_prev = idx, seq - segments[idx][1], seq, None
    elif h != GENESIS:
        raise _Bad(where, 1, "the checkpoint at seq 0 does not hold the genesis hash")
    interval = max(float(interval_ms), 1000.0)
    # A crash leaves unsigned only what was appended since the last checkpoint, and the timer
    # signs within one interval of the first of those becoming durable (after an idle spell, at
    # once): the unsigned records span about one interval. A longer span means an older
    # checkpoint was put back (and what follows it rewritten).
    first: List[Tuple[Mapping, Optional[int]]] = []
    late: List[Tuple[Mapping, str, int]] = []

    def each(r: Mapping, file: str, line: int) -> None:
        if late or r["seq"] <= seq:
            return
        if not first:
            first.append((r, _ts_ms(r["ts"])))
        start_ms, ms = first[0][1], _ts_ms(r["ts"])
        if start_ms is not None and ms is not None and ms > start_ms + interval + CRASH_SLACK_MS:
            late.append((r, file, line))

    walk = _walk_chain(dir, segments, start_segment, start_line, start_seq, start_prev, (seq,), tail.kept, each)
    if late:
        r, file, line = late[0]
        f, start_ms = first[0]
        assert start_ms is not None
        secs = math.floor((_ts_ms(r["ts"]) - start_ms) / 1000 + 0.5)  # JavaScript's Math.round
        raise _Bad(file, line,
                   f"the records after the checkpoint (seq {seq}) run from {f['ts']} (seq {f['seq']}) to {r['ts']} "
                   f"(seq {r['seq']}), {secs} s: more than a crash leaves unsigned (the checkpoint interval is "
                   f"{_js_str(interval)} ms, plus 60 s), so the checkpoint may have been replaced by an older one")
    if seq > 0:
        at = walk.at.get(seq)
        if at is None:
            raise _Bad(os.path.join(dir, segments[start_segment][0]), 1,
                       f"record {seq}, which the checkpoint covers, is not where its segment's name puts it")
        if at[0] != h:
            raise _Bad(at[1], at[2], f"record {seq} has hash {at[0]} but the checkpoint says {h}")
    for kind, r, file, line in walk.events:
        if kind == "seal" and r["seq"] > seq:
            raise _Bad(file, line, f"the seal record at seq {r['seq']} is not covered by the checkpoint (seq {seq})")
    if walk.last_seq != tail.last_seq or walk.last_hash != tail.last_hash:
        raise _Bad(where, 1, f"the chain ends at seq {walk.last_seq}, not at the last record (seq {tail.last_seq})")
    return seq + 1, tail.last_seq, tail.last_seq - seq


def _check_against_witness(dir: str, witness: str, tail: _Tail, keys: _Keys) -> None:
    """As Node's ``checkAgainstWitness``: the log must still hold the record the witness saw.

    A writer that continued a log cut back behind its witness would overwrite the evidence (a
    file witness holds the latest checkpoint only). A witness that does not exist yet is fine
    (first use: a file that is not there, a URL that answers 404); one that cannot be read
    otherwise is refused (:class:`AuditError` naming the witness): a writer that went on would
    overwrite what it holds. Reads only.
    """
    if not _is_url(witness) and not os.path.isdir(os.path.dirname(os.path.abspath(witness))):
        # Most likely a mount that is not there: a witness on the local disk instead would be none.
        raise AuditError(f"the witness's directory {os.path.dirname(os.path.abspath(witness))} does not exist", witness)
    w, err = _read_witness(witness, absent_ok=True)
    if w is None and err is None:
        return  # no witness file yet (first use): the first checkpoint creates it
    if w is None:
        raise AuditError(f"{err}; the log cannot be checked against its witness at open: "
                         "start when the witness is reachable, or without it", witness, None)
    if w["key_id"] != keys.key_id or not _checkpoint_signature_valid(w, keys.public_key):
        raise _refuse(dir, f"the witness holds a checkpoint that is not signed by this log's key ({w['key_id']})", witness, None)
    ws, wh = w["seq"], w["hash"]
    if ws > tail.last_seq:
        raise _refuse(dir, f"the log ends at seq {tail.last_seq} but the witness holds a checkpoint at seq {ws}: records were deleted", witness, None)
    if ws == 0:
        return
    found = _find_record(dir, ws)
    h = None if found is None else found[2].get("hash", _MISSING)
    if h != wh:
        said = "is missing" if h is None else f"has hash {'undefined' if h is _MISSING else _js_str(h)}"
        file, line = (found[0], found[1]) if found is not None else (witness, None)
        raise _refuse(dir, f"record {ws} {said} but the witness says {wh}", file, line)
