"""One round of ``compare``: one scan in one runtime, in a process of its own.

``python -m patterns.probe.compare.round`` reads a JSON request on stdin
(``runtime``, ``workers``, ``timeout``, ``targets`` as hosts-file lines), scans, and
prints one JSON line: ``wall_s`` (the scan alone, timed inside the runtime, so starting
an event loop is not counted), ``cpu_s`` (the process's CPU time over the same span,
every thread included), ``peak_memory_bytes`` (the process's peak resident set size:
the interpreter, the runtime and the scan; see :func:`peak_memory`) and every result's ``outcome``.

A process per round is what makes memory and CPU figures one runtime's own: in one
process, the runtime that ran first would leave its imports, its arenas and its peak
to the others. Only the runtime named is imported.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

from patterns.probe import ProbeResult, parse_targets


def scan_once(runtime: str, targets: list[Any], workers: int,
              timeout: float) -> tuple[list[ProbeResult], float]:
    """Scan ``targets`` in ``runtime``; return the results and the scan's wall time."""
    if runtime == "threads":
        from patterns.probe import on_threads

        started = time.perf_counter()
        results = on_threads.scan(targets, workers=workers, timeout=timeout)
        return results, time.perf_counter() - started

    async def timed(scan: Any) -> tuple[list[ProbeResult], float]:
        started = time.perf_counter()
        results = await scan(targets, workers=workers, timeout=timeout)
        return results, time.perf_counter() - started

    if runtime == "asyncio":
        import asyncio

        from patterns.probe import on_asyncio

        return asyncio.run(timed(on_asyncio.scan))
    if runtime == "trio":
        import trio

        from patterns.probe import on_trio

        return trio.run(timed, on_trio.scan)
    raise ValueError(f"unknown runtime {runtime!r}")


def peak_memory() -> int:
    """This process's peak resident set size, in bytes. Linux's ``VmHWM`` (the high
    water mark of this program's address space), not ``ru_maxrss``: a child's
    ``ru_maxrss`` starts at its parent's when it forks, and survives the ``exec``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # given in kB
    except OSError:
        pass
    # Elsewhere: KiB on Linux, bytes on macOS; only Linux lacks nothing above.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def main() -> None:
    request = json.load(sys.stdin)
    targets = parse_targets("\n".join(request["targets"]))
    cpu_before = time.process_time()
    results, wall_s = scan_once(request["runtime"], targets, request["workers"],
                                request["timeout"])
    cpu_s = time.process_time() - cpu_before
    print(json.dumps({"wall_s": wall_s, "cpu_s": cpu_s, "peak_memory_bytes": peak_memory(),
                      "outcomes": [result.outcome for result in results]}))


if __name__ == "__main__":
    main()
