"""tollgate.audit: the Python writer and verifier on their own (docs/audit.md).

Byte identity with Node's writer and cross-verification live in test_audit_node.py.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import List

import pytest

from tollgate import Policy
from tollgate.audit import (
    GENESIS,
    NOT_JSON,
    AuditEntry,
    AuditError,
    AuditLog,
    audit_record,
    encode_record,
    parse_record,
    redact,
    segment_name,
    verify_log,
)

from conftest import BILLING_STATELESS, EXAMPLES

POLICY = Policy.from_file(BILLING_STATELESS)
REFUND = {
    "tool": "payments.refund",
    "args": {"order_id": "ord_4821abcd", "amount": 900, "currency": "EUR", "card_number": "4111111111111111"},
    "customer": {"email": "a@example.com", "tier": "gold"},
}


def entry(i: int = 0) -> AuditEntry:
    action = {"tool": "payments.refund", "args": {"order_id": f"ord_{i:08d}", "amount": i % 1000, "currency": "EUR"}}
    return audit_record(POLICY, action, POLICY.evaluate(action), 1000 + i)


def fill(dir: Path, n: int, **opts) -> List[str]:
    with AuditLog.open(dir, **opts) as log:
        return [log.append(entry(i)).hash for i in range(n)]


def segments(dir: Path) -> List[Path]:
    return sorted(dir.glob("audit-*.jsonl"))


def lines(path: Path) -> List[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# -- the record -----------------------------------------------------------------------


def test_audit_record_redacts_copy_on_write():
    action = json.loads(json.dumps(REFUND))
    before = json.dumps(action)
    e = audit_record(POLICY, action, POLICY.evaluate(action), 12.5)
    assert json.dumps(action) == before  # the caller's object is untouched
    assert e.action["args"]["card_number"] == "[redacted]"
    assert e.action["customer"]["email"] == "[redacted]"
    assert e.action["customer"]["tier"] == "gold"
    assert e.action["args"]["amount"] == 900
    assert e.action["tool"] is action["tool"]
    assert e.eval_ns == 13  # Math.round
    assert e.policy == "billing-agent" and e.policy_hash == POLICY.hash


def test_redact_rules():
    paths = [("a", "b"), ("n",), ("arr", "x"), ("s", "t"), ("missing", "x")]
    v = {"a": {"b": {"deep": 1}, "c": 2}, "n": None, "arr": [{"x": 1}], "s": "str"}
    out = redact(v, paths)
    assert out == {"a": {"b": "[redacted]", "c": 2}, "n": "[redacted]", "arr": [{"x": 1}], "s": "str"}
    assert out["arr"] is v["arr"]  # only objects on a redacted path are copied
    assert redact(v, []) is v and redact(v, [()]) is v
    assert redact("scalar", paths) == "scalar"
    assert redact({"x": 1}, paths) == {"x": 1}


def test_encode_record_layout_and_hash():
    d = POLICY.evaluate(REFUND)
    h, line = encode_record(audit_record(POLICY, REFUND, d, 5), 1, "2025-01-01T00:00:00.000Z", GENESIS)
    assert line.endswith("\n")
    rec = json.loads(line)
    assert list(rec) == ["action", "decision", "eval_ns", "hash", "policy", "policy_hash", "prev", "seq", "ts"]
    assert rec["hash"] == h and rec["decision"] == d.to_dict()
    r, err = parse_record(line[:-1])
    assert err is None and r["seq"] == 1
    with pytest.raises(TypeError):
        encode_record(AuditEntry(d, {}, "p", "h", -1), 1, "2025-01-01T00:00:00.000Z", GENESIS)
    with pytest.raises(TypeError):
        encode_record(AuditEntry(d, {}, "p", "h", 1.5), 1, "2025-01-01T00:00:00.000Z", GENESIS)
    # A mapping entry and a dict decision work too.
    m = {"decision": d.to_dict(), "action": {}, "policy": "p", "policy_hash": "h", "eval_ns": 3}
    assert encode_record(m, 2, "2025-01-01T00:00:00.000Z", h)[1] == encode_record(AuditEntry(d, {}, "p", "h", 3), 2, "2025-01-01T00:00:00.000Z", h)[1]


class _Obj:
    pass


@pytest.mark.parametrize(
    "action",
    [float("nan"), {"x": float("inf")}, {"x": {1, 2}}, b"bytes", {"s": "\ud800"}, {"n": 2**1100}, {1: "x"}, _Obj(), [_Obj()]],
)
def test_actions_that_are_not_json(action):
    line = encode_record(AuditEntry(POLICY.evaluate({"tool": "x"}), action, "p", "h", 1), 1, "2025-01-01T00:00:00.000Z", GENESIS)[1]
    assert json.loads(line)["action"] == NOT_JSON


def test_cyclic_and_deep_actions():
    cyc: dict = {}
    cyc["self"] = cyc
    d = POLICY.evaluate({"tool": "x"})

    def action_of(a):
        return json.loads(encode_record(AuditEntry(d, a, "p", "h", 1), 1, "2025-01-01T00:00:00.000Z", GENESIS)[1])["action"]

    assert action_of(cyc) == NOT_JSON

    def nest(n):
        v: object = "leaf"
        for _ in range(n):
            v = {"a": v}
        return v

    assert action_of(nest(513)) != NOT_JSON  # containers at depth 0..512: as Node
    assert action_of(nest(514)) == NOT_JSON


def test_parse_record_rejects():
    d = POLICY.evaluate({"tool": "x"})
    h, line = encode_record(AuditEntry(d, {"k": 1}, "p", "h", 1), 1, "2025-01-01T00:00:00.000Z", GENESIS)
    body = line[:-1]
    assert parse_record("nope")[1] == "not a JSON line"
    assert parse_record("[]")[1] == "record is not a JSON object"
    assert parse_record(body.replace('"k":1', '"k":2'))[1].startswith("hash mismatch")
    assert parse_record(body.replace('{"action"', '{ "action"'))[1] == "record is not in canonical form (RFC 8785)"
    assert parse_record(body.replace('"seq":1', '"seq":0'))[1] == "seq is not a positive integer"
    assert parse_record(body.replace("2025-01-01T00:00:00.000Z", "2025-01-01"))[1].startswith("ts is not")
    assert parse_record(body.replace('"eval_ns":1', '"eval_ns":-1'))[1] == "eval_ns is not a non-negative integer"
    assert parse_record(body.replace('"policy":"p",', ""))[1].startswith("record has keys")


# -- the log --------------------------------------------------------------------------


def test_layout_keys_and_checkpoint(tmp_path: Path):
    d = tmp_path / "log"
    hashes = fill(d, 5)
    names = sorted(os.listdir(d))
    assert names == ["audit-00000000000000000001.jsonl", "audit.key", "audit.pub", "checkpoint.json"]
    assert stat.S_IMODE(os.stat(d / "audit.key").st_mode) == 0o600
    assert (d / "audit.key").read_text().startswith("-----BEGIN PRIVATE KEY-----\n")
    assert (d / "audit.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    cp_text = (d / "checkpoint.json").read_text()
    cp = json.loads(cp_text)
    assert cp_text.endswith("\n") and cp["seq"] == 5 and cp["hash"] == hashes[-1]
    assert list(cp) == ["format", "hash", "key_id", "seq", "sig", "ts"]
    recs = [json.loads(x) for x in lines(d / segment_name(1))]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert recs[0]["prev"] == GENESIS and recs[1]["prev"] == recs[0]["hash"]
    r = verify_log(d)
    assert r.ok and r.records == 5 and r.segments == 1 and r.checkpoint_seq == 5, str(r)
    assert str(r) == "ok: 5 records in 1 segments"


def test_reopen_continues_the_chain_and_keeps_the_key(tmp_path: Path):
    d = tmp_path / "log"
    first = fill(d, 3)
    key = (d / "audit.key").read_bytes()
    with AuditLog.open(d) as log:
        assert log.last_seq == 3 and log.last_hash == first[-1]
        a = log.append(entry(9))
        assert a.seq == 4
        assert log.warnings == []
    assert (d / "audit.key").read_bytes() == key
    assert json.loads(lines(d / segment_name(1))[3])["prev"] == first[-1]
    assert verify_log(d).ok


def test_timestamps_from_the_clock(tmp_path: Path):
    t = datetime(2025, 1, 2, 3, 4, 5, 678999, tzinfo=timezone.utc)
    with AuditLog.open(tmp_path / "a", now=lambda: t) as log:
        log.append(entry())
    assert json.loads(lines(tmp_path / "a" / segment_name(1))[0])["ts"] == "2025-01-02T03:04:05.678Z"
    with AuditLog.open(tmp_path / "b", now=lambda: 1735689600.0019) as log:
        log.append(entry())
    assert json.loads(lines(tmp_path / "b" / segment_name(1))[0])["ts"] == "2025-01-01T00:00:00.001Z"


def test_rotation(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 30, segment_bytes=2000)
    segs = segments(d)
    assert len(segs) > 3
    seq = 1
    for s in segs:
        assert s.name == segment_name(seq)
        assert s.stat().st_size <= 2000 or len(lines(s)) == 1
        seq += len(lines(s))
    assert seq == 31
    assert verify_log(d).records == 30
    # A record bigger than a segment gets a segment of its own; reopening continues in the last one.
    with AuditLog.open(d, segment_bytes=2000) as log:
        big = audit_record(POLICY, {"tool": "x", "blob": "y" * 5000}, POLICY.evaluate({"tool": "x"}), 1)
        log.append(big)
        log.append(entry())
    assert len(lines(segments(d)[-2])) == 1
    assert verify_log(d).records == 32


def test_append_many_and_flush(tmp_path: Path):
    with AuditLog.open(tmp_path / "log") as log:
        out = log.append_many(entry(i) for i in range(10))
        assert [a.seq for a in out] == list(range(1, 11))
        log.flush()
        assert log.append_many([]) == []
    assert verify_log(tmp_path / "log").records == 10


def test_bad_entry_leaves_the_chain_as_it_was(tmp_path: Path):
    with AuditLog.open(tmp_path / "log") as log:
        log.append(entry())
        with pytest.raises(TypeError):
            log.append_many([entry(1), AuditEntry(POLICY.evaluate({}), {}, "p", "h", -5)])
        assert log.last_seq == 1
        assert log.append(entry(2)).seq == 2
    assert verify_log(tmp_path / "log").records == 2


@pytest.mark.parametrize("group", [True, False])
def test_threads(tmp_path: Path, group: bool):
    d = tmp_path / "log"
    n_threads, per = 8, (150 if group else 40)
    results: List[List[tuple]] = [[] for _ in range(n_threads)]
    with AuditLog.open(d, group_commit=group, segment_bytes=64 * 1024) as log:

        def work(t: int) -> None:
            for i in range(per):
                a = log.append(entry(t * 1000 + i))
                results[t].append((a.seq, a.hash))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    r = verify_log(d)
    assert r.ok and r.records == n_threads * per, str(r)
    all_seqs = sorted(s for res in results for s, _ in res)
    assert all_seqs == list(range(1, n_threads * per + 1))
    for res in results:  # each thread's records are in its call order
        assert [s for s, _ in res] == sorted(s for s, _ in res)
    by_seq = {}
    for s in segments(d):
        for raw in lines(s):
            rec = json.loads(raw)
            by_seq[rec["seq"]] = rec["hash"]
    assert all(by_seq[s] == h for res in results for s, h in res)


def test_group_commit_batches_syncs(tmp_path: Path, monkeypatch):
    import tollgate.audit as audit_mod

    syncs = []
    real = audit_mod._datasync

    def counting(fd):
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(audit_mod, "_datasync", counting)
    with AuditLog.open(tmp_path / "log", batch_window_ms=5) as log:
        barrier = threading.Barrier(8)

        def work():
            barrier.wait()
            for i in range(20):
                log.append(entry(i))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert verify_log(tmp_path / "log").records == 160
    assert len(syncs) < 160 / 2, len(syncs)


def test_write_failure_fails_closed(tmp_path: Path, monkeypatch):
    import tollgate.audit as audit_mod

    log = AuditLog.open(tmp_path / "log")
    log.append(entry())

    def broken(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(audit_mod, "_datasync", broken)
    with pytest.raises(AuditError, match="audit write failed"):
        log.append(entry(1))
    monkeypatch.undo()
    with pytest.raises(AuditError, match="audit write failed"):
        log.append(entry(2))
    with pytest.raises(AuditError, match="audit write failed"):
        log.submit(entry(2))
    with pytest.raises(AuditError, match="audit write failed"):
        log.close()  # as Node's close(): the failure, after releasing the file and the lock
    assert not (tmp_path / "log" / "audit.lock").exists()
    with pytest.raises(AuditError, match="closed"):
        log.append(entry(3))


def test_submit_and_append_async(tmp_path: Path):
    import asyncio

    d = tmp_path / "log"
    with AuditLog.open(d) as log:
        futures = [log.submit(entry(i)) for i in range(200)]
        assert [f.result(timeout=30).seq for f in futures] == list(range(1, 201))
        assert not futures[0].cancel()

        async def many():
            return await asyncio.gather(*(log.append_async(entry(i)) for i in range(300)))

        out = asyncio.run(many())
        assert [a.seq for a in out] == list(range(201, 501))
        last = log.submit(entry(1))
    assert last.result(timeout=0).seq == 501  # close() syncs what was submitted
    r = verify_log(d)
    assert r.ok and r.records == 501 and r.checkpoint_seq == 501


def test_submit_failure_fails_the_futures(tmp_path: Path, monkeypatch):
    import tollgate.audit as audit_mod

    log = AuditLog.open(tmp_path / "log")

    def broken(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(audit_mod, "_datasync", broken)
    failed = 0
    for i in range(20):
        try:
            f = log.submit(entry(i))
        except AuditError as err:  # the writer thread failed already: submit refuses at once
            assert "audit write failed" in str(err)
            failed += 1
            continue
        with pytest.raises(AuditError, match="audit write failed"):
            f.result(timeout=30)
        failed += 1
    assert failed == 20
    with pytest.raises(AuditError):
        log.close()


def test_lock(tmp_path: Path):
    d = tmp_path / "log"
    log = AuditLog.open(d)
    assert (d / "audit.lock").read_text() == f"{os.getpid()}\n"
    with pytest.raises(AuditError, match="already open in this process"):
        AuditLog.open(d)
    log.close()
    assert not (d / "audit.lock").exists()
    # A lock left by a process that is gone is taken over; one held by a live process is not.
    (d / "audit.lock").write_text("999999999\n")
    AuditLog.open(d).close()
    (d / "audit.lock").write_text(f"{os.getppid()}\n")
    with pytest.raises(AuditError, match=f"open in process {os.getppid()}"):
        AuditLog.open(d)


def test_key_permissions_warning(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 1)
    os.chmod(d / "audit.key", 0o644)
    seen = []
    with AuditLog.open(d, on_warning=seen.append) as log:
        assert [w.code for w in log.warnings] == ["key-permissions"]
    assert seen and "644" in seen[0].message


# -- recovery -------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [b'{"action":{"tool":"pay', b"\x00" * 300, b"\x00" * 64 + b"\n" + b"\x00" * 64 + b"\n" + b'{"act'])
def test_torn_tail_is_cut_and_reported(tmp_path: Path, garbage: bytes):
    d = tmp_path / "log"
    hashes = fill(d, 4)
    seg = d / segment_name(1)
    whole = seg.read_bytes()
    with seg.open("ab") as f:
        f.write(garbage)
    r = verify_log(d)
    assert not r.ok
    warnings = []
    with AuditLog.open(d, on_warning=warnings.append) as log:
        assert [w.code for w in log.warnings] == ["torn-record"]
        w = log.warnings[0]
        assert w.line == 5 and w.file == str(seg)
        assert w.bytes == len(garbage)
        assert "cut" in w.message and warnings == log.warnings
        assert log.last_hash == hashes[-1]
        log.append(entry(7))
    assert seg.read_bytes().startswith(whole)
    assert verify_log(d).records == 5


def test_json_last_record_that_does_not_verify_is_tampering(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 3)
    seg = d / segment_name(1)
    seg.write_bytes(seg.read_bytes().replace(b'"amount":2', b'"amount":3'))
    with pytest.raises(AuditError, match="the last record does not verify"):
        AuditLog.open(d)
    assert not (d / "audit.lock").exists()


def test_refuses_a_log_shorter_than_its_checkpoint(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 5)
    seg = d / segment_name(1)
    seg.write_bytes(b"".join(lines(seg)[:3]))
    with pytest.raises(AuditError, match="ends at seq 3 but the checkpoint says 5"):
        AuditLog.open(d)
    cp = json.loads((d / "checkpoint.json").read_text())
    assert cp["seq"] == 5  # the evidence is kept


def test_refuses_a_checkpoint_signed_by_another_key(tmp_path: Path):
    fill(tmp_path / "a", 2)
    fill(tmp_path / "b", 2)
    (tmp_path / "a" / "checkpoint.json").write_bytes((tmp_path / "b" / "checkpoint.json").read_bytes())
    with pytest.raises(AuditError, match="signature does not verify"):
        AuditLog.open(tmp_path / "a")


def test_empty_last_segment(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 3)
    (d / segment_name(4)).write_bytes(b"")
    assert verify_log(d).ok
    with AuditLog.open(d) as log:
        assert log.append(entry()).seq == 4
    assert len(lines(d / segment_name(4))) == 1
    assert verify_log(d).ok


# -- the verifier: tampering ------------------------------------------------------------


def _tampered(tmp_path: Path, how: str) -> Path:
    d = tmp_path / how
    fill(d, 12, segment_bytes=2500)
    segs = segments(d)
    assert len(segs) >= 3
    s0 = segs[0]
    ls = lines(s0)
    if how == "edit":
        ls[1] = ls[1].replace(b'"amount":1', b'"amount":7')
        s0.write_bytes(b"".join(ls))
    elif how == "edit-rehash":  # an edit with a recomputed hash breaks the next link
        rec = json.loads(ls[1])
        rec["action"]["args"]["amount"] = 7
        del rec["hash"]
        e = AuditEntry(rec["decision"], rec["action"], rec["policy"], rec["policy_hash"], rec["eval_ns"])
        ls[1] = encode_record(e, rec["seq"], rec["ts"], rec["prev"])[1].encode()
        s0.write_bytes(b"".join(ls))
    elif how == "delete":
        del ls[1]
        s0.write_bytes(b"".join(ls))
    elif how == "reorder":
        ls[0], ls[1] = ls[1], ls[0]
        s0.write_bytes(b"".join(ls))
    elif how == "insert":
        ls.insert(1, ls[1])
        s0.write_bytes(b"".join(ls))
    elif how == "truncate-tail":
        last = segs[-1]
        last.write_bytes(b"".join(lines(last)[:-1]))
    elif how == "delete-last-segment":
        segs[-1].unlink()
    elif how == "swap-segments":
        a, b = segs[0].read_bytes(), segs[1].read_bytes()
        segs[0].write_bytes(b)
        segs[1].write_bytes(a)
    elif how == "delete-middle-segment":
        segs[1].unlink()
    elif how == "rename-segment":
        segs[1].rename(d / segment_name(int(segs[1].name[6:26]) + 1))
    elif how == "torn":
        with segs[-1].open("ab") as f:
            f.write(b'{"act')
    elif how == "not-canonical":
        ls[0] = ls[0].replace(b'{"action":', b'{ "action":')
        s0.write_bytes(b"".join(ls))
    elif how == "checkpoint-edited":
        cp = json.loads((d / "checkpoint.json").read_text())
        cp["seq"] = 3
        (d / "checkpoint.json").write_text(json.dumps(cp))
    elif how == "checkpoint-missing":
        (d / "checkpoint.json").unlink()
    elif how == "key-replaced":
        other = tmp_path / "other"
        fill(other, 1)
        (d / "audit.pub").write_bytes((other / "audit.pub").read_bytes())
    else:  # pragma: no cover
        raise AssertionError(how)
    return d


TAMPERING = {
    "edit": ("audit-00000000000000000001.jsonl", 2, "hash mismatch"),
    "edit-rehash": ("audit-00000000000000000001.jsonl", 3, "is not the previous record's hash"),
    "delete": ("audit-00000000000000000001.jsonl", 2, "seq 3 follows seq 1"),
    "reorder": ("audit-00000000000000000001.jsonl", 1, "first record of the segment has seq 2; expected 1"),
    "insert": ("audit-00000000000000000001.jsonl", 3, "seq 2 follows seq 2"),
    "truncate-tail": ("checkpoint.json", 1, "records were deleted"),
    "delete-last-segment": ("checkpoint.json", 1, "records were deleted"),
    "swap-segments": ("audit-00000000000000000001.jsonl", 1, "first record of the segment has seq"),
    "delete-middle-segment": (None, 1, "segment is named for seq"),
    "rename-segment": (None, 1, "segment is named for seq"),
    "torn": (None, None, "incomplete last record"),
    "not-canonical": ("audit-00000000000000000001.jsonl", 1, "not in canonical form"),
    "checkpoint-edited": ("checkpoint.json", 1, "checkpoint signature does not verify"),
    "checkpoint-missing": ("checkpoint.json", 1, "checkpoint.json is missing"),
    "key-replaced": ("checkpoint.json", 1, "not by the given public key"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_is_detected(tmp_path: Path, how: str):
    d = _tampered(tmp_path, how)
    r = verify_log(d)
    assert not r.ok and not r
    file, line, message = TAMPERING[how]
    if file is not None:
        assert r.file == str(d / file)
    if line is not None:
        assert r.line == line
    assert message in r.message
    assert str(r).startswith(f"{r.file}:{r.line}: error: ")


def test_public_key_kept_elsewhere(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 2)
    pem = (d / "audit.pub").read_text()
    assert verify_log(d, public_key=pem).ok
    assert verify_log(d, public_key=pem.encode()).ok
    (tmp_path / "pub.pem").write_text(pem)
    assert verify_log(d, public_key=tmp_path / "pub.pem").ok
    fill(tmp_path / "other", 1)
    r = verify_log(d, public_key=(tmp_path / "other" / "audit.pub").read_text())
    assert not r.ok and "not by the given public key" in r.message
    r = verify_log(d, public_key="not a key")
    assert not r.ok and r.file == "<public key>" and "cannot read the public key" in r.message


def test_verify_missing_things(tmp_path: Path):
    assert verify_log(tmp_path / "nope").message == "no such directory"
    (tmp_path / "empty").mkdir()
    assert verify_log(tmp_path / "empty").message == "no audit log here (no segments, no checkpoint)"
    with AuditLog.open(tmp_path / "fresh"):
        pass
    r = verify_log(tmp_path / "fresh")
    assert r.ok and r.records == 0 and r.checkpoint_seq == 0


# -- the fast canonical path ------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tollgate.audit import _canonical, canonical_action  # noqa: E402
from tollgate.canonical import canonicalize  # noqa: E402

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.1, 1e-4, 9.99e-5, 1e16, 1e16 + 2, 123.0, -0.0, 1e21, 5e-324])
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
    | st.sampled_from(["\ue000", "😀", "\uffff", "a\u2028", "\x7f\x00\x1f"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4) | st.sampled_from(["\ue000", "😀", "é"]), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_fast_path_writes_what_canonicalize_writes(v):
    assert _canonical(v) == canonicalize(v)
    assert canonical_action(v) == canonicalize(v)


# -- crashes ------------------------------------------------------------------------------

_CRASH_WRITER = r"""
import sys, threading
from tollgate import Policy
from tollgate.audit import AuditLog, audit_record
policy = Policy.from_file(sys.argv[2])
log = AuditLog.open(sys.argv[1], segment_bytes=20000, checkpoint_interval_ms=20)
out = sys.stdout
lock = threading.Lock()
def work(t):
    i = 0
    while True:
        a = {"tool": "payments.refund", "args": {"order_id": "ord_%08d" % i, "amount": t, "currency": "EUR"}}
        r = log.append(audit_record(policy, a, policy.evaluate(a), i))
        with lock:
            out.write("%d %s\n" % (r.seq, r.hash))
            out.flush()
        i += 1
