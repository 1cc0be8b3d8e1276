"""The worker pool on asyncio: ``workers`` tasks, one bounded queue of jobs.

``await submit`` waits while ``queue_size`` items wait; each worker takes the next item
and awaits ``fn(ctx, item)`` with a context of the job's own; ``results()`` yields every
job's :class:`~patterns.workerpool.Result` as it finishes. Go counterpart: a channel
of jobs, N goroutines ranging over it, and a channel of results. Built from this
library's pieces: the queue is a ``fanout.Channel(queue_size)`` (so ``queue_size=0``
is Go's unbuffered hand-off) and the workers run in an ``errgroup.Group``.

What asyncio does differently: a job runs inside its context's ``scope()``, so its
deadline or ``cancel()`` interrupts it at its next ``await``, and it ends with the
context's error even if ``fn`` never looks at its context.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from patterns.context.on_asyncio import Context, background
from patterns.errgroup.on_asyncio import Group
from patterns.fanout import ChannelClosed
from patterns.fanout.on_asyncio import Channel
from patterns.workerpool import PoolClosed, Result
from patterns.workerpool._pool import PoolCore

__all__ = ["WorkerPool"]

_WAKE = None  # on the results queue: not a result, only "look again" (closed, or broken)


class WorkerPool(PoolCore):
    """``workers`` tasks awaiting ``fn(ctx, item)`` for each submitted item.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off);
    ``timeout`` seconds bound each job, through its context; ``ctx`` is the parent of
    the pool's context. Use it as ``async with WorkerPool(fn, workers=4) as pool:``;
    leaving the block normally closes the pool and waits for the queue to drain,
    leaving it by an exception cancels the pool, waits for the workers and re-raises.

    >>> import asyncio
    >>> async def double(ctx, n):
    ...     if n == 2:
    ...         raise ValueError("no twos")
    ...     return 2 * n
    >>> async def main():
    ...     async with WorkerPool(double, workers=2, timeout=1.0) as pool:
    ...         async for result in pool.map(range(4), ordered=True):
    ...             print(result.item, result.value if result.ok else repr(result.error))
    >>> asyncio.run(main())
    0 0
    1 2
    2 ValueError('no twos')
    3 6
    """

    _lock = contextlib.nullcontext()  # one thread, one loop: nothing to guard

    def __init__(self, fn: Callable[[Context, Any], Awaitable[Any]], *, workers: int,
                 queue_size: int | None = None, timeout: float | None = None,
                 ctx: Context | None = None) -> None:
        super().__init__(workers, queue_size, timeout)
        self._fn = fn
        # Two contexts. The pool's, a child of ``ctx``: cancelling either stops the jobs,
        # and the consumer can still collect their results. The workers' group's, of its
        # own: a worker that dies of a BaseException cancels it, and with it everything.
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        self._group = Group()
        self.ctx.after(self.close)  # a cancelled pool accepts nothing more
        self._jobs = Channel(self._queue_size)
        self._results: asyncio.Queue[Result | None] = asyncio.Queue()  # unbounded: see map
        self._broken: BaseException | None = None  # what a worker died of

    async def __aenter__(self) -> WorkerPool:
        await self._group.__aenter__()
        return self  # the workers start with the first items: see submit

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:
            self.cancel(exc)
        try:
            await self._group.__aexit__(exc_type, exc, tb)
        finally:
            self.ctx.cancel()  # the pool is over, and so is its context (and its timer)

    async def submit(self, item: Any) -> int:
        """Queue ``item`` for a worker, waiting while ``queue_size`` items wait; return
        its index. ``PoolClosed`` once the pool is closed or cancelled.

        Each of the first ``workers`` submits starts a worker with the item in hand,
        Go's ``go worker(job)`` (why: :mod:`patterns.workerpool`); the rest are queued."""
        index, self._next_index = self._next_index, self._next_index + 1
        self._accepted += 1
        try:
            if self._started < self._workers and not self._closed:
                self._started += 1
                await self._group.go(self._work, self._started - 1, index, item)
            else:
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
        self._closed = True
        self._jobs.close()
        self._results.put_nowait(_WAKE)

    def cancel(self, cause: BaseException | None = None) -> None:
        """Cancel the pool's context: running jobs are interrupted, queued jobs end as
        results with a ``Canceled`` error without starting, and the pool accepts
        nothing more."""
        self.ctx.cancel(cause)

    async def results(self) -> AsyncIterator[Result]:
        """Every job's result in completion order; ends once the pool is closed and
        every accepted item has its result. One consumer at a time."""
        while not (self._closed and self._delivered == self._accepted):
            result = await self._next_result()
            if result is not None:
                yield result

    async def map(self, items: Iterable[Any] | AsyncIterable[Any], *,
                  ordered: bool = False) -> AsyncIterator[Result]:
        """Submit every item and yield exactly their results, in completion order or,
        with ``ordered=True``, input order. At most ``window`` items are in flight, so a
        slow consumer holds back the submitting instead of piling up results; the pool
        stays open."""
        in_flight: dict[int, None] = {}  # indices submitted, oldest first
        finished: dict[int, Result] = {}  # results not yet yielded

        async def ready() -> Result:
            """What may be yielded now, waiting for results until something may."""
            while True:
                if ordered:
                    oldest = next(iter(in_flight))
                    if oldest in finished:
                        del in_flight[oldest]
                        return finished.pop(oldest)
                elif finished:
                    index, result = finished.popitem()
                    del in_flight[index]
                    return result
                got = await self._next_result()
                if got is not None:
                    finished[got.index] = got

        async for item in _each(items):
            while len(in_flight) >= self.window:
                yield await ready()
            in_flight[await self.submit(item)] = None
        while in_flight:
            yield await ready()

    def _queued(self) -> int:
        return self._jobs.statistics().buffered

    async def _next_result(self) -> Result | None:
        """The next result, or ``None`` after a wake-up; raises if a worker died."""
        try:
            result = self._results.get_nowait()  # ready: no coroutine of the queue's
        except asyncio.QueueEmpty:
            result = await self._results.get()
        if result is None:
            if self._broken is not None:  # the consumer stops too; the block re-raises it
                raise self._broken
            return None
        self._delivered += 1
        return result

    async def _work(self, worker: int, index: int, item: Any) -> None:
        try:
            # First the item it was started with, then the queue's, as Go's worker(job).
            self._results.put_nowait(await self._run_job(worker, index, item))
            async for index, item in self._jobs:
                self._results.put_nowait(await self._run_job(worker, index, item))
        except asyncio.CancelledError:
            raise  # the group is stopping
        except BaseException as exc:  # not an Exception: the pool stops, the group raises it
            self._broken = exc
            self.cancel(exc)
            self._results.put_nowait(_WAKE)
            raise

    async def _run_job(self, worker: int, index: int, item: Any) -> Result:
        now = asyncio.get_running_loop().time
        started = now()
        if self.ctx.done:  # cancelled while it waited: it never starts
            return self._result(index, item, None, self.ctx.err, worker, started, started)
        job = self.ctx.with_timeout(self._timeout) if self._timeout else self.ctx.with_cancel()
        self._running += 1
        error: BaseException | None
        try:
            async with job.scope():  # its deadline or cancel() interrupts it natively
                value = await self._fn(job, item)
            error = job.err  # a value that came as its context ended is not kept
        except Exception as exc:  # fault isolation: the job failed, the worker goes on
            value, error = None, exc
        finally:
            job.cancel()  # done with it: the pool's context lets go of it
            self._running -= 1
        return self._result(index, item, None if error else value, error, worker, started,
                            now())


async def _each(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
