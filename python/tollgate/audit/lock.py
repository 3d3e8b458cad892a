"""The log's lock (``audit.lock``): one writer per directory, across processes and within one."""

from __future__ import annotations

import os
import threading
from typing import Callable

from .format import AuditError, LOCK_FILE
from .files import _write_all


_held: set = set()
_held_lock = threading.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except PermissionError:
        return True
    except OSError:
        return False


def _acquire_lock(dir: str) -> Callable[[], None]:
    key = os.path.realpath(dir)
    with _held_lock:
        if key in _held:
            raise AuditError("the audit log is already open in this process", dir)
        path = os.path.join(dir, LOCK_FILE)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                try:
                    with open(path, "rb") as f:
                        pid = int(f.read().strip() or b"0")
                except (OSError, ValueError):
                    pid = 0
                if pid > 0 and pid != os.getpid() and _alive(pid):
                    raise AuditError(f"the audit log is open in process {pid}", dir) from None
                try:
                    os.unlink(path)  # stale
                except FileNotFoundError:
                    pass
                continue
            try:
                _write_all(fd, f"{os.getpid()}\n".encode("ascii"))
            finally:
                os.close(fd)
            _held.add(key)

            def unlock() -> None:
                with _held_lock:
                    _held.discard(key)
                try:
                    os.unlink(path)
                except OSError:
                    pass

            return unlock
    raise AuditError("cannot take the audit lock", dir)
