"""Chapter 06, asyncio: the worker pool with a deadline for each job, through its context.

Go gives each job a context of its own, derived from the pool's, and cancels it when the
job is done::

    for j := range jobs {
        ctx, cancel := context.WithTimeout(poolCtx, timeout) // counted from now
        v, err := fn(ctx, j.item)
        if ctx.Err() != nil { err = ctx.Err() }              // late: not a result
        cancel()
        results <- Result{j.index, v, err}
    }

becomes ``_run_job`` below: ``self.ctx.with_timeout(timeout)`` when the job starts, so a
job that waited in the queue still has all its time, and ``job.cancel()`` when it ends.

What asyncio does differently: a task can be interrupted at any ``await``. The job runs
inside ``async with job.scope():``, so at its deadline (or when the pool's context is
cancelled) it is cancelled natively and the block raises the context's error, even if
``fn`` never looks at its context: a job that hangs does not hold its worker. The
pool's own context is a child of ``ctx``: cancelling ``ctx`` reaches every job, and
queued jobs end without starting.
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
from patterns.workerpool import PoolClosed, Result

__all__ = ["WorkerPool"]

_WAKE = None  # on the results queue: not a result, only "look again" (the pool closed)


class WorkerPool:
    """``workers`` tasks awaiting ``fn(ctx, item)`` for each submitted item, each job
    under a context of its own that ``timeout`` seconds bound.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off);
    ``ctx`` is the parent of the pool's context. ``async with WorkerPool(fn, workers=4,
    timeout=1.0) as pool:``; leaving the block closes the pool and waits for the queue
    to drain.
    """

    def __init__(self, fn: Callable[[Context, Any], Awaitable[Any]], *, workers: int,
                 queue_size: int | None = None, timeout: float | None = None,
                 ctx: Context | None = None) -> None:
        if workers < 1:
            raise ValueError(f"WorkerPool needs at least one worker, not {workers}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"WorkerPool timeout must be positive seconds, not {timeout}")
        self._fn = fn
        self._workers = workers
        self._timeout = timeout
        capacity = workers if queue_size is None else queue_size
        self.window = workers + capacity  # items accepted and unfinished, at most
        self._jobs = Channel(capacity)
        self._results: asyncio.Queue[Result | None] = asyncio.Queue()  # unbounded: see map
        self._next_index = self._accepted = self._delivered = 0
        self._group = Group()
        # The pool's context, a child of ``ctx``: cancelling ``ctx`` reaches every job.
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        self.ctx.after(self.close)  # a cancelled pool accepts nothing more

    async def __aenter__(self) -> WorkerPool:
        await self._group.__aenter__()
        for worker in range(self._workers):
            await self._group.go(self._work, worker)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None:
            self.ctx.cancel(exc)  # running jobs are interrupted; queued ones never start
        self.close()
        try:
            await self._group.__aexit__(exc_type, exc, tb)
        finally:
            self.ctx.cancel()  # the pool is over, and so is its context (and its timer)

    async def submit(self, item: Any) -> int:
        """Queue ``item``, waiting while ``queue_size`` items wait; return its index.
        ``PoolClosed`` once the pool is closed."""
        index, self._next_index = self._next_index, self._next_index + 1
        self._accepted += 1
        try:
            # BUG: the job's context is made here, so its deadline runs in the queue
            await self._jobs.send((index, item, self._job_context()))
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

    async def results(self) -> AsyncIterator[Result]:
        """Every job's result in completion order; ends once the pool is closed and
        every accepted item has its result."""
        while not (self._jobs.statistics().closed and self._delivered == self._accepted):
            result = await self._next_result()
            if result is not None:
                yield result

    async def map(self, items: Iterable[Any] | AsyncIterable[Any], *,
                  ordered: bool = False) -> AsyncIterator[Result]:
        """Submit every item and yield exactly their results, in completion order or,
        with ``ordered=True``, input order, keeping at most ``window`` in flight."""
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
        result = await self._results.get()
        if result is not None:
            self._delivered += 1
        return result

    async def _work(self, worker: int) -> None:
        async for index, item, job in self._jobs:
            self._results.put_nowait(await self._run_job(worker, index, item, job))

    async def _run_job(self, worker: int, index: int, item: Any,
                       job: Context) -> Result:
        now = asyncio.get_running_loop().time
        started = now()
        if self.ctx.done:  # the pool's context ended while the item waited: never start it
            return Result(index, item, None, self.ctx.err, worker, started, started)
        error: BaseException | None
        try:
            async with job.scope():  # its deadline or a cancel interrupts it at an await
                value = await self._fn(job, item)
            error = job.err  # a value that came as its context ended is not kept
        except Exception as exc:  # fault isolation: the job failed, the worker goes on
            value, error = None, exc
        finally:
            job.cancel()  # Go's defer cancel(): the pool's context lets go of it
        return Result(index, item, None if error else value, error, worker, started, now())

    def _job_context(self) -> Context:
        """The job's own context: a child of the pool's, so the pool's cancel reaches it,
        with ``timeout`` counted from now, when the job starts, not from ``submit()``."""
        if self._timeout is None:
            return self.ctx.with_cancel()  # it still inherits the pool ctx's deadline
        return self.ctx.with_timeout(self._timeout)


async def _each(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
