"""tollgate.audit against the Node host: the same bytes, and each side verifies and continues the other's log.

- encode_record == Node's encodeRecord (line and hash) on generated entries; redaction == Node's auditRecord;
- a log Python wrote passes `node bin/tollgate.js audit verify DIR` (exit 0), and a log Node's AuditLog wrote
  passes verify_log; each continues the other's log (after a torn tail too) and the other side verifies it;
- on tampered logs, Node's verifyLog and verify_log report the same file, line and message.

Skipped when the Node build (build/dist) is missing.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tollgate import Policy
from tollgate.audit import GENESIS, AuditLog, audit_record, encode_record, segment_name, verify_log

from conftest import READ_STDIN_JS, BILLING_STATELESS, EXAMPLES, NODE_CLI, REPO, node_available, run_node
from test_audit_log import TAMPERING, _tampered, entry, fill, segments

AUDIT_JS = REPO / "build" / "dist" / "src" / "audit"

pytestmark = pytest.mark.skipif(
    not (NODE_CLI.exists() and (AUDIT_JS / "log.js").exists() and node_available()),
    reason="the Node build is missing (build/dist/src/audit; run `npm run build`)",
)

POLICY = Policy.from_file(BILLING_STATELESS)

_READ_STDIN = READ_STDIN_JS

_ENCODE = (
    """
import { encodeRecord } from "./build/dist/src/audit/format.js";
import { auditRecord } from "./build/dist/src/audit/record.js";
"""
    + _READ_STDIN
    + """
const out = [];
for (const c of input) {
  let entry = c.entry;
  if (c.nest !== undefined) {
    let v = "leaf";
    for (let i = 0; i < c.nest; i++) v = { a: v };
    entry = { ...entry, action: v };
  }
  if (c.redact !== undefined) {
    entry = auditRecord({ name: entry.policy, hash: entry.policy_hash, redact: c.redact }, entry.action, entry.decision, entry.eval_ns);
  }
  out.push(encodeRecord(entry, c.seq, c.ts, c.prev));
}
process.stdout.write(JSON.stringify(out));
"""
)

_WRITE = (
    """
import { AuditLog } from "./build/dist/src/audit/log.js";
"""
    + _READ_STDIN
    + """
const log = await AuditLog.open(input.dir, input.options ?? {});
const appended = await Promise.all(input.entries.map((e) => log.append(e)));
const warnings = log.warnings;
await log.close();
process.stdout.write(JSON.stringify({ appended, warnings }));
"""
)

_VERIFY = (
    """
import { verifyLog } from "./build/dist/src/audit/verify.js";
"""
    + _READ_STDIN
    + """
