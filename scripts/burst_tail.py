"""The pool against the plain tools in the burst, in paired rounds: is it within 2%?

The burst is the ``ideal`` fleet (100 hosts answering in 50 ms) scanned at 100 workers:
every probe starts at once and the scan lasts one round trip plus what the runtime
spends, so whatever the pool costs per job shows most here. Each runtime's ``scan`` (a
``WorkerPool``) is set against the same runtime's plain tools, the ``native`` lines of
``benchmarks/test_probe_bench.py`` (``ThreadPoolExecutor.map``; a ``TaskGroup`` and a
``Semaphore``; a nursery and a ``CapacityLimiter``), on one fleet, every result checked
against the fleet's truth.

Why paired rounds, and why so many. One scan takes 75-100 ms on a 2-CPU machine that
the fleet's process shares, and one round differs from the next by several per cent,
so two medians of a few dozen rounds each cannot tell 2% from noise: an A/A run (the
same scan on both sides) gave 0.976 as a ratio of medians over 100 pairs. Here the
two scans run back to back (pool then plain tools, then the other way round), and the
figure is the median of the pairs' ratios, which cancels the drift that both members
of a pair share, with a bootstrap 95% interval. At 300 pairs that interval is about
±0.5% (an A/A run: 0.998 to 1.008), tight enough to read 2%; at 60 pairs it was ±2%.
A third line takes the pool's place in the same pairs: the plain tools with each task
also doing what the pool's contract asks of every job, a context of the job's own (a
child of one parent, entered as its cancel scope in asyncio and trio) around the
probe's, and a :class:`~patterns.workerpool.Result` with its timings. Pool over that
line is the pool's own machinery (its queue, its workers, the results handed to
``map``); that line over the plain tools is the price of the per-job guarantees, which
no pool that keeps the contract can skip. A runtime takes about two minutes::

    python scripts/burst_tail.py [PAIRS] [RUNTIMES]    # default: 300 threads,asyncio,trio

``docs/measurements.md`` has the figures of one run, before and after the change they
measured.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import trio

from patterns.context import on_asyncio as ctx_asyncio
from patterns.context import on_threads as ctx_threads
from patterns.context import on_trio as ctx_trio
from patterns.probe import Target, on_asyncio, on_threads, on_trio
from patterns.probe.fleet import Fleet
from patterns.workerpool import Result

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 100
TIMEOUT = 1.0  # seconds per probe, as in test_probe_bench
WARM_UP = 3  # pairs run before the timed ones: imports, the first loop, the fleet's caches
BOOTSTRAP = 2000  # resamples for the interval


def probe_bench() -> Any:
    """``benchmarks/test_probe_bench.py``, whose scans (pool and plain tools) this times."""
    spec = importlib.util.spec_from_file_location(
        "test_probe_bench", ROOT / "benchmarks" / "test_probe_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the plain tools, each task doing the contract's per-job work -----------------------


def threads_contract(targets: list[Target], workers: int) -> list[Any]:
    parent = ctx_threads.background().with_cancel()

    def job(index: int, target: Target) -> Result:
        started = time.monotonic()
        with parent.with_cancel() as ctx, ctx.with_timeout(TIMEOUT) as probe_ctx:
            value = on_threads.probe(probe_ctx, target)
        return Result(index, target, value, None, 0, started, time.monotonic())

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [r.value for r in pool.map(job, range(len(targets)), targets)]


async def asyncio_contract(targets: list[Target], workers: int) -> list[Any]:
    parent, limit = ctx_asyncio.background().with_cancel(), asyncio.Semaphore(workers)
    now = asyncio.get_running_loop().time
    results: list[Result] = []

    async def job(index: int, target: Target) -> None:
        try:
            started = now()
            with parent.with_cancel() as ctx:
                async with ctx.scope():
                    with ctx.with_timeout(TIMEOUT) as probe_ctx:
                        value = await on_asyncio.probe(probe_ctx, target)
            results.append(Result(index, target, value, None, 0, started, now()))
        finally:
            limit.release()

    async with asyncio.TaskGroup() as tg:
        for index, target in enumerate(targets):
            await limit.acquire()
            tg.create_task(job(index, target))
    return [r.value for r in results]


async def trio_contract(targets: list[Target], workers: int) -> list[Any]:
    parent, limit = ctx_trio.background().with_cancel(), trio.CapacityLimiter(workers)
    results: list[Result] = []

    async def job(index: int, target: Target, borrower: object) -> None:
        try:
            started = trio.current_time()
            with parent.with_cancel() as ctx, ctx.scope(), ctx.with_timeout(TIMEOUT) as probe:
                value = await on_trio.probe(probe, target)
            results.append(Result(index, target, value, None, 0, started, trio.current_time()))
        finally:
            limit.release_on_behalf_of(borrower)

    async with trio.open_nursery() as nursery:
        for index, target in enumerate(targets):
            borrower = object()
            await limit.acquire_on_behalf_of(borrower)
            nursery.start_soon(job, index, target, borrower)
    return [r.value for r in results]


CONTRACT = {"threads": threads_contract, "asyncio": asyncio_contract, "trio": trio_contract}


def median_interval(ratios: list[float], rng: random.Random) -> tuple[float, float]:
    """A bootstrap 95% interval of the median of ``ratios``."""
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios)))
                     for _ in range(BOOTSTRAP))
    return medians[int(0.025 * BOOTSTRAP)], medians[int(0.975 * BOOTSTRAP) - 1]


def main(pairs: int, runtimes: list[str]) -> None:
    bench = probe_bench()
    rng = random.Random(0)
    with Fleet(hosts=100, profile="ideal", seed=0) as fleet, asyncio.Runner() as runner:
        targets, truth = fleet.targets, fleet.truth

        def one_round(runtime: str, scan: Callable[..., Any]) -> Callable[[], float]:
            run: Callable[[], Any] = {
                "threads": lambda: scan(targets, WORKERS),
                "asyncio": lambda: runner.run(scan(targets, WORKERS)),
                "trio": lambda: trio.run(scan, targets, WORKERS),
            }[runtime]

            def timed() -> float:
                started = time.perf_counter()
                results = run()
                elapsed = time.perf_counter() - started
                bench.check(results, targets, truth)
                return elapsed

            return timed

        print(f"burst: {len(targets)} hosts answering in 50 ms, {WORKERS} workers, "
              f"{pairs} rounds of each line per runtime, the lines in a shuffled order")
        for runtime in runtimes:
            lines = {"pool": one_round(runtime, bench.SCANS[f"{runtime}-patterns"]),
                     "plain": one_round(runtime, bench.SCANS[f"{runtime}-native"]),
                     "contract": one_round(runtime, CONTRACT[runtime])}
            times: dict[str, list[float]] = {name: [] for name in lines}
            for number in range(WARM_UP + pairs):
                order = list(lines)
                rng.shuffle(order)  # no line always runs first, or right after another
                for name in order:
                    elapsed = lines[name]()
                    if number >= WARM_UP:
                        times[name].append(elapsed)
            print(f"{runtime}: pool {statistics.median(times['pool']) * 1e3:.1f} ms, "
                  f"plain tools {statistics.median(times['plain']) * 1e3:.1f} ms, "
                  f"plain tools + contract {statistics.median(times['contract']) * 1e3:.1f} ms")
            for top, bottom, what in (
                    ("pool", "plain", "pool / plain tools"),
                    ("pool", "contract", "pool / plain tools + contract"),
                    ("contract", "plain", "plain tools + contract / plain tools")):
                ratios = [a / b for a, b in zip(times[top], times[bottom], strict=True)]
                low, high = median_interval(ratios, rng)
                print(f"  {what:38} {statistics.median(ratios):.3f} "
                      f"(95%: {low:.3f} to {high:.3f})", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300,
         sys.argv[2].split(",") if len(sys.argv) > 2 else ["threads", "asyncio", "trio"])
