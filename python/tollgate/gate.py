"""Gate: decide, audit and measure every action in one call.

::

    from tollgate.gate import Gate

    with Gate.open("examples/billing-agent.yaml", audit_dir="./audit") as gate:
        d = gate.check({"tool": "payments.refund", "args": {...}})
        d["decision"], d["rule"], d["audit_id"], d["audit_seq"]
        gate.metrics()            # the Metrics snapshot dict

**Escalations.** The Python gate returns an ``escalate`` decision like any other (with
``approver``, ``timeout_ms``, ``on_timeout``) and records it. A gate with an audit log keeps
the escalations it decided open in this process until they expire (``timeout_ms``):
:meth:`Gate.resolve` approves or denies one (from any thread; the resolution is recorded) and
:meth:`Gate.wait` blocks until it is resolved or expires — what an enforcement point such as
:mod:`tollgate.adapters.mcp` waits on — and ``check(action, approval_id=...)`` redeems an approved
one: once, for the very action it approved (docs/approvals.md, "Redeeming"). There is no durable approvals store (the Node gate's
SQLite approvals are not part of the Python host): open escalations do not survive the process
(except the counter contributions of counted ones, rebuilt from the log), and ``pending_approvals``
in the metrics is 0 unless the caller sets ``gate.metrics_recorder.pending_approvals``.

It runs the two halves of the pipeline (:mod:`tollgate.pipeline`, as the Node host's
``src/pipeline/``): :func:`~tollgate.pipeline.decide`, then a :class:`~tollgate.pipeline.Recorder`
over its audit log.

**Counters** (spec section 8). By default they live in the gate's process and are made durable
by its audit log: a record that counted carries what it counted, and :meth:`Gate.open` rebuilds
the counters from the log (:mod:`tollgate.counted`), so a ``kill -9`` forgets nothing that was
acknowledged. An escalation counts while pending; :meth:`Gate.resolve` approves or denies it
(and records that), else it settles by ``on_timeout`` when it expires. With
``state="redis://..."`` (or a :class:`~tollgate.state.RedisCounterStore`) the counters are shared
with every process — Node or Python — using the same Redis (docs/redis.md): each check reads
its sums, decides and commits only if they are unchanged (compare-and-record), else decides
again.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from typing import Any, Dict, Optional, Tuple, Union

from .audit import AuditEntry, AuditLog, _action_text, _redact_paths, redact
from .audit.writer import _iso_ms
from .canonical import canonical_bytes, canonicalize
from .counted import Escalation, PendingByRecord, rebuild_counters, recorded_decision
from .metrics import Metrics
from .pipeline import UNRECORDABLE, Recorder, decide, unrecordable_decision
from .policy import Policy
from .shadow import Shadow, ShadowLog, ShadowMetrics, default_shadow_log
from .state.memory_store import Pending, encode_key

__all__ = ["Gate", "UNRECORDABLE", "unrecordable_decision"]


class _Open:
    """An escalation this gate decided, open to :meth:`Gate.resolve`, :meth:`Gate.wait` and
    redemption (``check(action, approval_id=...)``)."""

    __slots__ = ("id", "expires_at", "seq", "decision", "action_json", "state", "digest", "agent", "resolved_by", "resolution_seq", "resolution_hash", "redeemed_at", "policy_hash", "redeem_by")

    def __init__(self, id: str, expires_at: Union[int, float], seq: int, decision: Dict[str, Any], action_json: str, binding: Tuple[Optional[str], Optional[str]]) -> None:
        self.id = id
        self.expires_at = expires_at
        self.seq = seq
        self.decision = decision
        self.action_json = action_json
        self.state = "pending"  # then "resolving" (its record is being written), "approved", "denied" or "expired"
        # What a redemption must present: the SHA-256 of the canonical action as the agent sent
        # it (None: it had no canonical JSON, so it cannot be redeemed) and its agent.
        self.digest, self.agent = binding
        self.resolved_by: Optional[str] = None
        self.resolution_seq: Optional[int] = None
        self.resolution_hash: Optional[str] = None
        self.redeemed_at: Optional[str] = None  # "claiming" while its record is written
        self.policy_hash = ""  # the policy it was decided under: a redemption's record names it
        # Once approved: until when it may be redeemed (its approval time plus the approver's timeout).
        self.redeem_by: Union[int, float] = expires_at


def _agent_of(action: Any) -> Optional[str]:
    """``action.agent.id``: a string, else its canonical JSON, else None (as the Node host's agentOf)."""
    agent = action.get("agent") if isinstance(action, dict) else None
    ident = agent.get("id") if isinstance(agent, dict) else None
    if ident is None:
        return None
    return ident if isinstance(ident, str) else canonicalize(ident)


def _binding_of(action: Any) -> Tuple[Optional[str], Optional[str]]:
    """What an approval is bound to: the SHA-256 (hex) of the action's canonical JSON and its agent."""
    try:
        return hashlib.sha256(canonical_bytes(action)).hexdigest(), _agent_of(action)
    except (TypeError, ValueError, RecursionError):
        return None, None


def _refusal_reason(check: str, approval_id: str, o: Optional[_Open]) -> str:
    """Which check a refused redemption failed, in the Node host's words (src/pipeline/redeem.ts)."""
    if check == "not-found":
        return f"approval {approval_id} not found"
    if check == "agent":
        return f"approval {approval_id} was not issued to this agent"
    if check == "pending":
        return f"approval {approval_id} is not approved yet (pending)"
    if check == "denied":
        by = o.resolved_by if o is not None else None
        return f"approval {approval_id} was denied" + (f" by {by}" if by else "")
    if check == "expired":
        return f"approval {approval_id} expired at {_iso_ms(int(o.expires_at)) if o is not None else 'its expiry'}"
    if check == "redeemed":
        return f"approval {approval_id} was already redeemed at {o.redeemed_at if o is not None else 'an earlier time'}"
    if check == "unbound":
        return f"approval {approval_id} is not bound to an action and cannot be redeemed"
    return f"the action is not the one approval {approval_id} approved (its SHA-256 differs)"


def _claim_check(o: Optional[_Open], digest: str, agent: Optional[str], now: Union[int, float]) -> Optional[str]:
    """The first redemption check ``o`` fails, in the Node store's order; None when it may be redeemed."""
    if o is None:
        return "not-found"
    if o.agent != agent:
        return "agent"
    if o.state == "pending":
        return "expired" if now >= o.expires_at else "pending"
    if o.state == "resolving":
        return "pending"  # its approval's record is not on disk yet
    if o.state in ("denied", "expired"):
        return o.state
    if o.redeemed_at is None and now >= o.redeem_by:
        return "expired"  # approved, but not redeemed within the approver's timeout of its approval (as the Node store)
    if o.redeemed_at is not None:
        return "redeemed"
    if o.digest is None:
        return "unbound"
    if o.digest != digest:
        return "digest"
    return None


def _forgettable(o: _Open, now: Union[int, float]) -> bool:
    """What the gate may forget once it holds 1,024 escalations: those that are over (an approved
    one once redeemed, or unredeemed past its redemption deadline)."""
    if o.state in ("denied", "expired"):
        return True
    if o.state == "approved":
        return (o.redeemed_at is not None and o.redeemed_at != "claiming") or o.redeem_by <= now
    return o.state == "pending" and o.expires_at <= now


class Gate:
    """A policy, an optional :class:`~tollgate.audit.AuditLog` and :class:`~tollgate.metrics.Metrics`.

    Thread-safe (as its parts are): many threads may call :meth:`check` at once, and their
    audit records share ``fdatasync`` calls (group commit).
    """

    def __init__(
        self,
        policy: Policy,
        audit: Optional[AuditLog] = None,
        metrics: Optional[Metrics] = None,
        state: Any = None,
        shadow: Union[Policy, str, "os.PathLike[str]", None] = None,
        shadow_log: Union[str, "os.PathLike[str]", None] = None,
    ) -> None:
        self.policy = policy
        self._metrics = metrics if metrics is not None else Metrics.for_policy(policy)
        self._recorder: Optional[Recorder] = Recorder(audit, self._metrics) if audit is not None else None
        self._owns_audit = False
        self._pending = PendingByRecord()
        self._pending_lock = threading.Lock()
        # Escalations decided here, by record hash (Gate.wait); guarded by _pending_lock.
        self._open: Dict[str, _Open] = {}
        self._approval_ids: Dict[str, str] = {}  # an escalation's approval_id → its audit_id (the key of _open)
        self._resolved = threading.Condition(self._pending_lock)
        # Escalations whose record is being appended and not yet in _open (guarded by _pending_lock).
        self._recording = 0
        self._shared = state
        self._owns_state = False
        # Shadow (docs/change-safety.md): the candidate, its counts and its disagreement log
        # (default beside the audit directory; none without one unless shadow_log is given).
        self._shadow: Optional[Shadow] = None
        self._shadow_metrics: Optional[ShadowMetrics] = None
        log_path = shadow_log
        if log_path is None and audit is not None:
            log_path = default_shadow_log(audit.dir)
        self._shadow_log: Optional[ShadowLog] = ShadowLog(log_path) if log_path is not None else None
        if shadow is not None:
            self.set_shadow(shadow)

    @property
    def audit(self) -> Optional[AuditLog]:
        """The audit log decisions are written to, if any."""
        return self._recorder.audit if self._recorder is not None else None

    @audit.setter
    def audit(self, audit: Optional[AuditLog]) -> None:
        self._recorder = Recorder(audit, self._metrics) if audit is not None else None

    @property
    def metrics_recorder(self) -> Metrics:
        """The :class:`~tollgate.metrics.Metrics` decisions and audit appends are counted in."""
        return self._metrics

    @metrics_recorder.setter
    def metrics_recorder(self, metrics: Metrics) -> None:
        self._metrics = metrics
        if self._recorder is not None:
            self._recorder.metrics = metrics

    @classmethod
    def open(
        cls,
        policy: Union[Policy, str, "os.PathLike[str]"],
        audit_dir: Union[str, "os.PathLike[str]", None] = None,
        state: Any = None,
        shadow: Union[Policy, str, "os.PathLike[str]", None] = None,
        shadow_log: Union[str, "os.PathLike[str]", None] = None,
        **audit_options: Any,
    ) -> "Gate":
        """A gate for ``policy`` (a :class:`Policy` or a manifest path), auditing to ``audit_dir`` if given.

        ``audit_options`` go to :meth:`AuditLog.open` (``group_commit``, ``segment_bytes``...).
        The gate closes the log it opened in :meth:`close`. ``state``: where counters live —
        None (this process; rebuilt from the audit log), a ``redis://`` URL or a
        :class:`~tollgate.state.RedisCounterStore` (shared; a URL's store is closed by :meth:`close`).
        ``shadow``: a candidate policy (or its path) that takes every decision too (see
        :meth:`set_shadow`); ``shadow_log``: where disagreements go (default
        ``<audit_dir>-shadow.jsonl``).
        """
        if not isinstance(policy, Policy):
            policy = Policy.from_file(policy)
        if shadow is not None and not isinstance(shadow, Policy):
            shadow = Policy.from_file(shadow)  # a bad candidate fails before anything is opened
        audit = AuditLog.open(audit_dir, **audit_options) if audit_dir is not None else None
        try:
            shared = None
            owns_state = False
            if isinstance(state, str):
                from .state.redis_store import RedisCounterStore  # redis-py is loaded only by those who use it

                shared = RedisCounterStore(state)
                owns_state = True
            elif state is not None:
                shared = state
            if shared is not None:
                from .counters import counter_definitions

                shared.retain(counter_definitions(policy.counters))
            gate = cls(policy, audit, state=shared, shadow=shadow, shadow_log=shadow_log)
            gate._owns_state = owns_state
            if shared is None and policy.stateful and audit_dir is not None:
                # Counters are a view of the log's last window: rebuilt before the first decision.
                store = policy.new_state()
                # (Keys and amounts of counters on redacted fields are sealed in it with the log's key.)
                assert audit is not None
                gate._pending = rebuild_counters(audit_dir, policy.counters, store, time.time_ns() // 1_000_000, audit.counted_seal)
                policy.use_state(store)
        except BaseException:
            if audit is not None:
                audit.close()
            raise
        gate._owns_audit = audit is not None
        return gate

    def check(self, action: Any, approval_id: Optional[str] = None) -> Dict[str, Any]:
        """Decides ``action``, writes its audit record and counts it.

        With ``approval_id`` (the ``approval_id`` of an escalation this gate decided, or its
        ``audit_id``; approved with :meth:`resolve`) it redeems that approval instead of deciding: **allow** (with
        ``approval_id``, ``approved_by`` and the escalating rule) only when it is approved, was
        issued to this action's ``agent.id`` and approved this very action (the SHA-256 of its
        canonical JSON, as sent) and was not redeemed before; else **deny** with a reason that
        names the failed check (``redemption.check``: not-found, agent, pending, denied, expired,
        redeemed, unbound, digest), as the Node gate does. Either way the redemption is its own
        audit record linked to the escalation's and its approval's, and nothing is counted (the
        escalation's pending contribution, kept by the approval, is the action's only one).

        Returns the decision object (spec section 4) plus ``audit_id`` (the record's hash) and
        ``audit_seq`` when the gate has an audit log; it returns only once the record is on
        disk. If the record cannot be written the :class:`~tollgate.audit.AuditError` is
        raised: an action whose decision was not recorded must not go ahead.

        An action the log cannot record as itself (see :func:`tollgate.audit.recordable`: a lone
        surrogate, nesting deeper than 512, a value that is not JSON; checked after the policy's
        ``audit.redact`` paths are redacted, as they are not recorded) is not evaluated: it is
        denied with ``reason`` and ``error`` :data:`UNRECORDABLE` (:func:`unrecordable_decision`),
        recorded as ``"[not JSON]"`` with ``eval_ns`` 0, and counted.
        """
        policy = self.policy
        if approval_id is not None:
            redeemed = self._redeem(policy, action, str(approval_id))
            if redeemed is not None:
                return redeemed
        step = None
        if self._shared is not None and policy.stateful and _action_text(redact(action, _redact_paths(policy))) is not None:
            step = self._shared_step(policy, action)
        recorder = self._recorder
        # The record seals what it must not show of counters on redacted fields with the log's key.
        decided = decide(policy, action, self._metrics, step=step, seal=recorder.audit.counted_seal if recorder is not None else None)
        out = decided.decision.to_dict()  # the caller's decision: the real counter values (it is not a record)
        # The candidate decides now (the caller may change the action once check returns) and
        # is compared once the live record is durable (the log names it).
        shadow = self._shadow
        shadowed, shadow_pending = shadow.decide(action, decided.decision, decided.decision.error == UNRECORDABLE) if shadow is not None else (None, None)
        if recorder is not None:
            escalating = decided.decision.decision == "escalate"
            if escalating:
                binding = _binding_of(action)
                # Its record is on disk (where an approver may see it) before it is registered
                # below: resolve() waits for escalations being recorded (see _recording).
                with self._pending_lock:
                    self._recording += 1
            try:
                appended = recorder.record(decided)
            except BaseException:
                if escalating:
                    with self._pending_lock:
                        self._recording -= 1
                        self._resolved.notify_all()
                raise
            out["audit_id"] = appended.hash
            out["audit_seq"] = appended.seq
            d = decided.decision
            if escalating:
                # Its resolution's record copies the decision as the escalation's record holds it
                # (a sum of redacted amounts "[redacted]"), not as the caller sees it.
                as_recorded = recorded_decision(d, decided.decision_json)
                with self._pending_lock:
                    now = time.time_ns() // 1_000_000
                    expires = now + (d.timeout_ms or 0)
                    if decided.pending is not None:
                        self._pending.prune(now)
                        self._pending.add(appended.hash, Escalation(decided.pending, expires, appended.seq, as_recorded, decided.action_json))
                    if len(self._open) >= 1024:
                        for h in [h for h, o in self._open.items() if _forgettable(o, now)]:
                            self._approval_ids.pop(self._open.pop(h).id, None)
                    opened = _Open(decided.pending or str(uuid.uuid4()), expires, appended.seq, as_recorded, decided.action_json, binding)
                    opened.policy_hash = policy.hash
                    self._open[appended.hash] = opened
                    self._approval_ids[opened.id] = appended.hash
                    out["approval_id"] = opened.id
                    self._recording -= 1
                    self._resolved.notify_all()
        if decided.pending is not None:
            out["pending_id"] = decided.pending
        if shadowed is not None:
            shadow.report(policy, action, decided.decision, shadowed, out.get("audit_seq"), out.get("audit_id"))  # type: ignore[union-attr]
            shadow.remember(out.get("audit_id"), shadow_pending)  # type: ignore[union-attr]
        return out

    @property
    def shadow(self) -> Optional[Policy]:
        """The candidate policy taking every decision too (None: none)."""
        s = self._shadow
        return s.policy if s is not None else None

    def set_shadow(self, policy: Union[Policy, str, "os.PathLike[str]", None]) -> Optional[Policy]:
        """Starts (or replaces, or with None stops) shadowing: every later :meth:`check` is also
        decided by ``policy`` (a :class:`Policy` or a manifest path; a bad one raises
        :class:`~tollgate.PolicyError` and nothing changes), with counters of its own. The live
        answers, records and counters are never affected; a decision that differs is counted
        (:meth:`metrics` ``["shadow"]``) and appended to the disagreement log. A Policy object
        must be one of its own, not the live one: its in-memory counter store is the candidate's."""
        if policy is None:
            self._shadow = None
            return None
        p = policy if isinstance(policy, Policy) else Policy.from_file(policy)
        if p is self.policy:
            raise TypeError("the shadow policy must be a Policy of its own, not the live one (its counters are the candidate's)")
        if self._shadow_metrics is None:
            self._shadow_metrics = ShadowMetrics()
        self._shadow = Shadow(p, self._shadow_metrics, self._shadow_log)
        return p

    def _redeem(self, policy: Policy, action: Any, approval_id: str) -> Optional[Dict[str, Any]]:
        """Redeems an approval for ``action`` (see :meth:`check`), recorded; None for an action
        that cannot be recorded (check then denies it as it denies any such action)."""
        action_json = _action_text(redact(action, _redact_paths(policy)))
        if action_json is None:
            return None
        digest, agent = _binding_of(action)
        if digest is None:
            return None
        recorder = self._recorder
        with self._pending_lock:
            key = self._approval_ids.get(approval_id, approval_id)  # its audit_id
            o = self._open.get(key) if recorder is not None else None
            check = _claim_check(o, digest, agent, time.time_ns() // 1_000_000)
            if check is None:
                o.redeemed_at = "claiming"  # type: ignore[union-attr]  # the one claim: a racing redemption sees "redeemed"
        # Another agent's approval: the refusal tells it (and records) nothing about it, as if not found.
        known = o if check != "agent" else None
        if known is not None:
            approval_id = known.id  # the approval's own id, as its resolution record names it
        link = {
            "approval_id": approval_id,
            "check": check,
            "decision_seq": known.seq if known is not None else None,
            "decision_hash": key if known is not None else None,
            "resolution_seq": known.resolution_seq if known is not None else None,
            "resolution_hash": known.resolution_hash if known is not None else None,
        }
        name = known.decision.get("policy", policy.name) if known is not None else policy.name
        if check is None:
            d: Dict[str, Any] = {"decision": "allow", "rule": o.decision.get("rule"), "reason": o.decision.get("reason"), "undetermined": False, "policy": name, "approval_id": approval_id, "approved_by": o.resolved_by or "", "redemption": link}  # type: ignore[union-attr]
        else:
            d = {"decision": "deny", "rule": None, "reason": _refusal_reason(check, approval_id, known), "undetermined": False, "policy": name, "approval_id": approval_id, "redemption": link}
        if recorder is None:
            self._metrics.record_decision(d, 0)
            return d
        hash_ = known.policy_hash if known is not None else policy.hash
        try:
            appended = recorder.audit.append(AuditEntry(d, None, name, hash_, 0, action_json=action_json))
        except BaseException:
            if check is None:
                with self._pending_lock:
                    o.redeemed_at = None  # type: ignore[union-attr]  # not recorded: still redeemable
            raise
        if check is None:
            with self._pending_lock:
                o.redeemed_at = _iso_ms(time.time_ns() // 1_000_000)  # type: ignore[union-attr]
        self._metrics.record_decision(d, 0)
        return {**d, "audit_id": appended.hash, "audit_seq": appended.seq}

    def _shared_step(self, policy: Policy, action: Any) -> Any:
        """Decides against the shared store: read, decide, compare-and-record; again if the sums changed."""
        from .policy import Step

        store = self._shared
        for _ in range(10_000):
            refs = policy.counter_refs(action)
            now = time.time_ns() // 1_000_000
            sums = store.read(refs, now) if refs else []
            by_key = {(r.counter, encode_key(r.key)): s for r, s in zip(refs, sums)}
            d = policy.decide_with_counters(action, lambda counter, key: by_key.get((counter, encode_key(key))))
            if not d.entries:
                return Step(d.decision, d.entries, None, now)
            pending = None
            p = None
            if d.decision.decision == "escalate":
                pending = str(uuid.uuid4())
                p = Pending(pending, now + d.decision.timeout_ms, d.decision.on_timeout)
            if store.commit(refs, sums, d.entries, now, p).ok:
                return Step(d.decision, d.entries, pending, now)
        raise RuntimeError("counters: no consistent decision after 10,000 rounds")

    def resolve(self, audit_id: str, resolution: str, by: Optional[str] = None, note: Optional[str] = None) -> bool:
        """Approves (``"approved"``) or denies (``"denied"``) the escalation recorded as
        ``audit_id``: its pending counter contributions stay or go (spec section 8), the
        resolution is recorded (linked to the escalation's record, as the Node host's approval
        transitions are), and :meth:`wait` returns it — once the record is on disk. False when
        there is nothing (left) to resolve: unknown, already resolved, or expired. Escalations
        are known to the gate that decided them (in this process, with an audit log) and, for
        their counter contributions, to a gate that rebuilt them from the log."""
        if resolution not in ("approved", "denied"):
            raise ValueError("a resolution is 'approved' or 'denied'")
        with self._pending_lock:
            # An approver may see an escalation's record before this gate has registered it.
            deadline = time.monotonic() + 5.0
            while audit_id not in self._open and self._recording > 0 and time.monotonic() < deadline:
                self._resolved.wait(max(0.0, deadline - time.monotonic()))
            e = self._pending.take(audit_id)
            o = self._open.get(audit_id)
            if o is not None and o.state != "pending":
                o = None
            if e is None and o is None:
                return False
            now = time.time_ns() // 1_000_000
            if now >= (e.expires_at if e is not None else o.expires_at):  # type: ignore[union-attr]
                if o is not None:
                    o.state = "expired"
                    self._resolved.notify_all()
                return False
            if o is not None:
                o.state = "resolving"
        try:
            if e is not None:
                changed = self._shared.resolve(e.id, resolution, now) if self._shared is not None else self.policy.resolve(e.id, resolution, now)
            else:
                changed = True
            if self._recorder is not None:
                src = e if e is not None else o
                d = {k: v for k, v in src.decision.items() if k not in ("approver", "timeout_ms", "on_timeout", "counted")}  # type: ignore[union-attr]
                d["decision"] = "allow" if resolution == "approved" else "deny"
                d["approval"] = {"id": src.id, "state": resolution, "by": by, "note": note, "decision_seq": src.seq, "decision_hash": audit_id}  # type: ignore[union-attr]
                recorded = self._recorder.audit.append(AuditEntry(d, None, self.policy.name, self.policy.hash, 0, action_json=src.action_json))  # type: ignore[union-attr]
        except BaseException:
            if o is not None:
                with self._pending_lock:
                    o.state = "pending"  # not recorded: still open (a waiter keeps waiting)
            raise
        shadow = self._shadow
        if shadow is not None:
            shadow.settle(audit_id, resolution)  # the candidate's escalation of the same action, alike
        if o is not None:
            with self._pending_lock:
                o.state = resolution
                o.resolved_by = by
                o.redeem_by = now + int(o.decision.get("timeout_ms") or 0)
                if self._recorder is not None:
                    o.resolution_seq, o.resolution_hash = recorded.seq, recorded.hash
                self._resolved.notify_all()
        return changed

    def wait(self, audit_id: str, timeout: Optional[float] = None) -> Optional[str]:
        """Blocks until the escalation recorded as ``audit_id`` is resolved or expires.

        Returns ``"approved"`` or ``"denied"`` (:meth:`resolve` was called and its record is on
        disk), ``"expired"`` (nobody answered within the decision's ``timeout_ms``: the outcome
        is its ``on_timeout``), or None when ``timeout`` seconds passed first (the escalation
        stays open). Raises KeyError for an escalation this gate did not decide, or has forgotten
        (once it holds 1,024, it forgets those that are over: resolved or expired). Any number of
        threads may wait.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._resolved:
            o = self._open.get(audit_id)
            if o is None:
                raise KeyError(f"no escalation recorded as {audit_id!r} is open in this gate")
            while True:
                if o.state in ("approved", "denied", "expired"):
                    return o.state
                left_ms = o.expires_at - time.time_ns() // 1_000_000
                if o.state == "pending" and left_ms <= 0:
                    o.state = "expired"
                    self._resolved.notify_all()
                    return "expired"
                step = max(left_ms, 1) / 1000
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    step = min(step, remaining)
                self._resolved.wait(min(step, 1.0) if o.state == "resolving" else step)

    def metrics(self) -> Dict[str, Any]:
        """The metrics snapshot (see :mod:`tollgate.metrics`), with ``shadow``
        (:meth:`ShadowMetrics.snapshot <tollgate.shadow.ShadowMetrics.snapshot>`) once a shadow was set."""
        snap = self.metrics_recorder.snapshot()
        if self._shadow_metrics is not None:
            snap["shadow"] = self._shadow_metrics.snapshot()
        return snap

    def close(self) -> None:
        """Closes the audit log (and the shared counter store) if the gate opened it, and the disagreement log."""
        if self._shadow_log is not None:
            self._shadow_log.close()
        if self.audit is not None and self._owns_audit:
            self.audit.close()
        if self._shared is not None and self._owns_state:
            self._shared.close()

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Gate policy={self.policy.name!r} audit={self.audit!r}>"
