"""``WorkerPool(noop, workers=8).map`` over 1,000 items, against each runtime's baselines.

The job does nothing, so what is timed is the pool's own cost per item: handing the
item to a worker through the bounded queue, the job's context (and, in asyncio and
trio, its cancel scope), the :class:`~patterns.workerpool.Result` record, and handing
that back to the consumer of ``map``. Every line consumes each item's result into a
list, and each runtime is set against the closest thing it has:

- threads: ``ThreadPoolExecutor(max_workers=8).map``, made per round as the pool is.
  Its ``map`` submits every item at once (a future each, no bound on its queue) and
  yields in input order; ``WorkerPool.map`` keeps at most ``workers + queue_size`` items
  in flight and yields in completion order.
- asyncio: ``asyncio.TaskGroup`` + ``asyncio.Semaphore(8)``, a task per item, in the
  shape of ``test_errgroup_bench``: the spawning loop takes a token before it starts a
  task, and the task gives it back when it ends.
- trio: a nursery + ``trio.CapacityLimiter(8)``, the same shape.
- asyncio and trio: ``aiometer.amap(fn, items, max_at_once=8)``, the closest third-party
  peer (over anyio, so the same code runs on both). It too starts a task per item, and
  its results travel on a memory stream as large as the input.

- each runtime, ``contract``: the same plain tools, each task also doing what the
  contract asks of every job of the pool: a child context of its own (in asyncio and
  trio, entered as a cancel scope, so a cancel would interrupt it) and a ``Result``
  record with its timings. Set against this line, the ratio is the pool's own machinery
  (queue, workers, result channel); set against ``native``, it is also the price of the
  per-job guarantees.

The pool keeps its 8 workers and starts no task per item; a baseline starts one task
(or, for threads, makes one future) per item. A round is one whole pool, or group,
inside one event loop (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiometer
import pytest
import trio

from patterns.context import on_asyncio as ctx_asyncio
from patterns.context import on_threads as ctx_threads
from patterns.context import on_trio as ctx_trio
from patterns.workerpool import Result, on_asyncio, on_threads, on_trio

ITEMS = 1_000  # items mapped per round
WORKERS = 8


def noop(ctx: object, item: int) -> int:
    """The pool's job: no work, so that the pool's own cost is all there is to time."""
    return item


async def anoop(ctx: object, item: int) -> int:
    """The same, for asyncio and trio."""
    return item


def noop1(item: int) -> int:
    """The baselines' job: the same, without the context they have no use for."""
    return item


async def anoop1(item: int) -> int:
    """The same, for asyncio and trio."""
    return item


def threads_patterns() -> list[Any]:
    with on_threads.WorkerPool(noop, workers=WORKERS) as pool:
        return list(pool.map(range(ITEMS)))


def threads_native() -> list[Any]:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(noop1, range(ITEMS)))


async def asyncio_patterns() -> list[Any]:
    async with on_asyncio.WorkerPool(anoop, workers=WORKERS) as pool:
        return [result async for result in pool.map(range(ITEMS))]


async def asyncio_native() -> list[Any]:
    limit = asyncio.Semaphore(WORKERS)
    results: list[Any] = []

    async def run(item: int) -> None:
        try:
            results.append(await anoop1(item))
        finally:
            limit.release()

    async with asyncio.TaskGroup() as tg:
        for item in range(ITEMS):
            await limit.acquire()
            tg.create_task(run(item))
    return results


def threads_contract() -> list[Any]:
    pool_ctx = ctx_threads.background().with_cancel()

    def job(item: int) -> Result:
        started = time.monotonic()
        with pool_ctx.with_cancel() as ctx:  # leaving the block cancels it
            value = noop(ctx, item)
        return Result(item, item, value, None, 0, started, time.monotonic())

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(job, range(ITEMS)))


async def asyncio_contract() -> list[Any]:
    pool_ctx = ctx_asyncio.background().with_cancel()
    limit = asyncio.Semaphore(WORKERS)
    results: list[Any] = []
    now = asyncio.get_running_loop().time

    async def run(item: int) -> None:
        try:
            started = now()
            with pool_ctx.with_cancel() as ctx:
                async with ctx.scope():
                    value = await anoop(ctx, item)
            results.append(Result(item, item, value, None, 0, started, now()))
        finally:
            limit.release()

    async with asyncio.TaskGroup() as tg:
        for item in range(ITEMS):
            await limit.acquire()
            tg.create_task(run(item))
    return results


async def trio_patterns() -> list[Any]:
    async with on_trio.WorkerPool(anoop, workers=WORKERS) as pool:
        return [result async for result in pool.map(range(ITEMS))]


async def trio_native() -> list[Any]:
    limit = trio.CapacityLimiter(WORKERS)
    results: list[Any] = []

    # The spawning task takes the token, so each task returns it as a borrower of its
    # own (see test_errgroup_bench).
    async def run(item: int, borrower: object) -> None:
        try:
            results.append(await anoop1(item))
        finally:
            limit.release_on_behalf_of(borrower)

    async with trio.open_nursery() as nursery:
        for item in range(ITEMS):
            borrower = object()
            await limit.acquire_on_behalf_of(borrower)
            nursery.start_soon(run, item, borrower)
    return results


async def trio_contract() -> list[Any]:
    pool_ctx = ctx_trio.background().with_cancel()
    limit = trio.CapacityLimiter(WORKERS)
    results: list[Any] = []

    async def run(item: int, borrower: object) -> None:
        try:
            started = trio.current_time()
            with pool_ctx.with_cancel() as ctx, ctx.scope():
                value = await anoop(ctx, item)
            results.append(Result(item, item, value, None, 0, started, trio.current_time()))
        finally:
            limit.release_on_behalf_of(borrower)

    async with trio.open_nursery() as nursery:
        for item in range(ITEMS):
            borrower = object()
            await limit.acquire_on_behalf_of(borrower)
            nursery.start_soon(run, item, borrower)
    return results


async def aiometer_amap() -> list[Any]:
    """The same code for asyncio and trio: aiometer runs on anyio."""
    async with aiometer.amap(anoop1, range(ITEMS), max_at_once=WORKERS) as results:
        return [result async for result in results]


POOLS: dict[str, Callable[[], Any]] = {  # "runtime-implementation": one round
    "threads-patterns": threads_patterns,
    "threads-native": threads_native,
    "threads-contract": threads_contract,
    "asyncio-patterns": asyncio_patterns,
    "asyncio-native": asyncio_native,
    "asyncio-contract": asyncio_contract,
    "asyncio-aiometer": aiometer_amap,
    "trio-patterns": trio_patterns,
    "trio-native": trio_native,
    "trio-contract": trio_contract,
    "trio-aiometer": aiometer_amap,
}


@pytest.mark.benchmark(group="workerpool-map-noop")
@pytest.mark.parametrize("case", POOLS)
def test_workerpool_map(benchmark: Any, in_runtime: Any, case: str) -> None:
    runtime = case.split("-")[0]
    benchmark.extra_info.update(ops=ITEMS, op="item")
    results = benchmark(in_runtime(runtime, POOLS[case]))
    assert len(results) == ITEMS
