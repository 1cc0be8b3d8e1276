"""One round of ``compare``: one scan in one runtime, in a process of its own.

``python -m patterns.probe.compare.round`` reads a JSON request on stdin
(``runtime``: ``threads``, ``asyncio``, ``trio`` or ``uvloop``, the asyncio scan on
uvloop's loop; ``workers``, ``timeout``, ``targets`` as hosts-file lines, and ``ca_pem``,
the fleet's CA for its https hosts, or ``null``), scans, and
prints one JSON line: ``wall_s`` (the scan alone, timed inside the runtime, so starting
an event loop is not counted), ``cpu_s`` (the process's CPU time over the same span,
every thread included), ``peak_memory_bytes`` (the process's peak resident set size:
the interpreter, the runtime and the scan; see :mod:`patterns.probe.usage`) and every
result's ``outcome``. Any program that speaks this protocol can be a row of ``compare``
(:mod:`patterns.probe.compare.rows`): ``reference/go`` does.

A process per round is what makes memory and CPU figures one runtime's own: in one
process, the runtime that ran first would leave its imports, its arenas and its peak
to the others. Only the runtime named is imported, and nothing of the fleet's (its
package imports asyncio): :mod:`patterns.probe.compare` imports the fleet only inside
:func:`~patterns.probe.compare.compare`, which runs in the parent.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from patterns.probe import ProbeResult, parse_targets
from patterns.probe.tls import TlsConfig
from patterns.probe.usage import cpu_seconds, peak_memory


def scan_once(runtime: str, targets: list[Any], workers: int, timeout: float,
              tls: TlsConfig | None = None) -> tuple[list[ProbeResult], float]:
    """Scan ``targets`` in ``runtime``; return the results and the scan's wall time.

    ``uvloop`` is the asyncio scan, unchanged, on uvloop's event loop: its results say
    ``asyncio``, the runtime whose code ran."""
    if runtime == "threads":
        from patterns.probe import on_threads

        started = time.perf_counter()
        results = on_threads.scan(targets, workers=workers, timeout=timeout, tls=tls)
        return results, time.perf_counter() - started

    async def timed(scan: Any) -> tuple[list[ProbeResult], float]:
        started = time.perf_counter()
        results = await scan(targets, workers=workers, timeout=timeout, tls=tls)
        return results, time.perf_counter() - started

    if runtime == "asyncio":
        import asyncio

        from patterns.probe import on_asyncio

        return asyncio.run(timed(on_asyncio.scan))
    if runtime == "uvloop":
        import uvloop

        from patterns.probe import on_asyncio

        # uvloop.run is asyncio.run with uvloop's loop (Python 3.11's asyncio.run takes
        # no loop_factory; uvloop.run goes through asyncio.Runner, which does).
        return uvloop.run(timed(on_asyncio.scan))
    if runtime == "trio":
        import trio

        from patterns.probe import on_trio

        return trio.run(timed, on_trio.scan)
    raise ValueError(f"unknown runtime {runtime!r}")


def main() -> None:
    request = json.load(sys.stdin)
    targets = parse_targets("\n".join(request["targets"]))
    ca_pem = request.get("ca_pem")
    # Its ssl context is built here, with the config, and not on the scan's clock.
    tls = TlsConfig(ca_pem=ca_pem) if ca_pem else None
    cpu_before = cpu_seconds()
    results, wall_s = scan_once(request["runtime"], targets, request["workers"],
                                request["timeout"], tls)
    cpu_s = cpu_seconds() - cpu_before
    print(json.dumps({"wall_s": wall_s, "cpu_s": cpu_s, "peak_memory_bytes": peak_memory(),
                      "outcomes": [result.outcome for result in results]}))


if __name__ == "__main__":
    main()