const out = [];
for (const dir of input) out.push(await verifyLog(dir));
process.stdout.write(JSON.stringify(out));
"""
)


def node_json(script: str, payload: Any) -> Any:
    return json.loads(run_node(script, json.dumps(payload)))


def node_verify_cli(dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", "bin/tollgate.js", "audit", "verify", str(dir)], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def node_write(dir: Path, entries: List[Dict[str, Any]], **options: Any) -> Dict[str, Any]:
    return node_json(_WRITE, {"dir": str(dir), "entries": entries, "options": options})


def as_json_entry(e) -> Dict[str, Any]:
    return {"decision": e.decision.to_dict(), "action": e.action, "policy": e.policy, "policy_hash": e.policy_hash, "eval_ns": e.eval_ns}


# -- generated entries ----------------------------------------------------------------

_STRINGS = ["", "a", "A", "é", "ü", "日本", "😀", "\ue000", "\u2028", "\u0000", "\u001f", "\u007f", '"', "\\", "\n\t\r\b\f",
            "</script>", "a b", "ord_4821abcd", "payments.refund", "\ud83d\ude00"]
_NUMBERS = [0, 1, -1, 0.1, -0.0, 1e21, 1e-7, 1e-6, 123456789.123, 2**53, 2**53 + 1, 10**300, 5e-324, 1.7976931348623157e308,
            0.000001234, 1.5, -2.5e-10, 4.35, 100, 999999999999999999999, 1 / 3]


def _value(rng: random.Random, depth: int) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.45:
        k = rng.randrange(5)
        if k == 0:
            return rng.choice(_STRINGS) + rng.choice(_STRINGS)
        if k == 1:
            return rng.choice(_NUMBERS)
        if k == 2:
            return rng.uniform(-1e6, 1e6)
        return [None, True, False][rng.randrange(3)]
    if r < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    # Keys leave out the surrogate pair written as two code points: next to "😀" it would be a second,
    # equal key in JavaScript (a dict cannot be written as JSON with both).
    keys = _STRINGS[:-1]
    return {rng.choice(keys) + rng.choice(["", "k", "x1"]): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _cases(n: int) -> List[Dict[str, Any]]:
    rng = random.Random(4)
    cases = []
    prev = GENESIS
    for i in range(n):
        action = {"tool": rng.choice(["payments.refund", "payments.charge", "crm.lookup", "x"]), "args": _value(rng, 0)}
        if rng.random() < 0.3:
            action["args"] = {"amount": rng.choice(_NUMBERS), "currency": rng.choice(["EUR", "USD", "JPY"]), "order_id": "ord_12345678"}
        if rng.random() < 0.2:
            action["customer"] = {"email": rng.choice(_STRINGS), "tier": _value(rng, 2)}
        if rng.random() < 0.1:
            action = _value(rng, 0)
        decision = POLICY.evaluate(action).to_dict() if isinstance(action, dict) else POLICY.evaluate({}).to_dict()
        entry_ = {"decision": decision, "action": action, "policy": POLICY.name, "policy_hash": POLICY.hash, "eval_ns": rng.choice([0, 1, 1234, 2**53 - 1])}
        seq = rng.choice([1, 2, i + 1, 2**53 - 1, 10**12])
        ts = f"20{rng.randrange(10, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}T1{rng.randrange(0, 9)}:3{rng.randrange(0, 9)}:0{rng.randrange(0, 9)}.{rng.randrange(1000):03d}Z"
        cases.append({"entry": entry_, "seq": seq, "ts": ts, "prev": prev})
        prev = f"{rng.getrandbits(256):064x}"
    return cases


def test_encode_record_is_byte_identical_to_node():
    cases = _cases(400)
    cases.append({"entry": {**cases[0]["entry"], "policy": "naïve 😀 \"policy\"", "policy_hash": "x"}, "seq": 7, "ts": "2025-01-01T00:00:00.000Z", "prev": GENESIS})
    node = node_json(_ENCODE, cases)
    assert len(node) == len(cases)
    for c, n in zip(cases, node):
        h, line = encode_record(c["entry"], c["seq"], c["ts"], c["prev"])
        assert line == n["line"], c
        assert h == n["hash"]


def test_decision_objects_encode_as_their_dicts():
    actions = [{"tool": "payments.refund", "args": {"order_id": "ord_4821abcd", "amount": a, "currency": "EUR"}} for a in (5, 300, 900, 10**6)]
    actions += [{"tool": "x"}, {"tool": "payments.refund", "args": {"amount": float("nan")}}]
    cases = []
    for a in actions:
        e = audit_record(POLICY, a, POLICY.evaluate(a), 17)
        h, line = encode_record(e, 3, "2025-01-01T00:00:00.000Z", GENESIS)
        cases.append(({"entry": {**as_json_entry(e), "action": json.loads(line)["action"]}, "seq": 3, "ts": "2025-01-01T00:00:00.000Z", "prev": GENESIS}, line))
    node = node_json(_ENCODE, [c for c, _ in cases])
    assert [n["line"] for n in node] == [line for _, line in cases]


def test_redaction_and_depth_match_node():
    redact_paths = [["args", "card_number"], ["customer", "email"], ["a", "b", "c"], ["n"], ["arr", "x"], ["s", "t"]]

    class P:
        name = "p"
        hash = "h"

    P.redact = tuple(tuple(p) for p in redact_paths)
    actions = [
        {"args": {"card_number": 4111, "cvv": 1}, "customer": {"email": None}},
        {"a": {"b": {"c": {"deep": [1, 2]}}, "x": 1}, "n": None, "arr": [{"x": 1}], "s": "t"},
        {"a": {"b": "scalar"}, "customer": [{"email": "x"}]},
        {"a": {"b": {}}, "args": {}},
        {},
    ]
    d = POLICY.evaluate({}).to_dict()
    cases, lines = [], []
    for a in actions:
        e = audit_record(P, a, d, 2)
        lines.append(encode_record(e, 1, "2025-01-01T00:00:00.000Z", GENESIS)[1])
        cases.append({"entry": {"decision": d, "action": a, "policy": "p", "policy_hash": "h", "eval_ns": 2},
                      "redact": redact_paths, "seq": 1, "ts": "2025-01-01T00:00:00.000Z", "prev": GENESIS})
    for n in (512, 513, 514):
        v: Any = "leaf"
        for _ in range(n):
            v = {"a": v}
        e = audit_record(P, v, d, 2)
        lines.append(encode_record(e, 1, "2025-01-01T00:00:00.000Z", GENESIS)[1])
        cases.append({"entry": {"decision": d, "action": None, "policy": "p", "policy_hash": "h", "eval_ns": 2},
                      "nest": n, "seq": 1, "ts": "2025-01-01T00:00:00.000Z", "prev": GENESIS})
    node = node_json(_ENCODE, cases)
    assert [n["line"] for n in node] == lines
    assert '"action":"[not JSON]"' in lines[-1] and '"action":"[not JSON]"' not in lines[-2]


# -- cross-verification ---------------------------------------------------------------


def test_node_cli_verifies_a_log_python_wrote(tmp_path: Path):
    d = tmp_path / "py"
    fill(d, 40, segment_bytes=4000)
    with AuditLog.open(d, segment_bytes=4000) as log:  # plus redacted and odd actions
        for a in ({"tool": "payments.refund", "args": {"card_number": "4111", "amount": 1e21, "note": "é😀\u2028"}}, {"x": float("nan")}):
            log.append(audit_record(POLICY, a, POLICY.evaluate(a), 3))
    assert len(list(d.glob("audit-*.jsonl"))) > 2
    proc = node_verify_cli(d)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"ok: 42 records in {len(list(d.glob('audit-*.jsonl')))} segments"
    proc = subprocess.run(["node", "bin/tollgate.js", "audit", "verify", str(d), "--public-key", str(d / "audit.pub")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_python_verifies_a_log_node_wrote(tmp_path: Path):
    d = tmp_path / "node"
    entries = [as_json_entry(entry(i)) for i in range(60)]
    entries.append(as_json_entry(audit_record(POLICY, {"tool": "payments.refund", "args": {"card_number": "4111", "x": "ü😀"}}, POLICY.evaluate({}), 9)))
    out = node_write(d, entries, segmentBytes=5000)
    assert [a["seq"] for a in out["appended"]] == list(range(1, 62))
    r = verify_log(d)
    assert r.ok and r.records == 61 and r.segments > 2 and r.checkpoint_seq == 61, str(r)
    # The Python encoder writes the very same lines for the same entries, seqs, timestamps and links.
    prev = GENESIS
    for seg in sorted(d.glob("audit-*.jsonl")):
        for raw in seg.read_text(encoding="utf-8").splitlines(keepends=True):
            rec = json.loads(raw)
            assert encode_record(rec, rec["seq"], rec["ts"], prev)[1] == raw
            prev = rec["hash"]


def test_python_continues_a_node_log_and_node_verifies(tmp_path: Path):
    d = tmp_path / "mixed"
    out = node_write(d, [as_json_entry(entry(i)) for i in range(10)], segmentBytes=6000)
    last = out["appended"][-1]
    key = (d / "audit.key").read_bytes()
    with AuditLog.open(d, segment_bytes=6000) as log:
        assert log.last_seq == 10 and log.last_hash == last["hash"]
        assert log.warnings == []
        for i in range(20):
            log.append(entry(100 + i))
    assert (d / "audit.key").read_bytes() == key
    proc = node_verify_cli(d)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: 30 records" in proc.stdout
    # ...and back: Node continues the mixed log, both verify it.
    out = node_write(d, [as_json_entry(entry(i)) for i in range(5)], segmentBytes=6000)
    assert out["appended"][0]["seq"] == 31
    assert verify_log(d).records == 35
    assert node_verify_cli(d).returncode == 0


def test_torn_tails_are_recovered_by_the_other_side(tmp_path: Path):
    d = tmp_path / "torn"
    fill(d, 5)
    with (d / segment_name(1)).open("ab") as f:
        f.write(b'{"action":{"tool":"pay')
    assert node_verify_cli(d).returncode == 1
    out = node_write(d, [as_json_entry(entry(7))])
    assert [w["code"] for w in out["warnings"]] == ["torn-record"]
    assert out["appended"][0]["seq"] == 6
    assert verify_log(d).records == 6
    with (d / segment_name(1)).open("ab") as f:
        f.write(b"\x00" * 100)
    with AuditLog.open(d) as log:
        assert [w.code for w in log.warnings] == ["torn-record"]
        log.append(entry(8))
    assert node_verify_cli(d).returncode == 0


def test_verifiers_agree_on_tampered_logs(tmp_path: Path):
    dirs = {how: _tampered(tmp_path, how) for how in sorted(TAMPERING)}
    fill(tmp_path / "good", 3)
    dirs["good"] = tmp_path / "good"
    node = node_json(_VERIFY, [str(d) for d in dirs.values()])
    for (how, d), n in zip(dirs.items(), node):
        r = verify_log(d)
        if n["ok"]:
            assert r.ok and (r.records, r.segments, r.checkpoint_seq) == (n["records"], n["segments"], n["checkpointSeq"]), how
        else:
            assert (r.file, r.line, r.message) == (n["file"], n["line"], n["message"]), how
    proc = node_verify_cli(dirs["edit"])
    r = verify_log(dirs["edit"])
    assert proc.returncode == 1 and str(r) in proc.stdout + proc.stderr  # FILE:LINE: error: MESSAGE


# -- issue 11: recover records, seals, the unsigned tail, strict UTF-8, the witness -----------

from test_audit_integrity import crashed, cut_back, forge, records_of, seal_by_hand, snapshot  # noqa: E402

_VERIFY_WITH = (
    """
