"""The writer: :class:`AuditLog` (append, group commit, rotation, checkpoints, the witness thread)."""

from __future__ import annotations

import asyncio
import errno
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..canonical import canonicalize
from .format import Appended, AuditEntry, AuditError, AuditWarning, CHECKPOINT_FILE, PRIVATE_KEY_FILE
from .record import encode_record, recover_entry
from .files import _exists, _fsync_dir, _replace_file, _write_all
from .chain import _Bad, segment_name
from .keys import _Keys, _load_keys
from .counted_seal import CountedSeal
from .checkpoint import _checkpoint_signature_valid, _read_checkpoint, _sign_checkpoint
from .witness import _deliver_witness
from .lock import _acquire_lock
from .recovery import _check_against_witness, _check_from_checkpoint, _cut_tail, _find_tail, _refuse


def _iso_ms(ms: int) -> str:
    secs, milli = divmod(ms, 1000)
    t = time.gmtime(secs)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, milli)


def _now_ms(now: Optional[Callable[[], Any]]) -> int:
    if now is None:
        return time.time_ns() // 1_000_000
    v = now()
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return (v - _EPOCH) // timedelta(milliseconds=1)
    return int(math.floor(float(v) * 1000))  # seconds since the epoch


_Item = Tuple[int, str, bytes, Any]  # seq, hash, line, None or the future of submit() / append_async()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_datasync = getattr(os, "fdatasync", os.fsync)


def _sync(fd: int) -> None:
    """``tollgate.audit._datasync(fd)``, looked up at each call: replacing the package's
    ``_datasync`` (tests simulate a failing or counting disk) reaches the writer."""
    sys.modules[__package__]._datasync(fd)


