"""Chapter 06, threads: the worker pool with a deadline for each job, through its context.

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

What threads do differently: a thread cannot be interrupted. At its deadline the job's
context is done, but only a ``fn`` that looks (``ctx.check()``, ``ctx.sleep()``,
``ctx.wait()``, ``ctx.remaining()`` as a socket timeout) stops there; one that ignores it
runs on, holding its worker, and when it returns the pool throws its late value away
for the context's error. The pool's own context is a child of ``ctx``: cancelling
``ctx`` reaches every job, and queued jobs end without starting.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from patterns.context.on_threads import Context, background
from patterns.errgroup.on_threads import Group
from patterns.fanout import ChannelClosed
from patterns.fanout.on_threads import Channel
from patterns.workerpool import PoolClosed, Result

__all__ = ["WorkerPool"]

_WAKE = None  # on the results queue: not a result, only "look again" (the pool closed)


class WorkerPool:
    """``workers`` threads calling ``fn(ctx, item)`` for each submitted item, each job
    under a context of its own that ``timeout`` seconds bound.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off);
    ``ctx`` is the parent of the pool's context. ``with WorkerPool(fn, workers=4,
    timeout=1.0) as pool:``; leaving the block closes the pool and waits for the queue
    to drain.
    """

    def __init__(self, fn: Callable[[Context, Any], Any], *, workers: int,
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
        self._results: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._next_index = self._accepted = self._delivered = 0
        self._group = Group()
        # The pool's context, a child of ``ctx``: cancelling ``ctx`` reaches every job.
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        self.ctx.after(self.close)  # a cancelled pool accepts nothing more

    def __enter__(self) -> WorkerPool:
        for worker in range(self._workers):
            self._group.go(self._work, worker)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:
            self.ctx.cancel(exc)  # running jobs are told; queued ones never start
        self.close()
        try:
            self._group.__exit__(exc_type, exc, tb)
        finally:
            self.ctx.cancel()  # the pool is over, and so is its context (and its timer)

    def submit(self, item: Any) -> int:
        """Queue ``item``, blocking while ``queue_size`` items wait; return its index.
        ``PoolClosed`` once the pool is closed."""
        with self._lock:
            index, self._next_index = self._next_index, self._next_index + 1
            self._accepted += 1
        try:
            self._jobs.send((index, item))
        except ChannelClosed:
            with self._lock:
                self._accepted -= 1
            self._results.put(_WAKE)
            raise PoolClosed(f"submit({item!r}) on a closed pool") from None
        return index

    def close(self) -> None:
        """Accept nothing more; what is queued still runs. Idempotent."""
        self._jobs.close()
        self._results.put(_WAKE)

    def results(self) -> Iterator[Result]:
        """Every job's result in completion order; ends once the pool is closed and
        every accepted item has its result."""
        while True:
            with self._lock:
                if self._jobs.statistics().closed and self._delivered == self._accepted:
                    return
            result = self._next_result()
            if result is not None:
                yield result

    def map(self, items: Iterable[Any], *, ordered: bool = False) -> Iterator[Result]:
        """Submit every item and yield exactly their results, in completion order or,
        with ``ordered=True``, input order, keeping at most ``window`` in flight."""
        in_flight: deque[int] = deque()  # indices submitted, oldest first
        finished: dict[int, Result] = {}  # results not yet yielded

        def ready() -> Result:
            while True:
                if ordered and in_flight[0] in finished:
                    return finished.pop(in_flight.popleft())
                if not ordered and finished:
                    index, result = finished.popitem()
                    in_flight.remove(index)
                    return result
                got = self._next_result()
                if got is not None:
                    finished[got.index] = got

        for item in items:
            while len(in_flight) >= self.window:
                yield ready()
            in_flight.append(self.submit(item))
        while in_flight:
            yield ready()

    def _next_result(self) -> Result | None:
        result = self._results.get()
        if result is not None:
            with self._lock:
                self._delivered += 1
        return result

    def _work(self, worker: int) -> None:
        for index, item in self._jobs:
            self._results.put(self._run_job(worker, index, item))

    def _run_job(self, worker: int, index: int, item: Any) -> Result:
        started = time.monotonic()
        if self.ctx.done:  # the pool's context ended while the item waited: never start it
            return Result(index, item, None, self.ctx.err, worker, started, started)
        job = self._job_context()
        error: BaseException | None
        try:
            value = self._fn(background(), item)  # BUG: not the job's context
            error = job.err  # done while it ran (a thread cannot be stopped): not a value
        except Exception as exc:  # fault isolation: the job failed, the worker goes on
            value, error = None, exc
        finally:
            job.cancel()  # Go's defer cancel(): the pool's context lets go of it
        return Result(index, item, None if error else value, error, worker, started,
                      time.monotonic())

    def _job_context(self) -> Context:
        """The job's own context: a child of the pool's, so the pool's cancel reaches it,
        with ``timeout`` counted from now, when the job starts, not from ``submit()``."""
        if self._timeout is None:
            return self.ctx.with_cancel()  # it still inherits the pool ctx's deadline
        return self.ctx.with_timeout(self._timeout)
