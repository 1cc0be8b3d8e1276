"""Chapter 05, asyncio: a worker pool whose jobs fail without taking the pool down.

Go has no pool type: it is a channel of jobs, N goroutines ranging over it, and a
channel of results, where a job's failure is a value like any other::

    for job := range jobs {
        v, err := fn(ctx, job)
        results <- Result{job, v, err} // the worker goes on to the next job
    }

becomes a pool whose workers turn what ``fn`` raises into a ``Result``::

    async with WorkerPool(fetch, workers=4) as pool:
        async for result in pool.map(urls):
            print(result.item, result.value if result.ok else result.error)

The pool below works as long as nothing goes wrong: workers, a bounded queue,
``submit``, ``close``, ``results()`` and ``map`` (chapter 03's pool). What it lacks is
the subject of this chapter: what happens when a job fails, when a job raises something
that is not a failure, and when the pool is cancelled.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from patterns.context.on_asyncio import Context, background
from patterns.errgroup.on_asyncio import Group
from patterns.fanout import ChannelClosed
from patterns.fanout.on_asyncio import Channel
from patterns.workerpool import PoolClosed, PoolStatistics, Result

__all__ = ["WorkerPool"]

_WAKE = None  # on the results queue: not a result, only "look again" (closed, or broken)


class WorkerPool:
    """``workers`` tasks awaiting ``fn(ctx, item)`` for each submitted item, used as
    ``async with WorkerPool(fn, workers=4) as pool:``.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off);
    ``ctx`` is the parent of the pool's context. An ``Exception`` from ``fn`` is that
    job's ``Result.error``, and the worker goes on; any other ``BaseException`` stops the
    pool and is raised by the block (and by ``results()``).
    """

    def __init__(self, fn: Callable[[Context, Any], Awaitable[Any]], *, workers: int,
                 queue_size: int | None = None, ctx: Context | None = None) -> None:
        if workers < 1:
            raise ValueError(f"WorkerPool needs at least one worker, not {workers}")
        self._fn = fn
        self._workers = workers
        self._queue_size = workers if queue_size is None else queue_size
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        self._jobs = Channel(self._queue_size)
        self._results: asyncio.Queue[Result | None] = asyncio.Queue()  # map bounds it
        self._group = Group()
        self._next_index = self._accepted = self._delivered = 0
        self._running = self._completed = self._failed = 0
        self._broken: BaseException | None = None  # what a worker died of

    @property
    def window(self) -> int:
        """How many items may be accepted and unfinished at once."""
        return self._workers + self._queue_size

    async def __aenter__(self) -> WorkerPool:
        await self._group.__aenter__()
        for worker in range(self._workers):
            await self._group.go(self._work, worker)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self.close()  # what is queued still runs
        else:
            self.cancel(exc)
        try:
            await self._group.__aexit__(exc_type, exc, tb)  # raises what a worker died of
        finally:
            self.ctx.cancel()

    async def submit(self, item: Any) -> int:
        """Queue ``item`` for a worker, waiting while ``queue_size`` items wait; return
        its index. ``PoolClosed`` once the pool is closed or cancelled."""
        index, self._next_index = self._next_index, self._next_index + 1
        self._accepted += 1
        try:
            await self._jobs.send((index, item))
        except ChannelClosed:
            self._accepted -= 1
            self._results.put_nowait(_WAKE)
            raise PoolClosed(f"submit({item!r}) on a closed pool") from None
        except BaseException:  # cancelled while it waited: not accepted
            self._accepted -= 1
            raise
        return index

    def close(self) -> None:
        """Accept nothing more; what is queued still runs. Idempotent."""
        self._jobs.close()
        self._results.put_nowait(_WAKE)

    def cancel(self, cause: BaseException | None = None) -> None:
        """Cancel the pool's context: running jobs are interrupted, queued jobs end as
        results with a ``Canceled`` error without starting, and the pool accepts
        nothing more."""
        # TODO (task 3): cancel the pool's context, with cause (self.ctx.after() can
        # close the pool once it is cancelled, however that happens).
        self.close()

    def statistics(self) -> PoolStatistics:
        """A snapshot: ``workers``, ``queued``, ``running``, ``completed``, ``failed``."""
        return PoolStatistics(self._workers, self._jobs.statistics().buffered,
                              self._running, self._completed, self._failed)

    async def results(self) -> AsyncIterator[Result]:
        """Every job's result in completion order; ends once the pool is closed and
        every accepted item has its result."""
        while not (self._jobs.statistics().closed and self._delivered == self._accepted):
            result = await self._next_result()
            if result is not None:
                yield result

    async def map(self, items: Iterable[Any] | AsyncIterable[Any], *,
                  ordered: bool = False) -> AsyncIterator[Result]:
        """Submit every item and yield exactly their results, in completion order or in
        input order; at most ``window`` in flight. The pool stays open."""
        in_flight: deque[int] = deque()  # indices submitted, oldest first
        finished: dict[int, Result] = {}  # results not yet yielded

        async def ready() -> Result:
            while True:
                if ordered and in_flight[0] in finished:
                    return finished.pop(in_flight.popleft())
                if not ordered and finished:
                    index, result = finished.popitem()
                    in_flight.remove(index)
                    return result
                got = await self._next_result()
                if got is not None:
                    finished[got.index] = got

        async for item in _each(items):
            while len(in_flight) >= self.window:
                yield await ready()
            in_flight.append(await self.submit(item))
        while in_flight:
            yield await ready()

    async def _next_result(self) -> Result | None:
        """The next result, or ``None`` after a wake-up; raises what a worker died of."""
        result = await self._results.get()
        if result is None:
            if self._broken is not None:
                raise self._broken
            return None
        self._delivered += 1
        return result

    async def _work(self, worker: int) -> None:
        # TODO (task 2): a BaseException that is no job's failure (KeyboardInterrupt's
        # kind) ends this loop: keep it in self._broken (results() raises it), cancel
        # the pool with it, wake a reader waiting for a result (_WAKE), and let it go
        # on: the group raises it when the block ends. Not asyncio.CancelledError: that is the
        # group stopping this worker.
        async for index, item in self._jobs:
            self._results.put_nowait(await self._run_job(worker, index, item))

    async def _run_job(self, worker: int, index: int, item: Any) -> Result:
        now = asyncio.get_running_loop().time
        started = now()
        # TODO (task 3): a job of a cancelled pool never starts: its result has the
        # pool's ctx.err as its error.
        job = self.ctx.with_cancel()
        self._running += 1
        error: BaseException | None
        # TODO (task 1): an Exception from fn is this job's failure: its result's error,
        # and the worker goes on to the next job.
        # TODO (task 3): run fn inside `async with job.scope():`, so that cancel() interrupts it
        # at its next await; the scope then raises job.err, a Canceled.
        try:
            value, error = await self._fn(job, item), None
        finally:
            job.cancel()  # done with it: the pool's context lets go of it
            self._running -= 1
        return self._result(index, item, None if error else value, error, worker, started,
                            now())

    def _result(self, index: int, item: Any, value: Any, error: BaseException | None,
                worker: int, started: float, finished: float) -> Result:
        # TODO (task 4): count it: completed if it has no error, failed if it has one
        # (a cancelled job has failed too).
        return Result(index, item, value, error, worker, started, finished)


async def _each(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
