"""Explanations (docs/abi.md, "Explain"; docs/semantics.md, "Explain"): the core's trace of one
action turned into the tree a person or a program reads, exactly as the Node host's
``src/explain.ts`` builds it.

The core computed every result; this module only names things: it resolves each node's JSON
pointer in the canonical manifest (operands, group names, field paths as written) and reads the
value each field test saw from the action, redacted as audit records are.

:meth:`tollgate.Policy.explain` returns plain dicts and lists with Node's keys, in Node's order,
so ``json.dumps(policy.explain(action))`` is what ``JSON.stringify(policy.explain(action))``
gives in Node (the ``--format json`` of ``tollgate eval --explain``):

- ``decision``: the decision object (:meth:`Decision.to_dict`), equal to ``evaluate``'s;
- ``rules``: every rule evaluated for the action (the tool index's candidates, in document
  order), each ``{"id", "index", "effect", "result", "decided", "failed", "when", "pointer"}``;
  a ``when`` is ``{"group", "result", "conditions", "pointer"}``; a condition is a combinator
  ``{"kind": "all"|"any"|"not", "result", "children", "pointer"}``, a field
  ``{"kind": "field", "path", "value"?, "result", "tests", "pointer"}`` (no ``value`` when the
  field is absent) or a counter ``{"kind": "counter", "counter", "value", "result", "tests",
  "pointer"}``; a test is ``{"op", "operand", "result", "pointer"}``; results are ``"TRUE"``,
  ``"FALSE"`` or ``"UNKNOWN"``;
- ``closest``: for a deny that is not an input error, at most :data:`CLOSEST` allow rules with
  the fewest failed tests (then document order), each ``{"id", "index", "result", "failed",
  "tests"}`` with its failed tests (``{"path", "op", "operand", "value"?, "result", "pointer"}``);
- ``counters`` (a policy with counters only): ``{"name", "value", "contribution"}`` per counter,
  in the core's order (by name), None when UNKNOWN.

Values seen are the action's own values (shared, not copied, unless a redacted path inside
them had to be replaced); a number is shown as the action holds it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._abi import (
    EFFECT_BY_CODE,
    EXPLAIN_ALL,
    EXPLAIN_ANY,
    EXPLAIN_COUNTER,
    EXPLAIN_FIELD,
    EXPLAIN_NOT,
    EXPLAIN_RULE,
    EXPLAIN_TEST,
    EXPLAIN_WHEN,
    TRACE_ENTRY_SIZE,
)
from .audit.format import REDACTED

__all__ = ["CLOSEST", "OPERATORS", "build_explanation", "failed_tests", "pointer_tokens", "seen_value"]

CLOSEST = 3
"""How many closest allow rules a deny lists at most (Node: ``CLOSEST``)."""

TRI = ("FALSE", "UNKNOWN", "TRUE")

OPERATORS = (
    "", "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "suffix", "contains", "glob", "matches",
    "exists", "len", "some", "every",
)
"""Operator names by opcode (a test entry's byte 2; 0 is a mapping, never traced)."""

_ENTRY = struct.Struct("<BBBxiiii")
assert _ENTRY.size == TRACE_ENTRY_SIZE

_KINDS = {EXPLAIN_ALL: "all", EXPLAIN_ANY: "any", EXPLAIN_NOT: "not"}


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()
"""What :func:`seen_value` returns for a field the action does not have."""


class ExplainContext:
    """What explanations of one policy are built from (made on its first ``explain``)."""

    __slots__ = ("manifest", "rule_ids", "fields", "redact", "counter_names", "pointers")

    def __init__(
        self,
        manifest: Any,
        rule_ids: Sequence[str],
        fields: Sequence[Sequence[str]],
        redact: Sequence[Sequence[str]],
        counter_names: Sequence[str],
        pointers: Sequence[str],
    ) -> None:
        self.manifest = manifest
        self.rule_ids = tuple(rule_ids)
        self.fields = tuple(tuple(f) for f in fields)
        self.redact = tuple(tuple(r) for r in redact)
        self.counter_names = tuple(counter_names)
        self.pointers = tuple(pointers)


def pointer_tokens(pointer: str) -> List[str]:
    """RFC 6901: the tokens of a pointer."""
    if pointer == "":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _resolve(doc: Any, pointer: str) -> Any:
    node = doc
    for t in pointer_tokens(pointer):
        node = node[int(t)] if isinstance(node, list) else node[t]
    return node


def _value_at(action: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` (object keys only), or :data:`ABSENT`."""
    node = action
    for key in path:
        if not isinstance(node, Mapping):
            return ABSENT
        try:
            if key not in node:
                return ABSENT
            node = node[key]
        except Exception:  # a Mapping that refuses: the encoder saw no value there either
            return ABSENT
    return node


def _starts_with(path: Sequence[str], prefix: Sequence[str]) -> bool:
    return len(prefix) <= len(path) and tuple(path[: len(prefix)]) == tuple(prefix)


def seen_value(action: Any, path: Sequence[str], redact: Sequence[Sequence[str]]) -> Any:
    """The value a test on ``path`` saw, with ``audit.redact`` applied: ``"[redacted]"`` at or
    under a redacted path, and redacted paths replaced inside an object value; :data:`ABSENT`
    when the action has no value there."""
    v = _value_at(action, path)
    if v is ABSENT:
        return ABSENT
    if any(len(r) > 0 and _starts_with(path, r) for r in redact):
        return REDACTED
    out = v
    for r in redact:
        if len(r) > len(path) and _starts_with(r, path):
            out = _redact_in(out, tuple(r[len(path) :]))
    return out


def _redact_in(node: Any, path: Tuple[str, ...]) -> Any:
    if not isinstance(node, Mapping) or path[0] not in node:
        return node
    value = node[path[0]]
    replaced = REDACTED if len(path) == 1 else _redact_in(value, path[1:])
    copy = dict(node)
    copy[path[0]] = replaced
    return copy


Number = Union[int, float]


def build_explanation(
    ctx: ExplainContext,
    trace: bytes,
    count: int,
    action: Any,
    decision: Dict[str, Any],
    decided_rule: int,
    counter_values: Sequence[Optional[Number]],
    counters: Optional[List[Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """The explanation from ``count`` trace entries in ``trace`` (Node: ``buildExplanation``)."""
    entries = list(_ENTRY.iter_unpack(trace[: count * TRACE_ENTRY_SIZE]))
    pointers = ctx.pointers
    manifest = ctx.manifest

    def tests(start: int, end: int, kind: int) -> List[Dict[str, Any]]:
        out = []
        for i in range(start, end):
            k, result, op, _a, ident, _size, _failed = entries[i]
            if k != EXPLAIN_TEST:
                raise RuntimeError(f"explain: a test entry expected at {i}")
            p = pointers[ident]
            name = OPERATORS[op] if 0 < op < len(OPERATORS) else str(op)
            out.append({"op": name, "operand": _resolve(manifest, p), "result": TRI[result], "pointer": p})
        if not out:
            raise RuntimeError(f"explain: a {kind} entry without tests")
        return out

    def node(i: int) -> Dict[str, Any]:
        k, result, _op, a, ident, size, _failed = entries[i]
        end = i + size
        p = pointers[ident]
        if k == EXPLAIN_FIELD:
            out: Dict[str, Any] = {"kind": "field", "path": pointer_tokens(p)[-1]}
            v = seen_value(action, ctx.fields[a], ctx.redact)
            if v is not ABSENT:
                out["value"] = v
            out["result"] = TRI[result]
            out["tests"] = tests(i + 1, end, k)
            out["pointer"] = p
            return out
        if k == EXPLAIN_COUNTER:
            value = counter_values[a] if a < len(counter_values) else None
            return {
                "kind": "counter", "counter": ctx.counter_names[a], "value": value, "result": TRI[result],
                "tests": tests(i + 1, end, k), "pointer": p,
            }
        kind = _KINDS.get(k)
        if kind is None:
            raise RuntimeError(f"explain: unexpected entry kind {k}")
        return {"kind": kind, "result": TRI[result], "children": children(i + 1, end), "pointer": p}

    def children(start: int, end: int) -> List[Dict[str, Any]]:
        out = []
        i = start
        while i < end:
            out.append(node(i))
            i += entries[i][5]
        return out

    rules: List[Dict[str, Any]] = []
    i = 0
    while i < count:
        k, result, op, a, ident, size, failed = entries[i]
        if k != EXPLAIN_RULE:
            raise RuntimeError(f"explain: a rule entry expected at {i}")
        when = []
        j = i + 1
        while j < i + size:
            wk, wresult, _wop, _wa, wident, wsize, _wfailed = entries[j]
            if wk != EXPLAIN_WHEN:
                raise RuntimeError(f"explain: a when entry expected at {j}")
            p = pointers[wident]
            owner = _resolve(manifest, p[: -len("/when")])
            group = owner.get("group") if isinstance(owner, dict) else None
            when.append({
                "group": group if isinstance(group, str) else None, "result": TRI[wresult],
                "conditions": children(j + 1, j + wsize), "pointer": p,
            })
            j += wsize
        rules.append({
            "id": ctx.rule_ids[a], "index": a, "effect": EFFECT_BY_CODE[op], "result": TRI[result],
            "decided": a == decided_rule, "failed": failed, "when": when, "pointer": pointers[ident],
        })
        i += size

    closest: List[Dict[str, Any]] = []
    if decision["decision"] == "deny" and "error" not in decision:
        allow = sorted((r for r in rules if r["effect"] == "allow"), key=lambda r: (r["failed"], r["index"]))
        closest = [
            {"id": r["id"], "index": r["index"], "result": r["result"], "failed": r["failed"], "tests": failed_tests(r)}
            for r in allow[:CLOSEST]
        ]
    out: Dict[str, Any] = {"decision": decision, "rules": rules, "closest": closest}
    if counters is not None:
        out["counters"] = counters
    return out


def failed_tests(rule: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Every operator test of an explained rule whose result is not TRUE, with what it read."""
    out: List[Dict[str, Any]] = []

    def visit(n: Mapping[str, Any]) -> None:
        kind = n["kind"]
        if kind == "field" or kind == "counter":
            path = n["path"] if kind == "field" else f"${n['counter']}"
            for t in n["tests"]:
                if t["result"] == "TRUE":
                    continue
                item: Dict[str, Any] = {"path": path, "op": t["op"], "operand": t["operand"]}
                if kind == "counter" or "value" in n:
                    item["value"] = n["value"]
                item["result"] = t["result"]
                item["pointer"] = t["pointer"]
                out.append(item)
        else:
            for c in n["children"]:
                visit(c)

    for w in rule["when"]:
        for c in w["conditions"]:
            visit(c)
    return out
