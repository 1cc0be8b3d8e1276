"""Print the ratios the benchmarks are for: ours / native, per runtime, from one run.

    python -m pytest benchmarks --benchmark-json=bench.json
    python benchmarks/report.py bench.json

Without an argument it reads the newest run saved under ``.benchmarks/`` (by
``--benchmark-save`` or ``--benchmark-autosave``). A ratio compares medians taken in the
same run, on the same machine, minutes apart: absolute times move from machine to
machine and run to run far more than that. The target is ours within 1.5x of each
baseline, unless ``TARGETS`` says otherwise for the group (1.3x for the worker pool
and the channels; for whole probe scans, 1.05x the plain tools' wall time, 1.02x in
the burst at 100 workers, and 1.0x aiometer's; for the rate limiter's wait, 2x the
runtime's semaphore), and for probe scans an efficiency of at least ``EFFICIENCY``. A
group whose rounds a contract bounds (``serve-disconnect``: a hang-up reaches the
probe's host within 0.5 s) says its slowest round beside the bound.

Benchmarks are named ``runtime-implementation`` (``threads-patterns``,
``threads-native``). The baselines ours is held to are ``native`` and, where a group has
it, ``aiometer`` (the third-party peer of the worker pool), ``contract`` (the
native tools doing the per-job work the pool's contract asks for), ``aiolimiter`` (the
third-party peer of the rate limiter) and ``semaphore`` (the runtime's own semaphore,
where the runtime has no tool of the pattern's kind); any other implementation in
a group (``threads-no-reuse``) is set against ``patterns`` of the same runtime.

Given the JSON of a comparison instead (``python -m patterns.probe compare --format json
> compare.json``), it sets each Python row against the ``go`` row, ``reference/go``: its
efficiency over go's and its CPU per probe over go's, as ``against_go`` in
``patterns/probe/compare/report.py`` defines them for compare's own Markdown; or says
there is no go row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from patterns.probe.compare.report import against_go
from patterns.runtimes import RUNTIMES

TARGET = 1.5  # ours may cost at most this many times a baseline
TARGETS: dict[str, float | dict[str, float]] = {  # groups held to other targets
    "workerpool-map-noop": 1.3,
    "channel-throughput": 1.3,
    "channel-rendezvous": 1.3,
    # The burst at 100 workers, where the pool's per-job cost shows most: 2 % at most.
    # Fifteen rounds cannot tell 2 % from noise; scripts/burst_tail.py pairs 300.
    "probe-scan-ideal-w100": {"native": 1.02, "aiometer": 1.0},
    # Whole scans: the pool may add 5 % to the plain tools' wall time, nothing to aiometer's.
    "probe-scan-": {"native": 1.05, "aiometer": 1.0},
    # A wait that need not sleep: a semaphore's bookkeeping plus a clock read and float
    # arithmetic, so at most twice a semaphore; as dear as aiolimiter, which does the same.
    "ratelimit-wait-uncontended": {"semaphore": 2.0, "aiolimiter": 1.5},
}
EFFICIENCY = {  # probe scans: the least ideal_s / median for ours, by group and runtime
    "probe-scan-standard-w20": {"threads": 0.97, "asyncio": 0.97, "trio": 0.97},
    "probe-scan-standard-w100": {"threads": 0.95, "asyncio": 0.95, "trio": 0.95},
    "probe-scan-ideal-w100": {"threads": 0.60, "asyncio": 0.75, "trio": 0.75},
}
BASELINES = ("native", "aiometer", "contract", "aiolimiter", "semaphore")  # in this order


def target_for(group: str, baseline: str) -> float:
    """The most ours may cost against ``baseline`` in ``group`` (a key ending in "-"
    is a prefix of group names)."""
    for key, target in TARGETS.items():
        if group == key or (key.endswith("-") and group.startswith(key)):
            return target if isinstance(target, float) else target.get(baseline, TARGET)
    return TARGET


def newest_saved_run() -> Path:
    runs = sorted(Path(".benchmarks").glob("*/*.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        sys.exit("no saved run under .benchmarks/: pass a --benchmark-json file")
    return runs[-1]


def per_op_us(bench: dict[str, Any]) -> float:
    """The median round, in µs per operation (per acquire+release, per task)."""
    median: float = bench["stats"]["median"]
    ops: int = bench["extra_info"].get("ops", 1)
    return median / ops * 1e6


def report(data: dict[str, Any]) -> list[str]:
    groups: dict[str, dict[str, dict[str, Any]]] = {}  # group -> runtime -> impl -> bench
    unit: dict[str, str] = {}  # group -> what one operation is
    for bench in data["benchmarks"]:
        # "runtime-implementation": the ``case`` parameter, where a test has others too
        case = (bench.get("params") or {}).get("case", bench["param"])
        runtime, _, impl = case.partition("-")
        groups.setdefault(bench["group"], {}).setdefault(runtime, {})[impl] = bench
        unit[bench["group"]] = bench["extra_info"].get("op", "op")

    machine = data["machine_info"]
    lines = [f"Medians from one run ({data['datetime'][:19]}, "
             f"{machine['python_implementation']} {machine['python_version']}); "
             f"target: ours <= {TARGET}x each baseline, unless the group says otherwise."]
    for group, runtimes in sorted(groups.items()):
        op = unit[group]
        present = {impl for impls in runtimes.values() for impl in impls}
        targets = sorted({target_for(group, b) for b in BASELINES if b in present}) or [TARGET]
        lines += ["", f"{group}  (µs per {op}; target: ours <= "
                      f"{' / '.join(f'{t}x' for t in targets)} the baseline)",
                  f"  {'runtime':<9}{'baseline':<10}{'patterns':>10}{'baseline':>10}"
                  f"{'ours/baseline':>15}"]
        extras = []
        for runtime in sorted(runtimes, key=_runtime_order):
            impls = runtimes[runtime]
            if "patterns" not in impls:  # a group of runtimes alone (spawn)
                lines += [_alone(runtime, impl, bench, op) for impl, bench in impls.items()]
                continue
            ours = per_op_us(impls["patterns"])
            baselines = [impl for impl in BASELINES if impl in impls]
            if not baselines:
                lines.append(f"  {runtime:<9}{'-':<10}{ours:>10.2f}{'-':>10}{'-':>14}   "
                             f"no baseline")
            for impl in baselines:
                theirs = per_op_us(impls[impl])
                ratio, target = ours / theirs, target_for(group, impl)
                verdict = "ok" if ratio <= target else f"OVER TARGET ({target}x)"
                lines.append(f"  {runtime:<9}{impl:<10}{ours:>10.2f}{theirs:>10.2f}"
                             f"{ratio:>14.2f}x  {verdict}")
            for impl, bench in impls.items():
                if impl != "patterns" and impl not in BASELINES:
                    other = per_op_us(bench)
                    extras.append(f"  {runtime}-{impl}: {other:.2f} µs per {op} = "
                                  f"{other / ours:.1f}x {runtime}-patterns, "
                                  f"{other - ours:+.1f} µs per {op}")
            extras += _efficiency(group, runtime, impls)
            extras += _bound(runtime, impls)
        lines += extras
    return lines


def _efficiency(group: str, runtime: str, impls: dict[str, Any]) -> list[str]:
    """A probe scan's efficiency (ideal / median) for each line, against its target."""
    figures = {impl: b["extra_info"]["efficiency"] for impl, b in impls.items()
               if "efficiency" in b["extra_info"]}
    if not figures:
        return []
    least = EFFICIENCY.get(group, {}).get(runtime)
    ours = figures.get("patterns")
    verdict = "" if least is None or ours is None else \
        f"  (target >= {least}: {'ok' if ours >= least else 'UNDER TARGET'})"
    return [f"  {runtime} efficiency: " + ", ".join(
        f"{impl} {value:.2f}" for impl, value in figures.items()) + verdict]


