"""One round of your scan, in a process of its own, as ``compare``'s round process
(:mod:`patterns.probe.compare.round`) runs one of the library's.

``python show_round.py`` reads the same JSON request on stdin (``runtime``, ``workers``,
``timeout``, ``targets``), plus the ``file`` your ``scan`` is in, and prints the same one
line: ``wall_s`` (the scan alone, timed inside the runtime), ``cpu_s``,
``peak_memory_bytes`` and an ``outcome`` per target, in the order of the targets.

Small on purpose, and importing what the round process imports
(:mod:`patterns.probe.compare` among them): this process's peak memory is the figure
``show.py`` reports for your scan, so it must hold your scan and its runtime, and nothing
of the show's.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import patterns.probe.compare  # noqa: F401  (the round process imports it too: same baseline)
from patterns.probe import ProbeResult, Target, parse_targets
from patterns.probe.usage import cpu_seconds, peak_memory

NO_RESULT = "no result"  # the outcome of a target your scan returned no result for


def load_scan(file: Path, runtime: str) -> Any:
    """The ``scan`` of the module in ``file``, loaded by path, as the checker loads it."""
    name = f"yours_on_{runtime}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass in it looks its module up there
    spec.loader.exec_module(module)
    return module.scan


def scan_file(file: Path, runtime: str, targets: list[Target], workers: int,
              timeout: float) -> tuple[list[ProbeResult], float]:
    """Scan ``targets`` with the ``scan`` in ``file``, in ``runtime``; return the results
    and the scan's wall time (``scan_once`` of the round process, for your scan)."""
    scan = load_scan(file, runtime)
    if runtime == "threads":
        started = time.perf_counter()
        results = scan(targets, workers=workers, timeout=timeout)
        return results, time.perf_counter() - started

    async def timed() -> tuple[list[ProbeResult], float]:
        started = time.perf_counter()
        results = await scan(targets, workers=workers, timeout=timeout)
        return results, time.perf_counter() - started

    if runtime == "asyncio":
        import asyncio

        return asyncio.run(timed())
    if runtime == "trio":
        import trio

        return trio.run(timed)
    raise ValueError(f"unknown runtime {runtime!r}")


def main() -> None:
    """The round process's ``main``, except that outcomes are matched to the targets by
    each result's ``target``: your scan's results may come back in any order."""
    request = json.load(sys.stdin)
    targets = parse_targets("\n".join(request["targets"]))
    cpu_before = cpu_seconds()
    results, wall_s = scan_file(Path(request["file"]), request["runtime"], targets,
                                request["workers"], request["timeout"])
    cpu_s = cpu_seconds() - cpu_before
    outcome = {result.target: result.outcome for result in results}
    print(json.dumps({"wall_s": wall_s, "cpu_s": cpu_s, "peak_memory_bytes": peak_memory(),
                      "outcomes": [outcome.get(t, NO_RESULT) for t in targets]}))


if __name__ == "__main__":
    main()
