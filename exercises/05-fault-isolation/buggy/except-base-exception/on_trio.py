"""Chapter 05, trio: a worker pool whose jobs fail without taking the pool down.

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

Fault isolation is one ``except Exception`` in the right place: around each job, so
the job fails and the worker goes on. Not around the worker's loop (the worker would
die with its job), and not ``except BaseException``: a ``KeyboardInterrupt`` is no
job's failure, it is the program being stopped, and it stops the pool; and in trio
``trio.Cancelled`` is a ``BaseException`` too, the very thing that stops a worker.

What trio does differently: a job runs inside its context's ``scope()``, a cancel
scope, so ``cancel()`` interrupts it at its next checkpoint, even if ``fn`` never
looks at its ctx, and it ends with the context's error. Results travel on a memory
channel with no bound (``map`` bounds what it lets in). Queued jobs never start: they end as
``Canceled``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

import trio

from patterns.context.on_trio import Context, background
from patterns.errgroup.on_trio import Group
from patterns.fanout import ChannelClosed
from patterns.fanout.on_trio import Channel
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
        self.ctx.after(self.close)  # a cancelled pool accepts nothing more
        self._jobs = Channel(self._queue_size)
        self._results_in, self._results = trio.open_memory_channel[Result | None](math.inf)
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
            self._results_in.send_nowait(_WAKE)
            raise PoolClosed(f"submit({item!r}) on a closed pool") from None
        except BaseException:  # cancelled while it waited: not accepted
            self._accepted -= 1
            raise
        return index

    def close(self) -> None:
        """Accept nothing more; what is queued still runs. Idempotent."""
        self._jobs.close()
        self._results_in.send_nowait(_WAKE)

    def cancel(self, cause: BaseException | None = None) -> None:
        """Cancel the pool's context: running jobs are interrupted, queued jobs end as
        results with a ``Canceled`` error without starting, and the pool accepts
        nothing more."""
        self.ctx.cancel(cause)  # its after() callback closes the pool

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
        result = await self._results.receive()
        if result is None:
            if self._broken is not None:
                raise self._broken
            return None
        self._delivered += 1
        return result

    async def _work(self, worker: int) -> None:
        try:
            async for index, item in self._jobs:
                self._results_in.send_nowait(await self._run_job(worker, index, item))
        except trio.Cancelled:
            raise  # the group is stopping this worker
        except BaseException as exc:  # no job's failure (those are results): stop the pool
            self._broken = exc
            self.cancel(exc)
            self._results_in.send_nowait(_WAKE)  # a reader waiting for a result must hear of it
            raise  # and the group raises it when the block ends

    async def _run_job(self, worker: int, index: int, item: Any) -> Result:
        now = trio.current_time
        started = now()
        if self.ctx.done:  # cancelled while it waited: it never starts
            return self._result(index, item, None, self.ctx.err, worker, started, started)
        job = self.ctx.with_cancel()
        self._running += 1
        error: BaseException | None
        try:
            with job.scope():  # cancel() interrupts it here, as job.err
                value = await self._fn(job, item)
            error = job.err  # a value that came as its context ended is not kept
        except BaseException as exc:  # BUG: a KeyboardInterrupt's kind becomes a result too
            value, error = None, exc
        finally:
            job.cancel()  # done with it: the pool's context lets go of it
            self._running -= 1
        return self._result(index, item, None if error else value, error, worker, started,
                            now())

    def _result(self, index: int, item: Any, value: Any, error: BaseException | None,
                worker: int, started: float, finished: float) -> Result:
        if error is None:
            self._completed += 1
        else:
            self._failed += 1
        return Result(index, item, value, error, worker, started, finished)


async def _each(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