for t in range(4):
    threading.Thread(target=work, args=(t,), daemon=True).start()
threading.Event().wait()
"""


def test_sigkill_loses_no_acknowledged_record(tmp_path: Path):
    import random
    import signal
    import subprocess
    import sys
    import time

    d = tmp_path / "log"
    acked = {}
    rng = random.Random(3)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CRASH_WRITER, str(d), str(BILLING_STATELESS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # wait until it writes
        assert first, "the writer did not start"
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=60)
        for line in [first] + rest.splitlines():
            if line.strip():
                seq, h = line.split()
                acked[int(seq)] = h
        with AuditLog.open(d) as log:  # recovers a torn tail, if any
            assert log.last_seq >= max(acked)
        r = verify_log(d)
        assert r.ok, str(r)
    on_disk = {}
    for s in segments(d):
        for raw in lines(s):
            rec = json.loads(raw)
            on_disk[rec["seq"]] = rec["hash"]
    assert all(on_disk.get(s) == h for s, h in acked.items())
    assert len(acked) > 4


def test_future_callbacks_may_append(tmp_path: Path):
    with AuditLog.open(tmp_path / "log") as log:
        chained = []
        f = log.submit(entry(1))
        f.add_done_callback(lambda fut: chained.append(log.append(entry(2))))
        assert f.result(timeout=30).seq == 1
        log.flush()
        for _ in range(100):
            if chained:
                break
            import time

            time.sleep(0.05)
        assert chained and chained[0].seq == 2
    assert verify_log(tmp_path / "log").records == 2


def test_pre_canonicalized_entries(tmp_path: Path):
    import pickle

    from tollgate.audit import audit_record_json

    actions = [REFUND, {"tool": "x", "n": 1e21, "s": "😀\ue000"}, {"bad": float("nan")}]
    for a in actions:
        d = POLICY.evaluate(a)
        pre = pickle.loads(pickle.dumps(audit_record_json(POLICY, a, d, 7)))
        assert pre.action is None and pre.decision is None
        obj = audit_record(POLICY, a, d, 7)
        assert encode_record(pre, 5, "2025-01-01T00:00:00.000Z", GENESIS) == encode_record(obj, 5, "2025-01-01T00:00:00.000Z", GENESIS)
        m = {"action_json": pre.action_json, "decision_json": pre.decision_json, "policy": pre.policy, "policy_hash": pre.policy_hash, "eval_ns": 7}
        assert encode_record(m, 5, "2025-01-01T00:00:00.000Z", GENESIS) == encode_record(obj, 5, "2025-01-01T00:00:00.000Z", GENESIS)
    with AuditLog.open(tmp_path / "log") as log:
        log.append(audit_record_json(POLICY, REFUND, POLICY.evaluate(REFUND), 1))
        with pytest.raises(TypeError, match="action_json"):
            log.append(AuditEntry(None, None, "p", "h", 1, action_json="{}\n", decision_json="{}"))
        assert log.last_seq == 1
    assert verify_log(tmp_path / "log").records == 1
