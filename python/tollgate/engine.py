"""Loading the Wasm core and calling it: the host side of ``docs/abi.md``.

- :func:`shared_module` compiles ``tollgate.wasm`` once per process. The
  compiled code is cached on disk (``Module.serialize``), keyed by the
  SHA-256 of the wasm and the wasmtime version, so a later process only
  deserializes it (well under a millisecond instead of 10-20 ms).
- :class:`CoreInstance` is one ``Store`` plus one instance: one policy.

Calls from Python into Wasm through wasmtime-py's public ``Func.__call__``
cost 7-27 µs each (it re-reads the function type and boxes every argument).
``evaluate`` is therefore called through the lower-level C entry point
``wasmtime_func_call_unchecked`` with pre-built ctypes arguments (under
1 µs). That path uses wasmtime-py internals, so the package pins
``wasmtime==49.0.0``; the fast path checks what it relies on when an
instance is created and falls back to the public API otherwise (or when
``TOLLGATE_WASMTIME_FASTPATH=0``). Both paths are tested.

Environment:

- ``TOLLGATE_WASM``: use this ``.wasm`` file instead of the packaged one
  (in a source checkout without the packaged copy, ``build/tollgate.wasm``).
- ``TOLLGATE_CACHE_DIR``: where compiled modules are cached (default
  ``$XDG_CACHE_HOME/tollgate`` or ``~/.cache/tollgate``); an empty value
  turns the cache off. A cache directory that other users could write to is
  never used (deserializing compiled code trusts its bytes).
- ``TOLLGATE_WASMTIME_FASTPATH=0``: always use the public wasmtime API.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import stat
import sys
import tempfile
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import wasmtime

from . import _abi
from ._deprecated import deprecated_names
from .errors import EngineError

__all__ = ["SUPPORTED_ABI", "CoreInstance", "shared_module", "wasm_path", "fast_path_available"]

SUPPORTED_ABI = _abi.ABI_VERSION
"""The version of docs/abi.md this host implements (Node: ``SUPPORTED_ABI`` of src/engine.ts)."""

__getattr__ = deprecated_names(__name__, {"ABI_VERSION": ("SUPPORTED_ABI", lambda: SUPPORTED_ABI)})

_WASMTIME_PINNED = "49.0.0"

_lock = threading.Lock()
_module: Optional[Tuple[wasmtime.Engine, wasmtime.Module, str]] = None


def wasm_path() -> str:
    """Path of the core: ``$TOLLGATE_WASM`` or the ``tollgate.wasm`` inside this package."""
    env = os.environ.get("TOLLGATE_WASM")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "tollgate.wasm")
    if not os.path.exists(packaged):
        # An editable install in a source checkout before the copy step: python/tollgate -> build/
        built = os.path.join(os.path.dirname(os.path.dirname(here)), "build", "tollgate.wasm")
        if os.path.exists(built):
            return built
    return packaged


def _wasmtime_identity() -> str:
    """Which wasmtime build compiled the cache entry: its shared library's path, size and mtime.

    (``importlib.metadata.version`` costs ~50 ms at start-up; wasmtime itself
    refuses a serialized module from another version, which is then
    compiled again and replaced.)
    """
    try:
        from wasmtime import _ffi

        name = _ffi.dll._name
        st = os.stat(name)
        return f"{name}|{st.st_size}|{st.st_mtime_ns}"
    except Exception:  # pragma: no cover
        return "unknown"


def _cache_dir() -> Optional[str]:
    env = os.environ.get("TOLLGATE_CACHE_DIR")
    if env is not None:
        return env or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tollgate")


def _usable_cache_dir(path: str) -> bool:
    """Only a directory that this user owns and nobody else can write to."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False
    return not (st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _load_module(engine: wasmtime.Engine, wasm: bytes) -> Tuple[wasmtime.Module, str]:
    digest = hashlib.sha256(wasm).hexdigest()
    key = hashlib.sha256(
        f"{digest}|wasmtime {_wasmtime_identity()}|{sys.platform}|{os.uname().machine if hasattr(os, 'uname') else ''}".encode()
    ).hexdigest()[:40]
    cache = _cache_dir()
    path = os.path.join(cache, f"tollgate-{key}.cwasm") if cache else None
    if path and os.path.isfile(path) and _usable_cache_dir(cache):  # type: ignore[arg-type]
        try:
            st = os.stat(path)
            if (not hasattr(os, "getuid") or st.st_uid == os.getuid()) and not (
                st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            ):
                return wasmtime.Module.deserialize_file(engine, path), digest
        except Exception:
            pass  # stale or corrupt: compile again and overwrite
    module = wasmtime.Module(engine, wasm)
    if path and _usable_cache_dir(cache):  # type: ignore[arg-type]
        try:
            data = module.serialize()
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=".tollgate-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
                _prune(cache, keep=path)  # type: ignore[arg-type]
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except Exception:
            pass  # a cache we cannot write is no error
    return module, digest


_CACHE_KEEP = 8


def _prune(cache: str, keep: str) -> None:
    """Keep the most recent few entries (one is written per core build and wasmtime version)."""
    try:
        entries = [os.path.join(cache, n) for n in os.listdir(cache) if n.startswith("tollgate-") and n.endswith(".cwasm")]
        entries.sort(key=lambda p: os.stat(p).st_mtime, reverse=True)
        for old in entries[_CACHE_KEEP:]:
            if old != keep:
                os.unlink(old)
    except OSError:
        pass


def shared_module() -> Tuple[wasmtime.Engine, wasmtime.Module, str]:
    """The process-wide (engine, compiled module, wasm sha256), loaded on first use."""
    global _module
    m = _module
    if m is not None:
        return m
    with _lock:
        if _module is None:
            path = wasm_path()
            try:
                with open(path, "rb") as f:
                    wasm = f.read()
            except OSError as err:
                raise EngineError(
                    f"cannot read the Tollgate core at {path}: {err.strerror or err}. "
                    "Build it with `npm run build:wasm` (it is copied into python/tollgate/)."
                ) from None
            engine = wasmtime.Engine()
            try:
                module, digest = _load_module(engine, wasm)
            except wasmtime.WasmtimeError as err:
                raise EngineError(f"cannot compile the Tollgate core at {path}: {err}") from None
            _module = (engine, module, digest)
        return _module


def reset_shared_module() -> None:
    """Forget the loaded module (tests; after changing ``TOLLGATE_WASM``)."""
    global _module
    with _lock:
        _module = None


# --- the fast call path ------------------------------------------------------

_CALL_UNCHECKED: Any = None


def _unchecked_entry() -> Any:
    """``wasmtime_func_call_unchecked`` as a ctypes function taking raw pointers, or None."""
    global _CALL_UNCHECKED
    if _CALL_UNCHECKED is None:
        try:
            from wasmtime import _bindings

            raw = ctypes.cast(_bindings._wasmtime_func_call_unchecked, ctypes.c_void_p).value
            proto = ctypes.CFUNCTYPE(
                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
            )
            _CALL_UNCHECKED = proto(raw)
        except Exception:
            _CALL_UNCHECKED = False
    return _CALL_UNCHECKED or None


def fast_path_available() -> bool:
    """Whether the lower-level wasmtime entry point can be used in this process."""
    if os.environ.get("TOLLGATE_WASMTIME_FASTPATH", "1") == "0":
        return False
    return _unchecked_entry() is not None


class CoreTrap(Exception):
    """The core trapped (or wasmtime failed) during a call."""


class CoreInstance:
    """One Store and one instance of the core, holding (at most) one compiled policy.

    Not thread-safe: :class:`~tollgate.Policy` serialises calls with a lock.
    """

    def __init__(self, fast: Optional[bool] = None) -> None:
        engine, module, digest = shared_module()
        self.wasm_sha256 = digest
        self.store = wasmtime.Store(engine)
        try:
            self.instance = wasmtime.Instance(self.store, module, [])
        except wasmtime.WasmtimeError as err:
            raise EngineError(f"cannot instantiate the Tollgate core: {err}") from None
        exports = self.instance.exports(self.store)
        self._exports: Dict[str, Any] = {name: exports[name] for name in exports}
        for name in ("memory", "abi_version", "manifest_buffer", "compile", "report_ptr", "report_len",
                     "field_count", "input_ptr", "input_capacity", "result_ptr", "result_capacity", "evaluate",
                     "counter_count", "counter_ptr", "image_size", "image_ptr", "image_buffer", "load_image"):
            if name not in self._exports:
                raise EngineError(f"the Tollgate core does not export '{name}' (is it an older build?)")
        self.memory: wasmtime.Memory = self._exports["memory"]
        version = self.call("abi_version")
        if version != SUPPORTED_ABI:
            raise EngineError(f"the Tollgate core speaks ABI version {version}; this host knows version {SUPPORTED_ABI}")
        self.view = self._make_view()
        self.fast = False
        self._setup_call(fast)

    # -- plumbing

    def call(self, name: str, *args: int) -> int:
        """Call an export through the public API (setup calls; not the hot path)."""
        try:
            return self._exports[name](self.store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as err:
            raise CoreTrap(str(err)) from None

    def _make_view(self) -> memoryview:
        """A writable view of all of linear memory. Re-made after calls that may grow it."""
        size = self.memory.data_len(self.store)
        base = ctypes.addressof(self.memory.data_ptr(self.store).contents)
        return memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")

    def _setup_call(self, fast: Optional[bool]) -> None:
        func = self._exports["evaluate"]
        ty = func.type(self.store)
        if [str(p) for p in ty.params] != ["i32"] or [str(r) for r in ty.results] != ["i32"]:
            raise EngineError("the core's evaluate export is not (i32) -> i32")
        want = fast_path_available() if fast is None else fast
        entry = _unchecked_entry() if want else None
        if entry is not None:
            try:
                from wasmtime import _bindings

                self._args = (_bindings.wasmtime_val_raw_t * 1)()
                self._trap = ctypes.c_void_p(None)
                self._ctx = ctypes.c_void_p(ctypes.cast(self.store._context(), ctypes.c_void_p).value)
                self._func_ref = func._func  # keep alive: the pointer below points into it
                self._func = ctypes.c_void_p(ctypes.addressof(func._func))
                self._args_p = ctypes.c_void_p(ctypes.addressof(self._args))
                self._trap_p = ctypes.c_void_p(ctypes.addressof(self._trap))
                self._one = ctypes.c_size_t(1)
                self._entry = entry
                # Self-test: the unchecked path must agree with the public one.
                self.fast = True
                if self.evaluate(-1) != self.call("evaluate", -1):
                    raise EngineError("fast path self-test failed")
                self.evaluate = self._fast_evaluate()  # type: ignore[method-assign]
                return
            except Exception:
                self.fast = False
        self._evaluate_public = func

    # -- the ABI

    def compile(self, manifest: bytes) -> Tuple[int, Any]:
        """Copy the canonical manifest in, compile it; returns (rc, parsed report)."""
        n = len(manifest)
        ptr = self.call("manifest_buffer", n)
        self.view = self._make_view()
        self.view[ptr : ptr + n] = manifest
        rc = self.call("compile", n)
        self.view = self._make_view()
        rp, rl = self.call("report_ptr"), self.call("report_len")
        report = json.loads(bytes(self.view[rp : rp + rl]).decode("utf-8"))
        if rc == 0:
            self._read_regions()
        return rc, report

    def load_image_of(self, compiled: "CoreInstance") -> None:
        """Load the evaluation image of ``compiled`` (an instance whose ``compile`` succeeded)
        instead of compiling (docs/abi.md, "Images"): this instance then decides exactly as
        ``compiled`` does, without the garbage compiling left there. It cannot explain."""
        n = compiled.call("image_size")
        if n < 0:
            raise EngineError("the compiling instance has no evaluation image")
        compiled.view = compiled._make_view()
        src = compiled.call("image_ptr")
        at = self.call("image_buffer", n)
        self.view = self._make_view()
        self.view[at : at + n] = compiled.view[src : src + n]
        if self.call("load_image", n) != 0:
            raise EngineError("the core refused the evaluation image it wrote")
        self._read_regions()

    def _read_regions(self) -> None:
        self.field_count = self.call("field_count")
        self.input_ptr = self.call("input_ptr")
        self.input_capacity = self.call("input_capacity")
        self.result_ptr = self.call("result_ptr")
        self.result_capacity = self.call("result_capacity")
        # Counters (docs/abi.md, "Counters"): 0 and 0 for a stateless policy.
        self.counter_count = self.call("counter_count")
        self.counter_ptr = self.call("counter_ptr")
        self.view = self._make_view()

    def evaluate(self, count: int) -> int:
        """Call ``evaluate(count)``; raises :class:`CoreTrap` on a trap."""
        if self.fast:
            args = self._args
            args[0].i32 = count
            err = self._entry(self._ctx, self._func, self._args_p, self._one, self._trap_p)
            if err or self._trap.value:
                self._raise(err)
            return args[0].i32
        try:
            return self._evaluate_public(self.store, count)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as err:
            raise CoreTrap(str(err)) from None

    def _fast_evaluate(self) -> Callable[[int], int]:
        """:meth:`evaluate` on the unchecked path as a closure over what it passes (made once the
        path passed its self-test; an instance attribute, in place of the method): no attribute
        lookups, and the argument slot's ctypes view made once instead of twice per call."""
        arg = self._args[0]  # shares the array's memory
        entry, ctx, func, args_p, one, trap_p, trap = (
            self._entry, self._ctx, self._func, self._args_p, self._one, self._trap_p, self._trap,
        )
        fail = self._raise

        def evaluate(count: int) -> int:
            arg.i32 = count
            err = entry(ctx, func, args_p, one, trap_p)
            if err or trap.value:
                fail(err)
            return arg.i32  # type: ignore[no-any-return]

        evaluate.__doc__ = CoreInstance.evaluate.__doc__
        return evaluate

    def _raise(self, err: Optional[int]) -> None:
        from wasmtime import _bindings

        message = "wasm call failed"
        if self._trap.value:
            trap = wasmtime.Trap._from_ptr(ctypes.cast(self._trap.value, ctypes.POINTER(_bindings.wasm_trap_t)))
            self._trap.value = None
            try:
                message = trap.message
            except Exception:  # pragma: no cover
                pass
        if err:
            error = wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(_bindings.wasmtime_error_t)))
            message = str(error)
        raise CoreTrap(message)
