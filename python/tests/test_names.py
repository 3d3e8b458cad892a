"""docs/abi.md, "Names in the hosts": the constants come from abi/constants.json (tollgate._abi),
the Python names follow Node's, and every old name is a deprecated alias of the new one."""

from __future__ import annotations

import importlib
import json

import pytest

import tollgate
from tollgate import _abi
from tollgate.policy import Policy

from conftest import REPO

SPEC = json.loads((REPO / "abi" / "constants.json").read_text(encoding="utf-8"))


def test_generated_module_matches_the_source() -> None:
    assert _abi.ABI_VERSION == SPEC["abi_version"]
    for name, e in SPEC["errors"].items():
        if name.startswith("$"):
            continue
        assert getattr(_abi.ErrorCode, name) == e["code"]
        assert _abi.ERROR_TEXT[e["code"]] == e["text"]
    for name, v in SPEC["tags"].items():
        if not name.startswith("$"):
            assert getattr(_abi, f"TAG_{name}") == v
    for name, limit in SPEC["limits"].items():
        if not name.startswith("$"):
            assert getattr(_abi, name) == limit["value"]
    assert _abi.Messages.DEFAULT_DENY_REASON == SPEC["messages"]["default_deny_reason"]
    assert _abi.Messages.duplicate_key("k") == SPEC["messages"]["duplicate_key"].replace("{key}", "k")
    assert tollgate.ERROR_TEXT is _abi.ERROR_TEXT and tollgate.ErrorCode is _abi.ErrorCode


@pytest.mark.parametrize(
    "module, old, new",
    [
        ("tollgate", "PolicyErrorItem", "PolicyProblem"),
        ("tollgate.errors", "PolicyErrorItem", "PolicyProblem"),
        ("tollgate.engine", "ABI_VERSION", "SUPPORTED_ABI"),
        ("tollgate.encode", "REASONS", "ERROR_TEXT"),
        ("tollgate.encode", "Encoder", "ActionEncoder"),
        ("tollgate.encode", "STATUS_NOT_JSON", "ErrorCode.NOT_JSON"),
        ("tollgate.encode", "STATUS_NOT_OBJECT", "ErrorCode.NOT_OBJECT"),
        ("tollgate.encode", "STATUS_TOO_LARGE", "ErrorCode.TOO_LARGE"),
        ("tollgate.encode", "STATUS_TOO_DEEP", "ErrorCode.TOO_DEEP"),
        ("tollgate.encode", "STATUS_MALFORMED", "ErrorCode.MALFORMED"),
        ("tollgate.encode", "STATUS_ENGINE_FAILED", "ErrorCode.TRAP"),
        ("tollgate.encode", "STATUS_NOT_JSON_VALUE", "ErrorCode.NOT_JSON_VALUE"),
        ("tollgate.yaml_loader", "TOO_LARGE_MESSAGE", "Messages.MANIFEST_TOO_LARGE"),
    ],
)
def test_old_module_names_are_deprecated_aliases(module: str, old: str, new: str) -> None:
    m = importlib.import_module(module)
    value = m
    for part in new.split("."):
        value = getattr(value, part)
    with pytest.warns(DeprecationWarning, match=f"{module}.{old} is deprecated: use {module}.{new}"):
        assert getattr(m, old) is value
    with pytest.raises(AttributeError):
        getattr(m, "NO_SUCH_NAME")


def test_old_policy_names_are_deprecated_aliases() -> None:
    policy = Policy.from_yaml("tollgate: 1\nname: p\nrules: []\naudit:\n  redact: [args.card]\n")
    assert policy.redact == (("args", "card"),)
    with pytest.warns(DeprecationWarning):
        assert policy.redact_paths is policy.redact
    with pytest.warns(DeprecationWarning):
        assert policy.redact({"args": {"card": 1}}) == {"args": {"card": "[redacted]"}}
    from tollgate.yaml_loader import load_yaml

    y = load_yaml("a:\n  b: 1\n")
    with pytest.warns(DeprecationWarning):
        assert y.position("/a/b") == y.locate("/a/b") == (2, 6)