import { verifyLog, verifyReport } from "./build/dist/src/audit/verify.js";
"""
    + _READ_STDIN
    + """
const out = [];
for (const [dir, options] of input) {
  const r = await verifyLog(dir, options);
  out.push(r.ok ? { ...r, report: verifyReport(r) } : r);
}
process.stdout.write(JSON.stringify(out));
"""
)

_OPEN_AT = (
    """
import { AuditLog } from "./build/dist/src/audit/log.js";
"""
    + _READ_STDIN
    + """
const out = [];
for (const dir of input.dirs) {
  try {
    const log = await AuditLog.open(dir, { now: () => new Date(input.ts) });
    const warnings = log.warnings;
    await log.close();
    out.push({ ok: true, warnings });
  } catch (err) {
    out.push({ ok: false, message: err.message });
  }
}
process.stdout.write(JSON.stringify(out));
"""
)


_OPEN_WITH = (
    """
import { AuditLog } from "./build/dist/src/audit/log.js";
"""
    + _READ_STDIN
    + """
const out = [];
for (const [dir, options] of input) {
  try {
    const log = await AuditLog.open(dir, options);
    const warnings = log.warnings;
    await log.close();
    out.push({ ok: true, warnings });
  } catch (err) {
    out.push({ ok: false, message: err.message, file: err.file ?? null, line: err.line ?? null });
  }
}
process.stdout.write(JSON.stringify(out));
"""
)


def node_verify_with(cases: List[Any]) -> List[Dict[str, Any]]:
    return node_json(_VERIFY_WITH, [[str(d), opts] for d, opts in cases])


def test_recover_records_are_byte_identical_to_node(tmp_path: Path):
    from datetime import datetime, timezone

    for signed, unsigned in ((4, 3), (0, 2), (7, 1)):
        base = crashed(tmp_path, signed, unsigned, f"crash-{signed}-{unsigned}")
        py, nd = tmp_path / f"py-{signed}", tmp_path / f"node-{signed}"
        shutil.copytree(base, py)
        shutil.copytree(base, nd)
        t = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=timezone.utc)
        with AuditLog.open(py, now=lambda: t) as log:
            assert [w.code for w in log.warnings] == ["unsigned-tail"]
        (n,) = node_json(_OPEN_AT, {"dirs": [str(nd)], "ts": "2025-03-04T05:06:07.890Z"})
        assert n["ok"] and [w["code"] for w in n["warnings"]] == ["unsigned-tail"]
        for name in [s.name for s in segments(py)] + ["checkpoint.json"]:
            assert (py / name).read_bytes() == (nd / name).read_bytes(), name
        assert records_of(py)[-1]["decision"]["event"] == "recover"
        assert node_verify_cli(py).returncode == 0


def _tamper_issue11(tmp_path: Path) -> Dict[str, Any]:
    """Logs for the issue's findings, with the options to verify them with (dir, options)."""
    cases: Dict[str, Any] = {}
    d = tmp_path / "forged-tail"
    fill(d, 6)
    forge(d, 2)
    cases["forged-tail"] = (d, {})
    cases["forged-tail-allowed"] = (d, {"allowUnsignedTail": True})
    d = tmp_path / "ff-byte"
    with AuditLog.open(d) as log:
        log.append(entry(0))
        log.append(audit_record(POLICY, {"tool": "payments.refund", "args": {"order_id": "ord_\ufffd", "amount": 5}}, POLICY.evaluate({}), 1))
        log.append(entry(2))
    seg = d / segment_name(1)
    seg.write_bytes(seg.read_bytes().replace(b"\xef\xbf\xbd", b"\xff"))
    cases["ff-byte"] = (d, {})
    d = tmp_path / "cut-back"
    w = tmp_path / "cut-back-witness.json"
    with AuditLog.open(d, witness=w) as log:
        log.append_many(entry(i) for i in range(4))
        log.checkpoint()
        old = (d / "checkpoint.json").read_bytes()
        log.append_many(entry(i) for i in range(4, 8))
    cases["witness-ok"] = (tmp_path / "witness-ok", {"witness": str(w)})
    shutil.copytree(d, tmp_path / "witness-ok")
    (d / "checkpoint.json").write_bytes(old)
    seg = d / segment_name(1)
    seg.write_bytes(b"".join(seg.read_bytes().splitlines(keepends=True)[:4]))
    cases["cut-back"] = (d, {})
    cases["cut-back-witness"] = (d, {"witness": str(w)})
    d = tmp_path / "witness-ahead"
    shutil.copytree(tmp_path / "witness-ok", d)
    (d / "checkpoint.json").write_bytes(old)
    cases["older-checkpoint"] = (d, {})
    cases["older-checkpoint-witness"] = (d, {"witness": str(w)})
    cases["witness-missing"] = (d, {"witness": str(tmp_path / "nope.json")})
    d = tmp_path / "sealed"
    fill(d, 9, segment_bytes=2500)
    s0 = d / segment_name(1)
    s0.write_bytes(s0.read_bytes().replace(b'"amount":1,', b'"amount":7,', 1))
    seal_by_hand(d, "accepted in a test")
    with AuditLog.open(d, segment_bytes=2500) as log:
        log.append_many(entry(i) for i in range(5))
    cases["sealed"] = (d, {})
    d2 = tmp_path / "sealed-edited"
    shutil.copytree(d, d2)
    s0 = d2 / segment_name(1)
    s0.write_bytes(s0.read_bytes().replace(b'"amount":7,', b'"amount":8,', 1))
    cases["sealed-edited"] = (d2, {})
    d3 = tmp_path / "seal-unsigned"
    fill(d3, 3)
    s0 = d3 / segment_name(1)
    s0.write_bytes(s0.read_bytes().replace(b'"amount":1,', b'"amount":7,', 1))
    seal_by_hand(d3, "no key", sign=False)
    cases["seal-unsigned"] = (d3, {})
    return cases


