"""Benchmark of the Python host (a program, not a test): ``npm run bench:python``.

For the example policies and the 100-rule benchmark policy it measures:

- per-call ``Policy.evaluate`` latency (p50 / p99 / p99.9, one timed call at a time);
- ``Policy.evaluate_batch`` throughput (decisions per second);
- the same for a plain-Python reference evaluator (``bench/python_reference.py``),
  run in the same process as the baseline, and how often it agrees with the engine;
- cold start: a fresh interpreter doing ``import tollgate``, loading the
  100-rule policy and deciding once, with the compiled module cache warm and cold;
- load: ``Policy.from_yaml`` of bench/policies/generated-{100,1000,10000}.yaml (YAML text to a
  policy ready to decide; median of 5 fresh policies, 3 for 10,000 rules with ``--quick``), the
  YAML stage of it (``load_yaml``), and the RSS each loaded policy holds (issue 18: 10,000 rules
  in <= 0.5 s).

Targets (the issue): 100-rule policy, single ``evaluate`` p99 <= 20 us; batch >= 200,000
decisions/s. Results are printed and written to ``bench/results/python-latest.{json,md}``.

Usage: python bench/python_bench.py [--quick] [--no-write]

Peers mode (run by ``npm run bench:peers``, bench/peers.bench.ts, in a separate process of the
same run): ``python bench/python_bench.py --peers IN.json --peers-out OUT.json [--budget-ms N]``
reads the workloads the Node program wrote (manifest, actions and Node's decisions for each),
measures ``Policy.evaluate`` per call (p50 / p99 / p99.9 / max, three repeats),
``evaluate_batch`` per decision, load time and memory per loaded policy, checks every decision
against Node's, and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))

if "TOLLGATE_WASM" not in os.environ and (ROOT / "build" / "tollgate.wasm").exists():
    os.environ["TOLLGATE_WASM"] = str(ROOT / "build" / "tollgate.wasm")

import tollgate  # noqa: E402
from python_reference import ReferencePolicy  # noqa: E402
from tollgate import Policy  # noqa: E402

TARGET_P99_US = 20.0
TARGET_BATCH_PER_S = 200_000


def _workloads() -> List[Tuple[str, Path, List[Any]]]:
    out = []
    example_actions_path = ROOT / "examples" / "actions.jsonl"
    example_actions = []
    if example_actions_path.exists():
        for line in example_actions_path.read_text().splitlines():
            try:
                example_actions.append(json.loads(line))
            except ValueError:  # the file has deliberately bad lines for `tollgate eval`
                pass
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        # Only policies (examples/ also holds e.g. tokens.yaml for `tollgate serve`).
        if not any(line.startswith("tollgate:") for line in path.read_text().splitlines()):
            continue
        out.append((path.stem, path, example_actions))
    gen = ROOT / "bench" / "policies" / "generated-100.yaml"
    gen_actions = ROOT / "bench" / "policies" / "generated-100.actions.jsonl"
    if gen.exists() and gen_actions.exists():
        actions = [json.loads(l) for l in gen_actions.read_text().splitlines() if l.strip()]
        out.append(("generated-100 (bench/generate.ts)", gen, actions))
    else:
        path, actions = _fallback_policy()
        out.append(("fallback-100 (seeded, in this script)", path, actions))
    return out


def _fallback_policy() -> Tuple[Path, List[Any]]:
    """A comparable 100-rule policy when bench/generate.ts's output is not there (seed 1)."""
    rng = random.Random(1)
    namespaces = ["payments", "db", "shell", "web", "fs", "crm", "email", "slack", "github", "k8s"]
    verbs = ["get", "list", "create", "update", "delete", "export", "run", "send"]
    rules = []
    for i in range(100):
        ns = rng.choice(namespaces)
        tool = f"{ns}.{rng.choice(verbs)}"
        effect = rng.choice(["allow", "allow", "allow", "deny", "escalate"])
        when: Dict[str, Any] = {"tool": tool}
        k = rng.randrange(4)
        if k == 0:
            when["args.amount"] = {"gt": rng.randrange(10, 5000)}
        elif k == 1:
            when["args.path"] = {"glob": f"/srv/{rng.choice(['data', 'www', 'tmp'])}/**"}
        elif k == 2:
            when["agent.roles"] = {"contains": rng.choice(["admin", "support", "analyst"])}
        else:
            when["args.query"] = {"matches": "(?i)\\b(drop|delete|truncate)\\b"}
        rule: Dict[str, Any] = {"id": f"r{i}", "effect": effect, "when": when}
        if effect != "allow":
            rule["reason"] = f"rule {i}"
        if effect == "escalate":
            rule["approver"] = "oncall"
        rules.append(rule)
    manifest = {"tollgate": 1, "name": "fallback-100", "approvers": {"oncall": {"timeout": "15m"}}, "rules": rules}
    path = Path(tempfile.mkdtemp(prefix="tollgate-bench-")) / "fallback-100.yaml"
    path.write_text(json.dumps(manifest, indent=2))
    actions = []
    for _ in range(1000):
        ns = rng.choice(namespaces)
        actions.append(
            {
                "tool": f"{ns}.{rng.choice(verbs)}",
                "args": {"amount": rng.randrange(0, 10000), "path": "/srv/data/x", "query": "select 1"},
                "agent": {"id": "bot", "roles": [rng.choice(["admin", "support", "analyst"])]},
            }
        )
    return path, actions


