"""Chapter 07, anyio: the worker pool written once, for asyncio and trio alike.

Go's worker pool is a channel of jobs, N goroutines ranging over it, and a channel of
results::

    jobs := make(chan Job, queueSize)      // a send waits while queueSize jobs wait
    results := make(chan Result, n)
    for w := 0; w < workers; w++ {
        go func() { for j := range jobs { results <- run(j) } }()
    }

anyio has a name for each piece that runs on both backends: a task group for the
workers (trio's nursery, or anyio's own on asyncio), a memory object stream for each
channel (``max_buffer_size`` is Go's buffer: 0 is a hand-off, as in Go and trio, and
unlike ``asyncio.Queue(0)``, which has no bound at all), and ``anyio.current_time()``
for the backend's clock. Nothing below names asyncio or trio, so this one file is the
pool on both.

The one thing anyio cannot pick for the pool is the jobs' context: a
``patterns.context`` context keeps its backend's time and arms its backend's timers, so
the pool asks which backend is running (``sniffio``, which anyio asks too) and takes
that one's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import ModuleType, TracebackType
from typing import Any

import anyio
import sniffio
from anyio.streams.memory import MemoryObjectSendStream

from patterns.context import on_asyncio as asyncio_context
from patterns.context import on_trio as trio_context
from patterns.workerpool import PoolClosed, Result

__all__ = ["WorkerPool"]

_CONTEXTS = {"asyncio": asyncio_context, "trio": trio_context}


def running_context_module() -> ModuleType:
    """``patterns.context.on_asyncio`` or ``on_trio``: the one for the running backend."""
    return _CONTEXTS[sniffio.current_async_library()]


class WorkerPool:
    """``workers`` tasks awaiting ``fn(ctx, item)`` for each submitted item, on asyncio
    or trio, whichever runs it.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off).
    ``async with WorkerPool(fn, workers=4) as pool:``; leaving the block closes the
    pool and waits for the queue to drain; leaving it by an exception cancels the
    workers and re-raises that exception.
    """

    def __init__(self, fn: Callable[[Any, Any], Awaitable[Any]], *, workers: int,
                 queue_size: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"WorkerPool needs at least one worker, not {workers}")
        self._fn = fn
        self._workers = workers
        capacity = workers if queue_size is None else queue_size
        self.window = workers + capacity  # items accepted and unfinished, at most
        # The queue: a send waits while ``capacity`` items wait. This bound is the
        # pool's backpressure.
        self._jobs_in, self._jobs = anyio.create_memory_object_stream[tuple[int, Any]](capacity)
        # The results: no bound, so a worker never waits for the consumer; map keeps
        # what is in flight to ``window``, and results() reads them as they come.
        self._results_in, self._results = anyio.create_memory_object_stream[Result](math.inf)
        self._next_index = 0

    async def __aenter__(self) -> WorkerPool:
        self.ctx = running_context_module().background().with_cancel()
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        with self._results_in:  # the workers' clones keep it open; the last one closes it
            for worker in range(self._workers):
                self._tasks.start_soon(self._work, worker, self._results_in.clone())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
        if exc is not None:
            # The block failed: stop the workers, and let the block's own exception out
            # (handed to the task group, it would come out wrapped in an exception group).
            self._tasks.cancel_scope.cancel()
        try:
            await self._tasks.__aexit__(None, None, None)
        finally:
            self._jobs.close()
            self._results.close()
            self.ctx.cancel()  # the pool is over, and so is every context made from it

    async def submit(self, item: Any) -> int:
        """Queue ``item`` for a worker, waiting while ``queue_size`` items wait; return
        its index. ``PoolClosed`` once the pool is closed."""
        index = self._next_index
        try:
            await self._jobs_in.send((index, item))
        except anyio.ClosedResourceError:
            raise PoolClosed(f"submit({item!r}) on a closed pool") from None
        self._next_index += 1
        return index

    def close(self) -> None:
        """Accept nothing more; what is queued still runs. Idempotent."""
        self._jobs_in.close()

    async def results(self) -> AsyncIterator[Result]:
        """Every job's result in completion order; ends once the pool is closed and
        every worker has finished (the results stream ends with its last sender)."""
        async for result in self._results:
            yield result

    async def map(self, items: Iterable[Any] | AsyncIterable[Any], *,
                  ordered: bool = False) -> AsyncIterator[Result]:
        """Submit every item and yield exactly their results, in completion order or,
        with ``ordered=True``, input order. At most ``window`` items are in flight, so a
        slow consumer holds back the submitting; the pool stays open."""
        in_flight: deque[int] = deque()  # indices submitted, oldest first
        finished: dict[int, Result] = {}  # results not yet yielded

        async def ready() -> Result:
            """What may be yielded now, waiting for results until something may."""
            while True:
                if ordered and in_flight[0] in finished:
                    return finished.pop(in_flight.popleft())
                if not ordered and finished:
                    index, result = finished.popitem()
                    in_flight.remove(index)
                    return result
                got = await self._results.receive()
                finished[got.index] = got

        async for item in _each(items):
            while len(in_flight) >= self.window:
                yield await ready()
            in_flight.append(await self.submit(item))
        while in_flight:
            yield await ready()

    async def _work(self, worker: int, results: MemoryObjectSendStream[Result]) -> None:
        with results:  # this worker's end of the results stream closes when it does
            async for index, item in self._jobs:
                results.send_nowait(await self._run_job(worker, index, item))

    async def _run_job(self, worker: int, index: int, item: Any) -> Result:
        started = anyio.current_time()
        job = self.ctx.with_cancel()
        error: BaseException | None
        try:
            value, error = await self._fn(job, item), None
        except Exception as exc:  # fault isolation: the job failed, the worker goes on
            value, error = None, exc
        finally:
            job.cancel()  # done with it: the pool's context lets go of it
        return Result(index, item, value, error, worker, started, anyio.current_time())


async def _each(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
