"""What every runtime's ``WorkerPool`` shares (runtime-neutral): its settings, its
counters and the record of a finished job."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from patterns.workerpool import PoolStatistics, Result


class PoolCore:
    """Settings, counters and ``statistics()``; the runtime modules run the workers."""

    _lock: AbstractContextManager[Any]  # a real lock only where workers are threads

    def __init__(self, workers: int, queue_size: int | None, timeout: float | None) -> None:
        if workers < 1:
            raise ValueError(f"WorkerPool needs at least one worker, not {workers}")
        if queue_size is not None and queue_size < 0:
            raise ValueError(f"WorkerPool queue_size must be 0 (a hand-off) or more, "
                             f"not {queue_size}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"WorkerPool timeout must be positive seconds, not {timeout}")
        self._workers = workers
        self._queue_size = workers if queue_size is None else queue_size
        self._timeout = timeout
        self._next_index = 0  # the index the next submitted item gets
        self._accepted = 0  # items in the queue or handed to a worker, with or without result
        self._delivered = 0  # results handed to the consumer
        self._running = self._completed = self._failed = 0
        self._started = 0  # workers started so far: one with each of the first submits
        self._closed = False  # close() was called: the queue takes nothing more

    @property
    def window(self) -> int:
        """How many items may be accepted and unfinished at once: ``workers +
        queue_size``. ``map`` keeps at most this many in flight."""
        return self._workers + self._queue_size

    def _queued(self) -> int:
        raise NotImplementedError

    def statistics(self) -> PoolStatistics:
        """A snapshot: ``workers``, ``queued``, ``running``, ``completed``, ``failed``."""
        return PoolStatistics(self._workers, self._queued(), self._running,
                              self._completed, self._failed)

    def _result(self, index: int, item: Any, value: Any, error: BaseException | None,
                worker: int, started: float, finished: float) -> Result:
        with self._lock:
            if error is None:
                self._completed += 1
            else:
                self._failed += 1
        return Result(index, item, value, error, worker, started, finished)
