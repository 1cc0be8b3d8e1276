"""Go's ``x/sync/semaphore``: a weighted semaphore, fair in arrival order.

A semaphore hands out ``capacity`` tokens; ``acquire(n)`` waits until ``n`` are free
and ``release(n)`` gives them back. Waiters are served strictly first come, first
served: a large request at the head of the queue holds back smaller ones behind it,
which would fit, so that it cannot starve. ``on_threads``, ``on_asyncio`` and
``on_trio`` each define ``Semaphore`` with the same members; they differ only in how a
waiter sleeps and how a cancelled wait is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass

from patterns.runtimes import runtime_modules

__all__ = ["SemaphoreStatistics"]


@dataclass(frozen=True, slots=True)
class SemaphoreStatistics:
    """What ``Semaphore.statistics()`` reports: ``capacity``, ``available`` tokens and
    the number of ``waiting`` acquirers."""

    capacity: int
    available: int
    waiting: int


__getattr__ = runtime_modules(__name__)
