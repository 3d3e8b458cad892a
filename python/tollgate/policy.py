"""Policy: a compiled manifest bound to its own instance of the Wasm core."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import struct
import time
import uuid
from array import array
from operator import itemgetter
from types import MappingProxyType
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from ._abi import (
    EFFECT_BY_CODE,
    ERROR_TEXT,
    FLAG_ERROR,
    FLAG_UNDETERMINED,
    COUNTER_CONTRIBUTION_KNOWN,
    COUNTER_ENTRY_SIZE,
    COUNTER_KEY_KNOWN,
    COUNTER_RECORD,
    MAX_COUNTERS,
    RESULT_SIZE,
    TRACE_ENTRY_SIZE,
    ErrorCode,
    Messages,
)
from ._deprecated import warn
from .canonical import canonicalize_parsed
from .counters import (
    CounterEntry,
    CounterInfo,
    CounterRef,
    CounterRegion,
    Key,
    READ_NAMESPACE,
    carried_values,
    counter_definitions,
    counter_infos,
    js_key_order,
    js_number,
    read_source,
    sum_source,
)
from .decision import Decision, _with_counters
from .encode import ActionEncoder, error_record
from .engine import CoreInstance, CoreTrap
from .errors import PolicyError, PolicyProblem
from .jsonline import NotJson, parse_json_text
from .state.memory_store import MemoryCounterStore, Pending, _as_float
from .yaml_loader import LoadedYaml, escape_written_raw, load_yaml, read_manifest_file, sort_errors, stack_for_nesting

__all__ = ["Policy", "RuleInfo", "RedactPaths", "Step", "Decided", "MissingSum"]

_result = struct.Struct("<BBHi")
# How many decisions that carry counters a policy keeps for reuse (see Policy._with_counters).
_MEMO_SIZE = 4096
_unpack_key = struct.Struct("<q").unpack_from
_pack_key = struct.Struct("<q").pack


def _key_bytes(key: int) -> bytes:
    return _pack_key(key)




class _NotJson:
    """Marks an input line that is not JSON, so that it is decided (as an error) in order."""


_NOT_JSON = _NotJson()
_NOT_JSON_RECORD = error_record(ErrorCode.NOT_JSON)


def _clock_ms() -> int:
    """The host's clock in milliseconds (as ``Date.now()``)."""
    return time.time_ns() // 1_000_000


def _check_now(now: Any, name: str = "now") -> Union[int, float]:
    if isinstance(now, bool) or not isinstance(now, (int, float)) or (isinstance(now, float) and math.isnan(now)):
        raise TypeError(f"{name} must be a number of milliseconds")
    return now


class Step(NamedTuple):
    """A decision of a policy with counters and what it recorded (Node: ``Step``)."""

    decision: Decision
    entries: List[CounterEntry]
    """Contributions recorded at ``now``: allowed, or pending on ``pending`` for an escalation."""
    pending: Optional[str]
    """For an escalation that recorded something: the id to resolve it with (:meth:`Policy.resolve`)."""
    now: Union[int, float]


class Decided(NamedTuple):
    """What :meth:`Policy.decide_with_counters` decided, recording nothing."""

    decision: Decision
    entries: List[CounterEntry]
    """The contributions to record (the caller commits them)."""
    keys: List[Optional[Key]]
    """Per counter (in :attr:`Policy.counters` order), its key for the action, None when UNKNOWN."""


class MissingSum(Exception):
    """A sum the caller of :meth:`Policy.decide_with_counters` did not read: read again with the
    action's :meth:`Policy.counter_refs`."""

    def __init__(self, counter: str, key: Key) -> None:
        super().__init__(f"no sum was read for counter '{counter}' under key {json.dumps(key)}")
        self.counter = counter
        self.key = key


def _too_many_counters(pointer: str, message: str, declared: Sequence[str]) -> str:
    """The core sees the counters in canonical (sorted) order; "more than 64 counters" is
    reported at the 65th counter the manifest declares (spec section 8), so the host points
    there (as Node's ``tooManyCounters``)."""
    if not message.startswith(f"more than {MAX_COUNTERS} counters") or len(declared) <= MAX_COUNTERS:
        return pointer
    return "/counters/" + declared[MAX_COUNTERS].replace("~", "~0").replace("/", "~1")


def _document_order(manifest: Any) -> List[str]:
    """The counter names in the order the document writes them (a loaded mapping keeps it)."""
    counters = manifest.get("counters") if isinstance(manifest, dict) else None
    return list(counters.keys()) if isinstance(counters, dict) else []


def _declaration_order(manifest: Any) -> List[str]:
    """The counter names in the order the Node host lists them in a decision (``Object.keys``:
    integer-like names first)."""
    return js_key_order(_document_order(manifest))


class RedactPaths(tuple):  # type: ignore[type-arg]
    """A policy's parsed ``audit.redact`` paths, a tuple of key tuples (Node: ``Policy.redact``).

    Redact an action with ``tollgate.audit.redact(action, policy.redact)``. Calling the
    tuple, ``policy.redact(action)`` (the method of earlier versions), still does that and
    warns: it is deprecated. Like :func:`tollgate.audit.redact`, the result shares with
    ``action`` every object that holds no redacted path (only those on a path are copied).
    """

    __slots__ = ()

    def __call__(self, action: Any) -> Any:
        warn("Policy.redact(action)", "tollgate.audit.redact(action, policy.redact)", stacklevel=3)
        from .audit import redact

        return redact(action, self)


class RuleInfo:
    """One rule of the policy table, as the core reported it."""

    __slots__ = ("id", "effect", "reason", "approver", "timeout_ms", "on_timeout")

    def __init__(self, entry: Mapping) -> None:
        self.id: str = entry["id"]
        self.effect: str = entry["effect"]
        self.reason: Optional[str] = entry.get("reason")
        self.approver: Optional[str] = entry.get("approver")
        self.timeout_ms: Optional[int] = entry.get("timeout_ms")
        self.on_timeout: Optional[str] = entry.get("on_timeout")

    def __repr__(self) -> str:
        return f"RuleInfo(id={self.id!r}, effect={self.effect!r})"


