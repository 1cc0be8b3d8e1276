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

Why not a task per request: nothing would bound how many run at once, or how many
are waiting. The pool holds both: ``workers`` jobs run, ``queue_size`` wait, and the
next ``submit`` blocks until a worker takes one. That block is backpressure: a producer
faster than the pool is slowed to its pace instead of piling up work. The queue is
chapter 02's ``Channel(queue_size)``, so ``queue_size=0`` is Go's unbuffered hand-off.

What asyncio does differently: the workers are an ``asyncio.TaskGroup``'s tasks, so
leaving the block by an exception cancels them, even in the middle of a job; leaving it
normally waits for every job already accepted. (Chapter 05 keeps a failing job from
stopping the pool; chapter 06 gives each job a deadline it can be stopped at.)
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from patterns.context.on_asyncio import Context, background
from patterns.fanout import ChannelClosed
from patterns.fanout.on_asyncio import Channel
from patterns.workerpool import PoolClosed, Result

__all__ = ["WorkerPool"]

_DONE = None  # on the results queue once the last worker has ended


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
        self._ctx = background()  # every job's context, for now (chapter 06: one each)
        # BUG: a queue "as big as it takes", so that submit never has to wait: nothing
        # holds a fast producer back, and the queue grows with it
        self._jobs = Channel(sys.maxsize)
        # Unbounded, so that a finished job never waits for its result to be read: what
        # is in flight is bounded by the jobs channel (and by map's window).
        self._results: asyncio.Queue[Result | None] = asyncio.Queue()
        self._next_index = 0
        self._workers_left = workers

    @property
    def window(self) -> int:
        """How many items may be accepted and unfinished at once: ``workers`` running,
        ``queue_size`` waiting."""
        return self._workers + self._queue_size

    async def __aenter__(self) -> WorkerPool:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        for worker in range(self._workers):
            self._group.create_task(self._work(worker))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
        await self._group.__aexit__(exc_type, exc, tb)  # an exception cancels the workers

    async def submit(self, item: Any) -> int:
        """Queue ``item`` for a worker, waiting while ``queue_size`` items wait; return
        its index (submission order, from 0). ``PoolClosed`` once the pool is closed."""
        index, self._next_index = self._next_index, self._next_index + 1
        try:
            await self._jobs.send((index, item))
        except ChannelClosed:
            raise PoolClosed(f"submit({item!r}) on a closed pool") from None
        return index

    def close(self) -> None:
        """Accept nothing more; what is queued still runs. Idempotent."""
        self._jobs.close()

    async def results(self) -> AsyncIterator[Result]:
        """Every job's result as it finishes; ends once the pool is closed and every
        accepted item has its result. One consumer at a time."""
        while (result := await self._results.get()) is not None:  # None is _DONE
            yield result
        self._results.put_nowait(_DONE)  # and still over for whoever asks next

    async def map(self, items: Iterable[Any], *,
                  ordered: bool = False) -> AsyncIterator[Result]:
        """Submit every item and yield exactly their results: as they finish, or in
        input order with ``ordered=True``. At most ``window`` items are in flight, so a
        slow consumer holds back the reading of ``items`` instead of piling up results
        (and an endless ``items`` works). The pool stays open."""
        pending: deque[int] = deque()  # indices submitted and not yet yielded, oldest first
        finished: dict[int, Result] = {}  # results come in, not yet yielded (ordered only)

        async def next_result() -> Result:
            if not ordered:
                result = await self._next_result()
                pending.remove(result.index)
                return result
            while pending[0] not in finished:
                result = await self._next_result()
                finished[result.index] = result
            return finished.pop(pending.popleft())

        for item in items:
            while len(pending) >= self.window:
                yield await next_result()
            pending.append(await self.submit(item))
        while pending:
            yield await next_result()

    async def _next_result(self) -> Result:
        result = await self._results.get()
        assert result is not None, "map: the pool was closed under it"
        return result

    async def _work(self, worker: int) -> None:
        now = asyncio.get_running_loop().time
        try:
            async for index, item in self._jobs:  # ends once the pool is closed and drained
                started = now()
                value = await self._fn(self._ctx, item)
                self._results.put_nowait(Result(index, item, value, None, worker, started,
                                                now()))
        finally:
            self._workers_left -= 1
            if self._workers_left == 0:  # chapter 02's lesson: the last one out closes
                self._results.put_nowait(_DONE)
