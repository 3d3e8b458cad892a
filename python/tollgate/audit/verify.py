"""Verification: :func:`verify_log`, as ``tollgate audit verify`` (Node) does it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from ..jsonline import NotJson, parse_json_text
from .format import CHECKPOINT_FILE, GENESIS, _js_str, _MISSING, PUBLIC_KEY_FILE, Recovered, Seal, VerifyResult
from .files import _text
from .chain import _Bad, _latest_seal, _list_segments, prefix_digest, _split_lines, _walk_chain
from .keys import _key_id, parse_public_key
from .checkpoint import _checkpoint_signature_valid, _read_checkpoint
from .witness import _read_witness


def verify_log(
    dir: Union[str, "os.PathLike[str]"],
    public_key: Any = None,
    *,
    witness: Union[str, "os.PathLike[str]", None] = None,
    allow_unsigned_tail: bool = False,
) -> VerifyResult:
    """Verifies the log in ``dir`` as ``tollgate audit verify`` does; stops at the first problem.

    Reads the segments as bytes (a line that is not valid UTF-8 is an error). If the log was
    sealed, the latest seal's prefix digest must match the segments before it and checking
    starts at the seal. Checks every record from there (nine keys, types, canonical form,
    hash), ``seq`` continuity and ``prev`` links (across segments), segment names, that no last
    line is incomplete, and the checkpoint: signed by ``public_key`` (SPKI PEM text or bytes, a
    path, or a cryptography Ed25519 public key; default the directory's ``audit.pub``),
    ``key_id`` matching, the log reaching its ``seq`` with its ``hash``, covering the latest seal.

    ``witness``: a file path or an ``http(s)://`` URL (read with GET) holding a checkpoint: it
    must be signed by the same key and the log must still hold the record at its seq with its
    hash; records up to its seq count as signed. Records after the last signed position are an
    unsigned tail: an error unless ``allow_unsigned_tail`` (then reported in ``unsigned_tail``).

    Reads only. The result is true when the log verifies; otherwise ``file``, ``line`` and
    ``message`` name the first problem.
    """
    dir = os.fspath(dir)
    if not os.path.exists(dir):
        return VerifyResult(False, file=dir, line=1, message="no such directory")
    if not os.path.isdir(dir):
        return VerifyResult(False, file=dir, line=1, message="not a directory")
    try:
        return _verify(dir, public_key, None if witness is None else os.fspath(witness), allow_unsigned_tail)
    except _Bad as bad:
        return VerifyResult(False, file=bad.file, line=bad.line, message=bad.message)


def _signature_problem(c: Mapping, key: Any, kid: str, what: str) -> Optional[str]:
    if c["key_id"] != kid:
        return f"{what} was signed by key {c['key_id']}, not by the given public key ({kid})"
    if not _checkpoint_signature_valid(c, key):
        return f"{what} signature does not verify"
    return None


def _js_json(v: Any) -> str:
    """``JSON.stringify(v)`` for a parsed JSON value (``undefined`` for a missing one)."""
    if v is _MISSING:
        return "undefined"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _verify(dir: str, public_key: Any, witness: Optional[str], allow_unsigned_tail: bool) -> VerifyResult:
    """:func:`verify_log` after the directory checks, in the order of Node's ``verifyLog``; raises :class:`_Bad`."""
    segments = _list_segments(dir)
    cp_path = os.path.join(dir, CHECKPOINT_FILE)
    cp, err = _read_checkpoint(dir)
    if err is not None:
        raise _Bad(cp_path, 1, err)

    try:
        if public_key is None:
            if cp is None and not segments:
                raise _Bad(dir, 1, "no audit log here (no segments, no checkpoint)")
            with open(os.path.join(dir, PUBLIC_KEY_FILE), "rb") as f:
                key = parse_public_key(f.read())
        elif isinstance(public_key, (str, bytes)):
            key = parse_public_key(public_key)
        elif isinstance(public_key, os.PathLike):
            with open(public_key, "rb") as f:
                key = parse_public_key(f.read())
        else:
            key = public_key
        kid = _key_id(key)
    except _Bad:
        raise
    except Exception as e:
        where = os.path.join(dir, PUBLIC_KEY_FILE) if public_key is None else "<public key>"
        raise _Bad(where, 1, f"cannot read the public key: {e}") from None

    w: Optional[Dict[str, Any]] = None
    if witness is not None:
        w, werr = _read_witness(witness)
        if w is None:
            raise _Bad(witness, 1, werr or "the witness holds no checkpoint")
        problem = _signature_problem(w, key, kid, "the witness's checkpoint")
        if problem:
            raise _Bad(witness, 1, problem)

    # A sealed log is checked from its latest seal; the segments before it must be as sealed.
    latest = _latest_seal(dir, segments)
    start_segment, start_seq, start_prev = 0, 1, GENESIS
    seal: Optional[Seal] = None
    witness_in_prefix: Optional[str] = None
    witness_found = False
    if latest is not None:
        index, rec = latest
        ev = rec["decision"]
        seal_file = os.path.join(dir, segments[index][0])
        before = [n for n, _ in segments[:index]]
        k, b, digest = prefix_digest(dir, before)
        if w is not None and 1 <= w["seq"] < rec["seq"]:
            found = _find_in_prefix(dir, segments[:index], w["seq"])
            if found is not None:
                witness_found, witness_in_prefix = True, found
        sealed = ev.get("prefix", _MISSING)
        if (
            type(sealed) is not dict
            or sealed.get("sha256") != digest
            or not _same_number(sealed.get("segments"), k)
            or not _same_number(sealed.get("bytes"), b)
        ):
            raise _Bad(seal_file, 1, (
                f"the {len(before)} segments before the seal at seq {rec['seq']} are not those it sealed "
                f"({k} segments, {b} bytes, sha256 {digest}; sealed: {_js_json(sealed)}): they were changed after the seal"
            ))
        seal = Seal(rec["seq"], rec["ts"], _js_str(ev.get("reason")), _js_str(ev.get("by")), _js_str(ev.get("found")), sealed)
        start_segment, start_seq, start_prev = index, rec["seq"], None

    want = set()
    if cp is not None:
        want.add(cp["seq"])
    if w is not None:
        want.add(w["seq"])
    walk = _walk_chain(dir, segments, start_segment, 0, start_seq, start_prev, want)
    last_seq = walk.last_seq
    end_at = f" ({walk.end[0]}:{walk.end[1]})" if walk.end is not None else ""

    # The checkpoint: signed by the right key, not ahead of the log, covering the latest seal.
    if cp is None:
        raise _Bad(cp_path, 1, "checkpoint.json is missing")
    problem = _signature_problem(cp, key, kid, "checkpoint")
    if problem:
        raise _Bad(cp_path, 1, problem)
    if cp["seq"] > last_seq:
        raise _Bad(cp_path, 1, f"the log ends at seq {last_seq}{end_at} but the checkpoint covers seq {cp['seq']}: records were deleted")
    if seal is not None and cp["seq"] < seal.seq:
        raise _Bad(cp_path, 1, f"the checkpoint covers seq {cp['seq']}, before the seal at seq {seal.seq}: the seal is not signed")
    if cp["seq"] == 0:
        if cp["hash"] != GENESIS:
            raise _Bad(cp_path, 1, "checkpoint at seq 0 does not hold the genesis hash")
    else:
        h, file, line = walk.at[cp["seq"]]
        if h != cp["hash"]:
            raise _Bad(file, line, f"record {cp['seq']} has hash {h} but the checkpoint says {cp['hash']}")

    # The witness: the log must still hold what it saw.
    signed = cp["seq"]
    if w is not None:
        assert witness is not None
        ws, wh = w["seq"], w["hash"]
        if ws > last_seq:
            raise _Bad(witness, 1, f"the log ends at seq {last_seq}{end_at} but the witness holds a checkpoint at seq {ws}: "
                       "records were deleted (or the log was cut back to an older checkpoint)")
        if seal is not None and ws < seal.seq:
            if ws > 0 and (not witness_found or witness_in_prefix != wh):
                holds = "does not hold it" if not witness_found else f"holds it with hash {witness_in_prefix}"
                raise _Bad(witness, 1, f"the witness holds record {ws} with hash {wh}, but the sealed part of the log before seq {seal.seq} {holds}")
        elif ws == 0:
            if wh != GENESIS:
                raise _Bad(witness, 1, "the witness's checkpoint at seq 0 does not hold the genesis hash")
        else:
            h, file, line = walk.at[ws]
            if h != wh:
                raise _Bad(file, line, f"record {ws} has hash {h} but the witness says {wh}")
            signed = max(signed, ws)

    # Records after every signature: reported, and a failure unless allowed.
    unsigned = last_seq - signed
    if unsigned > 0 and not allow_unsigned_tail:
        file, line = walk.place_of(signed + 1) or (cp_path, 1)
        raise _Bad(file, line, (
            f"{unsigned} record{' is' if unsigned == 1 else 's are'} not covered by a signature: seq {signed + 1}..{last_seq}, "
            f"after the last signed checkpoint (seq {signed}); written in the writer's last checkpoint interval, "
            f"or forged without the key (--allow-unsigned-tail accepts them)"
        ))

    recovered = []
    for kind, r, _, _ in walk.events:
        if kind == "recover":
            u = r["decision"].get("unsigned")
            u = u if type(u) is dict else {}
            recovered.append(Recovered(r["seq"], u.get("first"), u.get("last"), u.get("count")))
    return VerifyResult(True, records=walk.records, segments=len(segments), checkpoint_seq=cp["seq"],
                        unsigned_tail=unsigned, seal=seal, recovered=tuple(recovered), witness_seq=None if w is None else w["seq"])


def _same_number(v: Any, n: int) -> bool:
    return type(v) in (int, float) and v == n


def _find_in_prefix(dir: str, segments: Sequence[Tuple[str, int]], seq: int) -> Optional[str]:
    """The ``hash`` of the first line of a seal's prefix (in name order) whose ``seq`` is ``seq``, as Node reads it.

    The prefix was accepted as it is: its lines are read as JSON (bytes decoded leniently), not verified.
    """
    for name, _ in segments:
        with open(os.path.join(dir, name), "rb") as f:
            lines, _torn = _split_lines(f.read())
        for raw in lines:
            try:
                r = parse_json_text(_text(raw))
            except NotJson:
                continue
            if type(r) is dict and type(r.get("seq")) in (int, float) and r["seq"] == seq and type(r.get("hash")) is str:
                return r["hash"]
    return None
