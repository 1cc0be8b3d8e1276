"""The bookkeeping of a weighted FIFO semaphore, shared by every runtime (neutral).

This is the part of Go's ``semaphore.go`` that holds no goroutine: a token count and a
queue of waiters, granted strictly in order. Each runtime's ``Semaphore`` subclasses
it and supplies the lock (a real one only for threads) and the waiting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from patterns.semaphore import SemaphoreStatistics


@dataclass(slots=True, eq=False)
class Waiter:
    """One queued ``acquire``: how many tokens, how to wake it, and whether it got them."""

    n: int
    wake: Callable[[], object]
    granted: bool = False


class Weighted:
    """Tokens and a FIFO queue of waiters (Go's ``semaphore.Weighted`` minus the waiting)."""

    _lock: AbstractContextManager[Any]  # a real lock only where threads share the object

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"Semaphore capacity must be at least 1, not {capacity}")
        self._capacity = self._available = capacity
        self._waiters: deque[Waiter] = deque()

    def __repr__(self) -> str:
        return (f"<{type(self).__module__}.Semaphore capacity={self._capacity} "
                f"available={self._available} waiting={len(self._waiters)}>")

    @property
    def capacity(self) -> int:
        """The number of tokens the semaphore was made with."""
        return self._capacity

    @property
    def available(self) -> int:
        """Tokens free right now."""
        return self._available

    @property
    def waiting(self) -> int:
        """Acquirers queued for tokens."""
        return len(self._waiters)

    def statistics(self) -> SemaphoreStatistics:
        """A snapshot of ``capacity``, ``available`` and ``waiting``."""
        return SemaphoreStatistics(self._capacity, self._available, len(self._waiters))

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are free and nobody is waiting; never blocks (Go
        ``TryAcquire``). Returns whether it took them."""
        self._check(n)
        with self._lock:
            return self._take(n)

    def release(self, n: int = 1) -> None:
        """Give back ``n`` tokens and wake the waiters they satisfy, in order (Go
        ``Release``). ``ValueError`` if that would exceed ``capacity``: more released
        than was held."""
        self._check(n)
        with self._lock:
            if self._available + n > self._capacity:
                raise ValueError(
                    f"{self!r}: releasing {n} token(s) would exceed the capacity; "
                    "released more than was held")
            self._available += n
            self._grant()

    # -- for the runtime modules ---------------------------------------------------------

    def _check(self, n: int) -> None:
        if not 1 <= n <= self._capacity:
            raise ValueError(
                f"{self!r}: n={n} must be between 1 and the capacity {self._capacity} "
                "(Go's Acquire would block forever on n > capacity)")

    def _take(self, n: int) -> bool:
        # "and nobody is waiting" is the no-barging rule: the queue goes first.
        if not self._waiters and self._available >= n:
            self._available -= n
            return True
        return False

    def _enqueue(self, n: int, wake: Callable[[], object]) -> Waiter:
        waiter = Waiter(n, wake)
        self._waiters.append(waiter)
        return waiter

    def _grant(self) -> None:
        """Serve waiters from the head while the head's request fits."""
        while self._waiters and self._waiters[0].n <= self._available:
            waiter = self._waiters.popleft()
            self._available -= waiter.n
            waiter.granted = True
            waiter.wake()

    def _abandon(self, waiter: Waiter) -> None:
        """A wait ended without being wanted: leave the queue, or give the grant back if
        it came at the same moment. Either can let the next waiters through."""
        with self._lock:
            if waiter.granted:
                self._available += waiter.n
            else:
                self._waiters.remove(waiter)
            self._grant()
