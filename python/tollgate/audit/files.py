"""Durable file writes (write all, fsync, atomic replace) and lenient reads."""

from __future__ import annotations

import os


def _text(b: bytes) -> str:
    """Lenient decoding (as Node's ``readFile(..., "utf8")``): only where the bytes are not a record being verified."""
    return b.decode("utf-8", "replace")


def _fsync_dir(dir: str) -> None:
    fd = os.open(dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _replace_file(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replaces ``path`` so that a crash leaves the old or the new file (write, fsync, rename, fsync dir)."""
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    _fsync_dir(d or ".")


def _exists(path: str) -> bool:
    """Whether ``path`` exists (following links, as Node's ``stat``); other errors are raised."""
    try:
        os.stat(path)
        return True
    except FileNotFoundError:
        return False