class Policy:
    """A compiled policy. Build one with :meth:`from_file` or :meth:`from_yaml`.

    :meth:`evaluate` never raises for a bad action: an action that cannot be
    evaluated (not a mapping, a value that is not JSON, too large, too
    deep), or a failure inside the engine, is a ``deny`` decision with
    ``error`` set (fail closed).

    **Threads.** A policy owns one Wasm instance; calls into it are
    serialised by a lock, so one ``Policy`` may be shared by any number of
    threads. Actions are encoded before the lock is taken. For parallel
    evaluation on free-threaded builds, load one ``Policy`` per thread.
    """

    name: str
    """The manifest's ``name``."""
    hash: str
    """SHA-256 (hex) of the manifest's canonical JSON: the policy hash."""
    default: str
    rules: Tuple[RuleInfo, ...]
    fields: Tuple[Tuple[str, ...], ...]
    redact: RedactPaths
    """The parsed ``audit.redact`` paths (see :class:`RedactPaths`)."""
    manifest: Any
    """The manifest as loaded from YAML (plain dicts and lists)."""
    filename: str
    tests: Tuple[Dict[str, Any], ...]
    """The manifest's ``tests`` (spec section 7)."""
    counters: Tuple[CounterInfo, ...]
    """The counters (spec section 8) in the core's order (sorted by name), as the Node host
    lists them; empty for a stateless policy."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - guard
        raise TypeError("use Policy.from_file(), Policy.from_yaml() or Policy.from_object()")

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_file(cls, path: Union[str, "os.PathLike[str]"], *, fast: Optional[bool] = None) -> "Policy":
        """Load a manifest from a YAML file. Raises :class:`PolicyError` with file:line:column."""
        filename = os.fspath(path)
        text = read_manifest_file(filename)
        return cls.from_yaml(text, filename=filename, fast=fast)

    @classmethod
    def from_yaml(cls, text: str, filename: str = "<policy>", *, fast: Optional[bool] = None) -> "Policy":
        """Load a manifest from YAML text; errors are reported against ``filename``."""
        with stack_for_nesting():  # what loads does not depend on how deep the caller is
            loaded = load_yaml(text, filename)
            return cls._compile(loaded, fast)

    @classmethod
    def from_object(cls, manifest: Any, filename: str = "<policy>", *, fast: Optional[bool] = None) -> "Policy":
        """Load an already-parsed manifest (e.g. from JSON).

        As in Node, error positions refer to the manifest printed as JSON
        indented by two spaces.
        """
        try:
            text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError):  # (a cycle, or nesting past the stack: not JSON a policy can be)
            raise PolicyError.single(filename, 1, 1, "the manifest cannot be represented as JSON") from None
        # What json.dumps writes raw and a YAML text may not hold: escaped, as Node's fromObject does.
        text = escape_written_raw(text)
        return cls.from_yaml(text, filename=filename, fast=fast)

    @classmethod
    def _compile(cls, loaded: LoadedYaml, fast: Optional[bool]) -> "Policy":
        try:
            manifest_bytes = canonicalize_parsed(loaded.value).encode("utf-8")
        except (TypeError, ValueError) as err:  # a lone surrogate: canonicalize (npm) refuses it too
            raise PolicyError.single(loaded.filename, 1, 1, f"the manifest cannot be canonicalized: {err}") from None
        self = object.__new__(cls)
        self.filename = loaded.filename
        self.manifest = loaded.value
        self.hash = hashlib.sha256(manifest_bytes).hexdigest()
        self._manifest_bytes = manifest_bytes
        self._fast = fast
        self._lock = threading.Lock()
        # Held across read-decide-record of a policy with counters (spec section 8, atomicity).
        self._state_lock = threading.RLock()
        core, report = self._new_core(loaded)
        self._install(core, report)
        return self

    def _new_core(self, loaded: Optional[LoadedYaml]) -> Tuple[CoreInstance, Dict[str, Any]]:
        """The instance this policy decides with: the manifest is compiled in a throw-away
        instance and a fresh one loads its evaluation image (docs/abi.md, "Images"), so what
        compiling allocated (the core frees nothing) goes with the throw-away one."""
        compiler = CoreInstance(False)
        rc, report = compiler.compile(self._manifest_bytes)
        if rc != 0:
            if loaded is None:  # pragma: no cover - recompiling a policy that compiled before
                raise RuntimeError(f"the core rejected a manifest it compiled before: {report}")
            declared = _document_order(loaded.value)
            errors = [
                loaded.error(
                    _too_many_counters(e.get("pointer", ""), e.get("message", ""), declared),
                    e.get("at", "value"),
                    e.get("message", "invalid manifest"),
                )
                for e in report.get("errors", [])
            ] or [PolicyProblem(loaded.filename, 1, 1, f"the core rejected the manifest (code {rc})")]
            raise PolicyError(sort_errors(errors))
        core = CoreInstance(self._fast)
        core.load_image_of(compiler)
        return core, report

    def _install(self, core: CoreInstance, report: Dict[str, Any]) -> None:
        self._core = core
        self.name = report["name"]
        self.default = report.get("default", "deny")
        self.rules = tuple(RuleInfo(r) for r in report["rules"])
        self.fields = tuple(tuple(p) for p in report["fields"])
        self.redact = RedactPaths(tuple(p) for p in report.get("redact", []))
        tests = self.manifest.get("tests") if isinstance(self.manifest, dict) else None
        self.tests = tuple(dict(t) for t in tests) if isinstance(tests, list) else ()
        if core.field_count != len(self.fields):
            raise RuntimeError("the core's field_count disagrees with its field table")
        self._encoder = ActionEncoder(self.fields)
        self._input_ptr = core.input_ptr
        self._input_capacity = core.input_capacity
        self._result_ptr = core.result_ptr
        self._result_capacity = core.result_capacity
        self.counters = tuple(counter_infos(report.get("counters") or [], self.manifest))
        if core.counter_count != len(self.counters):
            raise RuntimeError("the core's counter_count disagrees with its policy table")
        names = [c.name for c in self.counters]
        referenced = {c.name for c in self.counters if c.referenced}
        # Decisions list the counters in the order the manifest declares them (as Node reads it).
        self._carried = tuple(
            (n, names.index(n)) for n in _declaration_order(self.manifest) if n in referenced
        )
        self._carried_names = tuple(n for n, _ in self._carried)
        # Decisions that carry counters, memoised by (result, values): a bounded FIFO (one entry
        # out per entry in, never a whole clear: dropping thousands at once stalled one decision
        # for milliseconds).
        self._with_counters: "OrderedDict[Tuple[int, Tuple[Any, ...]], Decision]" = OrderedDict()
        self._region: Optional[CounterRegion] = (
            CounterRegion(self.counters, self.fields, core.counter_ptr) if self.counters else None
        )
        self._store: Optional[MemoryCounterStore] = (
            MemoryCounterStore(counter_definitions(self.counters)) if self.counters else None
        )
        if self.counters:
            self.__class__ = _StatefulPolicy
            self._init_hot_path()  # type: ignore[attr-defined]
        self._build_templates()

    def _build_templates(self) -> None:
        name = self.name
        # A rule's two decisions (determined, undetermined) are made on its first decision: a
        # 10,000-rule policy would otherwise make 20,000 objects at load that most never use.
        self._rule_decisions: List[Optional[Tuple[Decision, Decision]]] = [None] * len(self.rules)
        self._default_decision = Decision(
            self.default, None, Messages.DEFAULT_DENY_REASON if self.default == "deny" else None, False, name
        )
        self._default_code = EFFECT_BY_CODE.index(self.default) if self.default in EFFECT_BY_CODE else -1
        self._error_decisions = {code: self._error_decision(text) for code, text in ERROR_TEXT.items()}
        self._by_result: Dict[int, Decision] = {}
        self._by_result_limit = 4 * len(self.rules) + 64

    def _error_decision(self, text: str) -> Decision:
        return Decision("deny", None, text, False, self.name, error=text)

    # -- evaluation -------------------------------------------------------------

    def _decision(self, decision: int, flags: int, error: int, index: int) -> Decision:
        """One 8-byte result -> its precomputed decision (as Node's ``DecisionTable.fromResult``)."""
        if flags & FLAG_ERROR:
            return self._error_decisions.get(error) or self._error_decisions[ErrorCode.MALFORMED]
        if index < 0:
            if decision != self._default_code:
                return self._error_decisions[ErrorCode.MALFORMED]
            return self._default_decision
        try:
            pair = self._rule_decisions[index]
        except IndexError:
            return self._error_decisions[ErrorCode.MALFORMED]
        if pair is None:
            pair = self._rule_decisions[index] = self._rule_pair(index)
        return pair[1 if flags & FLAG_UNDETERMINED else 0]

    def _rule_pair(self, index: int) -> Tuple[Decision, Decision]:
        r = self.rules[index]
        if r.effect == "escalate":
            return (
                Decision(r.effect, r.id, r.reason, False, self.name, r.approver, r.timeout_ms, r.on_timeout),
                Decision(r.effect, r.id, r.reason, True, self.name, r.approver, r.timeout_ms, r.on_timeout),
            )
        return (Decision(r.effect, r.id, r.reason, False, self.name), Decision(r.effect, r.id, r.reason, True, self.name))

    def _from_key(self, key: int) -> Decision:
        """A result read as one little-endian int64 -> its decision (memoised: a policy has few)."""
        d = self._by_result.get(key)
        if d is None:
            d = self._decision(*_result.unpack(_key_bytes(key)))
            if len(self._by_result) < self._by_result_limit:
                self._by_result[key] = d
        return d

    def evaluate(self, action: Any, now: Optional[Union[int, float]] = None) -> Decision:
        """Decide one action (a mapping, e.g. ``{"tool": ..., "args": {...}}``). Never raises for
        a bad action.

        A policy with counters (:attr:`stateful`) decides at ``now`` (ms; default: the host's
        clock) against its in-memory counter state and records the decision's contributions
        there (see :meth:`step`); a stateless policy ignores ``now``.
        """
        # (A policy with counters is a _StatefulPolicy, whose evaluate steps: this path has no
        # test for counters, so a stateless decision costs what it did before them.)
        buf = bytearray()
        try:
            self._encoder.append(buf, action)
        except Exception:  # pragma: no cover - the encoder reports statuses, this is a last resort
            return self._error_decisions[ErrorCode.TRAP]
        with self._lock:
            core = self._core
            ip = self._input_ptr
            core.view[ip : ip + len(buf)] = buf
            try:
                if core.evaluate(1) != 1:
                    raise CoreTrap("evaluate refused the record")
            except CoreTrap:
                self._recover()
                return self._error_decisions[ErrorCode.TRAP]
            key = _unpack_key(core.view, self._result_ptr)[0]
        d = self._by_result.get(key)
        return d if d is not None else self._from_key(key)

    def evaluate_batch(self, actions: Iterable[Any], now: Optional[Union[int, float]] = None) -> List[Decision]:
        """Decide many actions with as few Wasm calls as fit the input region. Never raises for
        a bad action. A policy with counters decides them one after the other, each at ``now``
        (default: the host's clock at each) and recording as :meth:`evaluate` does."""
        out: List[Decision] = []
        append_record = self._encoder.append
        capacity = self._input_capacity
        max_count = self._result_capacity
        buf = bytearray()
        count = 0
        for action in actions:
            start = len(buf)
            try:
                if action is _NOT_JSON:
                    buf += _NOT_JSON_RECORD
                else:
                    append_record(buf, action)
            except Exception:  # pragma: no cover - the encoder reports statuses, this is a last resort
                del buf[start:]
                buf += error_record(ErrorCode.TRAP)
            if count and (len(buf) > capacity or count >= max_count):
                record = bytes(buf[start:])
                del buf[start:]
                self._run_chunk(buf, count, out)
                buf = bytearray(record)
                count = 1
            else:
                count += 1
        if count:
            self._run_chunk(buf, count, out)
        return out

    def _run_chunk(self, buf: bytearray, n: int, out: List[Decision]) -> None:
        with self._lock:
            core = self._core
            ip = self._input_ptr
            core.view[ip : ip + len(buf)] = buf
            try:
                if core.evaluate(n) != n:
                    raise CoreTrap("evaluate refused the batch")
            except CoreTrap:
                # A trap leaves the instance in an unknown state: these records fail closed
                # (as in Node), and a fresh instance takes over.
                self._recover()
                out.extend([self._error_decisions[ErrorCode.TRAP]] * n)
                return
            rp = self._result_ptr
            keys = array("q", bytes(core.view[rp : rp + RESULT_SIZE * n]))
        decisions = list(map(self._by_result.get, keys))
        if None in decisions:
            decisions = [d if d is not None else self._from_key(k) for d, k in zip(decisions, keys)]
        out.extend(decisions)

    def _recover(self) -> None:
        """After a trap the instance's state is suspect: replace it with a fresh one. Lock held."""
        try:
            core, report = self._new_core(None)
        except Exception:  # pragma: no cover - keep the old instance rather than none
            return
        self._core = core
        self._input_ptr = core.input_ptr
        self._input_capacity = core.input_capacity
        self._result_ptr = core.result_ptr
        self._result_capacity = core.result_capacity
        if self._region is not None:
            self._region = CounterRegion(self.counters, self.fields, core.counter_ptr)

    def evaluate_json(self, line: Union[str, bytes], now: Optional[Union[int, float]] = None) -> Decision:
        """Decide one line of JSON as ``tollgate eval`` does: invalid JSON or a non-object is a deny with ``error``."""
        if not isinstance(line, (str, bytes, bytearray, memoryview)):
            return self._error_decisions[ErrorCode.NOT_OBJECT]  # not a text (None, a number): as Node's evaluateLines
        try:
            action = parse_json_text(line)
        except NotJson:
            return self._error_decisions[ErrorCode.NOT_JSON]
        if type(action) is not dict:
            return self._error_decisions[ErrorCode.NOT_OBJECT]
        return self.evaluate(action, now)

    def evaluate_lines(
        self, lines: Iterable[Union[str, bytes]], now: Optional[Union[int, float]] = None
    ) -> List[Decision]:
        """Decide JSON text lines in one batch, as ``tollgate eval`` does (see :meth:`evaluate_json`);
        a policy with counters decides them one after the other (see :meth:`evaluate_batch`)."""
        actions: List[Any] = []
        for line in lines:
            if not isinstance(line, (str, bytes, bytearray, memoryview)):
                actions.append(None)  # not a text: "action is not a JSON object", as in Node
                continue
            try:
                actions.append(parse_json_text(line))
            except NotJson:
                actions.append(_NOT_JSON)
        return self.evaluate_batch(actions, now)

    # -- counters (spec section 8) -----------------------------------------------

    @property
    def stateful(self) -> bool:
        """Whether the policy has counters (its decisions depend on earlier ones)."""
        return self._region is not None

    @property
    def state(self) -> Optional[MemoryCounterStore]:
        """The in-memory counter state (None for a stateless policy)."""
        return self._store

    def new_state(self) -> MemoryCounterStore:
        """A new, empty counter state for this policy's counters (each sequence test starts with one)."""
        return MemoryCounterStore(counter_definitions(self.counters))

    def use_state(self, state: MemoryCounterStore) -> None:
        """Decides from now on against ``state`` (e.g. one rebuilt from an audit log)."""
        if self._region is None:
            raise RuntimeError(f"policy {self.name!r} has no counters")
        with self._state_lock:
            state.retain(counter_definitions(self.counters))
            self._store = state

    def adopt_state(self, previous: "Policy") -> None:
        """Takes over ``previous``'s counter state (a reload, spec section 8 "Identity of state"):
        every counter whose name and definition are unchanged keeps its recorded and pending
        contributions, the others start empty. ``previous`` must not be used to decide
        afterwards (it raises ``RuntimeError`` if it is)."""
        with previous._state_lock:
            old = previous._store
            if old is None or self._store is None:
                return
            with self._state_lock:
                old.retain(counter_definitions(self.counters))
                self._store = old
                previous._store = None

    def step(
        self,
        action: Any,
        now: Optional[Union[int, float]] = None,
        pending_id: Optional[str] = None,
        state: Optional[MemoryCounterStore] = None,
    ) -> Step:
        """Decides one action at ``now`` (ms; default: the host's clock) against the counter
        state (``state``, default the policy's own) and records its contributions there (spec
        section 8): an allow records them, an escalation records them pending on ``pending``
        (``pending_id``, default a fresh UUID; resolve it with :meth:`resolve`), a deny records
        nothing. One step under the policy's state lock, so nothing interleaves. For a stateless
        policy it is :meth:`evaluate` with nothing recorded."""
        now = _clock_ms() if now is None else _check_now(now)
        if self._region is None:
            return Step(self.evaluate(action), [], None, now)
        with self._state_lock:
            store = state if state is not None else self._store
            if store is None:
                raise RuntimeError("this policy's counter state was adopted by another policy (adopt_state)")
            decided = self._decide(action, lambda counter, key: store.sum(counter, key, now))
            pending: Optional[str] = None
            if decided.entries:
                d = decided.decision
                if d.decision == "escalate":
                    pending = pending_id if pending_id is not None else str(uuid.uuid4())
                    store.record(decided.entries, now, Pending(pending, now + d.timeout_ms, d.on_timeout))  # type: ignore[operator]
                else:
                    store.record(decided.entries, now)
        return Step(decided.decision, decided.entries, pending, now)

    def resolve(self, pending: str, resolution: str, at: Optional[Union[int, float]] = None) -> bool:
        """Approves (``"approved"``) or denies (``"denied"``) the pending contributions of an
        escalation at ``at`` (ms; default: the host's clock). False when there is nothing (left)
        to resolve (spec section 8, "Recording")."""
        at = _clock_ms() if at is None else _check_now(at, "at")
        with self._state_lock:
            store = self._store
            return False if store is None else store.resolve(pending, resolution, at)

    def counter_refs(self, action: Any) -> List[CounterRef]:
        """The counters and keys whose sums a decision of ``action`` reads (referenced counters
        with a known key): what a decider with a shared store reads first. Empty for a stateless
        policy or an action that cannot be evaluated."""
        region = self._region
        if region is None:
            return []
        buf = bytearray()
        try:
            if self._encoder.append(buf, action) != 0:
                return []
        except Exception:  # pragma: no cover - the encoder reports statuses, this is a last resort
            return []
        refs: List[CounterRef] = []
        for i, c in enumerate(self.counters):
            if not c.referenced:
                continue
            key = region.key_at(buf, i)
            if key is not None:
                refs.append(CounterRef(c.name, key))
        return refs

    def decide_with_counters(self, action: Any, sum_of: Callable[[str, Key], Optional[float]]) -> Decided:
        """Decides ``action`` with the window sums a caller read from its store
        (``sum_of(counter, key)``), recording nothing: a decider with a shared store commits
        ``entries`` itself. ``sum_of`` returning None (a key the caller did not read) raises
        :class:`MissingSum`: read again. For a stateless policy it is :meth:`evaluate`."""
        if self._region is None:
            return Decided(self.evaluate(action), [], [])
        return self._decide(action, sum_of)

    def _decide(self, action: Any, sum_of: Callable[[str, Key], Optional[float]]) -> Decided:
        """One record through the core with its counter region (docs/abi.md, "Counters")."""
        region = self._region
        assert region is not None
        counters = self.counters
        keys: List[Optional[Key]] = [None] * len(counters)
        buf = bytearray()
        try:
            status = self._encoder.append(buf, action)
        except Exception:  # pragma: no cover - the encoder reports statuses, this is a last resort
            return Decided(self._error_decisions[ErrorCode.TRAP], [], keys)
        sums: Optional[List[float]] = None
        if status == 0:
            # Keys are read from the record itself, so host and core agree on which are known.
            sums = [0.0] * len(counters)
            for i, c in enumerate(counters):
                key = region.key_at(buf, i)
                keys[i] = key
                if key is not None and c.referenced:
                    v = sum_of(c.name, key)
                    if v is None:
                        raise MissingSum(c.name, key)
                    sums[i] = v
        with self._lock:
            core = self._core
            region = self._region
            assert region is not None
            ip = self._input_ptr
            view = core.view
            view[ip : ip + len(buf)] = buf
            if sums is not None:
                region.write_sums(view, sums)
            try:
                if core.evaluate(1) != 1:
                    raise CoreTrap("evaluate refused the record")
            except CoreTrap:
                self._recover()
                return Decided(self._error_decisions[ErrorCode.TRAP], [], keys)
            key = _unpack_key(view, self._result_ptr)[0]
            table = region.read(view)
        decision = self._by_result.get(key)
        if decision is None:
            decision = self._from_key(key)
        if decision.error is not None:
            return Decided(decision, [], keys)
        if self._carried:
            value = region.value
            values = tuple([value(table, i) for _, i in self._carried])
            # Decisions are immutable: one per (result, values), memoised (a few repeat a lot).
            memo = self._with_counters
            d = memo.get((key, values))
            if d is None:
                d = Decision(
                    decision.decision, decision.rule, decision.reason, decision.undetermined, decision.policy,
                    decision.approver, decision.timeout_ms, decision.on_timeout, None,
                    MappingProxyType(dict(zip(self._carried_names, values))),
                )
                memo[(key, values)] = d
                if len(memo) > _MEMO_SIZE:
                    memo.popitem(False)
            decision = d
        return Decided(decision, region.entries(table, keys), keys)

    # -- explain (docs/abi.md, "Explain") --------------------------------------------

    def explain(self, action: Any, now: Optional[Union[int, float]] = None) -> Dict[str, Any]:
        """Why ``action`` gets its decision, as the Node host's ``Policy.explain``: a JSON-ready
        dict (see :mod:`tollgate.explain`) with the decision (``evaluate``'s, as a dict), every
        rule evaluated for the action with each test's result and the value it saw
        (``audit.redact`` paths shown as ``"[redacted]"``), and for a deny the allow rules that
        came closest. A policy with counters is explained against its counter state at ``now``
        (ms; default: the host's clock) and records nothing. Never raises for a bad action.

        The core's explain table is built on the first call (``evaluate`` pays nothing for it)."""
        from .explain import build_explanation

        if self._region is not None:
            return self._explain_with_counters(action, _clock_ms() if now is None else _check_now(now))
        buf = bytearray()
        try:
            self._encoder.append(buf, action)
        except Exception:  # pragma: no cover - the encoder reports statuses, this is a last resort
            return {"decision": self._error_decisions[ErrorCode.TRAP].to_dict(), "rules": [], "closest": []}
        with self._lock:
            got = self._explain_call(buf, None)
        if got is None:
            return {"decision": self._error_decisions[ErrorCode.TRAP].to_dict(), "rules": [], "closest": []}
        ctx, key, trace, count, _table = got
        decision = self._from_key(key)
        index = -1 if decision.error is not None or decision.rule is None else _result.unpack(_key_bytes(key))[3]
        return build_explanation(ctx, trace, count, action, decision.to_dict(), index, ())

    def _explain_with_counters(self, action: Any, now: Union[int, float]) -> Dict[str, Any]:
        """:meth:`explain` for a policy with counters: :meth:`_decide`'s steps with the core's
        ``explain`` in place of ``evaluate``, sums read at ``now``, nothing recorded."""
        from .explain import build_explanation

        counters = self.counters
        n = len(counters)
        unknown = [{"name": c.name, "value": None, "contribution": None} for c in counters]
        with self._state_lock:
            store = self._store
            if store is None:
                raise RuntimeError("this policy's counter state was adopted by another policy (adopt_state)")
            region = self._region
            assert region is not None
            buf = bytearray()
            try:
                status = self._encoder.append(buf, action)
            except Exception:  # pragma: no cover - the encoder reports statuses, this is a last resort
                trap = self._error_decisions[ErrorCode.TRAP].to_dict()
                return {"decision": trap, "rules": [], "closest": [], "counters": unknown}
            sums: Optional[List[float]] = None
            if status == 0:
                sums = [0.0] * n
                for i, c in enumerate(counters):
                    key = region.key_at(buf, i)
                    if key is not None and c.referenced:
                        sums[i] = store.sum(c.name, key, now)
            with self._lock:
                got = self._explain_call(buf, sums)
        if got is None:
            trap = self._error_decisions[ErrorCode.TRAP].to_dict()
            return {"decision": trap, "rules": [], "closest": [], "counters": unknown}
        ctx, key, trace, count, table = got
        decision = self._from_key(key)
        if decision.error is not None:
            return build_explanation(ctx, trace, 0, action, decision.to_dict(), -1, [None] * n, unknown)
        value = CounterRegion.value
        values = [value(table, i) for i in range(n)]
        if self._carried:
            decision = Decision(
                decision.decision, decision.rule, decision.reason, decision.undetermined, decision.policy,
                decision.approver, decision.timeout_ms, decision.on_timeout, None,
                MappingProxyType({name: values[i] for name, i in self._carried}),
            )
        explained = [
            {
                "name": c.name,
                # A counter no rule reads has no window sum read: its value is not known (null),
                # not its contribution alone (as src/policy.ts explain).
                "value": values[i] if c.referenced else None,
                "contribution": js_number(table[4 * i + 2]) if table[4 * i] & COUNTER_CONTRIBUTION_KNOWN else None,
            }
            for i, c in enumerate(counters)
        ]
        index = -1 if decision.rule is None else _result.unpack(_key_bytes(key))[3]
        return build_explanation(ctx, trace, count, action, decision.to_dict(), index, values, explained)

    def _explain_call(
        self, buf: bytearray, sums: Optional[List[float]]
    ) -> Optional[Tuple[Any, int, bytes, int, Optional[Tuple[Any, ...]]]]:
        """One record through the core's ``explain`` (lock held): (context, result key, trace
        bytes, entry count, counter region), or None after a trap (the next explain compiles a
        fresh explaining instance)."""
        ctx = self._explain_context()
        core = self._explain_core
        view = core.view
        ip = core.input_ptr
        view[ip : ip + len(buf)] = buf
        region = self._explain_region
        if sums is not None and region is not None:
            region.write_sums(view, sums)
        try:
            count = core.call("explain")
            if count < 0:
                raise CoreTrap("explain refused the record")
        except CoreTrap:
            self._explain_ctx = None
            return None
        if core.memory.data_len(core.store) != len(view):  # explain allocates nothing; be sure
            core.view = view = core._make_view()
        key = _unpack_key(view, core.result_ptr)[0]
        at = core.call("explain_ptr")
        trace = bytes(view[at : at + count * TRACE_ENTRY_SIZE])
        table = region.read(view) if region is not None else None
        return ctx, key, trace, count, table

    def _explain_context(self) -> Any:
        """The explaining instance (``_explain_core``) and its explain table, made on first use
        (and again after a trap). The instance that decides loaded an image and has no rule
        trees (docs/abi.md, "Images"), so explain compiles the manifest into one of its own.
        Lock held."""
        from .explain import ExplainContext

        ctx = getattr(self, "_explain_ctx", None)
        if ctx is not None:
            return ctx
        core = CoreInstance(False)
        rc, _report = core.compile(self._manifest_bytes)
        if rc != 0:  # pragma: no cover - it compiled before
            raise RuntimeError("explain: the core rejected a manifest it compiled before")
        try:
            n = core.call("explain_prepare")
        except CoreTrap as err:  # pragma: no cover - a compiled policy always prepares
            raise RuntimeError(f"explain: the core failed to prepare: {err}") from None
        if n < 0:  # pragma: no cover
            raise RuntimeError("explain: the core has no compiled policy")
        core.view = core._make_view()
        at = core.call("explain_table_ptr")
        pointers = json.loads(bytes(core.view[at : at + n]).decode("utf-8"))
        manifest = getattr(self, "_explain_manifest", None)
        if manifest is None:
            manifest = self._explain_manifest = json.loads(self._manifest_bytes.decode("utf-8"))
        ctx = ExplainContext(
            manifest, [r.id for r in self.rules], self.fields, self.redact, [c.name for c in self.counters], pointers
        )
        self._explain_core = core
        self._explain_region = CounterRegion(self.counters, self.fields, core.counter_ptr) if self.counters else None
        self._explain_ctx = ctx
        return ctx

    # -- helpers -----------------------------------------------------------------

    @property
    def redact_paths(self) -> RedactPaths:
        """Deprecated name of :attr:`redact`."""
        warn("Policy.redact_paths", "Policy.redact")
        return self.redact

    def guard(
        self,
        tool: str,
        *,
        on_escalate: Optional[Callable[..., Any]] = None,
        context: Optional[Union[Mapping, Callable[[], Mapping]]] = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: evaluate ``{"tool": tool, "args": {...call arguments...}}`` before each call.

        See :func:`tollgate.guard.guard` for the details.
        """
        from .guard import guard

        return guard(self, tool, on_escalate=on_escalate, context=context)

    def __repr__(self) -> str:
        return f"<Policy {self.name!r} rules={len(self.rules)} fields={len(self.fields)} hash={self.hash[:12]}>"


def _uuid4_text() -> str:
    """``str(uuid.uuid4())`` without the UUID object: 16 bytes of ``os.urandom`` with the
    version (4) and variant (RFC 4122) bits set, as 8-4-4-4-12 hex digits."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The ids of the pending contributions of escalations decided by evaluate: the store's own (evaluate
# returns no id, so nothing can resolve them before they expire into on_timeout), they need only be
# unique in it; a private generator (seeded from os.urandom; reseeding `random` does not touch it)
# makes them without os.urandom's system call, a microsecond of every escalation.
_internal_ids = random.Random()


def _internal_id() -> str:
    """The id of an escalation's pending contributions decided by evaluate (see ``_internal_ids``):
    128 random bits as 32 hex digits."""
    return f"{_internal_ids.getrandbits(128):032x}"


def _finite_ms(now: Union[int, float]) -> Optional[float]:
    """A checked ``now`` as the store takes it (a finite double), or None when it is not one
    (an infinity, an int beyond the doubles, a subclass of int or float): such a step takes
    :meth:`Policy.step`'s path, which reports it where it did."""
    tn = type(now)
    if tn is float:
        t = now
    elif tn is int:
        try:
            t = float(now)
        except OverflowError:
            return None
    else:
        return None
    return t if t - t == 0.0 else None  # type: ignore[return-value]


class _StatefulPolicy(Policy):
    """A :class:`Policy` with counters (what ``from_file``/``from_yaml`` return for one): each
    decision steps through the counter state (:meth:`Policy.step`), one after the other.

    The hot path (:meth:`_step_fast`): a step against a :class:`MemoryCounterStore` decides and
    records as :meth:`Policy.step` does, with the same results, errors and state, but reads each
    key once per group of counters with the same ``per`` paths, encodes it once, and reads and
    records through the store's internals (the host has checked what the store's public calls
    check). Anything out of the ordinary (a ``now`` that is no finite double, a store that lacks
    one of the policy's counters, a key part with no text, an amount or approval the store would
    refuse) takes the general path, which reports it as before: the hot path changes nothing in
    the store before it is sure to go through."""

    def _init_hot_path(self) -> None:
        region = self._region
        assert region is not None
        counters = self.counters
        self._names = tuple(c.name for c in counters)
        # Keys and texts per group of counters when the record has none (an error status).
        self._unknown_keys: Tuple[List[None], List[None]] = ([None] * len(region.groups), [None] * len(region.groups))
        self._carried_index = tuple(i for _, i in self._carried)
        self._carried_values = carried_values(self._carried)
        # The flags and value of each carried counter in CounterRegion.read's tuple, in one call.
        self._carried_raw: Optional[Callable[[Tuple[Any, ...]], Tuple[Any, ...]]] = (
            itemgetter(*[j for i in self._carried_index for j in (4 * i, 4 * i + 3)]) if self._carried_index else None
        )
        self._with_counters_raw: "OrderedDict[Tuple[int, Tuple[Any, ...]], Decision]" = OrderedDict()
        # Per store's counter table (MemoryCounterStore._slots, replaced on each retain): its
        # slot of each of the policy's counters and their buckets (None when one is missing).
        self._slots_of: Any = None
        self._slots: Optional[Tuple[Any, ...]] = None
        self._buckets: Tuple[Dict[str, Any], ...] = ()
        # The core's memory as doubles, for the sums (per view of memory: per core instance).
        self._doubles: Optional[memoryview] = None
        self._doubles_of: Optional[memoryview] = None
        # evaluate's own memo (its keys are flat: (result, flags and value of each carried counter))
        self._with_counters_flat: "OrderedDict[Tuple[Any, ...], Decision]" = OrderedDict()
        self._evaluate_code = _generate_evaluate(self)

    def _store_table(self, table: Dict[str, Any]) -> None:
        """Caches the slots of the policy's counters in a store's counter table (a slot keeps
        its buckets dict for life; a retain makes a new table)."""
        slots = tuple(table.get(n) for n in self._names)
        if None in slots:
            self._slots = None
            self._buckets = ()
        else:
            self._slots = slots
            self._buckets = tuple(slot.buckets for slot in slots)
        self._slots_of = table

    def evaluate(self, action: Any, now: Optional[Union[int, float]] = None) -> Decision:
        if now is None:
            now = _clock_ms()
        elif type(now) is not int and (type(now) is not float or now != now):
            now = _check_now(now)
        with self._state_lock:
            store = self._store
            if type(store) is MemoryCounterStore:
                # _finite_ms(now), inline
                if type(now) is int:
                    try:
                        t: Optional[float] = float(now)
                    except OverflowError:
                        t = None
                else:
                    t = now if type(now) is float else None
                if t is not None and t - t == 0.0:
                    decided = self._evaluate_code(self, action, now, t, store)  # (_evaluate_fast)
                    if decided is not None:
                        return decided
            return Policy.step(self, action, now).decision

    evaluate.__doc__ = Policy.evaluate.__doc__

    def step(
        self,
        action: Any,
        now: Optional[Union[int, float]] = None,
        pending_id: Optional[str] = None,
        state: Optional[MemoryCounterStore] = None,
    ) -> Step:
        now = _clock_ms() if now is None else _check_now(now)
        with self._state_lock:
            store = state if state is not None else self._store
            if type(store) is MemoryCounterStore:
                t = _finite_ms(now)
                if t is not None:
                    done = self._step_fast(action, now, t, pending_id, store, True)
                    if done is not None:
                        return tuple.__new__(Step, (*done, now))
            return Policy.step(self, action, now, pending_id, state)

    step.__doc__ = Policy.step.__doc__

    def evaluate_batch(self, actions: Iterable[Any], now: Optional[Union[int, float]] = None) -> List[Decision]:
        evaluate = self.evaluate
        not_json = self._error_decisions[ErrorCode.NOT_JSON]
        return [not_json if a is _NOT_JSON else evaluate(a, now) for a in actions]

    def _evaluate_fast(self, action: Any, now: Union[int, float], t: float, store: MemoryCounterStore) -> Optional[Decision]:
        """``_step_fast(action, now, t, None, store, False)``'s decision, or None when the step
        must take the general path: the same step (state lock held), without what only
        :meth:`step` returns, as one function made for the policy's counters and its core's
        counter region (:func:`_generate_evaluate`; the recording in :meth:`_record_fast`)."""
        return self._evaluate_code(self, action, now, t, store)

    def _recover(self) -> None:
        Policy._recover(self)
        self._evaluate_code = _generate_evaluate(self)

    def _record_fast(
        self,
        decision: Decision,
        items: List[Tuple[Any, str, float]],
        checked: bool,
        record: bytearray,
        table: Tuple[Any, ...],
        now: Union[int, float],
        t: float,
        store: MemoryCounterStore,
    ) -> Decision:
        """The end of :meth:`_evaluate_fast` for a decision whose contributions the core marked
        for recording (``items``, as ``CounterRegion.collect`` gives them; ``checked``: every
        amount is one the store takes), as :meth:`_step_fast` records them."""
        if decision.decision != "escalate":
            if checked:
                store._commit(items, t, None, 0.0, "")
            else:
                store.record(self._group_entries(record, table), now)
            return decision
        pending = _internal_id()
        on_timeout = decision.on_timeout
        timeout_ms = decision.timeout_ms
        if checked and type(timeout_ms) is int and (on_timeout == "allow" or on_timeout == "deny"):
            expires_at = _as_float(now + timeout_ms)
            if expires_at == expires_at:
                store._commit(items, t, pending, expires_at, on_timeout)  # type: ignore[arg-type]
                return decision
        store.record(
            self._group_entries(record, table), now,
            Pending(pending, now + decision.timeout_ms, decision.on_timeout),  # type: ignore[operator]
        )
        return decision

    def _group_entries(self, record: bytearray, table: Tuple[Any, ...]) -> List[CounterEntry]:
        """The contributions the core marked for recording (``table``: ``CounterRegion.read``'s
        tuple) of the valid record in ``record``, with their keys (``CounterRegion.entries``)."""
        region = self._region
        assert region is not None
        return region.group_entries(table, region.group_keys(record))

    def _step_fast(
        self,
        action: Any,
        now: Union[int, float],
        t: float,
        pending_id: Optional[str],
        store: MemoryCounterStore,
        with_entries: bool,
    ) -> Optional[Tuple[Decision, List[CounterEntry], Optional[str]]]:
        """:meth:`Policy.step` (state lock held) against a :class:`MemoryCounterStore`, ``now``
        checked, ``t`` its finite double: (decision, entries, pending), or None (nothing done)
        when the step must take the general path (see the class). The entries are made only
        ``with_entries`` (evaluate has no use for them: then ``[]``)."""
        buf = bytearray()
        try:
            status = self._encoder.append(buf, action)
        except Exception:  # pragma: no cover - the encoder reports statuses, this is a last resort
            return self._error_decisions[ErrorCode.TRAP], [], None
        table_of = store._slots
        if table_of is not self._slots_of:
            self._store_table(table_of)
        slots = self._slots
        if slots is None:
            return None  # a counter the store lacks: the store's error, where it raised it
        region = self._region
        assert region is not None
        sums = None
        if status == 0:
            # Keys are read from the record itself, so host and core agree on which are known.
            got = region.read_sums(buf, store, self._buckets, t)
            if got is None:
                return None
            keys, texts, sums = got
        else:
            keys, texts = self._unknown_keys
        with self._lock:
            core = self._core
            region = self._region
            assert region is not None
            ip = self._input_ptr
            view = core.view
            view[ip : ip + len(buf)] = buf
            if sums is not None:
                if self._doubles_of is not view:
                    self._doubles = view.cast("d") if len(view) % 8 == 0 else None
                    self._doubles_of = view
                put_sums = region.put_sums
                if put_sums is not None and self._doubles is not None:
                    put_sums(self._doubles, sums)
                else:
                    region.write_sums(view, sums)
            try:
                if core.evaluate(1) != 1:
                    raise CoreTrap("evaluate refused the record")
            except CoreTrap:
                self._recover()
                return self._error_decisions[ErrorCode.TRAP], [], None
            key = _unpack_key(view, self._result_ptr)[0]
            table = region.read(view)
        decision = self._by_result.get(key)
        if decision is None:
            decision = self._from_key(key)
        if decision.error is not None:
            return decision, [], None
        carried = self._carried_raw
        if carried is not None:
            # Decisions are immutable: one per (result, flags and values of the counters carried),
            # memoised by what the region holds (equal doubles, equal values; a few repeat a lot).
            memo_key = (key, carried(table))
            memo = self._with_counters_raw
            d = memo.get(memo_key)
            if d is None:
                d = _with_counters(decision, MappingProxyType(self._carried_values(table)))
                memo[memo_key] = d
                if len(memo) > _MEMO_SIZE:
                    memo.popitem(False)
            decision = d
        # What the core marked for recording (CounterRegion.entries; made only for step).
        items = region.collect(table, texts, slots)
        if items is None:
            return decision, [], None
        entries = region.group_entries(table, keys) if with_entries else []
        checked = True
        for _, _, x in items:
            if not (0.0 <= x < math.inf):  # the store refuses it: its record says how
                checked = False
                break
        if decision.decision != "escalate":
            if checked:
                store._commit(items, t, None, 0.0, "")
            else:
                store.record(region.group_entries(table, keys), now)
            return decision, entries, None
        pending = pending_id if pending_id is not None else _uuid4_text()
        on_timeout = decision.on_timeout
        timeout_ms = decision.timeout_ms
        if checked and type(pending) is str and type(timeout_ms) is int and (on_timeout == "allow" or on_timeout == "deny"):
            expires_at = _as_float(now + timeout_ms)
            if expires_at == expires_at:
                store._commit(items, t, pending, expires_at, on_timeout)  # type: ignore[arg-type]
                return decision, entries, pending
        store.record(region.group_entries(table, keys), now, Pending(pending, now + decision.timeout_ms, decision.on_timeout))  # type: ignore[operator]
        return decision, entries, pending

    evaluate_batch.__doc__ = Policy.evaluate_batch.__doc__


def _generate_evaluate(policy: "_StatefulPolicy") -> Callable[..., Optional[Decision]]:
    """``evaluate(self, action, now, t, store)``: :meth:`_StatefulPolicy._evaluate_fast` for
    ``policy``, straight-line Python made from its counters and its core's counter region (as the
    encoder is made from its fields), so that a decision makes no call it can spare: the record's
    key texts and the window sums are read into locals (:func:`~tollgate.counters.read_source`,
    :func:`~tollgate.counters.sum_source`), written to the core's memory, its region read back
    into locals, the decision's counter values and the contributions to record taken from them.
    It decides and records exactly as :meth:`_StatefulPolicy._step_fast` does (the recording, in
    :meth:`_StatefulPolicy._record_fast`); it returns None (the general path) for a store that
    lacks a counter, a key with no text, or a core replaced since it was made."""
    region = policy._region
    assert region is not None
    counters = region.counters
    n = len(counters)
    group_of = region.group_of
    groups = range(len(region.groups))
    put = region.region + 8
    ns: Dict[str, Any] = {
        **READ_NAMESPACE,
        "REGION": region,
        "encode": policy._encoder.append,
        "TRAP": ErrorCode.TRAP,
        "CoreTrap": CoreTrap,
        "unpack_key": _unpack_key,
        "unpack_table": region._table.unpack_from,
        "pack_f64": struct.Struct("<d").pack_into,
        "with_counters": _with_counters,
        "Proxy": MappingProxyType,
        "MEMO": _MEMO_SIZE,
        "SAFE": 2.0**53,
        "inf": math.inf,
    }
    src = [
        "def evaluate(self, action, now, t, store):",
        "    record = bytearray()",
        "    try:",
        "        status = encode(record, action)",
        "    except Exception:  # pragma: no cover - the encoder reports statuses, this is a last resort",
        "        return self._error_decisions[TRAP]",
        "    table_of = store._slots",
        "    if table_of is not self._slots_of:",
        "        self._store_table(table_of)",
        "    slots = self._slots",
        "    if slots is None:",
        "        return None",
        "    if status == 0:",
    ]
    body = read_source(region, False)
    body.append(f"    {''.join(f'b{i}, ' for i in range(n))}= self._buckets")
    body += sum_source(region)
    src += ["    " + line for line in body]
    src += ["    else:", f"        {' = '.join(f't{g}' for g in groups)} = None"]
    src += [
        "    with self._lock:",
        "        if self._region is not REGION:",
        "            return None  # (a core replaced meanwhile: its code is made again)",
        "        core = self._core",
        "        view = core.view",
        "        ip = self._input_ptr",
        "        view[ip : ip + len(record)] = record",
        "        if status == 0:",
    ]
    if put % 8 == 0:
        src += [
            "            if self._doubles_of is not view:",
            "                self._doubles = view.cast('d') if len(view) % 8 == 0 else None",
            "                self._doubles_of = view",
            "            doubles = self._doubles",
            "            if doubles is not None:",
        ]
        src += [f"                doubles[{(put + i * COUNTER_ENTRY_SIZE) // 8}] = s{i}" for i in range(n)]
        src.append("            else:")
        src += [f"                pack_f64(view, {put + i * COUNTER_ENTRY_SIZE}, s{i})" for i in range(n)]
    else:
        src += [f"            pack_f64(view, {put + i * COUNTER_ENTRY_SIZE}, s{i})" for i in range(n)]
    src += [
        "        try:",
        "            if core.evaluate(1) != 1:",
        "                raise CoreTrap('evaluate refused the record')",
        "        except CoreTrap:",
        "            self._recover()",
        "            return self._error_decisions[TRAP]",
        "        key = unpack_key(view, self._result_ptr)[0]",
        f"        table = unpack_table(view, {region.region})",
        f"    {''.join(f'f{i}, _, c{i}, v{i}, ' for i in range(n))}= table",
        "    decision = self._by_result.get(key)",
        "    if decision is None:",
        "        decision = self._from_key(key)",
        "    if decision.error is not None:",
        "        return decision",
    ]
    carried = policy._carried
    if carried:
        # Decisions are immutable: one per (result, flags and values of the counters carried),
        # memoised (equal doubles, equal values; a few repeat a lot).
        known = COUNTER_KEY_KNOWN | COUNTER_CONTRIBUTION_KNOWN
        src += [
            "    memo = self._with_counters_flat",
            f"    memo_key = (key, {''.join(f'f{i}, v{i}, ' for _, i in carried)})",
            "    d = memo.get(memo_key)",
            "    if d is None:",
        ]
        for k, (name, i) in enumerate(carried):
            ns[f"name{k}"] = name
            src += [
                f"        if f{i} & {known} != {known}:",
                f"            x{k} = None",
                f"        elif v{i}.is_integer() and -SAFE < v{i} < SAFE:",
                f"            x{k} = int(v{i})",
                "        else:",
                f"            x{k} = v{i}",
            ]
        src += [
            "        d = with_counters(decision, Proxy({" + ", ".join(f"name{k}: x{k}" for k in range(len(carried))) + "}))",
            "        memo[memo_key] = d",
            "        if len(memo) > MEMO:",
            "            memo.popitem(False)",
            "    decision = d",
        ]
    # What the core marked for recording (CounterRegion.collect, inline)
    src += [
        f"    if not ({' or '.join(f'f{i} & {COUNTER_RECORD}' for i in range(n))}):",
        "        return decision",
        "    items = []",
        "    checked = True",
    ]
    for i in range(n):
        ns[f"unknown{i}"] = f"counter '{counters[i].name}': the core recorded a contribution for an unknown key"
        g = group_of[i]
        src += [
            f"    if f{i} & {COUNTER_RECORD}:",
            f"        if t{g} is None:",  # (a key has a text exactly when it is known)
            f"            raise RuntimeError(unknown{i})",
            f"        if c{i} != 0:",
            f"            items.append((slots[{i}], t{g}, c{i}))",
            f"            if not (0.0 <= c{i} < inf):",  # the store refuses it: its record says how
            "                checked = False",
        ]
    src.append("    return self._record_fast(decision, items, checked, record, table, now, t, store)")
    code = compile("\n".join(src), f"<tollgate evaluate for {n} counters>", "exec")
    exec(code, ns)
    return ns["evaluate"]  # type: ignore[no-any-return]
