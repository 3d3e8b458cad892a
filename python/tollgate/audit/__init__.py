"""The audit log: an append-only, hash-chained, signed log of decisions (docs/audit.md).

Writes byte for byte the format of the Node host's ``AuditLog`` (``src/audit/``), so that
either host can continue a log the other wrote and ``tollgate audit verify`` (Node) or
:func:`verify_log` (Python) checks both::

    from tollgate import Policy
    from tollgate.audit import AuditLog, audit_record, verify_log

    policy = Policy.from_file("examples/billing-agent.yaml")
    with AuditLog.open("./audit") as log:
        t0 = time.perf_counter_ns()
        decision = policy.evaluate(action)
        appended = log.append(audit_record(policy, action, decision, time.perf_counter_ns() - t0))
        appended.seq, appended.hash      # durable (fdatasync'ed) when append returns

    verify_log("./audit")                # VerifyResult(ok=True, records=1, ...)

**Threads.** ``AuditLog`` is thread-safe. With group commit (the default) the records that
threads append while a write and ``fdatasync`` run are written together by the next one:
one thread at a time (the first that finds no sync running) writes and syncs everything
pending, every other appender waits until the batch that holds its record is durable.
``group_commit=False`` writes and syncs each record alone. Without threads, batch with
:meth:`AuditLog.append_many`, :meth:`AuditLog.submit` (a future) or ``await
AuditLog.append_async(...)`` (a background writer thread syncs).

The package, by concern (each module imports only those above it):

- :mod:`.format`: file names, the record's keys and checks, the types the log hands out;
- :mod:`.record`: redaction, the canonical record, its line and hash;
- :mod:`.files`: durable writes and lenient reads;
- :mod:`.chain`: segments and the hash chain (walking, the seal's prefix digest);
- :mod:`.keys`, :mod:`.checkpoint`, :mod:`.witness`: the key pair, signed checkpoints, the witness;
- :mod:`.counted_seal`: counter keys and amounts sealed with a key derived from the log's;
- :mod:`.lock`, :mod:`.recovery`: one writer per directory, and what opening a log checks;
- :mod:`.writer`: :class:`AuditLog`;
- :mod:`.verify`: :func:`verify_log`.

Everything is imported from ``tollgate.audit``, as when this was one module.
"""

from __future__ import annotations

from .format import (  # noqa: F401
    GENESIS,
    NOT_JSON,
    REDACTED,
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    LOCK_FILE,
    _SEGMENT,
    _HEX64,
    _TS,
    _KEYS,
    _MAX_SAFE,
    _MAX_DEPTH,
    AuditError,
    AuditWarning,
    AuditEntry,
    Appended,
    Seal,
    Recovered,
    VerifyResult,
    _js_str,
    _MISSING,
    _safe_int,
)
from .record import (  # noqa: F401
    redact,
    _redact_path,
    _eval_ns,
    _redact_paths,
    audit_record,
    audit_record_json,
    recover_entry,
    _event,
    _is_json,
    _fast_encoder,
    _SLOW_TEXT,
    _INF,
    _scan,
    _canonical,
    _NOT_JSON_TEXT,
    _action_text,
    canonical_action,
    recordable,
    _canonical_str,
    _decision_text,
    _decision_lock,
    _canonical_decision,
    _entry_fields,
    _pre_canonical,
    encode_record,
    parse_record,
)
from .files import (  # noqa: F401
    _text,
    _fsync_dir,
    _write_all,
    _replace_file,
    _exists,
)
from .chain import (  # noqa: F401
    segment_name,
    _list_segments,
    _split_lines,
    _Bad,
    _record_at,
    _Walk,
    _walk_chain,
    _first_line,
    _latest_seal,
    prefix_digest,
    _find_record,
)
from .keys import (  # noqa: F401
    _ed25519,
    _key_id,
    _public_pem,
    parse_public_key,
    _Keys,
    _load_keys,
)
from .counted_seal import CountedSeal, is_sealed  # noqa: F401
from .checkpoint import (  # noqa: F401
    _signing_input,
    _sign_checkpoint,
    _read_checkpoint,
    _parse_checkpoint,
    _checkpoint_signature_valid,
)
from .witness import (  # noqa: F401
    WITNESS_TIMEOUT_S,
    _is_url,
    _http,
    _deliver_witness,
    _fetch_witness,
    _read_witness,
)
from .lock import (  # noqa: F401
    _held,
    _held_lock,
    _alive,
    _acquire_lock,
)
from .recovery import (  # noqa: F401
    _ADVICE,
    _refuse,
    _looks_like_json,
    _last_record,
    _Tail,
    _find_tail,
    _cut_tail,
    _check_from_checkpoint,
    _check_against_witness,
)
from .writer import (  # noqa: F401
    _iso_ms,
    _now_ms,
    _Item,
    _EPOCH,
    _datasync,
    AuditLog,
    _resolve,
    _resolve_in_loop,
)
from .verify import (  # noqa: F401
    verify_log,
    _signature_problem,
    _js_json,
    _verify,
    _same_number,
    _find_in_prefix,
)

__all__ = [
    "AuditLog",
    "AuditEntry",
    "CountedSeal",
    "Appended",
    "AuditError",
    "AuditWarning",
    "VerifyResult",
    "Seal",
    "Recovered",
    "audit_record",
    "recordable",
    "recover_entry",
    "audit_record_json",
    "encode_record",
    "parse_record",
    "redact",
    "verify_log",
    "segment_name",
    "prefix_digest",
    "GENESIS",
    "NOT_JSON",
    "REDACTED",
    "CHECKPOINT_FORMAT",
]

# The public classes keep the name they had when this package was one module (tracebacks,
# pickles, reprs of the types).
for _cls in (AuditLog, AuditEntry, Appended, AuditError, AuditWarning, VerifyResult, Seal, Recovered):
    _cls.__module__ = __name__
del _cls