def _bound(runtime: str, impls: dict[str, Any]) -> list[str]:
    """A contract's bound on every round (``extra_info["bound_s"]``: the hang-up's 0.5 s),
    against the slowest round."""
    return [f"  {runtime}-{impl}: slowest of {b['stats']['rounds']} rounds "
            f"{b['stats']['max'] * 1e6:,.0f} µs; the bound is {b['extra_info']['bound_s']} s: "
            f"{'ok' if b['stats']['max'] <= b['extra_info']['bound_s'] else 'OVER THE BOUND'}"
            for impl, b in impls.items() if "bound_s" in b["extra_info"]]


def _runtime_order(runtime: str) -> int:
    """The three runtimes in their order, then any other (``go``, in the spawn group)."""
    return RUNTIMES.index(runtime) if runtime in RUNTIMES else len(RUNTIMES)


def _alone(runtime: str, impl: str, bench: dict[str, Any], op: str) -> str:
    """One line of a group with no baseline: its time, and any bytes per ``op``. A
    program timed as a whole process (``go-spawn``) says what it measured of itself
    (``self_reported_us_per_task``), and the timed round beside it."""
    extra = bench["extra_info"]
    sizes = ", ".join(f"{key.removesuffix('_bytes').replace('_', ' ')} "
                      f"{value / 1024:.2f} KiB" for key, value in extra.items()
                      if key.endswith("_bytes") and isinstance(value, int | float))
    timing = f"{per_op_us(bench):.2f} µs per {op}"
    if "self_reported_us_per_task" in extra:
        timing = (f"{extra['self_reported_us_per_task']:.2f} µs per {op}, self-reported "
                  f"(the timed round, its whole process: {timing})")
    return f"  {runtime}-{impl}: {timing}" + (f"; {sizes}" if sizes else "")


def compare_report(data: dict[str, Any]) -> list[str]:
    """A comparison's rows against its ``go`` row: efficiency (ideal / median) and CPU
    seconds per probe, each as a ratio of go's."""
    rows: dict[str, dict[str, Any]] = data["runtimes"]
    lines = [f"compare run ({data['date']}): {data['hosts']} hosts ({data['profile']} "
             f"profile), {data['workers']} workers, {data['rounds_done']} rounds"]
    against = against_go(rows)  # the definitions compare's own Markdown uses
    if not against:
        why = data.get("unavailable", {}).get("go")
        return [*lines, "no go row" + (f": {why}" if why else "")]
    lines.append(f"  {'row':<9}{'efficiency':>11}{'/ go':>8}{'CPU per probe':>16}{'/ go':>8}")
    for row in against:
        lines.append(f"  {row.row:<9}{row.efficiency:>11.2f}{row.efficiency_ratio:>7.2f}x"
                     f"{row.cpu_per_probe_us:>13.0f} µs{row.cpu_ratio:>7.2f}x")
    return lines


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else newest_saved_run()
    data = json.loads(path.read_text())
    print(f"{path}:")
    print("\n".join(compare_report(data) if "runtimes" in data else report(data)))


if __name__ == "__main__":
    main()
