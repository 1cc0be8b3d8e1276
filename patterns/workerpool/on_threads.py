"""The worker pool on OS threads: ``workers`` threads, one bounded queue of jobs.

``submit`` blocks while ``queue_size`` items wait; each worker takes the next item and
calls ``fn(ctx, item)`` with a context of the job's own; ``results()`` yields every
job's :class:`~patterns.workerpool.Result` as it finishes. Go counterpart: a channel
of jobs, N goroutines ranging over it, and a channel of results. Built from this
library's pieces: the queue is a ``fanout.Channel(queue_size)`` (so ``queue_size=0``
is Go's unbuffered hand-off) and the workers run in an ``errgroup.Group``.

What threads do differently: a job cannot be interrupted. Its context is cancelled at
its deadline or on ``cancel()``, but only a ``fn`` that honours it (``ctx.check()``,
``ctx.sleep()``, ``ctx.remaining()`` as a socket timeout) stops early; one that ignores
it runs on, holding its worker, and its late value is discarded for the context's
error. The pool's threads start with its first items (``submit``) and end on exit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from patterns.context.on_threads import Context, background
from patterns.errgroup.on_threads import Group
from patterns.fanout import ChannelClosed
from patterns.fanout.on_threads import Channel
from patterns.workerpool import PoolClosed, Result
from patterns.workerpool._pool import PoolCore

__all__ = ["WorkerPool"]

_WAKE = None  # on the results queue: not a result, only "look again" (closed, or broken)


class WorkerPool(PoolCore):
    """``workers`` threads calling ``fn(ctx, item)`` for each submitted item.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off);
    ``timeout`` seconds bound each job, through its context; ``ctx`` is the parent of
    the pool's context. Use it as ``with WorkerPool(fn, workers=4) as pool:``; leaving
    the block normally closes the pool and waits for the queue to drain, leaving it by
    an exception cancels the pool, waits for the workers and re-raises.

    >>> def double(ctx, n):
    ...     if n == 2:
    ...         raise ValueError("no twos")
    ...     return 2 * n
    >>> with WorkerPool(double, workers=2, timeout=1.0) as pool:
    ...     for result in pool.map(range(4), ordered=True):
    ...         print(result.item, result.value if result.ok else repr(result.error))
    0 0
    1 2
    2 ValueError('no twos')
    3 6
    """

    def __init__(self, fn: Callable[[Context, Any], Any], *, workers: int,
                 queue_size: int | None = None, timeout: float | None = None,
                 ctx: Context | None = None) -> None:
        super().__init__(workers, queue_size, timeout)
        self._lock = threading.Lock()
        self._fn = fn
        # Two contexts. The pool's, a child of ``ctx``: cancelling either stops the jobs,
        # and the consumer can still collect their results. The workers' group's, of its
        # own: a worker that dies of a BaseException cancels it, and with it everything.
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        self._group = Group()
        self.ctx.after(self.close)  # a cancelled pool accepts nothing more
        self._jobs = Channel(self._queue_size)
        self._results: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
        self._broken: BaseException | None = None  # what a worker died of

    def __enter__(self) -> WorkerPool:
        return self  # the workers start with the first items: see submit

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:
            self.cancel(exc)
        try:
            self._group.__exit__(exc_type, exc, tb)
        finally:
            self.ctx.cancel()  # the pool is over, and so is its context (and its timer)

    def submit(self, item: Any) -> int:
        """Queue ``item`` for a worker, blocking while ``queue_size`` items wait; return
        its index. ``PoolClosed`` once the pool is closed or cancelled.

        Each of the first ``workers`` submits starts a worker with the item in hand,
        Go's ``go worker(job)`` (why: :mod:`patterns.workerpool`); the rest are queued."""
        with self._lock:
            index, self._next_index = self._next_index, self._next_index + 1
            self._accepted += 1
            start = self._started < self._workers and not self._closed
            if start:
                worker, self._started = self._started, self._started + 1
        try:
            if start:
                self._group.go(self._work, worker, index, item)
            else:
                self._jobs.send((index, item))
        except ChannelClosed:
            with self._lock:
                self._accepted -= 1
            self._results.put(_WAKE)
            raise PoolClosed(f"submit({item!r}) on a closed pool") from None
        except BaseException:  # no thread for its worker: not accepted
            with self._lock:
                self._accepted -= 1
            raise
        return index

    def close(self) -> None:
        """Accept nothing more; what is queued still runs. Idempotent."""
        self._closed = True
        self._jobs.close()
        self._results.put(_WAKE)

    def cancel(self, cause: BaseException | None = None) -> None:
        """Cancel the pool's context: running jobs see it, queued jobs end as results
        with a ``Canceled`` error without starting, and the pool accepts nothing more."""
        self.ctx.cancel(cause)

    def results(self) -> Iterator[Result]:
        """Every job's result in completion order; ends once the pool is closed and
        every accepted item has its result. One consumer at a time."""
        while True:
            with self._lock:
                if self._closed and self._delivered == self._accepted:
                    return
            result = self._next_result()
            if result is not None:
                yield result

    def map(self, items: Iterable[Any], *, ordered: bool = False) -> Iterator[Result]:
        """Submit every item and yield exactly their results, in completion order or,
        with ``ordered=True``, input order. At most ``window`` items are in flight, so a
        slow consumer holds back the submitting instead of piling up results; the pool
        stays open."""
        in_flight: dict[int, None] = {}  # indices submitted, oldest first
        finished: dict[int, Result] = {}  # results not yet yielded

        def ready() -> Iterator[Result]:
            """Yield what may be yielded now, waiting for one result if none may."""
            while True:
                if ordered:
                    oldest = next(iter(in_flight))
                    if oldest in finished:
                        del in_flight[oldest]
                        yield finished.pop(oldest)
                        return
                elif finished:
                    index, result = finished.popitem()
                    del in_flight[index]
                    yield result
                    return
                got = self._next_result()
                if got is not None:
                    finished[got.index] = got

        for item in items:
            while len(in_flight) >= self.window:
                yield from ready()
            in_flight[self.submit(item)] = None
        while in_flight:
            yield from ready()

    def _queued(self) -> int:
        return self._jobs.statistics().buffered

    def _next_result(self) -> Result | None:
        """The next result, or ``None`` after a wake-up; raises if a worker died."""
        result = self._results.get()
        if result is None:
            if self._broken is not None:  # the consumer stops too; the block re-raises it
                raise self._broken
            return None
        with self._lock:
            self._delivered += 1
        return result

    def _work(self, worker: int, index: int, item: Any) -> None:
        try:
            # First the item it was started with, then the queue's, as Go's worker(job).
            self._results.put(self._run_job(worker, index, item))
            for index, item in self._jobs:
                self._results.put(self._run_job(worker, index, item))
        except BaseException as exc:  # not an Exception: the pool stops, the group raises it
            self._broken = exc
            self.cancel(exc)
            self._results.put(_WAKE)
            raise

    def _run_job(self, worker: int, index: int, item: Any) -> Result:
        started = time.monotonic()
        if self.ctx.done:  # cancelled while it waited: it never starts
            return self._result(index, item, None, self.ctx.err, worker, started, started)
        job = self.ctx.with_timeout(self._timeout) if self._timeout else self.ctx.with_cancel()
        with self._lock:
            self._running += 1
        error: BaseException | None
        try:
            value, error = self._fn(job, item), job.err  # a late value is not kept
        except Exception as exc:  # fault isolation: the job failed, the worker goes on
            value, error = None, exc
        finally:
            job.cancel()  # done with it: the pool's context lets go of it
            with self._lock:
                self._running -= 1
        return self._result(index, item, None if error else value, error, worker, started,
                            time.monotonic())
