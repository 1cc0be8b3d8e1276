"""Print the ratios the benchmarks are for: ours / native, per runtime, from one run.

    python -m pytest benchmarks --benchmark-json=bench.json
    python benchmarks/report.py bench.json

Without an argument it reads the newest run saved under ``.benchmarks/`` (by
``--benchmark-save`` or ``--benchmark-autosave``). A ratio compares medians taken in the
same run, on the same machine, minutes apart: absolute times move from machine to
machine and run to run far more than that. The target is ours within 1.5x of native.

Benchmarks are named ``runtime-implementation`` (``threads-patterns``,
``threads-native``); any other implementation in a group (``threads-no-reuse``) is set
against ``patterns`` of the same runtime.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TARGET = 1.5  # ours may cost at most this many times the native primitive
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
             f"target: ours <= {TARGET}x native."]
    for group, runtimes in sorted(groups.items()):
        op = unit[group]
        lines += ["", f"{group}  (µs per {op})",
                  f"  {'runtime':<9}{'patterns':>10}{'native':>10}{'ours/native':>13}"]
        extras = []
        for runtime in sorted(runtimes, key=RUNTIMES.index):
            impls = runtimes[runtime]
            ours, native = per_op_us(impls["patterns"]), per_op_us(impls["native"])
            ratio = ours / native
            verdict = "ok" if ratio <= TARGET else "OVER TARGET"
            lines.append(f"  {runtime:<9}{ours:>10.2f}{native:>10.2f}{ratio:>12.2f}x  {verdict}")
            for impl, bench in impls.items():
                if impl not in ("patterns", "native"):
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