def test_verifiers_agree_on_issue_11_cases(tmp_path: Path):
    cases = _tamper_issue11(tmp_path)
    node = node_verify_with(list(cases.values()))
    for (how, (d, opts)), n in zip(cases.items(), node):
        py_opts = {"allow_unsigned_tail": opts.get("allowUnsignedTail", False)}
        if "witness" in opts:
            py_opts["witness"] = opts["witness"]
        r = verify_log(d, **py_opts)
        if n["ok"]:
            assert r.ok, (how, str(r))
            assert (r.records, r.segments, r.checkpoint_seq, r.unsigned_tail) == (n["records"], n["segments"], n["checkpointSeq"], n["unsignedTail"]), how
            assert str(r) + "\n" == n["report"], how
        else:
            assert not r.ok, (how, n)
            assert (r.file, r.line) == (n["file"], n["line"]), (how, str(r), n)
            if how != "witness-missing":  # the OS error's wording differs
                assert r.message == n["message"], how


def test_open_refusals_match_node(tmp_path: Path):
    """A missing key for a log with records or a checkpoint, and a log behind (or unlike) its witness:
    both writers refuse with the same message, file and line, and write nothing."""
    from tollgate.audit import AuditError

    cases: Dict[str, Any] = {}
    d = tmp_path / "cut-back"
    w = tmp_path / "cut-back-witness.json"
    cut_back(d, w)
    cases["cut-back"] = (d, w)
    d = tmp_path / "rewritten"
    w = tmp_path / "rewritten-witness.json"
    with AuditLog.open(d, witness=w) as log:
        log.append_many(entry(i) for i in range(6))
    with AuditLog.open(d) as log:
        log.append_many(entry(i) for i in range(6, 12))
    (seg,) = segments(d)
    ls = seg.read_bytes().splitlines(keepends=True)
    r = json.loads(ls[5])
    ls[5] = encode_record({**r, "action": {"tool": "x"}}, 6, r["ts"], r["prev"])[1].encode("utf-8")
    seg.write_bytes(b"".join(ls))
    cases["record-rewritten"] = (d, w)
    d2 = tmp_path / "record-gone"
    shutil.copytree(d, d2)
    seg = segments(d2)[0]
    ls[5] = b"x\n"
    seg.write_bytes(b"".join(ls))
    cases["record-gone"] = (d2, w)
    ow = tmp_path / "other-witness.json"
    fill(tmp_path / "other", 2, witness=ow)
    cases["other-key"] = (tmp_path / "cut-back", ow)
    d = tmp_path / "keyless"
    fill(d, 4)
    (d / "audit.key").unlink()
    cases["keyless"] = (d, None)
    d = tmp_path / "keyless-empty"
    AuditLog.open(d).close()
    (d / "audit.key").unlink()
    cases["keyless-checkpoint"] = (d, None)

    py: Dict[str, AuditError] = {}
    for how, (d, w) in cases.items():
        before = snapshot(d), (w.read_bytes() if w is not None else None)
        with pytest.raises(AuditError) as info:
            AuditLog.open(d, witness=w)
        py[how] = info.value
        assert (snapshot(d), (w.read_bytes() if w is not None else None)) == before, how
    befores = {how: (snapshot(d), (w.read_bytes() if w is not None else None)) for how, (d, w) in cases.items()}
    node = node_json(_OPEN_WITH, [[str(d), {} if w is None else {"witness": str(w)}] for d, w in cases.values()])
    for (how, (d, w)), n in zip(cases.items(), node):
        assert not n["ok"], (how, n)
        err = py[how]
        assert (str(err), err.file, err.line) == (n["message"], n["file"], n["line"]), how
        assert (snapshot(d), (w.read_bytes() if w is not None else None)) == befores[how], how
    assert "the witness holds a checkpoint at seq 20: records were deleted" in str(py["cut-back"])
    assert "record 6 has hash" in str(py["record-rewritten"]) and "record 6 is missing" in str(py["record-gone"])
    assert "not signed by this log's key" in str(py["other-key"])
    assert "audit.key is missing but the log holds records up to seq 4" in str(py["keyless"])
    assert "audit.key is missing but the log has a checkpoint" in str(py["keyless-checkpoint"])


