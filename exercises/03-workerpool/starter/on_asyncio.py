"""Chapter 03, asyncio: a worker pool, ``workers`` tasks fed through one bounded queue.

Go has no pool type: it is a channel of jobs, N goroutines ranging over it, and a
channel of results::

    jobs := make(chan Job, queueSize)    // full: the producer's send waits
    for w := 0; w < workers; w++ {
        go func() { for job := range jobs { results <- run(job) } }()
    }

becomes::

    async with WorkerPool(fetch, workers=8) as pool:
        async for result in pool.map(urls):
            print(result.item, result.value)

Chapter 02's ``Channel`` is yours to use for the queue (the library's is
``patterns.fanout.on_asyncio.Channel``), and each job's outcome is a
``patterns.workerpool.Result``. Not ``asyncio.Queue(0)``: it is unbounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from patterns.context.on_asyncio import Context, background
from patterns.fanout import ChannelClosed
from patterns.fanout.on_asyncio import Channel
from patterns.workerpool import PoolClosed, Result

__all__ = ["WorkerPool"]


class WorkerPool:
    """``workers`` tasks awaiting ``fn(ctx, item)`` for each submitted item.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off).
    Use it as ``async with WorkerPool(fn, workers=4) as pool:``; leaving the block
    closes the pool and waits until every accepted job has ended (leaving it by an
    exception cancels them).
    """

    def __init__(self, fn: Callable[[Context, Any], Awaitable[Any]], *, workers: int,
                 queue_size: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"WorkerPool needs at least one worker, not {workers}")
        if queue_size is not None and queue_size < 0:
            raise ValueError(f"WorkerPool queue_size must be 0 or more, not {queue_size}")
        self._fn = fn
        self._workers = workers
        self._queue_size = workers if queue_size is None else queue_size
        self._ctx = background()  # pass it to every job: await fn(self._ctx, item)
        # TODO (tasks 1 and 2): the queue of jobs, with room for queue_size items.
        # TODO (task 3): the queue of results; it must never make a worker wait.

    @property
    def window(self) -> int:
        """How many items may be accepted and unfinished at once: ``workers`` running,
        ``queue_size`` waiting."""
        return self._workers + self._queue_size

    async def __aenter__(self) -> WorkerPool:
        # TODO (task 1): enter an asyncio.TaskGroup and start `workers` tasks in it, each
        # running jobs until the queue of jobs is closed and empty, and putting each
        # job's Result on the results queue.
        raise NotImplementedError("task 1: entering the pool should start its workers")

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        # TODO (task 5): close the pool, then let the TaskGroup wait for its tasks.
        pass

    async def submit(self, item: Any) -> int:
        """Queue ``item`` for a worker, waiting while ``queue_size`` items wait; return
        its index (submission order, from 0). ``PoolClosed`` once the pool is closed."""
        # TODO (task 2): hand (index, item) to the queue of jobs, waiting while it is full.
        # TODO (task 5): on a closed pool, raise PoolClosed.
        raise NotImplementedError("task 2: submit() should queue the item for a worker")

    def close(self) -> None:
        """Accept nothing more; what is queued still runs. Idempotent."""
        # TODO (task 5): close the queue of jobs.
        raise NotImplementedError("task 5: close() should close the queue of jobs")

    async def results(self) -> AsyncIterator[Result]:
        """Every job's result as it finishes; ends once the pool is closed and every
        accepted item has its result. One consumer at a time."""
        # TODO (task 3): yield results as they come; stop once every worker has ended.
        raise NotImplementedError("task 3: results() should yield every job's Result")
        yield  # an async generator

    async def map(self, items: Iterable[Any], *,
                  ordered: bool = False) -> AsyncIterator[Result]:
        """Submit every item and yield exactly their results: as they finish, or in
        input order with ``ordered=True``. At most ``window`` items are in flight, so a
        slow consumer holds back the reading of ``items``. The pool stays open."""
        # TODO (task 4): submit, never more than `window` ahead of what is yielded.
        raise NotImplementedError("task 4: map() should submit items and yield their results")
        yield  # an async generator
