"""Print the ratios the benchmarks are for: ours / native, per runtime, from one run.

    python -m pytest benchmarks --benchmark-json=bench.json
    python benchmarks/report.py bench.json

Without an argument it reads the newest run saved under ``.benchmarks/`` (by
``--benchmark-save`` or ``--benchmark-autosave``). A ratio compares medians taken in the
same run, on the same machine, minutes apart: absolute times move from machine to
machine and run to run far more than that. The target is ours within 1.5x of each
baseline, and within 1.3x for the groups in ``TARGETS``.

Benchmarks are named ``runtime-implementation`` (``threads-patterns``,
``threads-native``). The baselines ours is held to are ``native`` and, where a group has
it, ``aiometer`` (the third-party peer of the worker pool) and ``contract`` (the
native tools doing the per-job work the pool's contract asks for); any other implementation in
a group (``threads-no-reuse``) is set against ``patterns`` of the same runtime.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TARGET = 1.5  # ours may cost at most this many times a baseline
TARGETS = {  # groups held to a tighter target
    "workerpool-map-noop": 1.3,
    "channel-throughput": 1.3,
    "channel-rendezvous": 1.3,
}
BASELINES = ("native", "aiometer", "contract")  # what ours is held to, in this order
RUNTIMES = ("threads", "asyncio", "trio")


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
        runtime, _, impl = bench["param"].partition("-")
        groups.setdefault(bench["group"], {}).setdefault(runtime, {})[impl] = bench
        unit[bench["group"]] = bench["extra_info"].get("op", "op")

    machine = data["machine_info"]
    lines = [f"Medians from one run ({data['datetime'][:19]}, "
             f"{machine['python_implementation']} {machine['python_version']}); "
             f"target: ours <= {TARGET}x each baseline, unless the group says otherwise."]
    for group, runtimes in sorted(groups.items()):
        op, target = unit[group], TARGETS.get(group, TARGET)
        lines += ["", f"{group}  (µs per {op}; target: ours <= {target}x)",
                  f"  {'runtime':<9}{'baseline':<10}{'patterns':>10}{'baseline':>10}"
                  f"{'ours/baseline':>15}"]
        extras = []
        for runtime in sorted(runtimes, key=RUNTIMES.index):
            impls = runtimes[runtime]
            ours = per_op_us(impls["patterns"])
            baselines = [impl for impl in BASELINES if impl in impls]
            if not baselines:
                lines.append(f"  {runtime:<9}{'-':<10}{ours:>10.2f}{'-':>10}{'-':>14}   "
                             f"no baseline")
            for impl in baselines:
                theirs = per_op_us(impls[impl])
                ratio = ours / theirs
                verdict = "ok" if ratio <= target else "OVER TARGET"
                lines.append(f"  {runtime:<9}{impl:<10}{ours:>10.2f}{theirs:>10.2f}"
                             f"{ratio:>14.2f}x  {verdict}")
            for impl, bench in impls.items():
                if impl != "patterns" and impl not in BASELINES:
                    other = per_op_us(bench)
                    extras.append(f"  {runtime}-{impl}: {other:.2f} µs per {op} = "
                                  f"{other / ours:.1f}x {runtime}-patterns, "
                                  f"{other - ours:+.1f} µs per {op}")
        lines += extras
    return lines


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else newest_saved_run()
    print(f"{path}:")
    print("\n".join(report(json.loads(path.read_text()))))


if __name__ == "__main__":
    main()