def test_a_log_sealed_by_the_node_cli(tmp_path: Path):
    d = tmp_path / "log"
    fill(d, 10, segment_bytes=2500)
    s0 = d / segment_name(1)
    s0.write_bytes(s0.read_bytes().replace(b'"amount":2,', b'"amount":5,', 1))
    assert not verify_log(d).ok
    proc = subprocess.run(["node", "bin/tollgate.js", "audit", "seal", str(d), "--reason", "edited by a test"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sealed at seq 11: audit-00000000000000000001.jsonl:3: hash mismatch")
    r = verify_log(d)
    assert r.ok and r.seal is not None and r.seal.seq == 11 and r.seal.reason == "edited by a test", str(r)
    seal = json.loads((d / segment_name(11)).read_text())
    # The seal's digest is what Python computes for the segments before it.
    from tollgate.audit import prefix_digest

    names = sorted(p.name for p in d.glob("audit-*.jsonl") if p.name != segment_name(11))
    k, b, digest = prefix_digest(str(d), names)
    assert seal["decision"]["prefix"] == {"segments": k, "bytes": b, "sha256": digest}
    assert seal["action"] == {"event": "seal"} and seal["policy"] == "" and seal["eval_ns"] == 0
    assert seal["prev"] == json.loads(sorted(d.glob("audit-*.jsonl"))[-2].read_text().splitlines()[-1])["hash"]
    # Python continues the sealed log; Node verifies it; an edit of the prefix fails both.
    with AuditLog.open(d, segment_bytes=2500) as log:
        assert log.last_seq == 11
        log.append_many(entry(i) for i in range(4))
    assert node_verify_cli(d).returncode == 0
    assert verify_log(d).records == 5
    s0.write_bytes(s0.read_bytes().replace(b'"amount":5,', b'"amount":6,', 1))
    r = verify_log(d)
    (n,) = node_verify_with([(d, {})])
    assert not r.ok and (r.file, r.line, r.message) == (n["file"], n["line"], n["message"])
    assert r.file == str(d / segment_name(11)) and r.line == 1


def test_the_gate_deny_for_unrecordable_actions_matches_node():
    from tollgate.gate import UNRECORDABLE, unrecordable_decision

    script = """
import { UNRECORDABLE_TEXT, unrecordableDecision } from "./build/dist/src/audit/recordable.js";
process.stdout.write(JSON.stringify({ text: UNRECORDABLE_TEXT, decision: unrecordableDecision("p") }));
"""
    n = json.loads(run_node(script, ""))
    assert n["text"] == UNRECORDABLE
    assert json.dumps(n["decision"]) == json.dumps(unrecordable_decision("p").to_dict())
