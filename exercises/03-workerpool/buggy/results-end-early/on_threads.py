"""Chapter 03, threads: a worker pool, ``workers`` threads fed through one bounded queue.

Go has no pool type: it is a channel of jobs, N goroutines ranging over it, and a
channel of results::

    jobs := make(chan Job, queueSize)    // full: the producer's send waits
    for w := 0; w < workers; w++ {
        go func() { for job := range jobs { results <- run(job) } }()
    }

becomes::

    with WorkerPool(fetch, workers=8) as pool:
        for result in pool.map(urls):
            print(result.item, result.value)

Why not a thread per request: nothing would bound how many run at once, or how many
are waiting. The pool holds both: ``workers`` jobs run, ``queue_size`` wait, and the
next ``submit`` blocks until a worker takes one. That block is backpressure: a producer
faster than the pool is slowed to its pace instead of piling up work. The queue is
chapter 02's ``Channel(queue_size)``, so ``queue_size=0`` is Go's unbuffered hand-off.

What threads do differently: a job cannot be interrupted, so leaving the block, even by
an exception, waits for every job already accepted. (Chapter 05 keeps a failing job
from stopping its worker; chapter 06 gives each job a deadline it can be stopped at.)
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
from patterns.fanout import ChannelClosed
from patterns.fanout.on_threads import Channel
from patterns.workerpool import PoolClosed, Result

__all__ = ["WorkerPool"]

_DONE = None  # on the results queue once the last worker has ended


class WorkerPool:
    """``workers`` threads calling ``fn(ctx, item)`` for each submitted item.

    ``queue_size`` items may wait for a worker (default: ``workers``; 0: a hand-off).
    Use it as ``with WorkerPool(fn, workers=4) as pool:``; leaving the block closes the
    pool and waits until every accepted job has ended.
    """

    def __init__(self, fn: Callable[[Context, Any], Any], *, workers: int,
                 queue_size: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"WorkerPool needs at least one worker, not {workers}")
        if queue_size is not None and queue_size < 0:
            raise ValueError(f"WorkerPool queue_size must be 0 or more, not {queue_size}")
        self._fn = fn
        self._workers = workers
        self._queue_size = workers if queue_size is None else queue_size
        self._ctx = background()  # every job's context, for now (chapter 06: one each)
        self._jobs = Channel(self._queue_size)  # full: submit waits, which is backpressure
        # Unbounded, so that a finished job never waits for its result to be read: what
        # is in flight is bounded by the jobs channel (and by map's window).
        self._results: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._next_index = 0
        self._workers_left = workers
        self._threads: list[threading.Thread] = []

    @property
    def window(self) -> int:
        """How many items may be accepted and unfinished at once: ``workers`` running,
        ``queue_size`` waiting."""
        return self._workers + self._queue_size

    def __enter__(self) -> WorkerPool:
        self._threads = [threading.Thread(target=self._work, args=(worker,))
                         for worker in range(self._workers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        for thread in self._threads:
            thread.join()

    def submit(self, item: Any) -> int:
        """Queue ``item`` for a worker, blocking while ``queue_size`` items wait; return
        its index (submission order, from 0). ``PoolClosed`` once the pool is closed."""
        with self._lock:
            index, self._next_index = self._next_index, self._next_index + 1
        try:
            self._jobs.send((index, item))
        except ChannelClosed:
            raise PoolClosed(f"submit({item!r}) on a closed pool") from None
        return index

    def close(self) -> None:
        """Accept nothing more; what is queued still runs. Idempotent."""
        self._jobs.close()

    def results(self) -> Iterator[Result]:
        """Every job's result as it finishes; ends once the pool is closed and every
        accepted item has its result. One consumer at a time."""
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                return  # BUG: "no result ready yet" is not "no result to come": jobs still
                # running, or still queued, lose their results
            if result is None:  # None is _DONE
                self._results.put(_DONE)  # and still over for whoever asks next
                return
            yield result

    def map(self, items: Iterable[Any], *, ordered: bool = False) -> Iterator[Result]:
        """Submit every item and yield exactly their results: as they finish, or in
        input order with ``ordered=True``. At most ``window`` items are in flight, so a
        slow consumer holds back the reading of ``items`` instead of piling up results
        (and an endless ``items`` works). The pool stays open."""
        pending: deque[int] = deque()  # indices submitted and not yet yielded, oldest first
        finished: dict[int, Result] = {}  # results come in, not yet yielded (ordered only)

        def next_result() -> Result:
            if not ordered:
                result = self._next_result()
                pending.remove(result.index)
                return result
            while pending[0] not in finished:
                result = self._next_result()
                finished[result.index] = result
            return finished.pop(pending.popleft())

        for item in items:
            while len(pending) >= self.window:
                yield next_result()
            pending.append(self.submit(item))
        while pending:
            yield next_result()

    def _next_result(self) -> Result:
        result = self._results.get()
        assert result is not None, "map: the pool was closed under it"
        return result

    def _work(self, worker: int) -> None:
        try:
            for index, item in self._jobs:  # ends once the pool is closed and drained
                started = time.monotonic()
                value = self._fn(self._ctx, item)
                self._results.put(Result(index, item, value, None, worker, started,
                                         time.monotonic()))
        finally:
            with self._lock:
                self._workers_left -= 1
                last = self._workers_left == 0
            if last:  # chapter 02's lesson: the last one out closes the stream
                self._results.put(_DONE)
