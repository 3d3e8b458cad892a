"""A plain-Python evaluator of the Tollgate policy language: the benchmark's baseline.

It is what a Python user might write by hand (closures over the parsed
manifest, Python's ``re`` for ``matches``, a regex for ``glob``), not the
engine: it does not validate manifests, and its regular expressions follow
Python's ``re`` (ASCII mode) rather than RE2, which is close enough for the
benchmark's policies. ``python_bench.py`` reports how often it agrees with the
engine on the benchmark actions.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

TRUE, FALSE, UNKNOWN = 1, 0, 2
_ABSENT = object()
_DURATION = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_path(path: str) -> List[str]:
    """``args["file.name"].x`` -> ``["args", "file.name", "x"]``."""
    out: List[str] = []
    i, n = 0, len(path)
    while i < n:
        if path[i] == "[":
            j = i + 2
            buf = []
            while path[j] != '"':
                if path[j] == "\\":
                    j += 1
                buf.append(path[j])
                j += 1
            out.append("".join(buf))
            i = j + 2
        else:
            j = i
            while j < n and path[j] not in ".[":
                j += 1
            out.append(path[i:j])
            i = j
        if i < n and path[i] == ".":
            i += 1
    return out


def _getter(path: Sequence[str]) -> Callable[[Any], Any]:
    keys = tuple(path)

    def get(action: Any) -> Any:
        v = action
        for k in keys:
            if type(v) is not dict:
                return _ABSENT
            v = v.get(k, _ABSENT)
            if v is _ABSENT:
                return _ABSENT
        return v

    return get


def _is_num(v: Any) -> bool:
    return (type(v) is int or type(v) is float) and type(v) is not bool


def _json_eq(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if _is_num(a) and _is_num(b):
        return float(a) == float(b)
    if type(a) is not type(b):
        return False
    return a == b


def _glob_regex(pattern: str) -> "re.Pattern[str]":
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.index("]", i + 1)
            body = pattern[i + 1 : j]
            neg = body.startswith("!")
            if neg:
                body = body[1:]
            out.append("(?![/])[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
            i = j + 1
            continue
        elif c == "{":
            j = pattern.index("}", i)
            out.append("(?:" + "|".join(re.escape(a) for a in pattern[i + 1 : j].split(",")) + ")")
            i = j + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _test(spec: Any) -> Callable[[Any], int]:
    """A compiled test: value -> TRUE/FALSE/UNKNOWN (value may be _ABSENT)."""
    if not isinstance(spec, dict):
        if isinstance(spec, list):
            spec = {"in": spec}
        else:
            spec = {"eq": spec}
    parts = [_operator(op, arg) for op, arg in spec.items()]
    if len(parts) == 1:
        return parts[0]

    def all_of(v: Any) -> int:
        r = TRUE
        for p in parts:
            x = p(v)
            if x == FALSE:
                return FALSE
            if x == UNKNOWN:
                r = UNKNOWN
        return r

    return all_of


def _operator(op: str, arg: Any) -> Callable[[Any], int]:
    if op == "exists":
        want = bool(arg)
        return lambda v: TRUE if (v is not _ABSENT) == want else FALSE
    if op in ("eq", "ne"):
        neg = op == "ne"

        def eq(v: Any) -> int:
            if v is _ABSENT:
                return UNKNOWN
            return TRUE if _json_eq(v, arg) != neg else FALSE

        return eq
    if op in ("in", "not_in"):
        neg = op == "not_in"
        items = list(arg)

        def member(v: Any) -> int:
            if v is _ABSENT:
                return UNKNOWN
            hit = any(_json_eq(v, x) for x in items)
            return TRUE if hit != neg else FALSE

        return member
    if op in ("gt", "gte", "lt", "lte"):
        bound = float(arg)
        cmp = {
            "gt": lambda x: x > bound,
            "gte": lambda x: x >= bound,
            "lt": lambda x: x < bound,
            "lte": lambda x: x <= bound,
        }[op]
        return lambda v: (TRUE if cmp(v) else FALSE) if _is_num(v) else UNKNOWN
    if op == "prefix":
        return lambda v: (TRUE if v.startswith(arg) else FALSE) if type(v) is str else UNKNOWN
    if op == "suffix":
        return lambda v: (TRUE if v.endswith(arg) else FALSE) if type(v) is str else UNKNOWN
    if op == "contains":

        def contains(v: Any) -> int:
            if type(v) is str:
                return (TRUE if arg in v else FALSE) if isinstance(arg, str) else UNKNOWN
            if type(v) is list:
                return TRUE if any(_json_eq(x, arg) for x in v) else FALSE
            return UNKNOWN

        return contains
    if op == "glob":
        rx = _glob_regex(arg)
        return lambda v: (TRUE if rx.fullmatch(v) else FALSE) if type(v) is str else UNKNOWN
    if op == "matches":
        flags = re.ASCII
        pattern = arg
        if pattern.startswith("(?i)"):
            flags |= re.IGNORECASE
            pattern = pattern[4:]
        rx = re.compile(pattern, flags)
        return lambda v: (TRUE if rx.search(v) else FALSE) if type(v) is str else UNKNOWN
    if op == "len":
        inner = _test(arg)

        def length(v: Any) -> int:
            if type(v) is str:
                return inner(len(v))
            if type(v) is list:
                return inner(len(v))
            return UNKNOWN

        return length
    if op in ("some", "every"):
        inner = _test(arg)
        is_some = op == "some"

        def quantifier(v: Any) -> int:
            if type(v) is not list:
                return UNKNOWN
            r = FALSE if is_some else TRUE
            for x in v:
                t = inner(x)
                if is_some:
                    if t == TRUE:
                        return TRUE
                    if t == UNKNOWN:
                        r = UNKNOWN
                else:
                    if t == FALSE:
                        return FALSE
                    if t == UNKNOWN:
                        r = UNKNOWN
            return r

        return quantifier
    raise ValueError(f"unknown operator {op}")


def _condition(cond: Any) -> Callable[[Any], int]:
    parts: List[Callable[[Any], int]] = []
    for key, arg in cond.items():
        if key == "all":
            subs = [_condition(c) for c in arg]
            parts.append(lambda a, subs=subs: _all(s(a) for s in subs))
        elif key == "any":
            subs = [_condition(c) for c in arg]
            parts.append(lambda a, subs=subs: _any(s(a) for s in subs))
        elif key == "not":
            sub = _condition(arg)
            parts.append(lambda a, sub=sub: {TRUE: FALSE, FALSE: TRUE, UNKNOWN: UNKNOWN}[sub(a)])
        else:
            get = _getter(parse_path(key))
            test = _test(arg)
            parts.append(lambda a, get=get, test=test: test(get(a)))
    if len(parts) == 1:
        return parts[0]
    return lambda a: _all(p(a) for p in parts)


def _all(results: Any) -> int:
    r = TRUE
    for x in results:
        if x == FALSE:
            return FALSE
        if x == UNKNOWN:
            r = UNKNOWN
    return r


def _any(results: Any) -> int:
    r = FALSE
    for x in results:
        if x == TRUE:
            return TRUE
        if x == UNKNOWN:
            r = UNKNOWN
    return r


def _duration(text: str) -> int:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    assert m, text
    return int(m.group(1)) * _DURATION[m.group(2)]


class ReferencePolicy:
    """Decides actions (dicts) like the engine, for the benchmark's baseline."""

    def __init__(self, manifest: Dict[str, Any]) -> None:
        self.name = manifest["name"]
        self.default = manifest.get("default", "deny")
        approvers = manifest.get("approvers") or {}
        self.rules: List[Tuple[Dict[str, Any], Callable[[Any], int], Dict[str, Any]]] = []

        def visit(items: List[Any], outer: List[Callable[[Any], int]]) -> None:
            for item in items:
                conds = list(outer)
                if "when" in item:
                    conds.append(_condition(item["when"]))
                if "group" in item:
                    visit(item["rules"], conds)
                    continue
                check = (lambda a, conds=conds: _all(c(a) for c in conds)) if conds else (lambda a: TRUE)
                decision: Dict[str, Any] = {
                    "decision": item["effect"],
                    "rule": item["id"],
                    "reason": item.get("reason"),
                    "undetermined": False,
                }
                if item["effect"] == "escalate":
                    ap = approvers[item["approver"]]
                    decision["approver"] = item["approver"]
                    decision["timeout_ms"] = _duration(item.get("timeout") or ap["timeout"])
                    decision["on_timeout"] = ap.get("on_timeout", "deny")
                decision["policy"] = self.name
                self.rules.append((item, check, decision))

        visit(manifest.get("rules") or [], [])
        self._deny = [(c, d) for item, c, d in self.rules if item["effect"] == "deny"]
        self._escalate = [(c, d) for item, c, d in self.rules if item["effect"] == "escalate"]
        self._allow = [(c, d) for item, c, d in self.rules if item["effect"] == "allow"]
        self._default = {
            "decision": self.default,
            "rule": None,
            "reason": "no rule matched" if self.default == "deny" else None,
            "undetermined": False,
            "policy": self.name,
        }

    def evaluate(self, action: Any) -> Dict[str, Any]:
        if type(action) is not dict:
            text = "action is not a JSON object"
            return {"decision": "deny", "rule": None, "reason": text, "undetermined": False, "error": text, "policy": self.name}
        for group in (self._deny, self._escalate):
            for check, decision in group:
                r = check(action)
                if r != FALSE:
                    return dict(decision, undetermined=(r == UNKNOWN))
        for check, decision in self._allow:
            if check(action) == TRUE:
                return decision
        return self._default
