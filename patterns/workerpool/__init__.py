"""The worker pool: a fixed set of long-lived workers fed through a bounded queue.

``WorkerPool(fn, workers=N)`` runs up to ``N`` workers, each taking items from one
queue and calling ``fn(ctx, item)`` with a context of the job's own (``timeout`` is
applied to it). Each of the first ``N`` items submitted starts a worker with the item in
hand, as Go starts a goroutine where the work is: the first job never waits for the
others' workers to start, and a pool given fewer items than workers starts only as
many; the workers then stay until the pool ends. ``submit`` waits while the queue is
full, which is backpressure; an exception in a job becomes a failed :class:`Result` and
the worker goes on, which is fault isolation. Go has no such type: it is the pattern Go
programs spell with a channel of jobs, N goroutines ranging over it, and a channel of
results. ``on_threads``, ``on_asyncio`` and ``on_trio`` each define ``WorkerPool`` with
the same members: the pool is the same shape in all three runtimes; the syntax and the
runtime's support differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from patterns.runtimes import runtime_modules

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

    Each job is a segment that starts with its index, drawn with ``-`` if it succeeded
    and ``!`` if it failed, so a learner can watch the pool work in a terminal:

    >>> results = [Result(0, "a", 1, None, worker=0, started=0.0, finished=0.1),
    ...            Result(1, "b", 1, None, worker=0, started=0.1, finished=0.2),
    ...            Result(2, "c", None, ValueError("no"), worker=1, started=0.0, finished=0.15),
    ...            Result(3, "d", 1, None, worker=1, started=0.15, finished=0.4)]
    >>> print(timeline(results, width=40))
    worker 0 |0---------1---------                    |
    worker 1 |2!!!!!!!!!!!!!!3------------------------|
              0.000 s                          0.400 s

    Time is scaled to ``width`` columns, but a segment is never narrower than its label
    and one mark, nor drawn over the one before it, so every job shows, in order; rows
    that need more room grow past ``width``.
    """
    results = sorted(results, key=lambda r: (r.worker, r.started, r.index))
    if not results:
        return "(no jobs)"
    start = min(r.started for r in results)
    span = max(r.finished for r in results) - start or 1.0
    rows: dict[int, str] = {}
    for r in results:
        row = rows.get(r.worker, "")
        first = max(len(row), round((r.started - start) / span * width))
        label = str(r.index)
        cells = max(len(label) + 1, round((r.finished - start) / span * width) - first)
        mark = "-" if r.ok else "!"
        rows[r.worker] = row.ljust(first) + (label + mark * cells)[:cells]
    right = max(width, *(len(row) for row in rows.values()))
    name = max(len(f"worker {w}") for w in rows)
    lines = [f"{f'worker {w}':<{name}} |{row.ljust(right)}|" for w, row in sorted(rows.items())]
    lines.append(" " * (name + 2) + "0.000 s" + f"{span:.3f} s".rjust(right - len("0.000 s")))
    return "\n".join(lines)


__getattr__ = runtime_modules(__name__)
