"""The worker pool: a fixed set of long-lived workers fed through a bounded queue.

``WorkerPool(fn, workers=N)`` starts ``N`` workers, each taking items from one queue
and calling ``fn(ctx, item)`` with a context of the job's own (``timeout`` is applied to
it). ``submit`` waits while the queue is full, which is backpressure; an exception in a
job becomes a failed :class:`Result` and the worker goes on, which is fault isolation.
Go has no such type: it is the pattern Go programs spell with a channel of jobs, N
goroutines ranging over it, and a channel of results. ``on_threads``, ``on_asyncio``
and ``on_trio`` each define ``WorkerPool`` with the same members: the pool is the same
shape in all three runtimes; the syntax and the runtime's support differ.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from patterns._lazy import runtime_modules

__all__ = ["PoolClosed", "PoolStatistics", "Result", "timeline"]


class PoolClosed(RuntimeError):
    """``submit`` on a pool that was closed (or cancelled): it accepts nothing more."""


@dataclass(frozen=True, slots=True)
class Result:
    """How one job ended: its ``index`` (submission order, from 0), the ``item``, the
    ``value`` returned or the ``error`` raised (``None`` if it succeeded), which
    ``worker`` ran it, and when it ``started`` and ``finished`` on the runtime's clock.

    A job that the pool cancelled before it started has ``started == finished``.
    """

    index: int
    item: Any
    value: Any
    error: BaseException | None
    worker: int
    started: float
    finished: float

    @property
    def ok(self) -> bool:
        """``True`` if the job returned a value."""
        return self.error is None

    @property
    def elapsed(self) -> float:
        """Seconds from start to finish."""
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    """What ``WorkerPool.statistics()`` reports: the number of ``workers``, items
    ``queued`` for one, jobs ``running``, and jobs ended ``completed`` (with a value)
    or ``failed`` (with an error, cancellations and deadlines included)."""

    workers: int
    queued: int
    running: int
    completed: int
    failed: int


def timeline(results: Iterable[Result], *, width: int = 64) -> str:
    """A text chart of when each job ran: one row per worker, time left to right.

    Each job is drawn with the last digit of its index (``!`` if it failed), so a
    learner can watch the pool work in a terminal::

        worker 0 |000000111122222222         |
        worker 1 |  3333333344!!!!5555555    |
                 0.000 s               0.412 s
    """
    results = sorted(results, key=lambda r: (r.worker, r.started))
    if not results:
        return "(no jobs)"
    start = min(r.started for r in results)
    span = max(r.finished for r in results) - start or 1.0
    workers = sorted({r.worker for r in results})
    rows = {worker: [" "] * width for worker in workers}
    for r in results:
        first = min(width - 1, int((r.started - start) / span * width))
        last = max(first, min(width - 1, math.ceil((r.finished - start) / span * width) - 1))
        mark = str(r.index % 10) if r.ok else "!"
        rows[r.worker][first:last + 1] = mark * (last + 1 - first)
    label = max(len(f"worker {w}") for w in workers)
    lines = [f"{f'worker {w}':<{label}} |{''.join(rows[w])}|" for w in workers]
    left, right = "0.000 s", f"{span:.3f} s"
    lines.append(" " * (label + 2) + left + right.rjust(width - len(left)))
    return "\n".join(lines)


__getattr__ = runtime_modules(__name__)
