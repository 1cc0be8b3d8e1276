"""Chapter 05, threads: a worker pool whose jobs fail without taking the pool down.

Go has no pool type: it is a channel of jobs, N goroutines ranging over it, and a
channel of results, where a job's failure is a value like any other::

    for job := range jobs {
        v, err := fn(ctx, job)
        results <- Result{job, v, err} // the worker goes on to the next job
    }

becomes a pool whose workers turn what ``fn`` raises into a ``Result``::

    with WorkerPool(fetch, workers=4) as pool:
        for result in pool.map(urls):
            print(result.item, result.value if result.ok else result.error)

Fault isolation is one ``except Exception`` in the right place: around each job, so
the job fails and the worker goes on. Not around the worker's loop (the worker would
die with its job), and not ``except BaseException``: a ``KeyboardInterrupt`` is no
job's failure, it is the program being stopped, and it stops the pool.

What threads do differently: a job cannot be interrupted. ``cancel()`` cancels the
pool's context; a running job stops only if ``fn`` looks at its ctx, and a value it
returns afterwards is not kept. Queued jobs never start: they end as ``Canceled``.
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
from patterns.workerpool import PoolClosed, PoolStatistics, Result

__all__ = ["WorkerPool"]

_WAKE = None  # on the results queue: not a result, only "look again" (closed, or broken)


class WorkerPool:
    """``workers`` threads calling ``fn(ctx, item)`` for each submitted item, used as
    ``with WorkerPool(fn, workers=4) as pool:``.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off);
    ``ctx`` is the parent of the pool's context. An ``Exception`` from ``fn`` is that
    job's ``Result.error``, and the worker goes on; any other ``BaseException`` stops the
    pool and is raised by the block (and by ``results()``).
    """

    def __init__(self, fn: Callable[[Context, Any], Any], *, workers: int,
                 queue_size: int | None = None, ctx: Context | None = None) -> None:
        if workers < 1:
            raise ValueError(f"WorkerPool needs at least one worker, not {workers}")
        self._fn = fn
        self._workers = workers
        self._queue_size = workers if queue_size is None else queue_size
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        self.ctx.after(self.close)  # a cancelled pool accepts nothing more
        self._jobs = Channel(self._queue_size)
        self._results: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
        self._group = Group()
        self._lock = threading.Lock()  # guards the counters: workers finish at once
        self._next_index = self._accepted = self._delivered = 0
        self._running = self._completed = self._failed = 0
        self._broken: BaseException | None = None  # what a worker died of

    @property
    def window(self) -> int:
        """How many items may be accepted and unfinished at once."""
        return self._workers + self._queue_size

    def __enter__(self) -> WorkerPool:
        for worker in range(self._workers):
            self._group.go(self._work, worker)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()  # what is queued still runs
        else:
            self.cancel(exc)
        try:
            self._group.__exit__(exc_type, exc, tb)  # raises what a worker died of
        finally:
            self.ctx.cancel()

    def submit(self, item: Any) -> int:
        """Queue ``item`` for a worker, blocking while ``queue_size`` items wait; return
        its index. ``PoolClosed`` once the pool is closed or cancelled."""
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

    def cancel(self, cause: BaseException | None = None) -> None:
        """Cancel the pool's context: running jobs see it, queued jobs end as results
        with a ``Canceled`` error without starting, and the pool accepts nothing more."""
        self.ctx.cancel(cause)  # its after() callback closes the pool

    def statistics(self) -> PoolStatistics:
        """A snapshot: ``workers``, ``queued``, ``running``, ``completed``, ``failed``."""
        return PoolStatistics(self._workers, self._jobs.statistics().buffered,
                              self._running, self._completed, self._failed)

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
        """Submit every item and yield exactly their results, in completion order or in
        input order; at most ``window`` in flight. The pool stays open."""
        in_flight: deque[int] = deque()  # indices submitted, oldest first
        finished: dict[int, Result] = {}  # results not yet yielded

        def ready() -> Iterator[Result]:
            while True:
                if ordered and in_flight[0] in finished:
                    yield finished.pop(in_flight.popleft())
                    return
                if not ordered and finished:
                    index, result = finished.popitem()
                    in_flight.remove(index)
                    yield result
                    return
                got = self._next_result()
                if got is not None:
                    finished[got.index] = got

        for item in items:
            while len(in_flight) >= self.window:
                yield from ready()
            in_flight.append(self.submit(item))
        while in_flight:
            yield from ready()

    def _next_result(self) -> Result | None:
        """The next result, or ``None`` after a wake-up; raises what a worker died of."""
        result = self._results.get()
        if result is None:
            if self._broken is not None:
                raise self._broken
            return None
        with self._lock:
            self._delivered += 1
        return result

    def _work(self, worker: int) -> None:
        try:
            for index, item in self._jobs:
                self._results.put(self._run_job(worker, index, item))
        except BaseException as exc:  # no job's failure (those are results): stop the pool
            self._broken = exc
            self.cancel(exc)
            self._results.put(_WAKE)  # a reader waiting for a result must hear of it
            raise  # and the group raises it when the block ends

    def _run_job(self, worker: int, index: int, item: Any) -> Result:
        started = time.monotonic()
        job = self.ctx.with_cancel()  # BUG: even when the pool was cancelled while it waited
        with self._lock:
            self._running += 1
        error: BaseException | None
        try:
            value, error = self._fn(job, item), job.err  # a value after a cancel is not kept
        except Exception as exc:  # fault isolation: the job failed, the worker goes on
            value, error = None, exc
        finally:
            job.cancel()  # done with it: the pool's context lets go of it
            with self._lock:
                self._running -= 1
        return self._result(index, item, None if error else value, error, worker, started,
                            time.monotonic())

    def _result(self, index: int, item: Any, value: Any, error: BaseException | None,
                worker: int, started: float, finished: float) -> Result:
        with self._lock:
            if error is None:
                self._completed += 1
            else:
                self._failed += 1
        return Result(index, item, value, error, worker, started, finished)