def _percentile(sorted_ns: List[int], p: float) -> float:
    k = min(len(sorted_ns) - 1, max(0, int(round(p / 100.0 * len(sorted_ns) + 0.5)) - 1))
    return sorted_ns[k] / 1000.0


def _latency(fn: Any, actions: List[Any], calls: int) -> Dict[str, float]:
    n = len(actions)
    for i in range(min(2000, calls)):  # warm-up
        fn(actions[i % n])
    gc.collect()
    clock = time.perf_counter_ns
    samples = [0] * calls
    for i in range(calls):
        a = actions[i % n]
        t0 = clock()
        fn(a)
        samples[i] = clock() - t0
    samples.sort()
    return {
        "p50_us": _percentile(samples, 50),
        "p99_us": _percentile(samples, 99),
        "p999_us": _percentile(samples, 99.9),
        "mean_us": statistics.fmean(samples) / 1000.0,
    }


def _throughput(run_batch: Any, actions: List[Any], seconds: float) -> float:
    batch = (actions * (10_000 // max(1, len(actions)) + 1))[:10_000]
    run_batch(batch)  # warm-up
    gc.collect()
    done = 0
    t0 = time.perf_counter()
    while True:
        run_batch(batch)
        done += len(batch)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return done / elapsed


_COLD = """
import time
t0 = time.perf_counter()
import tollgate
t1 = time.perf_counter()
p = tollgate.Policy.from_file({path!r})
t2 = time.perf_counter()
d = p.evaluate({action!r})
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def _cold_start(path: Path, action: Any, runs: int) -> Dict[str, Any]:
    script = _COLD.format(path=str(path), action=action)
    result: Dict[str, Any] = {}
    for label, cache in (("cold_cache", None), ("warm_cache", Path(tempfile.mkdtemp(prefix="tollgate-bench-cache-")))):
        totals, imports, loads, firsts = [], [], [], []
        for _ in range(runs):
            env = dict(os.environ)
            if cache is None:
                env["TOLLGATE_CACHE_DIR"] = tempfile.mkdtemp(prefix="tollgate-bench-empty-")
            else:
                env["TOLLGATE_CACHE_DIR"] = str(cache)
                subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
            totals.append(time.perf_counter() - t0)
            a, b, c = (float(x) for x in out.stdout.split())
            imports.append(a)
            loads.append(b)
            firsts.append(c)
        result[label] = {
            "process_ms": 1000 * statistics.median(totals),
            "import_ms": 1000 * statistics.median(imports),
            "load_policy_ms": 1000 * statistics.median(loads),
            "first_decision_us": 1e6 * statistics.median(firsts),
            "import_to_first_decision_ms": 1000 * statistics.median(a + b + c for a, b, c in zip(imports, loads, firsts)),
        }
    return result


def _load_times(quick: bool) -> List[Dict[str, Any]]:
    """Load time (YAML text to a policy ready to decide) and RSS per policy, by policy size."""
    from tollgate.yaml_loader import load_yaml

    rows = []
    for rules in (100, 1000, 10000):
        path = ROOT / "bench" / "policies" / f"generated-{rules}.yaml"
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        Policy.from_yaml(text, str(path))  # warm: the module, the caches
        runs = 3 if quick and rules >= 10000 else 5
        loads, yamls = [], []
        for _ in range(runs):
            gc.collect()
            t0 = time.perf_counter()
            policy = Policy.from_yaml(text, str(path))
            loads.append(time.perf_counter() - t0)
            del policy
            gc.collect()
            t0 = time.perf_counter()
            load_yaml(text, str(path))
            yamls.append(time.perf_counter() - t0)
        copies = 2 if rules >= 10000 else 4
        gc.collect()
        rss0 = _rss_bytes()
        keep = [Policy.from_yaml(text, str(path)) for _ in range(copies)]
        gc.collect()
        rss1 = _rss_bytes()
        del keep
        gc.collect()
        rows.append(
            {
                "rules": rules,
                "bytes": len(text.encode("utf-8")),
                "load_ms": 1000 * statistics.median(loads),
                "load_min_ms": 1000 * min(loads),
                "yaml_ms": 1000 * statistics.median(yamls),
                "rss_per_policy_bytes": (rss1 - rss0) / copies,
                "runs": runs,
            }
        )
    return rows


def _load_text(rows: List[Dict[str, Any]]) -> str:
    lines = ["load (Policy.from_yaml, YAML text to a policy ready to decide; median, fresh policy each):"]
    for r in rows:
        lines.append(
            f"  {r['rules']:>6} rules ({r['bytes'] / 1e6:.2f} MB)  load {r['load_ms']:7.1f} ms (min {r['load_min_ms']:.1f})  "
            f"of which YAML {r['yaml_ms']:6.1f} ms  RSS per policy {r['rss_per_policy_bytes'] / 2**20:6.1f} MiB"
        )
    return "\n".join(lines)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _stats(samples: List[int], wall_ns: int, per_sample: int = 1) -> Dict[str, float]:
    s = sorted(samples)
    n = len(s)

    def at(q: float) -> float:
        return float(s[min(n - 1, max(0, math.ceil(q * n) - 1))])

    return {
        "p50": at(0.5),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": float(s[-1]),
        "mean": sum(s) / n,
        "samples": n,
        "decisionsPerSec": n * per_sample * 1e9 / max(1, wall_ns),
    }


def _timed_repeats(call: Any, count: int, budget_ns: int, repeats: int = 3) -> Dict[str, Any]:
    """Times every call (ns) after a warm-up, in `repeats` rounds sharing the budget."""
    clock = time.perf_counter_ns
    w0 = clock()
    w = 0
    while w < 2 or (w < 5000 and clock() - w0 < min(300_000_000, budget_ns // 4)):
        call(w)
        w += 1
    est = (clock() - w0) / w
    per = max(4, min(100_000 // repeats, int(budget_ns / repeats / max(est, 1))))
    pooled: List[int] = []
    wall = 0
    rounds = []
    i = 0
    for _ in range(repeats):
        gc.collect()
        samples = [0] * per
        start = clock()
        for k in range(per):
            t0 = clock()
            call(i)
            samples[k] = clock() - t0
            i += 1
        w_ns = clock() - start
        wall += w_ns
        rounds.append(_stats(samples, w_ns))
        pooled += samples
    out = _stats(pooled, wall)
    out["repeats"] = [{"p50": r["p50"], "p99": r["p99"], "decisionsPerSec": r["decisionsPerSec"]} for r in rounds]
    return out


def _peers(args: Any) -> int:
    data = json.loads(Path(args.peers).read_text())
    budget_ns = int(args.budget_ms * 1e6)
    out: Dict[str, Any] = {
        "python": platform.python_version(),
        "wasmtime": _wasmtime_version(),
        "tollgate": tollgate.__version__,
        "workloads": [],
    }
    for w in data["workloads"]:
        manifest, actions, expected = w["manifest"], w["actions"], w["expected"]
        loads = 2 if w["rules"] >= 10000 else 5
        times = []
        for _ in range(loads):
            t0 = time.perf_counter_ns()
            policy = Policy.from_object(manifest)
            times.append((time.perf_counter_ns() - t0) / 1e6)
        copies = 2 if w["rules"] >= 10000 else 4 if w["rules"] >= 1000 else 10
        gc.collect()
        import tracemalloc

        rss0 = _rss_bytes()
        tracemalloc.start()
        keep = [Policy.from_object(manifest) for _ in range(copies)]
        gc.collect()
        heap = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        rss1 = _rss_bytes()
        del keep
        gc.collect()
        decisions = policy.evaluate_batch(actions)
        mismatches = []
        for k, (d, e) in enumerate(zip(decisions, expected)):
            if d.decision != e[0] or d.rule != e[1]:
                mismatches.append({"index": k, "python": [d.decision, d.rule], "node": e})
        n = len(actions)
        single = _timed_repeats(lambda i: policy.evaluate(actions[i % n]), n, budget_ns)
        batch_samples: List[float] = []
        wall = 0
        rounds = []
        policy.evaluate_batch(actions)
        for _ in range(3):
            gc.collect()
            r_samples = []
            r0 = time.perf_counter_ns()
            k = 0
            while k < 3 or (k < 1000 and time.perf_counter_ns() - r0 < budget_ns / 3):
                t0 = time.perf_counter_ns()
                policy.evaluate_batch(actions)
                r_samples.append((time.perf_counter_ns() - t0) / n)
                k += 1
            r_wall = time.perf_counter_ns() - r0
            wall += r_wall
            rounds.append({"p50": sorted(r_samples)[len(r_samples) // 2], "p99": max(r_samples), "decisionsPerSec": len(r_samples) * n * 1e9 / r_wall})
            batch_samples += r_samples
        bs = sorted(batch_samples)
        m = len(bs)
        batch = {
            "p50": bs[m // 2],
            "p99": bs[min(m - 1, int(0.99 * m))],
            "p999": bs[min(m - 1, int(0.999 * m))],
            "max": bs[-1],
            "mean": sum(bs) / m,
            "samples": m,
            "decisionsPerSec": m * n * 1e9 / wall,
            "repeats": rounds,
        }
        row = {
            "workload": w["workload"],
            "variant": w["variant"],
            "rules": w["rules"],
            "actions": n,
            "loadMs": statistics.median(times),
            "memory": {"heapBytes": heap / copies, "externalBytes": None, "rssBytes": (rss1 - rss0) / copies, "copies": copies},
            "evaluate": single,
            "evaluateBatch": batch,
            "checked": len(expected),
            "mismatches": len(mismatches),
            "firstMismatches": mismatches[:5],
        }
        out["workloads"].append(row)
        print(
            f"[python] {w['workload']}: {w['rules']} rules, evaluate p50 {single['p50'] / 1000:.2f} us p99 {single['p99'] / 1000:.2f} us, "
            f"batch {batch['decisionsPerSec']:,.0f}/s, load {row['loadMs']:.1f} ms, {len(mismatches)} mismatches",
            file=sys.stderr,
            flush=True,
        )
    Path(args.peers_out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and shorter runs")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/python-latest.*")
    parser.add_argument("--peers", help="workloads JSON written by bench/peers.bench.ts")
    parser.add_argument("--peers-out", help="where to write the peers-mode figures (JSON)")
    parser.add_argument("--budget-ms", type=float, default=1500.0, help="peers mode: time budget per measurement")
    args = parser.parse_args()
    if args.peers:
        return _peers(args)
    calls = 20_000 if args.quick else 100_000
    seconds = 0.5 if args.quick else 2.0

    report: Dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "wasmtime": _wasmtime_version(),
        "tollgate": tollgate.__version__,
        "targets": {"p99_us": TARGET_P99_US, "batch_per_s": TARGET_BATCH_PER_S},
        "workloads": [],
    }
    for name, path, actions in _workloads():
        policy = Policy.from_file(path)
        reference = ReferencePolicy(policy.manifest)
        engine_dicts = [d.to_dict() for d in policy.evaluate_batch(actions)]
        ref_dicts = [reference.evaluate(a) for a in actions]
        # The plain-Python baseline is stateless: a policy with counters (spec section 8) decides
        # by state it does not model, so there is nothing to agree on (None: not compared).
        agree: Optional[float] = (
            None if policy.stateful else sum(1 for x, y in zip(engine_dicts, ref_dicts) if x == y) / max(1, len(actions))
        )
        row = {
            "name": name,
            "rules": len(policy.rules),
            "fields": len(policy.fields),
            "actions": len(actions),
            "fast_path": policy._core.fast,
            "evaluate": _latency(policy.evaluate, actions, calls),
            "evaluate_batch_per_s": _throughput(policy.evaluate_batch, actions, seconds),
            "reference_evaluate": _latency(reference.evaluate, actions, calls),
            "reference_per_s": _throughput(lambda b: [reference.evaluate(a) for a in b], actions, seconds),
            "reference_agreement": agree,
        }
        report["workloads"].append(row)
        print(_row_text(row), flush=True)
    gen = [w for w in _workloads() if "100" in w[0]][-1]
    report["cold_start"] = _cold_start(gen[1], gen[2][0], runs=3 if args.quick else 7)
    print(_cold_text(report["cold_start"]))
    report["load"] = _load_times(quick=args.quick)
    print(_load_text(report["load"]), flush=True)
    big = report["workloads"][-1]
    report["verdict"] = {
        "p99_ok": big["evaluate"]["p99_us"] <= TARGET_P99_US,
        "batch_ok": big["evaluate_batch_per_s"] >= TARGET_BATCH_PER_S,
    }
    print(
        f"targets on {big['name']}: p99 {big['evaluate']['p99_us']:.1f} us (<= {TARGET_P99_US:.0f}: "
        f"{'ok' if report['verdict']['p99_ok'] else 'MISSED'}), batch {big['evaluate_batch_per_s']:,.0f}/s "
        f"(>= {TARGET_BATCH_PER_S:,}: {'ok' if report['verdict']['batch_ok'] else 'MISSED'})"
    )
    if not args.no_write:
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "python-latest.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "python-latest.md").write_text(_markdown(report))
        print(f"wrote {out / 'python-latest.json'} and python-latest.md")
    return 0


def _wasmtime_version() -> str:
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:
        return "?"


def _agreement(r: Dict[str, Any], short: bool = False) -> str:
    a = r["reference_agreement"]
    if a is None:
        return "- (counters)" if short else "not compared: the policy has counters, which the stateless baseline does not model"
    return f"{100 * a:.1f}%" if short else f"agrees on {100 * a:.1f}% of actions"


def _row_text(r: Dict[str, Any]) -> str:
    e, ref = r["evaluate"], r["reference_evaluate"]
    return (
        f"{r['name']}: {r['rules']} rules, {r['fields']} fields, {r['actions']} actions\n"
        f"  evaluate        p50 {e['p50_us']:6.2f} us  p99 {e['p99_us']:6.2f} us  p99.9 {e['p999_us']:7.2f} us\n"
        f"  evaluate_batch  {r['evaluate_batch_per_s']:>12,.0f} decisions/s\n"
        f"  reference       p50 {ref['p50_us']:6.2f} us  p99 {ref['p99_us']:6.2f} us  p99.9 {ref['p999_us']:7.2f} us"
        f"  {r['reference_per_s']:>10,.0f}/s  ({_agreement(r)})"
    )


def _cold_text(c: Dict[str, Any]) -> str:
    lines = ["cold start (fresh interpreter; import tollgate + load the 100-rule policy + one decision):"]
    for label in ("cold_cache", "warm_cache"):
        x = c[label]
        lines.append(
            f"  {label:10}  import {x['import_ms']:6.1f} ms  load {x['load_policy_ms']:6.1f} ms  "
            f"first decision {x['first_decision_us']:6.0f} us  import->decision {x['import_to_first_decision_ms']:6.1f} ms  "
            f"(whole process {x['process_ms']:.0f} ms)"
        )
    return "\n".join(lines)


def _markdown(report: Dict[str, Any]) -> str:
    lines = [
        "# Python host benchmark",
        "",
        f"{report['when']}, Python {report['python']}, wasmtime {report['wasmtime']}, {report['machine']}.",
        "`npm run bench:python` (bench/python_bench.py). Latencies are one timed call at a time.",
        "",
        "| workload | rules | evaluate p50 | p99 | p99.9 | batch/s | reference p50 | reference/s | agree |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["workloads"]:
        e, ref = r["evaluate"], r["reference_evaluate"]
        lines.append(
            f"| {r['name']} | {r['rules']} | {e['p50_us']:.2f} µs | {e['p99_us']:.2f} µs | {e['p999_us']:.2f} µs | "
            f"{r['evaluate_batch_per_s']:,.0f} | {ref['p50_us']:.2f} µs | {r['reference_per_s']:,.0f} | "
            f"{_agreement(r, short=True)} |"
        )
    if report.get("load"):
        lines += [
            "",
            "Load (`Policy.from_yaml`: YAML text to a policy ready to decide; median, a fresh policy each time):",
            "",
            "| rules | YAML size | load | of which YAML | RSS per policy |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in report["load"]:
            lines.append(
                f"| {r['rules']:,} | {r['bytes'] / 1e6:.2f} MB | {r['load_ms']:.1f} ms | {r['yaml_ms']:.1f} ms | "
                f"{r['rss_per_policy_bytes'] / 2**20:.1f} MiB |"
            )
    lines += ["", "Cold start (import + load 100-rule policy + first decision, fresh interpreter):", ""]
    for label, x in report["cold_start"].items():
        lines.append(
            f"- {label}: import {x['import_ms']:.1f} ms, load {x['load_policy_ms']:.1f} ms, first decision "
            f"{x['first_decision_us']:.0f} µs; import→decision {x['import_to_first_decision_ms']:.1f} ms "
            f"(process {x['process_ms']:.0f} ms)"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
