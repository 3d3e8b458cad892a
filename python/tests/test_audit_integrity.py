"""Audit integrity (issue 11, docs/audit.md): open verifies from the checkpoint, recover and seal
records, the checkpoint timer, the witness, strict UTF-8 and the unsigned tail in verify, and the
gate's deny for actions the log cannot record faithfully.

Each test here failed on the code before issue 11 (the timer test is a guard: it passed already).
Agreement with the Node host (same bytes, same findings) is in test_audit_node.py.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from tollgate import Gate, Policy
from tollgate.audit import (
    GENESIS,
    AuditEntry,
    AuditError,
    AuditLog,
    Recovered,
    encode_record,
    prefix_digest,
    recover_entry,
    segment_name,
    verify_log,
)
from tollgate.canonical import canonicalize

from test_audit_log import entry, fill, lines, segments

TS = "2025-01-01T00:00:00.000Z"


# -- helpers ------------------------------------------------------------------------------


def records_of(d: Path) -> List[Dict[str, Any]]:
    return [json.loads(raw) for s in segments(d) for raw in lines(s)]


def rechain(d: Path, edit: Callable[[List[Dict[str, Any]]], None]) -> None:
    """Edits the records of a one-segment log and recomputes every prev and hash (a tamperer without the key)."""
    (seg,) = segments(d)
    recs = records_of(d)
    edit(recs)
    prev = GENESIS
    out = []
    for r in recs:
        e = AuditEntry(r["decision"], r["action"], r["policy"], r["policy_hash"], r["eval_ns"])
        prev, line = encode_record(e, r["seq"], r["ts"], prev)
        out.append(line.encode("utf-8"))
    seg.write_bytes(b"".join(out))


def forge(d: Path, n: int, action: Any = None) -> None:
    """Appends ``n`` records with a valid chain to the last segment, as someone without the key can."""
    seg = segments(d)[-1]
    last = records_of(d)[-1]
    seq, prev = last["seq"], last["hash"]
    with seg.open("ab") as f:
        for i in range(n):
            a = action if action is not None else {"tool": "payments.refund", "args": {"amount": 4999, "order_id": f"ord_forged{i:02d}"}}
            e = AuditEntry({"decision": "allow", "rule": "small-refund", "reason": None, "undetermined": False, "policy": "billing-agent"},
                           a, last["policy"], last["policy_hash"], 1)
            seq += 1
            prev, line = encode_record(e, seq, TS, prev)
            f.write(line.encode("utf-8"))


def snapshot(d: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file() and p.name != "audit.lock"}


def refused(d: Path, *match: str, at_line: bool = True, **options: Any) -> AuditError:
    """Opening ``d`` (with ``options``) fails with an AuditError naming a file (and a line, if ``at_line``),
    advising verify and seal; nothing is written."""
    before = snapshot(d)
    with pytest.raises(AuditError) as info:
        AuditLog.open(d, **options)
    err = info.value
    assert err.file is not None, str(err)
    assert (err.line is not None) == at_line, str(err)
    assert "tollgate audit verify" in str(err) and "tollgate audit seal" in str(err)
    for m in match:
        assert m in str(err)
    assert snapshot(d) == before  # nothing was written
    assert not (d / "audit.lock").exists()
    return err


def crashed(tmp_path: Path, signed: int, unsigned: int, name: str = "crash") -> Path:
    """A log whose writer died after appending ``unsigned`` records its checkpoint timer had not signed."""
    live = tmp_path / f"{name}-live"
    fill(live, signed)
    log = AuditLog.open(live, checkpoint_interval_ms=0)  # no timer: the records stay unsigned
    for i in range(unsigned):
        log.append(entry(500 + i))
    copy = tmp_path / name
    shutil.copytree(live, copy)  # the directory as a crash left it
    (copy / "audit.lock").unlink()
    log.close()
    return copy


# -- (a) open refuses a log that does not verify from its checkpoint ------------------------


def test_open_refuses_an_edit_rechained_with_the_checkpoint_deleted(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 20)

    def edit(recs):
        recs[4]["action"]["args"]["amount"] = 9999

    rechain(d, edit)
    (d / "checkpoint.json").unlink()
    assert verify_log(d).message == "checkpoint.json is missing"
    err = refused(d, "checkpoint.json is missing but the log holds records up to seq 20")
    assert err.file == str(d / "checkpoint.json") and err.line == 1


def test_open_refuses_an_edit_rechained_with_a_forged_record_after_the_checkpoint(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 20)

    def edit(recs):
        recs[4]["action"]["args"]["amount"] = 9999

    rechain(d, edit)
    forge(d, 1)  # the log now goes past the (kept) checkpoint, which no longer matches record 20
    err = refused(d, "record 20 has hash")
    assert err.file == str(segments(d)[0]) and err.line == 20


def test_open_refuses_a_log_cut_by_1000_records_with_the_checkpoint_deleted(tmp_path: Path):
    d = tmp_path / "log"
    with AuditLog.open(d) as log:
        log.append_many(entry(i) for i in range(1200))
    seg = segments(d)[0]
    seg.write_bytes(b"".join(lines(seg)[:200]))
    (d / "checkpoint.json").unlink()
    refused(d, "checkpoint.json is missing", "up to seq 200")


def test_open_refuses_damage_after_the_checkpoint(tmp_path: Path):
    # A record after the checkpoint with bytes that are not UTF-8 (U+FFFD's EF BF BD made FF).
    d = crashed(tmp_path, 3, 3)
    seg = segments(d)[0]
    ls = lines(seg)
    h, line = encode_record(entry(1), 4, TS, json.loads(ls[2])["hash"])
    bad = line.replace('"order_id":"ord_00000001"', '"order_id":"\ufffd"')
    ls[3] = bad.encode("utf-8").replace(b"\xef\xbf\xbd", b"\xff")
    seg.write_bytes(b"".join(ls))
    err = refused(d, "line is not valid UTF-8")
    assert (err.file, err.line) == (str(seg), 4)
    # A broken link after the checkpoint.
    d = crashed(tmp_path, 3, 3, "crash2")
    seg = segments(d)[0]
    ls = lines(seg)
    del ls[3]
    seg.write_bytes(b"".join(ls))
    err = refused(d, "seq 5 follows seq 3")
    assert (err.file, err.line) == (str(seg), 4)


def test_a_refused_open_writes_nothing(tmp_path: Path):
    # Not the torn-tail cut, not a new key pair.
    d = tmp_path / "log"
    fill(d, 5)
    (d / "checkpoint.json").unlink()
    with segments(d)[0].open("ab") as f:
        f.write(b'{"action":{"tool":"pay')
    refused(d, "checkpoint.json is missing")
    d2 = tmp_path / "log2"
    fill(d2, 5)
    (d2 / "audit.key").unlink()
    refused(d2, "audit.key is missing", at_line=False)
    assert not (d2 / "audit.key").exists()


def test_a_missing_key_is_generated_only_for_a_new_log(tmp_path: Path):
    # A log with records: a new key pair would sign over them (and replace audit.pub, the evidence
    # of whose key signed it). Refused, as Node refuses it, and audit.pub is left as it was.
    d = tmp_path / "log"
    fill(d, 5)
    pub = (d / "audit.pub").read_bytes()
    (d / "audit.key").unlink()
    err = refused(d, at_line=False)
    assert err.file == str(d / "audit.key") and err.line is None
    assert str(err) == (f"{d / 'audit.key'}: audit.key is missing but the log holds records up to seq 5 (a new key would sign over it); "
                        "nothing was written; run `tollgate audit verify DIR` to see the damage, and "
                        "`tollgate audit seal DIR --reason TEXT` to continue past it deliberately")
    assert not (d / "audit.key").exists() and (d / "audit.pub").read_bytes() == pub
    # A log without records but with a checkpoint (opened and closed once).
    e = tmp_path / "empty"
    AuditLog.open(e).close()
    assert json.loads((e / "checkpoint.json").read_text())["seq"] == 0
    pub = (e / "audit.pub").read_bytes()
    (e / "audit.key").unlink()
    err = refused(e, "audit.key is missing but the log has a checkpoint (a new key would sign over it)", at_line=False)
    assert err.file == str(e / "audit.key") and (e / "audit.pub").read_bytes() == pub
    # A new log (nothing but perhaps an empty directory) gets its key pair.
    n = tmp_path / "new"
    n.mkdir()
    with AuditLog.open(n) as log:
        log.append(entry(1))
    assert (n / "audit.key").exists() and verify_log(n).ok


def test_open_still_opens_a_new_log_and_a_clean_one(tmp_path: Path):
    d = tmp_path / "log"
    with AuditLog.open(d) as log:
        assert log.warnings == []
    fill(d, 3)
    with AuditLog.open(d) as log:
        assert log.warnings == [] and log.last_seq == 3


# -- (b) a crash's unsigned tail: a recover record -------------------------------------------


def test_unsigned_tail_is_kept_and_named_by_a_recover_record(tmp_path: Path):
    d = crashed(tmp_path, 4, 3)
    cp = json.loads((d / "checkpoint.json").read_text())
    assert cp["seq"] == 4
    r = verify_log(d)
    assert not r.ok and (r.file, r.line) == (str(segments(d)[0]), 5)
    assert r.message.startswith("3 records are not covered by a signature: seq 5..7, after the last signed checkpoint (seq 4)")
    seen = []
    t = datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    with AuditLog.open(d, on_warning=seen.append, now=lambda: t) as log:
        assert [w.code for w in log.warnings] == ["unsigned-tail"] and seen == log.warnings
        w = log.warnings[0]
        assert w.file == str(d / "checkpoint.json")
        assert w.message.startswith("3 records after the checkpoint (seq 5..7) were not signed")
        assert log.last_seq == 8
        assert json.loads((d / "checkpoint.json").read_text())["seq"] == 8  # signed at once
        log.append(entry(9))
    recs = records_of(d)
    rec = recs[7]
    assert rec["action"] == {"event": "recover"}
    assert rec["decision"] == {"event": "recover", "unsigned": {"first": 5, "last": 7, "count": 3}, "checkpoint": {"seq": 4, "hash": cp["hash"]}}
    assert (rec["policy"], rec["policy_hash"], rec["eval_ns"]) == ("", "", 0)
    # Byte for byte the format's canonical record.
    line = lines(segments(d)[0])[7].decode("utf-8")
    assert line == encode_record(recover_entry(5, 7, 3, 4, cp["hash"]), 8, "2025-06-01T12:00:00.123Z", recs[6]["hash"])[1]
    assert '"decision":{"checkpoint":{"hash":"' in line and '"unsigned":{"count":3,"first":5,"last":7}}' in line
    r = verify_log(d)
    assert r.ok and r.records == 9 and r.recovered == (Recovered(8, 5, 7, 3),), str(r)
    assert "note: record 8: a restart accepted 3 unsigned records (seq 5..7) left after the last checkpoint" in str(r).splitlines()
    assert str(r).startswith("ok: 9 records in 1 segments")


def test_a_new_log_that_crashed_before_its_first_timer(tmp_path: Path):
    live = tmp_path / "live"
    log = AuditLog.open(live, checkpoint_interval_ms=0)
    log.append_many(entry(i) for i in range(3))
    d = tmp_path / "crash"
    shutil.copytree(live, d)
    (d / "audit.lock").unlink()
    log.close()
    with AuditLog.open(d) as log:
        assert [w.code for w in log.warnings] == ["unsigned-tail"]
    rec = records_of(d)[3]
    assert rec["decision"] == {"event": "recover", "unsigned": {"first": 1, "last": 3, "count": 3}, "checkpoint": {"seq": 0, "hash": GENESIS}}
    assert verify_log(d).recovered == (Recovered(4, 1, 3, 3),)


T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
T0_TS = "2026-01-01T12:00:00.000Z"


def crashed_at(tmp_path: Path, name: str, after_ms: List[int], **options: Any) -> Path:
    """3 records and a checkpoint signed at T0, then one record at each of ``after_ms`` (ms after
    T0) that a crash left unsigned (the writer's clock is ``now=``)."""
    live = tmp_path / f"{name}-live"
    clock = [T0]
    with AuditLog.open(live, now=lambda: clock[0]) as log:
        log.append_many(entry(i) for i in range(3))
    assert json.loads((live / "checkpoint.json").read_text())["ts"] == T0_TS
    log = AuditLog.open(live, checkpoint_interval_ms=0, now=lambda: clock[0], **options)
    for i, ms in enumerate(after_ms):
        clock[0] = T0 + timedelta(milliseconds=ms)
        log.append(entry(100 + i))
    copy = tmp_path / name
    shutil.copytree(live, copy)
    (copy / "audit.lock").unlink()
    log.close()
    return copy


def test_an_unsigned_tail_within_the_interval_and_a_minute_is_a_crash(tmp_path: Path):
    # Records after the checkpoint spanning up to max(interval, 1000 ms) + 60 s, to the millisecond,
    # counted from the first of them: a crash's tail.
    d = crashed_at(tmp_path, "edge", [500, 61_500])
    with AuditLog.open(d) as log:
        assert [w.code for w in log.warnings] == ["unsigned-tail"] and log.last_seq == 6
    assert records_of(d)[5]["decision"]["unsigned"] == {"first": 4, "last": 5, "count": 2}
    assert verify_log(d).ok
    # A longer interval allows a longer tail.
    d = crashed_at(tmp_path, "long", [1_000, 171_000])
    with AuditLog.open(d, checkpoint_interval_ms=120_000) as log:
        assert [w.code for w in log.warnings] == ["unsigned-tail"]
    # An interval under a second counts as one second; 0 (no timer) too.
    d = crashed_at(tmp_path, "zero", [1_000, 62_000])
    with AuditLog.open(d, checkpoint_interval_ms=0) as log:
        assert [w.code for w in log.warnings] == ["unsigned-tail"]


def test_a_crash_after_a_long_idle_spell_is_a_crash(tmp_path: Path):
    # The checkpoint is an hour old when the records come and the writer dies: the tail's own
    # span counts, not the checkpoint's age.
    d = crashed_at(tmp_path, "idle", [3_600_000, 3_600_500])
    with AuditLog.open(d) as log:
        assert [w.code for w in log.warnings] == ["unsigned-tail"]
    assert verify_log(d).ok


def test_an_unsigned_tail_longer_than_a_crash_leaves_is_refused(tmp_path: Path):
    d = crashed_at(tmp_path, "late", [500, 61_501, 62_000])
    (seg,) = segments(d)
    err = refused(d)
    assert (err.file, err.line) == (str(seg), 5)  # the first record past the span
    assert err.message == (
        "the records after the checkpoint (seq 3) run from 2026-01-01T12:00:00.500Z (seq 4) to 2026-01-01T12:01:01.501Z "
        "(seq 5), 61 s: more than a crash leaves unsigned (the checkpoint interval is 1000 ms, plus 60 s), so the checkpoint "
        "may have been replaced by an older one; nothing was written; run `tollgate audit verify DIR` to see the damage, "
        "and `tollgate audit seal DIR --reason TEXT` to continue past it deliberately"
    )
    err = refused(d, checkpoint_interval_ms=500.0)  # the interval said is at least 1000 ms
    assert "(the checkpoint interval is 1000 ms, plus 60 s)" in err.message
    with AuditLog.open(d, checkpoint_interval_ms=2_000) as log:  # with a longer interval it is a crash's tail
        assert [w.code for w in log.warnings] == ["unsigned-tail"]


def test_open_refuses_a_restored_older_checkpoint_with_the_records_after_it_rewritten(tmp_path: Path):
    """F1: a checkpoint saved earlier, put back later with every record after it edited and
    re-chained (no key needed): the records after it span more than a crash leaves unsigned."""
    d = tmp_path / "log"
    clock = [T0]
    with AuditLog.open(d, now=lambda: clock[0]) as log:
        log.append_many(entry(i) for i in range(5))
    old = (d / "checkpoint.json").read_bytes()
    assert json.loads(old)["seq"] == 5 and json.loads(old)["ts"] == T0_TS
    clock[0] = T0 + timedelta(seconds=1)
    with AuditLog.open(d, now=lambda: clock[0]) as log:  # the log goes on, signed as it goes...
        log.append_many(entry(i) for i in range(5, 7))
    clock[0] = T0 + timedelta(seconds=121)
    with AuditLog.open(d, now=lambda: clock[0]) as log:  # ...for two minutes
        log.append_many(entry(i) for i in range(7, 10))
    (d / "checkpoint.json").write_bytes(old)

    def edit(recs):
        recs[7]["action"]["args"]["amount"] = 9999

    rechain(d, edit)
    assert records_of(d)[4]["hash"] == json.loads(old)["hash"]  # the old checkpoint still matches
    (seg,) = segments(d)
    before = seg.read_bytes()
    err = refused(d)
    assert (err.file, err.line) == (str(seg), 8)
    assert err.message == (
        "the records after the checkpoint (seq 5) run from 2026-01-01T12:00:01.000Z (seq 6) to 2026-01-01T12:02:01.000Z "
        "(seq 8), 120 s: more than a crash leaves unsigned (the checkpoint interval is 1000 ms, plus 60 s), so the checkpoint "
        "may have been replaced by an older one; nothing was written; run `tollgate audit verify DIR` to see the damage, "
        "and `tollgate audit seal DIR --reason TEXT` to continue past it deliberately"
    )
    assert str(err) == f"{seg}:8: {err.message}"
    assert seg.read_bytes() == before


# -- (c) verify: the unsigned tail, strict UTF-8, the witness --------------------------------


def test_verify_reports_forged_records_after_the_checkpoint(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 10)
    forge(d, 2)
    r = verify_log(d)
    assert not r.ok
    assert (r.file, r.line) == (str(segments(d)[0]), 11)
    assert r.message.startswith("2 records are not covered by a signature: seq 11..12, after the last signed checkpoint (seq 10)")
    assert "--allow-unsigned-tail" in r.message
    r = verify_log(d, allow_unsigned_tail=True)
    assert r.ok and r.records == 12 and r.checkpoint_seq == 10 and r.unsigned_tail == 2
    assert str(r).splitlines() == ["ok: 12 records in 1 segments", "note: 2 records are not covered by a signature yet (allowed by --allow-unsigned-tail)"]
    forge(d, 1)
    assert verify_log(d).message.startswith("3 records are not")
    # One record: singular.
    d1 = tmp_path / "one"
    fill(d1, 2)
    forge(d1, 1)
    assert verify_log(d1).message.startswith("1 record is not covered by a signature: seq 3..3")


def test_verify_reads_bytes_strictly(tmp_path: Path):
    d = tmp_path / "log"
    with AuditLog.open(d) as log:
        log.append(entry(0))
        a = {"tool": "payments.refund", "args": {"order_id": "ord_\ufffd\ufffd", "amount": 5}}
        log.append(AuditEntry(log_decision(), a, "billing-agent", "h", 1))
        log.append(entry(2))
    seg = segments(d)[0]
    data = seg.read_bytes()
    assert data.count(b"\xef\xbf\xbd") == 2
    seg.write_bytes(data.replace(b"\xef\xbf\xbd", b"\xff", 1))
    r = verify_log(d)
    assert not r.ok and (r.file, r.line, r.message) == (str(seg), 2, "line is not valid UTF-8")
    # An overlong encoding, a UTF-8 surrogate (ED A0 80) and a lone continuation byte too.
    for bad in (b"\xc0\xaf", b"\xed\xa0\x80", b"\x80"):
        seg.write_bytes(data.replace(b"\xef\xbf\xbd", bad, 1))
        assert verify_log(d).message == "line is not valid UTF-8", bad


def log_decision() -> Dict[str, Any]:
    return {"decision": "allow", "rule": "small-refund", "reason": None, "undetermined": False, "policy": "billing-agent"}


def test_a_log_cut_back_to_an_older_checkpoint_is_caught_by_the_witness(tmp_path: Path):
    d = tmp_path / "log"
    w = tmp_path / "elsewhere" / "witness.json"
    w.parent.mkdir()
    with AuditLog.open(d, witness=w) as log:
        for i in range(5):
            log.append(entry(i))
        log.checkpoint()
        old = (d / "checkpoint.json").read_bytes()
        for i in range(5, 10):
            log.append(entry(i))
    assert w.read_bytes() == (d / "checkpoint.json").read_bytes()  # close delivers the final checkpoint
    assert json.loads(w.read_text())["seq"] == 10
    r = verify_log(d, witness=w)
    assert r.ok and r.witness_seq == 10 and str(r).endswith("note: the witness's checkpoint (seq 10) matches the log")
    # Restore the older checkpoint and cut the log back to it: consistent, signed, verifies...
    (d / "checkpoint.json").write_bytes(old)
    seg = segments(d)[0]
    seg.write_bytes(b"".join(lines(seg)[:5]))
    assert verify_log(d).ok
    # ...but not against the witness.
    r = verify_log(d, witness=w)
    assert not r.ok and r.file == str(w) and r.line == 1
    assert "the witness holds a checkpoint at seq 10: records were deleted (or the log was cut back to an older checkpoint)" in r.message
    # A rewritten history of the same length: the witness's record no longer matches.
    with AuditLog.open(d) as log:
        for i in range(5):
            log.append(entry(100 + i))
    r = verify_log(d, witness=w)
    assert not r.ok and (r.file, r.line) == (str(seg), 10) and "record 10 has hash" in r.message and "but the witness says" in r.message


def cut_back(d: Path, w: Path) -> None:
    """10 records and a saved checkpoint, 10 more with a file witness; then the log cut back to 10 lines
    and the old checkpoint restored: consistent and signed, but behind the witness (seq 20)."""
    with AuditLog.open(d) as log:
        log.append_many(entry(i) for i in range(10))
    old = (d / "checkpoint.json").read_bytes()
    with AuditLog.open(d, witness=w) as log:
        log.append_many(entry(i) for i in range(10, 20))
    assert json.loads(w.read_text())["seq"] == 20
    (seg,) = segments(d)
    seg.write_bytes(b"".join(lines(seg)[:10]))
    (d / "checkpoint.json").write_bytes(old)
    assert verify_log(d).ok  # nothing in the directory shows it


def test_a_writer_never_continues_a_log_cut_back_behind_its_witness(tmp_path: Path):
    d = tmp_path / "log"
    w = tmp_path / "elsewhere" / "witness.json"
    w.parent.mkdir()
    cut_back(d, w)
    held = w.read_bytes()
    with segments(d)[0].open("ab") as f:
        f.write(b'{"action":{"tool":"pay')  # a torn end too: not cut either (refused() compares every file)
    err = refused(d, at_line=False, witness=w)
    assert (err.file, err.line) == (str(w), None)
    assert err.message.startswith("the log ends at seq 10 but the witness holds a checkpoint at seq 20: records were deleted; nothing was written")
    assert w.read_bytes() == held  # not overwritten by a checkpoint of the cut-back log
    assert not verify_log(d, witness=w).ok


def test_open_checks_the_record_at_the_witness_seq(tmp_path: Path):
    d = tmp_path / "log"
    w = tmp_path / "w.json"
    with AuditLog.open(d, witness=w) as log:
        log.append_many(entry(i) for i in range(10))
    wcp = json.loads(w.read_text())
    assert wcp["seq"] == 10
    with AuditLog.open(d) as log:  # 10 more, signed by the checkpoint but not sent to the witness
        log.append_many(entry(i) for i in range(10, 20))
    (seg,) = segments(d)
    good = seg.read_bytes()
    # Record 10 (before the checkpoint, so open does not walk it) rewritten: another hash.
    ls = lines(seg)
    r = json.loads(ls[9])
    h, line = encode_record(AuditEntry(r["decision"], {"tool": "x"}, r["policy"], r["policy_hash"], r["eval_ns"]), 10, r["ts"], r["prev"])
    ls[9] = line.encode("utf-8")
    seg.write_bytes(b"".join(ls))
    err = refused(d, witness=w)
    assert (err.file, err.line) == (str(seg), 10)
    assert err.message.startswith(f"record 10 has hash {h} but the witness says {wcp['hash']}; nothing was written")
    # Record 10 gone (its line no longer a record).
    ls[9] = b"x\n"
    seg.write_bytes(b"".join(ls))
    err = refused(d, at_line=False, witness=w)
    assert (err.file, err.line) == (str(w), None)
    assert err.message.startswith(f"record 10 is missing but the witness says {wcp['hash']}; nothing was written")
    # A witness signed by another key.
    seg.write_bytes(good)
    other, ow = tmp_path / "other", tmp_path / "ow.json"
    fill(other, 3, witness=ow)
    kid = json.loads(ow.read_text())["key_id"]
    held = ow.read_bytes()
    refused(d, f"the witness holds a checkpoint that is not signed by this log's key ({kid}); nothing was written", at_line=False, witness=ow)
    assert ow.read_bytes() == held
    with AuditLog.open(d, witness=w) as log:  # as it was: opens
        assert log.warnings == [] and log.last_seq == 20


UNREACHABLE = "the log cannot be checked against its witness at open: start when the witness is reachable, or without it"


def witness_refused(d: Path, witness: Any) -> AuditError:
    """Opening ``d`` with ``witness`` fails naming the witness (no line); nothing is written."""
    before = snapshot(d)
    with pytest.raises(AuditError) as info:
        AuditLog.open(d, witness=witness)
    err = info.value
    assert (err.file, err.line) == (os.fspath(witness), None)
    assert snapshot(d) == before
    assert not (d / "audit.lock").exists()
    return err


def test_a_witness_is_read_at_open(tmp_path: Path):
    # No witness file yet (first use): fine, and the first checkpoint creates it.
    d = tmp_path / "log"
    w = tmp_path / "w.json"
    with AuditLog.open(d, witness=w) as log:
        assert log.warnings == []
        log.append(entry(1))
    assert json.loads(w.read_text())["seq"] == 1
    with AuditLog.open(d, witness=w) as log:  # and the next open checks against it
        assert log.warnings == []
    # A witness that cannot be read: refused (a writer that went on would overwrite it), nothing written.
    w.write_text("not json")
    err = witness_refused(d, w)
    assert err.message == f"the witness {w}: checkpoint is not JSON; {UNREACHABLE}"
    assert w.read_text() == "not json"
    wd = tmp_path / "a-directory"
    wd.mkdir()
    err = witness_refused(d, wd)
    assert err.message.startswith(f"cannot read the witness {wd}: ") and err.message.endswith(f"; {UNREACHABLE}")
    with AuditLog.open(d) as log:  # without it: opens
        assert log.warnings == []


def test_records_up_to_the_witness_seq_count_as_signed(tmp_path: Path):
    d = tmp_path / "log"
    w = tmp_path / "w.json"
    with AuditLog.open(d, witness=w) as log:
        log.append_many(entry(i) for i in range(3))
        log.checkpoint()
        old = (d / "checkpoint.json").read_bytes()
        log.append_many(entry(i) for i in range(3, 6))
    (d / "checkpoint.json").write_bytes(old)  # an older checkpoint, the log as it was
    r = verify_log(d)
    assert not r.ok and r.message.startswith("3 records are not covered by a signature: seq 4..6, after the last signed checkpoint (seq 3)")
    r = verify_log(d, witness=w)
    assert r.ok and r.checkpoint_seq == 3 and r.witness_seq == 6 and r.unsigned_tail == 0, str(r)
    forge(d, 1)
    r = verify_log(d, witness=w)
    assert not r.ok and r.message.startswith("1 record is not covered by a signature: seq 7..7, after the last signed checkpoint (seq 6)")


def test_witness_problems(tmp_path: Path):
    d = tmp_path / "log"
    w = tmp_path / "w.json"
    fill(d, 3, witness=w)
    r = verify_log(d, witness=tmp_path / "missing.json")
    assert not r.ok and r.file == str(tmp_path / "missing.json") and r.message.startswith("cannot read the witness")
    (tmp_path / "junk.json").write_text("not json")
    assert verify_log(d, witness=tmp_path / "junk.json").message.endswith(": checkpoint is not JSON")
    other = tmp_path / "other"
    ow = tmp_path / "ow.json"
    fill(other, 3, witness=ow)
    r = verify_log(d, witness=ow)
    assert not r.ok and r.file == str(ow) and "the witness's checkpoint was signed by key" in r.message
    cp = json.loads(w.read_text())
    cp["seq"] = 2
    (tmp_path / "edited.json").write_text(json.dumps(cp))
    assert verify_log(d, witness=tmp_path / "edited.json").message == "the witness's checkpoint signature does not verify"


def test_witness_delivery_failure_is_a_warning(tmp_path: Path):
    # Reachable at open (404: nothing delivered yet), but every delivery after it fails.
    wit = _Witness(post_status=503)
    try:
        seen: List[Any] = []
        with AuditLog.open(tmp_path / "log", witness=wit.url, on_warning=seen.append) as log:
            log.append(entry(1))
        assert seen and all(x.code == "witness" and x.file == wit.url for x in seen)
        assert any("the checkpoint at seq 0 could not be delivered to the witness" in x.message for x in seen)
        assert any("the checkpoint at seq 1 could not be delivered to the witness" in x.message for x in seen)
        assert [x.code for x in log.warnings] == ["witness"] * len(seen)
        assert verify_log(tmp_path / "log").ok
    finally:
        wit.close()


class _Witness:
    """An HTTP witness: keeps every POSTed checkpoint, answers GET with the latest."""

    def __init__(self, hold: Optional[threading.Event] = None, post_status: int = 204, get_status: Optional[int] = None) -> None:
        self.posts: List[Tuple[str, bytes]] = []
        self.hold = hold
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                if outer.hold is not None:
                    outer.hold.wait(4)
                if post_status >= 300:
                    self.send_response(post_status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                outer.posts.append((self.headers["content-type"], body))
                self.send_response(204)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                body = outer.posts[-1][1] if outer.posts and get_status is None else b""
                self.send_response(get_status if get_status is not None else 200 if body else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/checkpoint"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_http_witness(tmp_path: Path):
    wit = _Witness()
    try:
        d = tmp_path / "log"
        with AuditLog.open(d, witness=wit.url) as log:  # GET answers 404 (nothing delivered yet): first use
            assert log.warnings == []
            log.append_many(entry(i) for i in range(7))
        assert wit.posts and all(ct == "application/json" for ct, _ in wit.posts)
        assert wit.posts[-1][1] == (d / "checkpoint.json").read_bytes()
        assert all(json.loads(body)["format"] == "tollgate-audit-checkpoint/1" for _, body in wit.posts)
        r = verify_log(d, witness=wit.url)
        assert r.ok and r.witness_seq == 7
        seg = segments(d)[0]
        seg.write_bytes(b"".join(lines(seg)[:5]))
        (d / "checkpoint.json").write_bytes(wit.posts[0][1])  # the open's checkpoint, at seq 0
        assert verify_log(d, allow_unsigned_tail=True).ok
        r = verify_log(d, witness=wit.url, allow_unsigned_tail=True)
        assert not r.ok and r.file == wit.url and "holds a checkpoint at seq 7" in r.message
    finally:
        wit.close()
    # Nobody listens now: open refuses (a log cut back meanwhile would go unnoticed), nothing written.
    d2 = tmp_path / "log2"
    fill(d2, 2)
    err = witness_refused(d2, wit.url)
    assert err.message.startswith(f"cannot read the witness {wit.url}: ") and err.message.endswith(f"; {UNREACHABLE}")
    assert not verify_log(d2, witness=wit.url).ok


def test_an_http_witness_that_answers_an_error_at_open_is_refused(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 2)
    wit = _Witness(get_status=503)
    try:
        err = witness_refused(d, wit.url)
        assert err.message == f"the witness {wit.url} answered 503; {UNREACHABLE}"
        assert wit.posts == []
    finally:
        wit.close()
    wit = _Witness()  # 404: nothing delivered yet, first use
    try:
        with AuditLog.open(d, witness=wit.url) as log:
            assert log.warnings == []
            log.append(entry(3))
        assert json.loads(wit.posts[-1][1])["seq"] == 3
        with AuditLog.open(d, witness=wit.url) as log:  # and the next open checks against it
            assert log.warnings == [] and log.last_seq == 3
    finally:
        wit.close()


def test_a_slow_witness_never_holds_up_appends_or_checkpoints(tmp_path: Path):
    hold = threading.Event()
    wit = _Witness(hold)
    try:
        d = tmp_path / "log"
        with AuditLog.open(d, witness=wit.url, checkpoint_interval_ms=50) as log:
            t0 = time.monotonic()
            for i in range(100):
                log.append(entry(i))
            time.sleep(0.3)
            assert json.loads((d / "checkpoint.json").read_text())["seq"] == 100  # the timer signed it meanwhile
            assert time.monotonic() - t0 < 3
            assert wit.posts == []  # the witness still holds the first one
            hold.set()
        assert wit.posts[-1][1] == (d / "checkpoint.json").read_bytes()
    finally:
        hold.set()
        wit.close()


def test_gate_open_passes_the_witness_through(tmp_path: Path):
    w = tmp_path / "w.json"
    with Gate.open(Policy.from_yaml(GATE_POLICY), audit_dir=tmp_path / "audit", witness=w) as gate:
        gate.check({"tool": "x"})
    assert json.loads(w.read_text())["seq"] == 1


# -- the checkpoint timer ---------------------------------------------------------------------


def test_a_burst_then_silence_is_signed_within_an_interval(tmp_path: Path):
    d = tmp_path / "log"
    with AuditLog.open(d, checkpoint_interval_ms=200) as log:
        futures = [log.submit(entry(i)) for i in range(300)]
        assert futures[-1].result(timeout=30).seq == 300
        time.sleep(0.4)  # two intervals, nothing appended
        cp = json.loads((d / "checkpoint.json").read_text())
        assert cp["seq"] == 300 and cp["hash"] == futures[-1].result().hash
        assert verify_log(d).ok  # no unsigned tail while the writer is still open


# -- (d) seal -----------------------------------------------------------------------------------


def seal_by_hand(d: Path, reason: str, sign: bool = True, ts: str = TS) -> Tuple[int, str]:
    """Writes a seal record as docs/audit.md defines it (as `tollgate audit seal` does), with the writer stopped."""
    from tollgate.audit import CHECKPOINT_FILE, _load_keys, _sign_checkpoint

    r = verify_log(d)
    assert not r.ok
    found = f"{os.path.relpath(r.file, d)}:{r.line}: {r.message}"
    names = [s.name for s in segments(d)]
    max_seq, prev = 0, GENESIS
    for s in segments(d):
        max_seq = max(max_seq, int(s.name[6:26]) - 1)
        ls = [x for x in s.read_bytes().split(b"\n")][:-1]
        for raw in ls:
            try:
                v = json.loads(raw)
            except ValueError:
                continue
            if isinstance(v, dict) and isinstance(v.get("seq"), int):
                max_seq = max(max_seq, v["seq"])
        if ls:
            try:
                last = json.loads(ls[-1])
                prev = last["hash"] if isinstance(last, dict) and isinstance(last.get("hash"), str) else GENESIS
            except ValueError:
                prev = GENESIS
    cp = json.loads((d / CHECKPOINT_FILE).read_text()) if (d / CHECKPOINT_FILE).exists() else None
    if cp is not None:
        max_seq = max(max_seq, cp["seq"])
    k, b, digest = prefix_digest(str(d), names)
    seq = max_seq + 1
    decision = {"event": "seal", "reason": reason, "by": "tester", "found": found,
                "prefix": {"segments": k, "bytes": b, "sha256": digest}, "checkpoint": cp, "witness": None}
    h, line = encode_record(AuditEntry(decision, {"event": "seal"}, "", "", 0), seq, ts, prev)
    (d / segment_name(seq)).write_bytes(line.encode("utf-8"))
    if sign:
        keys, _ = _load_keys(str(d))
        (d / CHECKPOINT_FILE).write_text(canonicalize(_sign_checkpoint(seq, h, keys, ts)) + "\n")
    return seq, h


def test_a_sealed_log_verifies_from_its_seal(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 12, segment_bytes=2500)
    assert len(segments(d)) >= 3
    s0 = segments(d)[0]
    s0.write_bytes(s0.read_bytes().replace(b'"amount":1,', b'"amount":7,', 1))  # damage
    seq, h = seal_by_hand(d, "disk repaired; records 2-3 lost")
    assert seq == 13
    r = verify_log(d)
    assert r.ok, str(r)
    assert (r.records, r.segments, r.checkpoint_seq) == (1, len(segments(d)), 13)
    assert r.seal is not None and r.seal.seq == 13 and r.seal.reason == "disk repaired; records 2-3 lost"
    assert r.seal.found.startswith("audit-00000000000000000001.jsonl:2: hash mismatch")
    assert str(r).splitlines()[1].startswith("note: sealed at seq 13 (2025-01-01T00:00:00.000Z) by tester: disk repaired; records 2-3 lost \u2014 it accepted")
    # The writer continues after the seal; both verify.
    with AuditLog.open(d, segment_bytes=2500) as log:
        assert log.warnings == [] and log.last_seq == 13 and log.last_hash == h
        for i in range(6):
            log.append(entry(i))
    r = verify_log(d)
    assert r.ok and r.records == 7 and r.seal.seq == 13, str(r)
    # Any change before the seal fails.
    seal_file = d / segment_name(13)
    for change in ("edit", "delete", "add"):
        before = s0.read_bytes()
        if change == "edit":
            s0.write_bytes(before.replace(b'"amount":7,', b'"amount":8,', 1))
        elif change == "delete":
            s0.unlink()
        else:
            assert not (d / segment_name(12)).exists()
            (d / segment_name(12)).write_bytes(b"")
        r = verify_log(d)
        assert not r.ok and (r.file, r.line) == (str(seal_file), 1), change
        assert "before the seal at seq 13 are not those it sealed" in r.message and "they were changed after the seal" in r.message
        if change == "add":
            (d / segment_name(12)).unlink()
        s0.write_bytes(before)
    assert verify_log(d).ok


def test_an_unsigned_seal_is_refused(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 4)
    s0 = segments(d)[0]
    s0.write_bytes(s0.read_bytes().replace(b'"amount":1,', b'"amount":7,', 1))
    seq, _ = seal_by_hand(d, "no key at hand", sign=False)
    r = verify_log(d)
    assert not r.ok and (r.file, r.line) == (str(d / "checkpoint.json"), 1)
    assert r.message == f"the checkpoint covers seq 4, before the seal at seq {seq}: the seal is not signed"
    # Open walks from the checkpoint (seq 4) and meets the seal after it.
    err = refused(d, "a seal record that does not start the checked part of the log")
    assert (err.file, err.line) == (str(d / segment_name(seq)), 1)


def test_a_seal_elsewhere_than_at_the_start_of_the_checked_part(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 3)
    seg = segments(d)[0]
    last = records_of(d)[-1]
    decision = {"event": "seal", "reason": "x", "by": "y", "found": "z", "prefix": {"segments": 0, "bytes": 0, "sha256": "0" * 64},
                "checkpoint": None, "witness": None}
    h, line = encode_record(AuditEntry(decision, {"event": "seal"}, "", "", 0), 4, TS, last["hash"])
    with seg.open("ab") as f:
        f.write(line.encode("utf-8"))
    r = verify_log(d, allow_unsigned_tail=True)
    assert not r.ok and (r.file, r.line) == (str(seg), 4) and r.message.startswith("a seal record that does not start the checked part")
    refused(d, "a seal record that does not start the checked part")


# -- (e) the gate: actions that cannot be recorded faithfully ---------------------------------

GATE_POLICY = """tollgate: 1
name: gate-test
approvers:
  ops: { timeout: 1m, on_timeout: allow }
audit:
  redact: [args.card_number]
rules:
  - { id: restart, effect: escalate, approver: ops, reason: restarts need ops, when: { tool: ops.restart } }
  - { id: anything, effect: allow, when: { tool: { exists: true } } }
"""

UNRECORDABLE_TEXT = "action cannot be recorded faithfully in the audit log (a lone surrogate, nesting deeper than 512, or a value that is not JSON)"


def _nest(n: int) -> Any:
    v: Any = "leaf"
    for _ in range(n):
        v = {"a": v}
    return v


def test_gate_denies_actions_it_cannot_record(tmp_path: Path):
    d = tmp_path / "audit"
    policy = Policy.from_yaml(GATE_POLICY)
    surrogate = json.loads('{"tool":"x","memo":"\\ud800"}')
    key_surrogate = json.loads('{"tool":"ops.restart","args":{"\\udc00":1}}')
    deep = {"tool": "ops.restart", "args": _nest(600)}
    others = [{"tool": "x", "n": float("nan")}, {"tool": "x", "b": b"bytes"}, {"tool": "x", "s": {1, 2}}]
    assert policy.evaluate(surrogate).decision == "allow" and policy.evaluate(deep).decision == "escalate"
    expected = {"decision": "deny", "rule": None, "reason": UNRECORDABLE_TEXT, "undetermined": False, "error": UNRECORDABLE_TEXT, "policy": "gate-test"}
    with Gate.open(policy, audit_dir=d) as gate:
        outs = [gate.check(a) for a in [surrogate, key_surrogate, deep] + others]
        fine = gate.check({"tool": "ops.restart", "args": _nest(500)})
        # A value at a redacted path is not recorded, so it is not checked.
        redacted = gate.check(json.loads('{"tool":"x","args":{"card_number":"\\ud800"}}'))
        s = gate.metrics()
    for o in outs:
        assert {k: v for k, v in o.items() if not k.startswith("audit_")} == expected
        assert list(o)[:6] == ["decision", "rule", "reason", "undetermined", "error", "policy"]
    assert fine["decision"] == "escalate" and redacted["decision"] == "allow"
    assert s["decisions"] == {"allow": 1, "deny": 6, "escalate": 1}
    recs = records_of(d)
    for rec in recs[:6]:
        assert rec["action"] == "[not JSON]" and rec["eval_ns"] == 0 and rec["decision"] == expected
    assert recs[7]["action"] == {"tool": "x", "args": {"card_number": "[redacted]"}}
    assert verify_log(d).ok
    # Without an audit log the gate decides the same.
    assert {k: v for k, v in Gate(policy).check(surrogate).items()} == expected


def test_a_witness_whose_directory_is_missing_is_refused(tmp_path: Path):
    # Most likely a mount that is not there: refuse rather than keep the witness on the local disk.
    d = tmp_path / "log"
    with pytest.raises(AuditError, match=r"the witness's directory .*not-mounted does not exist"):
        AuditLog.open(d, witness=tmp_path / "not-mounted" / "w.json")