class AuditLog:
    """An append-only, hash-chained, group-committed log of decisions in one directory.

    Open with :meth:`open`; use as a context manager or call :meth:`close`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - guard
        raise TypeError("use AuditLog.open(dir)")

    @classmethod
    def open(
        cls,
        dir: Union[str, "os.PathLike[str]"],
        *,
        segment_bytes: int = 64 * 1024 * 1024,
        group_commit: bool = True,
        batch_window_ms: float = 0,
        max_batch_records: int = 8192,
        checkpoint_interval_ms: float = 1000,
        now: Optional[Callable[[], Any]] = None,
        on_warning: Optional[Callable[[AuditWarning], None]] = None,
        witness: Union[str, "os.PathLike[str]", None] = None,
    ) -> "AuditLog":
        """Opens (creating if needed) the log in ``dir``.

        Takes the lock (``audit.lock``), loads the key pair (generated only for a new log: a
        missing ``audit.key`` for a log with records or a checkpoint is refused), and verifies the
        log from its checkpoint to its end (docs/audit.md, "Recovery on open"): the checkpoint must
        exist when the log holds records, be signed by the log's key and be reached by the log;
        the record at its seq must have its hash, and every later record must verify and link and
        be no later than the checkpoint's ``ts`` plus ``max(checkpoint_interval_ms, 1000)`` plus
        60 s (a longer unsigned tail than a crash leaves: an older checkpoint put back).
        With a ``witness``, its checkpoint must be signed by the log's key and the log must still
        hold the record at its seq with its hash (a witness file that does not exist yet, or a URL
        that answers 404, is fine: first use; one that cannot be read otherwise is refused, the
        message naming the witness and no line). Otherwise :class:`AuditError`
        (``file``, ``line`` when known; the message advises ``tollgate audit verify`` and
        ``tollgate audit seal``) and nothing is written. Then it cuts a torn tail
        back to the last whole record (a ``torn-record`` warning) and, if records were found
        after the checkpoint (a crash before it was signed), appends a ``recover`` record naming
        them (an ``unsigned-tail`` warning) and signs a checkpoint.

        - ``segment_bytes``: a segment is closed before it would grow past this (64 MiB).
        - ``group_commit``: many records per ``fdatasync`` (default); ``False``: one write and
          one ``fdatasync`` per record.
        - ``batch_window_ms``: how long the thread that syncs a batch first waits for others to
          join it (default 0: a batch is what queued while the previous sync ran).
        - ``max_batch_records``: at most this many records per write (8192).
        - ``checkpoint_interval_ms``: every durable record is covered by a signed checkpoint
          within this long (a background thread), and on :meth:`checkpoint` and :meth:`close`.
        - ``now``: clock for ``ts``: returns a ``datetime`` or seconds since the epoch.
        - ``on_warning``: called with each :class:`AuditWarning` (also kept in ``warnings``).
        - ``witness``: a file path (each checkpoint atomically replaces it) or an ``http(s)://``
          URL (each checkpoint is POSTed to it), written by a background thread, never in the
          way of appends; a failed delivery after open is a ``witness`` warning. Read at open (the file, or
          a GET of the URL) to check the log against it, as above.
        """
        dir = os.fspath(dir)
        witness_target = os.fspath(witness) if witness is not None else None
        os.makedirs(dir, mode=0o700, exist_ok=True)
        unlock = _acquire_lock(dir)
        warnings: List[AuditWarning] = []

        def warn(w: AuditWarning) -> None:
            warnings.append(w)
            if on_warning is not None:
                on_warning(w)

        try:
            tail = _find_tail(dir)
            cp, err = _read_checkpoint(dir)
            where = os.path.join(dir, CHECKPOINT_FILE)
            if err is not None:
                raise _refuse(dir, err, where, 1)
            # A new key for an existing log would replace the evidence of whose key signed it.
            key_file = os.path.join(dir, PRIVATE_KEY_FILE)
            if (cp is not None or tail.last_seq > 0) and not _exists(key_file):
                holds = f"holds records up to seq {tail.last_seq}" if tail.last_seq > 0 else "has a checkpoint"
                raise _refuse(dir, f"{PRIVATE_KEY_FILE} is missing but the log {holds} (a new key would sign over it)", key_file, None)
            keys, write_keys = _load_keys(dir)
            if keys.insecure_mode is not None:
                warn(AuditWarning("key-permissions", f"{key_file}: the private key has mode {keys.insecure_mode:o}; it should be 600", key_file))
            unsigned: Optional[Tuple[int, int, int]] = None
            if cp is None:
                if tail.last_seq > 0:
                    raise _refuse(dir, f"checkpoint.json is missing but the log holds records up to seq {tail.last_seq} "
                                  "(records may have been deleted with it)", where, 1)
            else:
                if not _checkpoint_signature_valid(cp, keys.public_key):
                    raise _refuse(dir, "the checkpoint signature does not verify with the log's key", where, 1)
                if cp["seq"] > tail.last_seq:
                    raise _refuse(dir, f"the log ends at seq {tail.last_seq} but the checkpoint says {cp['seq']}: records were deleted", where, 1)
                try:
                    unsigned = _check_from_checkpoint(dir, tail, cp, checkpoint_interval_ms)
                except _Bad as bad:
                    raise _refuse(dir, bad.message, bad.file, bad.line) from None
            if witness_target is not None:
                _check_against_witness(dir, witness_target, tail, keys)
            # The log verifies from its last signed position (and against its witness): only now is anything written.
            write_keys()
            _cut_tail(dir, tail, warn)
            fd = os.open(os.path.join(dir, tail.segment), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if tail.created:
                _fsync_dir(dir)
        except BaseException:
            unlock()
            raise
        self = object.__new__(cls)
        self._init(dir, keys, fd, tail.size, tail.last_seq, tail.last_hash, unlock, warnings,
                   segment_bytes, group_commit, batch_window_ms, max_batch_records, checkpoint_interval_ms, now)
        self._on_warning = on_warning
        self._witness_target = witness_target
        try:
            if unsigned is not None:
                # A crash left records the timer had not signed yet (some may have been acknowledged):
                # keep them, and say so in the log itself, so that every later verify sees it.
                assert cp is not None
                first, last, count = unsigned
                warn(
                    AuditWarning(
                        "unsigned-tail",
                        f"{count} record{'' if count == 1 else 's'} after the checkpoint (seq {first}..{last}) were not signed; "
                        "they verify by the chain and are kept, named by a 'recover' record",
                        os.path.join(dir, CHECKPOINT_FILE),
                    )
                )
                self.append(recover_entry(first, last, count, cp["seq"], cp["hash"]))
            if cp is None or cp["seq"] != self._seq:
                self.checkpoint()
        except BaseException:
            self._release()
            raise
        self._start_checkpointer()
        return self

    def _init(self, dir: str, keys: _Keys, fd: int, size: int, seq: int, last: str, unlock: Callable[[], None],
              warnings: List[AuditWarning], segment_bytes: int, group_commit: bool, window_ms: float,
              max_batch: int, checkpoint_interval_ms: float, now: Optional[Callable[[], Any]]) -> None:
        self.dir = dir
        self.warnings: List[AuditWarning] = warnings
        """Warnings: from opening (torn records cut back, key file permissions, an unsigned tail), and witness failures."""
        self._on_warning: Optional[Callable[[AuditWarning], None]] = None
        self._keys = keys
        self._counted_seal: Optional[CountedSeal] = None
        self._fd = fd
        self._segment_size = size
        self._seq = seq
        self._last = last
        self._durable_seq = seq
        self._durable_hash = last
        self._unlock = unlock
        self._segment_limit = int(segment_bytes)
        self._group = bool(group_commit)
        self._window = max(0.0, float(window_ms)) / 1000.0 if group_commit else 0.0
        self._max_batch = max(1, int(max_batch)) if group_commit else 1
        self._checkpoint_interval = max(0.0, float(checkpoint_interval_ms)) / 1000.0
        self._now = now
        self._lock = threading.Lock()  # the chain: seq, last, pending, durable, failure, closed
        self._cond = threading.Condition(self._lock)
        self._work = threading.Condition(self._lock)  # the writer thread of submit()
        self._io_lock = threading.Lock()  # the segment file
        self._pending: List[_Item] = []
        self._flushing = False
        self._failure: Optional[AuditError] = None
        self._closed = False
        self._cp_lock = threading.Lock()
        self._checkpointed_seq = -1
        self._last_ts_ms = -1
        self._last_ts = ""
        self._stop = threading.Event()
        self._checkpointer: Optional[threading.Thread] = None
        self._writer: Optional[threading.Thread] = None
        self._stop_writer = False
        self._witness_target: Optional[str] = None
        self._witness_cond = threading.Condition(threading.Lock())
        self._witness_next: Optional[Tuple[int, bytes]] = None  # the latest checkpoint not yet sent
        self._witness_thread: Optional[threading.Thread] = None
        self._witness_stop = False

    # -- public -------------------------------------------------------------------------

    @property
    def public_key_pem(self) -> str:
        """SPKI PEM of the key checkpoints are signed with (keep a copy elsewhere for verification)."""
        return self._keys.public_key_pem

    @property
    def counted_seal(self) -> CountedSeal:
        """The seal of the counter keys and amounts a record must not show (a counter on an
        ``audit.redact`` field, :mod:`tollgate.counted`), derived from this log's key once."""
        seal = self._counted_seal
        if seal is None:
            seal = self._counted_seal = CountedSeal.of(self._keys.private_key)
        return seal

    @property
    def last_seq(self) -> int:
        """The seq of the last record appended (not necessarily durable yet); 0 for an empty log."""
        return self._seq

    @property
    def last_hash(self) -> str:
        """The hash of the last record appended (``GENESIS`` for an empty log)."""
        return self._last

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, entry: Union[AuditEntry, Mapping]) -> Appended:
        """Appends one record; returns once it is on disk (after ``fdatasync``).

        The chain position (seq, prev, hash) is fixed in call order. Raises
        :class:`AuditError` if the log is closed or a write or sync failed, after which the
        log refuses all further appends (fail closed).
        """
        return self.append_many((entry,))[0]

    def append_many(self, entries: Iterable[Union[AuditEntry, Mapping]]) -> List[Appended]:
        """Appends several records in order; returns once all are on disk (one write and sync per batch)."""
        entries = list(entries)
        if not entries:
            return []
        with self._lock:
            items = self._assign(entries, None)
            self._pending.extend(items)
            self._wait_durable(items[-1][0])
        return [Appended(s, h) for s, h, _, _ in items]

    def submit(self, entry: Union[AuditEntry, Mapping]) -> "Future[Appended]":
        """Appends one record without waiting: the future resolves when it is on disk.

        The chain position is fixed before ``submit`` returns (in call order); a background
        writer thread syncs what was submitted, in batches. The future fails with the
        :class:`AuditError` of a failed write. Raises at once if the log is closed or failed.
        """
        fut: "Future[Appended]" = Future()
        fut.set_running_or_notify_cancel()  # a record cannot be taken back
        self._enqueue(entry, fut)
        return fut

    async def append_async(self, entry: Union[AuditEntry, Mapping]) -> Appended:
        """``await log.append_async(entry)``: returns when the record is on disk, without blocking the loop.

        As :meth:`submit`: the chain position is fixed at the call, the writer thread syncs in
        batches, so many concurrent ``append_async`` calls share one ``fdatasync`` (group
        commit, as the Node host's ``append``). Cancelling the awaiting task does not take the
        record back.
        """
        fut = asyncio.get_running_loop().create_future()
        self._enqueue(entry, fut)
        return await fut

    def _enqueue(self, entry: Any, fut: Any) -> None:
        with self._lock:
            self._pending.extend(self._assign((entry,), fut))
            if self._writer is None:
                self._writer = threading.Thread(target=self._writer_loop, name="tollgate-audit-writer", daemon=True)
                self._writer.start()
            self._work.notify()

    def flush(self) -> None:
        """Returns when everything appended or submitted so far is durable."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            self._wait_durable(self._seq)

    def checkpoint(self) -> None:
        """Writes a signed checkpoint of the last durable record (atomically replacing the old one)."""
        with self._cp_lock:
            with self._lock:
                seq, h = self._durable_seq, self._durable_hash
            if self._checkpointed_seq == seq:
                return
            cp = _sign_checkpoint(seq, h, self._keys, _iso_ms(_now_ms(self._now)))
            line = (canonicalize(cp) + "\n").encode("utf-8")
            _replace_file(os.path.join(self.dir, CHECKPOINT_FILE), line)
            self._checkpointed_seq = seq
            if self._witness_target is not None:
                self._to_witness(seq, line)

    def close(self) -> None:
        """Syncs what is pending, writes a final checkpoint, closes the segment and releases the lock.

        Raises the :class:`AuditError` of an earlier failed write (after releasing everything).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True  # no more appends
        try:
            self._stop.set()
            if self._checkpointer is not None:
                self._checkpointer.join()
            with self._lock:
                try:
                    if self._failure is None:
                        self._wait_durable(self._seq)
                finally:
                    self._stop_writer = True
                    self._work.notify_all()
            if self._writer is not None:
                self._writer.join()
            if self._failure is not None:
                raise self._failure
            self.checkpoint()
            self._stop_witness(wait=True)  # the final checkpoint reaches the witness
        finally:
            self._release()

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AuditLog {self.dir!r} seq={self._seq}{' closed' if self._closed else ''}>"

    # -- internals ----------------------------------------------------------------------

    def _release(self) -> None:
        self._closed = True
        self._stop.set()
        self._stop_witness(wait=False)
        with self._io_lock:
            if self._fd >= 0:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = -1
        self._unlock()

    def _warn(self, w: AuditWarning) -> None:
        self.warnings.append(w)
        if self._on_warning is not None:
            try:
                self._on_warning(w)
            except Exception:  # a failing callback must not stop the thread that reports
                pass

    def _to_witness(self, seq: int, line: bytes) -> None:
        """Hands the checkpoint to the witness thread (only the latest waiting one is sent)."""
        with self._witness_cond:
            if self._witness_stop:
                return
            self._witness_next = (seq, line)
            if self._witness_thread is None:
                self._witness_thread = threading.Thread(target=self._witness_loop, name="tollgate-audit-witness", daemon=True)
                self._witness_thread.start()
            self._witness_cond.notify()

    def _witness_loop(self) -> None:
        target = self._witness_target
        assert target is not None
        while True:
            with self._witness_cond:
                while self._witness_next is None and not self._witness_stop:
                    self._witness_cond.wait()
                if self._witness_next is None:
                    return
                seq, line = self._witness_next
                self._witness_next = None
            try:
                _deliver_witness(target, line)
            except Exception as err:
                self._warn(AuditWarning("witness", f"{target}: the checkpoint at seq {seq} could not be delivered to the witness: {err}", target))

    def _stop_witness(self, wait: bool) -> None:
        """Stops the witness thread once it has sent what is waiting (``wait``: until then)."""
        with self._witness_cond:
            self._witness_stop = True
            self._witness_cond.notify_all()
            t = self._witness_thread
        if wait and t is not None and t is not threading.current_thread():
            t.join()

    def _timestamp(self) -> str:
        ms = _now_ms(self._now)
        if ms != self._last_ts_ms:
            self._last_ts_ms = ms
            self._last_ts = _iso_ms(ms)
        return self._last_ts

    def _assign(self, entries: Sequence[Any], fut: Any) -> List[_Item]:
        """Fixes the chain position of each entry. Lock held."""
        if self._closed:
            raise AuditError("the audit log is closed", self.dir)
        if self._failure is not None:
            raise self._failure
        ts = self._timestamp()
        seq, last = self._seq, self._last
        out = []
        for entry in entries:  # encode all first: a bad entry leaves the chain as it was
            seq += 1
            last, line = encode_record(entry, seq, ts, last)
            out.append((seq, last, line.encode("utf-8"), fut))
        self._seq, self._last = seq, last
        return out

    def _wait_durable(self, seq: int) -> None:
        """Waits until ``seq`` is durable, writing batches when no other thread is. Lock held.

        One thread at a time (``_flushing``) takes what is pending, writes and syncs it with the
        lock released, while other threads queue records for the next batch.
        """
        while True:
            if self._durable_seq >= seq:
                return
            if self._failure is not None:
                raise self._failure
            if self._flushing:
                self._cond.wait()
                continue
            self._flushing = True
            error: Optional[BaseException] = None
            failed: List[_Item] = []
            try:
                if self._window > 0 and len(self._pending) < self._max_batch:
                    self._lock.release()
                    try:
                        time.sleep(self._window)
                    finally:
                        self._lock.acquire()
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                # Released inside the try: an exception raised between taking the batch and
                # writing it (a KeyboardInterrupt, a signal handler's) fails the batch and the log,
                # never leaves it unwritten while later records become durable past it.
                released = False
                try:
                    self._lock.release()
                    released = True
                    with self._io_lock:
                        self._write_batch(batch)
                except BaseException as err:
                    error = err
                finally:
                    if released:
                        self._lock.acquire()
                    else:
                        # Interrupted between release() and the flag, or in release() itself:
                        # take the lock back if it is free (a Lock held by this thread is not).
                        self._lock.acquire(blocking=False)
                if error is None:
                    self._durable_seq, self._durable_hash = batch[-1][0], batch[-1][1]
                else:
                    failed = self._fail(f"audit write failed: {error or type(error).__name__}", batch)
            finally:
                self._flushing = False
                self._cond.notify_all()
            if error is not None:
                self._settle(failed)
                if not isinstance(error, Exception):
                    raise error  # a KeyboardInterrupt reaches the caller (the log stays failed: fail closed)
                raise self._failure from error  # type: ignore[misc]
            if any(item[3] is not None for item in batch):
                # Futures are completed once the batch is marked durable and another thread may
                # sync: a done-callback may itself append.
                self._lock.release()
                try:
                    _resolve(batch, None)
                finally:
                    self._lock.acquire()

    def _fail(self, message: str, batch: Sequence[_Item] = ()) -> List[_Item]:
        """The file's state is unknown: refuse everything from now on. Lock held; returns the items whose futures must fail."""
        if self._failure is None:
            self._failure = AuditError(message, self.dir)
        items = [item for item in list(batch) + self._pending if item[3] is not None]
        self._pending.clear()
        self._cond.notify_all()
        self._work.notify_all()
        return items

    def _settle(self, items: List[_Item]) -> None:
        """Fails the futures of ``items`` with the lock released (their callbacks may append). Lock held."""
        if not items:
            return
        self._lock.release()
        try:
            _resolve(items, self._failure)
        finally:
            self._lock.acquire()

    def _writer_loop(self) -> None:
        """Syncs what :meth:`submit` queued when no appending thread does."""
        with self._lock:
            while True:
                while not self._pending and not self._stop_writer and self._failure is None:
                    self._work.wait()
                if self._failure is not None or (self._stop_writer and not self._pending):
                    return
                try:
                    self._wait_durable(self._pending[-1][0])
                except BaseException:
                    return  # the futures were failed with it

    def _write_batch(self, batch: Sequence[_Item]) -> None:
        """Writes the batch (rotating segments as needed) and fdatasyncs. Only one thread at a time."""
        if self._fd < 0:
            raise OSError(errno.EBADF, "the segment file is closed")
        i = 0
        n = len(batch)
        while i < n:
            if self._segment_size > 0 and self._segment_size + len(batch[i][2]) > self._segment_limit:
                self._rotate(batch[i][0])
            j = i
            size = self._segment_size
            while j < n and (j == i or size + len(batch[j][2]) <= self._segment_limit):
                size += len(batch[j][2])
                j += 1
            data = batch[i][2] if j - i == 1 else b"".join(item[2] for item in batch[i:j])
            _write_all(self._fd, data)
            self._segment_size = size
            i = j
        _sync(self._fd)

    def _rotate(self, first_seq: int) -> None:
        """Closes the full segment (synced) and starts the next, named for its first record."""
        _sync(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._fd = os.open(os.path.join(self.dir, segment_name(first_seq)), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _fsync_dir(self.dir)
        self._segment_size = 0

    def _start_checkpointer(self) -> None:
        if self._checkpoint_interval <= 0:
            return
        t = threading.Thread(target=self._checkpoint_loop, name="tollgate-audit-checkpoint", daemon=True)
        self._checkpointer = t
        t.start()

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self._checkpoint_interval):
            with self._lock:
                if self._failure is not None:
                    return
                behind = self._durable_seq != self._checkpointed_seq
            if behind:
                try:
                    self.checkpoint()
                except Exception as err:
                    with self._lock:
                        self._settle(self._fail(f"checkpoint write failed: {err}"))
                    return


def _resolve(items: Sequence[_Item], error: Optional[BaseException]) -> None:
    """Completes the futures of ``items``: concurrent ones here, asyncio ones with one call per event loop."""
    loops: Dict[Any, List[_Item]] = {}
    for item in items:
        f = item[3]
        if f is None:
            continue
        if isinstance(f, Future):
            if not f.done():
                if error is None:
                    f.set_result(Appended(item[0], item[1]))
                else:
                    f.set_exception(error)
        else:
            loops.setdefault(f.get_loop(), []).append(item)
    for loop, group in loops.items():
        try:
            loop.call_soon_threadsafe(_resolve_in_loop, group, error)
        except RuntimeError:  # the loop is closed: nobody is waiting
            pass


def _resolve_in_loop(items: List[_Item], error: Optional[BaseException]) -> None:
    for item in items:
        f = item[3]
        if not f.done():
            if error is None:
                f.set_result(Appended(item[0], item[1]))
            else:
                f.set_exception(error)
