"""The two yardsticks of a scan: what a perfect pool would take, and what nothing can beat.

A scan of ``n`` hosts on ``w`` workers cannot finish sooner than its longest probe, nor
sooner than the total work spread evenly over the workers: that is :func:`lower_bound`.
A pool that takes hosts in input order (a FIFO queue, as every worker pool here does)
and wastes no time between them finishes at :func:`ideal_makespan`. Go counterpart:
none; these are the measures to hold a Go or Python worker pool against.

Each host's cost is ``min(latency, timeout)``: a host that never answers costs one
timeout. Two ratios, two lessons:

- **efficiency** = ``ideal_makespan / measured wall time`` (at most about 1): what the
  implementation costs, in scheduling, wake-ups and interpreter time. This is the
  number that compares threads, asyncio and trio.
- ``lower_bound / ideal_makespan`` (at most 1): what FIFO order costs, whatever the
  runtime. A hanging host that comes last starts when the others are done and adds up
  to a whole timeout; the same host first would have hidden behind the others.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

__all__ = ["ideal_makespan", "lower_bound"]


def _checked(costs: Iterable[float], workers: int) -> list[float]:
    if workers < 1:
        raise ValueError(f"a pool needs at least one worker, not {workers}")
    costs = list(costs)
    for cost in costs:
        if not cost >= 0:  # also refuses NaN, which compares false with everything
            raise ValueError(f"a cost is seconds, 0 or more, not {cost}")
    return costs


def ideal_makespan(costs: Iterable[float], workers: int) -> float:
    """The wall time of a perfect FIFO pool: ``costs`` taken in input order, each by the
    worker that frees first, with no overhead at all (greedy list scheduling).

    >>> ideal_makespan([1, 1, 1, 1, 5], workers=2)  # the slow host comes last...
    7.0
    >>> ideal_makespan([5, 1, 1, 1, 1], workers=2)  # ...or first, behind the others
    5.0

    ``0.0`` for no costs. ``ValueError`` for ``workers < 1`` or a negative cost.
    """
    costs = _checked(costs, workers)
    # The heap holds the time each busy worker frees up; the smallest is the next free
    # one. A pool never has more busy workers than jobs, so at most len(costs) entries.
    free_at = [0.0] * min(workers, len(costs))
    for cost in costs:
        heapq.heapreplace(free_at, free_at[0] + cost)
    return max(free_at, default=0.0)


def lower_bound(costs: Iterable[float], workers: int) -> float:
    """The wall time no schedule of ``costs`` on ``workers`` can beat:
    ``max(max(costs), sum(costs) / workers)``, ``0.0`` for no costs.

    >>> lower_bound([1, 1, 1, 1, 5], workers=2)
    5.0

    ``ValueError`` for ``workers < 1`` or a negative cost.
    """
    costs = _checked(costs, workers)
    if not costs:
        return 0.0
    return max(float(max(costs)), math.fsum(costs) / workers)
