"""The Python part of the counters benchmark (a program, not a test; issue 13).

Run by ``npm run bench:counters`` (bench/counters.bench.ts) in a separate process of the same
run: ``python bench/counters_bench.py IN.json OUT.json``. IN holds the two policies (the 100-rule
generated policy with and without its 4 counters), the action templates and, per action, the
agent and session it is given (the Node program's choices, so both hosts decide the same
actions). Measures ``Policy.evaluate(action)`` on the stateless policy and
``Policy.evaluate(action, now=...)`` on the stateful one (now advancing 1 ms per decision), one
timed call at a time, in interleaved rounds (a noisy spell touches both alike); every action is a
new dict made just before its call (outside the timed code), as a parsed request would be.
Writes the percentiles (µs), the rate and the decision mix as JSON to OUT.

When the Python host has no counters API yet (``evaluate`` without ``now``, or a policy with
counters that does not load), OUT says so (``ok: false``) and the Node program reports it.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
if "TOLLGATE_WASM" not in os.environ and (ROOT / "build" / "tollgate.wasm").exists():
    os.environ["TOLLGATE_WASM"] = str(ROOT / "build" / "tollgate.wasm")

CHUNK = 256


def _percentiles(samples: List[int]) -> Dict[str, float]:
    s = sorted(samples)
    n = len(s)

    def at(q: float) -> float:
        return s[min(n - 1, max(0, -(-int(q * n * 1000) // 1000) - 1))] / 1000.0

    return {"p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "max": s[-1] / 1000.0, "mean": sum(s) / n / 1000.0, "samples": n}


def _key(d: Any) -> str:
    if getattr(d, "error", None):
        return "error"
    rule = d.rule
    if rule is None:
        return f"{d.decision} (default)"
    if rule.startswith("counters."):
        return f"{d.decision} (by a counter)"
    return f"{d.decision} (undetermined)" if d.undetermined else d.decision


def main() -> int:
    src, out = sys.argv[1], sys.argv[2]
    spec = json.loads(Path(src).read_text())
    result: Dict[str, Any] = {"ok": False, "python": platform.python_version()}
    try:
        import tollgate
        from tollgate import Policy

        result["wasmtime"] = __import__("wasmtime").__version__ if hasattr(__import__("wasmtime"), "__version__") else "?"
    except Exception as e:  # pragma: no cover - reported
        result["note"] = f"cannot import tollgate: {e}"
        Path(out).write_text(json.dumps(result))
        return 0
    if "now" not in inspect.signature(Policy.evaluate).parameters:
        result["note"] = "the Python host's Policy.evaluate takes no `now` yet (counters not wired): the stateful Python figures are missing"
        Path(out).write_text(json.dumps(result))
        return 0
    stateless = Policy.from_yaml(spec["stateless"], "generated-100.yaml")
    try:
        stateful = Policy.from_yaml(spec["stateful"], "generated-100-counters.yaml")
    except Exception as e:
        result["note"] = f"the Python host cannot load the policy with counters: {e}"
        Path(out).write_text(json.dumps(result))
        return 0
    if not getattr(stateful, "stateful", False):
        result["note"] = "the Python host loads the policy with counters as stateless: counters not wired yet"
        Path(out).write_text(json.dumps(result))
        return 0

    templates: List[Dict[str, Any]] = spec["templates"]
    agents: List[int] = spec["agents"]
    sessions: List[int] = spec["sessions"]
    length = len(agents)
    start: int = spec["start"]
    rounds: int = spec["rounds"]
    block: int = -(-spec["block"] // CHUNK) * CHUNK
    warm: int = spec["warm"]

    def action(i: int) -> Dict[str, Any]:
        n = i % length
        t = templates[n % len(templates)]
        k = agents[n]
        a = dict(t)
        a["session"] = {"id": f"s-{k:04d}-{sessions[n]}"}
        agent = t.get("agent")
        if isinstance(agent, dict) and "id" in agent:
            a["agent"] = {**agent, "id": f"agent-{k:04d}"}
        return a

    variants: List[Any] = [
        ("without counters", lambda a, i: stateless.evaluate(a)),
        ("with 4 counters", lambda a, i: stateful.evaluate(a, now=start + i)),
    ]
    nxt = [0 for _ in variants]
    for v, (_, call) in enumerate(variants):
        i = nxt[v]
        for k in range(0, warm, CHUNK):
            chunk = [action(i + j) for j in range(CHUNK)]
            for j in range(CHUNK):
                call(chunk[j], i + j)
            i += CHUNK
        nxt[v] = i
    samples: List[List[int]] = [[] for _ in variants]
    untimed = [0 for _ in variants]
    mixes: List[Dict[str, int]] = [{} for _ in variants]
    clock = time.perf_counter_ns
    for r in range(rounds):
        for v, (name, call) in enumerate(variants):
            gc.collect()
            out_s = samples[v]
            mix = mixes[v]
            i = nxt[v]
            for _ in range(0, block, CHUNK):
                chunk = [action(i + j) for j in range(CHUNK)]
                for j in range(CHUNK):
                    a = chunk[j]
                    t0 = clock()
                    d = call(a, i + j)
                    t1 = clock()
                    out_s.append(t1 - t0)
                    key = _key(d)
                    mix[key] = mix.get(key, 0) + 1
                i += CHUNK
            for _ in range(0, block, CHUNK):
                chunk = [action(i + j) for j in range(CHUNK)]
                t0 = clock()
                for j in range(CHUNK):
                    call(chunk[j], i + j)
                untimed[v] += clock() - t0
                i += CHUNK
            nxt[v] = i
        last = ", ".join(f"{name} p50 {_percentiles(samples[v][-block:])['p50']:.1f} µs" for v, (name, _) in enumerate(variants))
        print(f"  [python] round {r + 1}/{rounds}: {last}", file=sys.stderr, flush=True)
    result["ok"] = True
    result["variants"] = [
        {
            "name": name,
            "latency_us": _percentiles(samples[v]),
            "decisions_per_s": rounds * block / (untimed[v] / 1e9),
            "mix": dict(sorted(mixes[v].items(), key=lambda kv: -kv[1])),
        }
        for v, (name, _) in enumerate(variants)
    ]
    size = stateful.state.size() if stateful.state is not None and hasattr(stateful.state, "size") else None
    result["store"] = size._asdict() if hasattr(size, "_asdict") else (size if isinstance(size, dict) else str(size))
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
