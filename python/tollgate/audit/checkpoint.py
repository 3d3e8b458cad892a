"""Signed checkpoints (``checkpoint.json``): signing, reading, checking the signature."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple

from ..canonical import canonicalize
from ..jsonline import NotJson, parse_json_text
from .format import CHECKPOINT_FILE, CHECKPOINT_FORMAT, _safe_int
from .files import _text
from .keys import _Keys


def _signing_input(c: Mapping) -> bytes:
    return canonicalize({k: c[k] for k in ("format", "seq", "hash", "key_id", "ts")}).encode("utf-8")


def _sign_checkpoint(seq: int, hash: str, keys: _Keys, ts: str) -> Dict[str, Any]:
    c: Dict[str, Any] = {"format": CHECKPOINT_FORMAT, "seq": seq, "hash": hash, "key_id": keys.key_id, "ts": ts}
    c["sig"] = base64.b64encode(keys.private_key.sign(_signing_input(c))).decode("ascii")
    return c


def _read_checkpoint(dir: str) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """``(checkpoint or None when there is none, None)`` or ``(None, what is wrong with it)``."""
    try:
        with open(os.path.join(dir, CHECKPOINT_FILE), "rb") as f:
            text = _text(f.read())
    except FileNotFoundError:
        return None, None
    return _parse_checkpoint(text, "checkpoint")


def _parse_checkpoint(text: str, what: str) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    try:
        c = parse_json_text(text)
    except NotJson:
        return None, f"{what} is not JSON"
    if (
        type(c) is not dict
        or c.get("format") != CHECKPOINT_FORMAT
        or not _safe_int(c.get("seq"))
        or c["seq"] < 0
        or any(type(c.get(k)) is not str for k in ("hash", "key_id", "ts", "sig"))
    ):
        return None, f"{what} is not a {CHECKPOINT_FORMAT} object"
    c["seq"] = int(c["seq"])
    return c, None


def _checkpoint_signature_valid(c: Mapping, public_key: Any) -> bool:
    try:
        sig = base64.b64decode(c["sig"], validate=False)
        public_key.verify(sig, _signing_input(c))
        return True
    except Exception:
        return False
