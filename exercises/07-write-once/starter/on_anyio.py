"""Chapter 07, anyio: the worker pool written once, for asyncio and trio alike.

Go's worker pool is a channel of jobs, N goroutines ranging over it, and a channel of
results::

    jobs := make(chan Job, queueSize)      // a send waits while queueSize jobs wait
    results := make(chan Result, n)
    for w := 0; w < workers; w++ {
        go func() { for j := range jobs { results <- run(j) } }()
    }

Here it is once more, in anyio: a task group for the workers, a memory object stream
for each channel, and nothing that names asyncio or trio, so that this one file is the
pool on both backends (``check 07`` runs it on each). ``map``, ``submit`` and
``_run_job`` are written for you; the ``TODO`` comments say which task each part is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from types import ModuleType, TracebackType
from typing import Any

import anyio
import sniffio  # noqa: F401 (task 4 asks it which backend runs)
from anyio.streams.memory import MemoryObjectSendStream

from patterns.context import on_asyncio as asyncio_context
from patterns.context import on_trio as trio_context
from patterns.workerpool import PoolClosed, Result

__all__ = ["WorkerPool"]

_CONTEXTS = {"asyncio": asyncio_context, "trio": trio_context}


def running_context_module() -> ModuleType:
    """``patterns.context.on_asyncio`` or ``on_trio``: the one for the running backend."""
    # TODO (task 4): this is asyncio's whichever backend runs; on trio a job needs trio's.
    # sniffio.current_async_library() names the running backend.
    return asyncio_context


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
        # TODO (task 2): math.inf is no bound: submit never waits. Give it the capacity.
        self._jobs_in, self._jobs = anyio.create_memory_object_stream[tuple[int, Any]](
            math.inf)
        # The results: no bound, so a worker never waits for the consumer; map keeps
        # what is in flight to ``window``, and results() reads them as they come.
        self._results_in, self._results = anyio.create_memory_object_stream[Result](math.inf)
        self._next_index = 0

    async def __aenter__(self) -> WorkerPool:
        self.ctx = running_context_module().background().with_cancel()
        # TODO (task 1): open an anyio task group and keep it as self._tasks (enter it by
        # hand, as chapter 01 entered a nursery), then start ``workers`` tasks in it, each
        # running self._work(worker, results) with a clone of self._results_in of its own.
        # Then close self._results_in itself, so that only the workers keep it open.
        raise NotImplementedError("task 1: start the workers in an anyio task group")

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
        # TODO (task 3): yield each result from self._results as it comes.
        raise NotImplementedError("task 3: results() should yield every job's result")
        yield  # an async generator, as the finished one is

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
        # TODO (task 3): take item after item from self._jobs until it ends (close() ends
        # it), send each job's Result (self._run_job) on ``results``, and close
        # ``results`` when the loop ends: the results stream ends with its last sender.
        raise NotImplementedError("task 3: a worker should run item after item")

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
