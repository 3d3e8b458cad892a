"""Sealed counter values (docs/semantics.md, "Counters on redacted fields"), as the Node host's
``src/audit/counted-seal.ts``, byte-compatible: either host opens what the other sealed.

A record that counted carries each contribution's key and amount (``counted``,
:mod:`tollgate.counted`), so that the log can rebuild the counts after a restart. When a counter
is keyed by, or sums, a field that ``audit.redact`` removes, those values must not be in the
record (spec section 2): the record holds them sealed instead — ``{"sealed": base64(nonce ‖
AES-256-GCM ciphertext ‖ tag)}`` of their JSON text — under a key derived (HKDF-SHA256) from the
log's private key, ``audit.key``. Whoever holds the log and its public key can verify it but not
read them; the process that owns the log opens them when it rebuilds its counters.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from typing import Any, Dict, Union

__all__ = ["CountedSeal", "is_sealed"]

_INFO = b"tollgate counted seal v1"
_AAD = b"tollgate counted"
"""Authenticated with every sealed value: a value sealed for something else does not open."""
_NONCE_BYTES = 12
_TAG_BYTES = 16

_NOT_OPEN = "a sealed counter value does not open with this log's key (audit.key): it was sealed by another key or altered"


def is_sealed(v: Any) -> bool:
    """Whether ``v`` is a sealed value as a record holds it: ``{"sealed": str}``, nothing else."""
    return type(v) is dict and len(v) == 1 and type(v.get("sealed")) is str


def _text_of(value: Any) -> str:
    """JSON text of a key or an amount; an overflowed sum's ±infinity as ±1e999 (JSON has no
    infinity; both hosts parse it back as infinity). ASCII-only: a lone surrogate in a key is
    escaped (``\\ud800``), which both hosts parse back to itself, where UTF-8 could not hold it."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            raise ValueError("a counter amount is NaN")
        return "1e999" if value > 0 else "-1e999"
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class CountedSeal:
    """Seals and opens counter keys and amounts with the key of one audit log. Thread-safe."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        """A seal with the AES-256 key ``key`` (32 bytes); :meth:`of` derives it from a log's key."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise ValueError("a counted seal key is 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def derive_key(cls, private_key: Any) -> bytes:
        """The AES key of the log whose Ed25519 private key is ``private_key``: HKDF-SHA256 of its
        32 raw bytes (Node: the JWK ``d``), no salt (RFC 5869: HashLen zeros, as Node's empty
        salt), info ``tollgate counted seal v1``."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        try:
            raw = private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        except AttributeError:
            raise ValueError("the audit key has no private part") from None
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(raw)

    @classmethod
    def of(cls, private_key: Any) -> "CountedSeal":
        """The seal of the log whose Ed25519 private key (a ``cryptography`` key object) is ``private_key``."""
        return cls(cls.derive_key(private_key))

    @classmethod
    def load(cls, dir: Union[str, "os.PathLike[str]"]) -> "CountedSeal":
        """The seal of the log in ``dir``, from its ``audit.key`` (which must exist: the log's owner made it)."""
        from cryptography.hazmat.primitives import serialization

        from .format import PRIVATE_KEY_FILE

        with open(os.path.join(os.fspath(dir), PRIVATE_KEY_FILE), "rb") as f:
            return cls.of(serialization.load_pem_private_key(f.read(), password=None))

    def seal(self, value: Any) -> Dict[str, str]:
        """``{"sealed": base64}`` of ``value``'s JSON text (a key: a list of strings and numbers;
        an amount: a number), with a fresh random nonce: equal values do not seal equal."""
        nonce = os.urandom(_NONCE_BYTES)
        body = self._aead.encrypt(nonce, _text_of(value).encode("utf-8"), _AAD)  # ciphertext ‖ tag
        return {"sealed": base64.b64encode(nonce + body).decode("ascii")}

    def open(self, sealed: Any) -> Any:
        """The value ``sealed`` (``{"sealed": base64}``) holds. Raises ``ValueError`` if it was not
        sealed by this log's key or was altered."""
        from cryptography.exceptions import InvalidTag

        text = sealed["sealed"] if isinstance(sealed, dict) else sealed
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ValueError(_NOT_OPEN) from None
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise ValueError("a sealed counter value is too short")
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
        except InvalidTag:
            raise ValueError(_NOT_OPEN) from None
        return json.loads(plain.decode("utf-8"))

    def __repr__(self) -> str:
        return "<CountedSeal>"
