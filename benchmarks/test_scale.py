"""Scale: a 10,000-host scan, asyncio and trio at 1,000 workers, its peak memory by memray.

What is measured: one whole scan per runtime, its ``scan(targets, workers=W,
timeout=TIMEOUT_S)`` over every host of a 10,000-host loopback :class:`Fleet` (the
``standard`` profile, seed 0: 127.77.0.1 to 127.77.39.250, all on one port), and the
peak of what the scan allocated, all its threads together: pytest-memray's
``limit_memory`` fails a test whose peak reaches its bound. Each test also checks what
it got: 10,000 results in target order, each with the outcome ``fleet.truth`` says (a
scan that runs short of memory, threads or time and answers wrongly proves nothing).
The target: asyncio and trio scan the 10,000 hosts at 1,000 workers in at most 64 MiB.

Why 1,000 workers: it is the scale an event loop is for. In asyncio and trio a worker in
flight is a task and a socket, not an OS thread, so 1,000 of them are cheap, and the
scan is seconds long: 2,000 worker-seconds of waiting (1,500 of them on the 500
hanging hosts), 3.7 s for a perfect pool of 1,000 (``ideal_makespan``); 1,000 sockets
are also far inside the 20,000 files a process may open here. More would not help: at
1,000 the scan is already CPU-bound on two CPUs (8.5 to 11 s under memray's tracker),
and more workers would only lengthen each probe's wait (below).

Threads run at 200 (``WORKERS``), the most they sustained of 200, 500 and 1,000. Every
step of a probe on a thread waits for the GIL among the others, and the wait grows with
the threads and is unfair: at 500, 46 and 75 of the 10,000 probes (in two runs) waited
past their 3 s deadline, refused hosts among them, which answer at once; at 1,000, 6 to
589 did. A thread also costs memory an event loop's task does not: each one blocked in
``sock.recv(65536)`` holds the 64 KiB buffer ``recv`` allocated before it blocked, and
16 KiB of frame stack, 80 KiB a thread: 12.4 MiB of the threads peak at 200 is those
buffers, and at 1,000 the peak was 46 to 91 MiB (its OS stacks, mapped inside
``pthread_create``, are not seen by memray).

Why ``standard``, not ``ideal``: a real scan at this scale meets every kind of host, and
``standard`` has five outcomes (``ok``, ``refused``, ``bad_status``,
``content_mismatch``, ``timeout``), so the check against ``truth`` covers the error
paths, and the peak includes what failures cost (error texts, a connection held to its
deadline by each of the 500 hanging hosts), not the happy path alone. The fleet starts
once for the module, in a fixture, outside the measured tests: 10,000 listening
sockets in its own process (which raises its soft limit on open files to the hard one),
ready in about 0.4 s.

Why ``TIMEOUT_S`` is 3 s and not 1 s: the fleet's truth holds for any timeout of 1 s or
more, but a probe's deadline also covers its wait for the CPU. With 1,000 probes in
flight the client is CPU-bound (about 0.5 ms of CPU a probe, 5 s a scan): asyncio runs
every ready task once per turn of its loop, so each step of a probe waits for the
steps of the 999 others: on a quiet machine its probes ended a median 0.6 s (at most
0.75 s) after their host's own delay of up to 0.3 s. At 1 s, asyncio at 1,000 workers
timed out 10 hosts that answer on a quiet machine under memray's tracker, and 15 to
3,300 with other jobs on the two CPUs; trio's probes ended within 50 ms of their host's
delay, and none timed out. At 3 s no probe did, in any runtime (threads at 200), in any of
our ``--memray`` runs. A hanging host then holds its worker for 3 s: 1.5 s more per
scan at 1,000 workers, 7.5 s at 200 (12 to 14 s a threads scan; 11.8 s for a perfect
pool of 200).

What memray counts: the allocations made in this process during the test (by Python,
and by C code through ``malloc`` and ``mmap``), all threads together; the fleet's
process is not counted, nor is its start-up. Without ``--trace-python-allocators``
memray sees pymalloc's arenas, not objects: a test that reuses arenas an earlier test
freed shows less than it made, and a test that needs a new arena shows a whole MiB.

Measured peaks (CPython 3.11, 2 CPUs shared with other jobs; one scan each, 9 to 14 s
under memray's tracker):

=======  =======  ======================================  =============================
runtime  workers  ``--memray``                            ``--trace-python-allocators``
=======  =======  ======================================  =============================
threads      200  16.3 to 20.3 MiB                        15.6 MiB
asyncio    1,000  3.9 to 15.9 MiB (15 to 16 when first)   15.1 MiB
trio       1,000  0.8 to 4.0 MiB                          9.7 MiB
=======  =======  ======================================  =============================

The bounds: 64 MB for asyncio and trio (the target, 4 times their highest peak), and
40 MB for threads, twice its highest (pytest-memray's MB is a MiB). With
``--trace-python-allocators`` memray's tracker costs a threads probe about 3 ms of CPU:
the threads scan takes about 34 s, and in one of two runs 19 of its probes waited past
their deadline.

Run it with the report of each peak (the allocation summary at the end: "Total memory
allocated" is the test's peak), or as CI's untimed smoke run (about 40 s)::

    python -m pytest benchmarks/test_scale.py --memray -q
    python -m pytest benchmarks/test_scale.py --benchmark-disable -q

pytest-memray tracks a test that carries ``limit_memory`` whether or not ``--memray`` is
given, so the bound is checked in every run, and every run pays for the tracker.
``benchmark.pedantic`` with one round of one iteration keeps each test to one scan; its
time (under the tracker) goes into ``--benchmark-json`` with ``hosts``, ``workers`` and
``timeout_s``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import pytest
from open_files import fleet_with_files

from patterns.probe import Outcome, ProbeResult, Target, on_asyncio, on_threads, on_trio
from patterns.probe.fleet import Fleet

HOSTS = 10_000
TIMEOUT_S = 3.0  # per probe; why not 1 s: see the module docstring
WORKERS = {"threads": 200, "asyncio": 1000, "trio": 1000}  # threads: the most they sustain
LIMITS = {"threads": "40 MB", "asyncio": "64 MB", "trio": "64 MB"}  # pytest-memray: MiB


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """The 10,000-host fleet, with the files both processes need.

    The fleet's process holds a listening socket per host and a socket per probe in
    flight, and raises its own soft limit to the hard one (which it inherits from us);
    this process holds a socket per worker, so its soft limit is raised for the module
    if it is lower than that (a common default is 1,024).
    """
    with fleet_with_files(HOSTS, "standard", in_flight=max(WORKERS.values())) as fleet:
        yield fleet


def threads_scan(targets: list[Target]) -> list[ProbeResult]:
    return on_threads.scan(targets, workers=WORKERS["threads"], timeout=TIMEOUT_S)


async def asyncio_scan(targets: list[Target]) -> list[ProbeResult]:
    return await on_asyncio.scan(targets, workers=WORKERS["asyncio"], timeout=TIMEOUT_S)


async def trio_scan(targets: list[Target]) -> list[ProbeResult]:
    return await on_trio.scan(targets, workers=WORKERS["trio"], timeout=TIMEOUT_S)


SCANS = {"threads": threads_scan, "asyncio": asyncio_scan, "trio": trio_scan}


def check(results: Sequence[ProbeResult], targets: Sequence[Target],
          truth: Mapping[Target, Outcome]) -> None:
    """One result per target, in target order, each with the outcome of ``truth``.

    Counted as it goes, without a dict of 10,000 outcomes: the check runs inside the
    measured test, beside the results it reads.
    """
    assert len(results) == len(targets), f"{len(results)} results for {len(targets)} targets"
    assert all(r.target == t for r, t in zip(results, targets, strict=True)), "out of order"
    wrong = Counter((truth[r.target], r.outcome) for r in results if r.outcome != truth[r.target])
    assert not wrong, f"{wrong.total()} wrong outcomes, (truth, got): count: {dict(wrong)}"


# Named runtime-implementation, as report.py reads a benchmark's param.
@pytest.mark.benchmark(group="scale-10000-hosts")
@pytest.mark.parametrize("case", [
    pytest.param(f"{runtime}-patterns", marks=pytest.mark.limit_memory(LIMITS[runtime]))
    for runtime in SCANS
])
def test_scan_10000_hosts(benchmark: Any, in_runtime: Any, fleet: Fleet, case: str) -> None:
    runtime = case.split("-")[0]
    targets = fleet.targets
    benchmark.extra_info.update(ops=len(targets), op="host", hosts=len(targets),
                                workers=WORKERS[runtime], timeout_s=TIMEOUT_S,
                                profile=fleet.profile)
    run = in_runtime(runtime, partial(SCANS[runtime], targets))
    results = benchmark.pedantic(run, rounds=1, iterations=1)
    check(results, targets, fleet.truth)
