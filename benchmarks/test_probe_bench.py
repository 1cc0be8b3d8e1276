"""The probe scan of a 100-host simulated fleet, against each runtime's plain tools.

What is timed is one whole scan per round: every host of a
:class:`~patterns.probe.fleet.Fleet` probed once (connect, ``GET``, read, verdict),
``workers`` at a time, each probe within ``TIMEOUT`` (1 s) of its own context, and
every result gathered. The fleet is a separate process serving on loopback
(127.77.0.0/24), started once per profile for the whole module. Every round checks what
it got: one result per target, each with the outcome the fleet's ``truth`` says, so a
fast scan that is wrong fails instead of winning.

The probes are the same in every line of a runtime (that runtime's ``probe(ctx,
target)`` under a context ``with_timeout(TIMEOUT)`` of its own, made when the probe
starts); what differs is what drives them:

- each runtime, ``patterns``: the runtime's own ``scan(targets, workers=W,
  timeout=TIMEOUT)``, a ``WorkerPool`` of W workers, results gathered in input order.
- threads, ``native``: ``ThreadPoolExecutor(max_workers=W).map``, made per round as the
  pool is. It submits every target at once and yields in input order.
- asyncio, ``native``: ``asyncio.TaskGroup`` + ``asyncio.Semaphore(W)``, a task per
  target: the spawning loop takes a token before it starts a task, and the task gives
  it back when it ends (the shape of ``test_workerpool_bench``).
- trio, ``native``: a nursery + ``trio.CapacityLimiter(W)``, the same shape.
- asyncio and trio, ``aiometer``: ``aiometer.amap(fn, targets, max_at_once=W)``, the
  closest third-party peer; it runs on anyio, so the same driver runs on both loops,
  but the probe and its contexts are the runtime's own.

Each table is one profile at one W (``probe-scan-standard-w20``, ...), threads,
asyncio and trio side by side:

- ``standard``: 75 healthy hosts answering after 5 to 300 ms, and refused, failing,
  wrong and hanging ones; a hanging host costs a whole timeout, so a scan takes about
  1.2 s at 20 workers and 1.0 s at 100. Mostly waiting: the drivers' cost hides in it.
- ``ideal``: 100 healthy hosts answering after 50 ms, the burst: 0.25 s at 20 workers,
  0.05 s at 100, where whatever a runtime spends per probe shows most.

Why: the pool is held to the plain tools. Its wall time should be within 1.05x of the
same runtime's ``native`` line (1.02x in the burst at 100 workers, where a pool's
per-job cost shows most) and no more than ``aiometer``'s (1.0x). Fifteen rounds cannot
tell 2% from noise: ``scripts/burst_tail.py`` measures the burst in 300 paired rounds,
beside a line of the plain tools doing the pool contract's per-job work, and
``docs/measurements.md`` has its figures. And each line is
held to a yardstick in ``extra_info``: ``ideal_s``, the wall time of a perfect FIFO pool
with no overhead (:func:`~patterns.probe.ideal_makespan` of each host's
``min(latency, timeout)``, in target order), ``lower_bound_s`` (what no schedule can
beat), and ``efficiency`` = ``ideal_s`` / median round. The targets for ``patterns``:
efficiency >= 0.97 at 20 workers and >= 0.95 at 100 in the ``standard`` profile, and in
``ideal`` >= 0.75 for asyncio and trio and >= 0.60 for threads. The fleet shares the
machine's CPUs with the scan, so on a small machine part of what ``ideal`` measures is
the fleet.

Rounds are few and fixed (``benchmark.pedantic``, one warm-up round): a scan is long,
and the whole file runs in about two minutes::

    python -m pytest benchmarks/test_probe_bench.py --benchmark-json=bench.json

With ``--benchmark-disable`` every line scans once, untimed, and has no efficiency. A
round is one whole scan inside one event loop (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import aiometer
import pytest
import trio

from patterns.context import on_asyncio as ctx_asyncio
from patterns.context import on_threads as ctx_threads
from patterns.context import on_trio as ctx_trio
from patterns.probe import Outcome, ProbeResult, Target, on_asyncio, on_threads, on_trio
from patterns.probe.fleet import Fleet
from patterns.probe.schedule import ideal_makespan, lower_bound

HOSTS = 100
TIMEOUT = 1.0  # seconds per probe: the fleet's truth holds from 1 s up
ROUNDS = {  # timed rounds per profile, after one warm-up round
    "standard": 3,  # a scan takes about 1.2 s
    "ideal": 15,  # 0.05 to 0.25 s; a burst's median needs more rounds to settle
}


@pytest.fixture(scope="module")
def standard_fleet() -> Iterator[Fleet]:
    with Fleet(hosts=HOSTS, profile="standard", seed=0) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def ideal_fleet() -> Iterator[Fleet]:
    with Fleet(hosts=HOSTS, profile="ideal", seed=0) as fleet:
        yield fleet


# -- the scans: (targets, workers) -> one result per target ----------------------------


def threads_patterns(targets: list[Target], workers: int) -> list[ProbeResult]:
    return on_threads.scan(targets, workers=workers, timeout=TIMEOUT)


def threads_native(targets: list[Target], workers: int) -> list[ProbeResult]:
    def probe(target: Target) -> ProbeResult:
        with ctx_threads.background().with_timeout(TIMEOUT) as ctx:
            return on_threads.probe(ctx, target)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(probe, targets))


async def asyncio_patterns(targets: list[Target], workers: int) -> list[ProbeResult]:
    return await on_asyncio.scan(targets, workers=workers, timeout=TIMEOUT)


async def asyncio_native(targets: list[Target], workers: int) -> list[ProbeResult]:
    limit = asyncio.Semaphore(workers)
    results: list[ProbeResult] = []

    async def run(target: Target) -> None:
        try:
            with ctx_asyncio.background().with_timeout(TIMEOUT) as ctx:
                results.append(await on_asyncio.probe(ctx, target))
        finally:
            limit.release()

    async with asyncio.TaskGroup() as tg:
        for target in targets:
            await limit.acquire()
            tg.create_task(run(target))
    return results


async def trio_patterns(targets: list[Target], workers: int) -> list[ProbeResult]:
    return await on_trio.scan(targets, workers=workers, timeout=TIMEOUT)


async def trio_native(targets: list[Target], workers: int) -> list[ProbeResult]:
    limit = trio.CapacityLimiter(workers)
    results: list[ProbeResult] = []

    # The spawning task takes the token, so each task returns it as a borrower of its
    # own (see test_errgroup_bench).
    async def run(target: Target, borrower: object) -> None:
        try:
            with ctx_trio.background().with_timeout(TIMEOUT) as ctx:
                results.append(await on_trio.probe(ctx, target))
        finally:
            limit.release_on_behalf_of(borrower)

    async with trio.open_nursery() as nursery:
        for target in targets:
            borrower = object()
            await limit.acquire_on_behalf_of(borrower)
            nursery.start_soon(run, target, borrower)
    return results


Probe = Callable[[Any, Target], Awaitable[ProbeResult]]


def aiometer_scan(probe: Probe, background: Callable[[], Any]) -> Callable[..., Any]:
    """``aiometer.amap`` over ``probe``: the same driver on asyncio and trio, each with
    the runtime's own probe and contexts."""

    async def probe_one(target: Target) -> ProbeResult:
        with background().with_timeout(TIMEOUT) as ctx:
            return await probe(ctx, target)

    async def scan(targets: list[Target], workers: int) -> list[ProbeResult]:
        async with aiometer.amap(probe_one, targets, max_at_once=workers) as results:
            return [result async for result in results]

    return scan


