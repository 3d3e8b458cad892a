"""The log's Ed25519 key pair (``audit.key``, ``audit.pub``) and key ids."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple, Union

from .format import AuditError, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE
from .files import _fsync_dir, _replace_file, _text, _write_all


def _ed25519():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return serialization, ed25519


def _key_id(public_key: Any) -> str:
    serialization, _ = _ed25519()
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _public_pem(public_key: Any) -> str:
    serialization, _ = _ed25519()
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def parse_public_key(pem: Union[str, bytes]) -> Any:
    """An Ed25519 public key from SPKI PEM; raises ``ValueError`` for anything else."""
    serialization, ed25519 = _ed25519()
    key = serialization.load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key ({type(key).__name__})")
    return key


@dataclass
class _Keys:
    private_key: Any
    public_key: Any
    public_key_pem: str
    key_id: str
    insecure_mode: Optional[int] = None


def _load_keys(dir: str) -> Tuple[_Keys, Callable[[], None]]:
    """The key pair (generated in memory when ``audit.key`` is missing) and a function that writes
    what is missing or stale on disk (``audit.key``, ``audit.pub``): called only once the log opened."""
    serialization, ed25519 = _ed25519()
    key_path = os.path.join(dir, PRIVATE_KEY_FILE)
    insecure: Optional[int] = None
    new_key: Optional[bytes] = None
    try:
        with open(key_path, "rb") as f:
            pem = f.read()
            mode = os.fstat(f.fileno()).st_mode & 0o777
        if mode & 0o077:
            insecure = mode
    except FileNotFoundError:
        new = ed25519.Ed25519PrivateKey.generate()
        pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        new_key = pem
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, ed25519.Ed25519PrivateKey):
        raise AuditError("not an Ed25519 private key", key_path)
    public_key = private_key.public_key()
    public_pem = _public_pem(public_key)
    pub_path = os.path.join(dir, PUBLIC_KEY_FILE)
    try:
        with open(pub_path, "rb") as f:
            existing: Optional[str] = _text(f.read())
    except FileNotFoundError:
        existing = None

    def write() -> None:
        if new_key is not None:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
            try:
                os.fchmod(fd, 0o600)  # whatever the umask
                _write_all(fd, new_key)
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(dir)
        if existing != public_pem:
            _replace_file(pub_path, public_pem.encode("ascii"), 0o644)

    return _Keys(private_key, public_key, public_pem, _key_id(public_key), insecure), write
