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

This is chapter 03's pool, written out for you. What is left to write is the deadline:
the job's context (``_job_context``), what ``_run_job`` does with it, and the pool's
own context (``__init__``); each ``TODO`` names its task. A thread cannot be
interrupted: read the README before task 3.
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
        # TODO (task 4): the pool's context must be a child of ``ctx`` when one is given,
        # so that cancelling ``ctx`` reaches every job. This one is a child of nothing.
        self.ctx = background().with_cancel()
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
        # TODO (task 4): a job still queued when the pool's context ended must not start:
        # return its Result at once, with the pool context's error (self.ctx.err).
        job = self._job_context()
        error: BaseException | None
        try:
            # (task 3) A thread cannot be interrupted: a job that ignores its context
            # runs on past its deadline, holding its worker until it returns. Tasks 1
            # and 2 are all a thread pool can do about it; the README says why.
            value = self._fn(job, item)
            # TODO (task 2): a job whose context ended while it ran has failed, with the
            # context's error, whatever it returned.
            error = None
        except Exception as exc:  # fault isolation: the job failed, the worker goes on
            value, error = None, exc
        finally:
            # TODO (task 1): the job is over, and so is its context: cancel it (Go's
            # ``defer cancel()``), so that the pool's context lets go of it.
            pass
        return Result(index, item, None if error else value, error, worker, started,
                      time.monotonic())

    def _job_context(self) -> Context:
        """The job's own context: a child of the pool's, so the pool's cancel reaches it,
        with ``timeout`` counted from now, when the job starts, not from ``submit()``."""
        # TODO (task 1): derive it from the pool's context, self.ctx: with_timeout(timeout)
        # when there is a timeout, with_cancel() when there is none. background() is a
        # stand-in that runs: no deadline, none of the pool ctx's values, no cancel.
        return background()
