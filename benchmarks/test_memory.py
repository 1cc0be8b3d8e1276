"""``WorkerPool.map`` over 100,000 items with 100 workers stays under a fixed bound.

``map`` keeps at most ``workers + queue_size`` items in flight (200 here), so what it
holds does not grow with its input: the items come from a generator, and each result is
dropped as soon as it is counted. pytest-memray's ``limit_memory`` fails a test whose
peak (the high-water mark of what was allocated during it, all threads together)
reaches the bound. Run it with the report of each peak::

    python -m pytest benchmarks/test_memory.py --memray

Measured peaks (CPython 3.11, 100,000 items; the same at 10,000, as a bounded map's
should be): threads 1.8 MiB, asyncio 0.04 MiB, trio 0.09 MiB, and 1 MiB more when a run
happens to need a new pymalloc arena (memray sees arenas, not objects); with
``--trace-python-allocators``, which counts every object instead, 2.2, 0.4 and 0.5 MiB.
Threads pay for their 100 OS threads: 16 KiB of frame stack each (1.6 MiB), their
thread states, and the waiter queues of the events they wait on. (Their OS stacks are
mapped inside ``pthread_create``, which memray does not see.)

The bounds, 6 MB for threads and 3 MB for asyncio and trio (pytest-memray's MB is a
MiB), are twice the highest peak seen or more. A ``map`` that kept its results
would not fit: the same run keeping all 100,000 ``Result`` records in a list peaks at
24-26 MiB on threads and 19-23 MiB on asyncio and trio (about 200 bytes a record, with
its item, index and two timestamps), 4 to 8 times the bound.

pytest-memray tracks a test that carries ``limit_memory`` whether or not ``--memray``
is given, so the bound is checked in every run of the suite. Without ``--memray`` (the
CI smoke run, a timing run) the map is 10,000 items instead of 100,000: under memray's
tracker the three full maps take about 20 s, which would be most of the smoke run.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from patterns.workerpool import on_asyncio, on_threads, on_trio

ITEMS = 100_000  # under --memray: the bound's own test
SMOKE_ITEMS = 10_000  # without it: the CI smoke run
WORKERS = 100
LIMITS = {"threads": "6 MB", "asyncio": "3 MB", "trio": "3 MB"}


def items(n: int) -> Iterator[int]:
    """The input, one item at a time: a list of 100,000 ints would itself be 3.5 MB."""
    yield from range(n)


def noop(ctx: object, item: int) -> int:
    return item


async def anoop(ctx: object, item: int) -> int:
    return item


def threads_map(n: int) -> int:
    with on_threads.WorkerPool(noop, workers=WORKERS) as pool:
        return sum(1 for _ in pool.map(items(n)))


async def asyncio_map(n: int) -> int:
    count = 0
    async with on_asyncio.WorkerPool(anoop, workers=WORKERS) as pool:
        async for _ in pool.map(items(n)):
            count += 1
    return count


async def trio_map(n: int) -> int:
    count = 0
    async with on_trio.WorkerPool(anoop, workers=WORKERS) as pool:
        async for _ in pool.map(items(n)):
            count += 1
    return count


MAPS = {"threads": threads_map, "asyncio": asyncio_map, "trio": trio_map}


@pytest.mark.parametrize("runtime", [
    pytest.param(runtime, marks=pytest.mark.limit_memory(LIMITS[runtime])) for runtime in MAPS
])
def test_map_memory_is_bounded(request: Any, in_runtime: Any, runtime: str) -> None:
    n = ITEMS if request.config.getoption("memray", False) else SMOKE_ITEMS
    assert in_runtime(runtime, partial(MAPS[runtime], n))() == n