SCANS: dict[str, Callable[[list[Target], int], Any]] = {  # "runtime-implementation"
    "threads-patterns": threads_patterns,
    "threads-native": threads_native,
    "asyncio-patterns": asyncio_patterns,
    "asyncio-native": asyncio_native,
    "asyncio-aiometer": aiometer_scan(on_asyncio.probe, ctx_asyncio.background),
    "trio-patterns": trio_patterns,
    "trio-native": trio_native,
    "trio-aiometer": aiometer_scan(on_trio.probe, ctx_trio.background),
}


# -- one benchmark ----------------------------------------------------------------------


def check(results: list[ProbeResult], targets: list[Target],
          truth: Mapping[Target, Outcome]) -> None:
    """One result per target, each with the outcome the fleet says it must have."""
    assert len(results) == len(targets), f"{len(results)} results for {len(targets)} targets"
    outcomes = {result.target: result.outcome for result in results}
    wrong = {str(t): (outcomes.get(t), truth[t]) for t in targets if outcomes.get(t) != truth[t]}
    assert not wrong, f"outcome vs truth: {wrong}"


def bench_scan(benchmark: Any, in_runtime: Any, fleet: Fleet, case: str, workers: int) -> None:
    """Time ``case`` scanning ``fleet`` with ``workers``, checking every round."""
    targets, truth = fleet.targets, fleet.truth
    costs = [min(fleet.latency[target], TIMEOUT) for target in targets]
    ideal_s = ideal_makespan(costs, workers)
    benchmark.extra_info.update(
        ops=len(targets), op="host", hosts=len(targets), workers=workers,
        profile=fleet.profile, timeout_s=TIMEOUT, ideal_s=ideal_s,
        lower_bound_s=lower_bound(costs, workers))
    run = in_runtime(case.split("-")[0], partial(SCANS[case], targets, workers))

    def scan_round() -> None:
        check(run(), targets, truth)

    benchmark.pedantic(scan_round, rounds=ROUNDS[fleet.profile], iterations=1,
                       warmup_rounds=1)
    if benchmark.stats is not None:  # None with --benchmark-disable: nothing was timed
        benchmark.extra_info["efficiency"] = ideal_s / benchmark.stats.stats.median


@pytest.mark.parametrize("case", SCANS)
@pytest.mark.parametrize("workers", [20, 100])
@pytest.mark.parametrize("profile", ["standard", "ideal"])
def test_probe_scan(benchmark: Any, in_runtime: Any, request: pytest.FixtureRequest,
                    profile: str, workers: int, case: str) -> None:
    # One table per profile and W, the three runtimes side by side in each.
    benchmark.group = f"probe-scan-{profile}-w{workers}"
    fleet = request.getfixturevalue(f"{profile}_fleet")
    bench_scan(benchmark, in_runtime, fleet, case, workers=workers)
