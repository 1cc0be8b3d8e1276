"""Chapter 04, threads: the first error cancels the rest; a weighted semaphore bounds them.

Go's ``x/sync/errgroup`` and ``x/sync/semaphore``::

    g, ctx := errgroup.WithContext(ctx)
    g.SetLimit(4)
    for _, url := range urls {
        g.Go(func() error { return fetch(ctx, url) })
    }
    err := g.Wait() // the first error; it cancelled ctx, so the other fetches stop early

becomes::

    with Group(ctx, limit=4) as g:
        for url in urls:
            g.go(fetch, g.ctx, url)
    # the first error is raised here, once every fetch has returned

What threads do differently: a thread cannot be interrupted, only told. The first error
cancels ``g.ctx``, and the functions that look at it (``ctx.check()``, ``ctx.sleep()``,
``ctx.wait()``) stop early; the others run to their end, and the group waits for them.
Nor is there a cancellation of the runtime's own to tell apart from an error: whatever
a function raises, ``KeyboardInterrupt`` included, is the group's to raise.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from patterns.context.on_threads import Context, background

__all__ = ["Group", "Semaphore"]


@dataclass(eq=False)
class _Waiter:
    """One queued ``acquire``: how many tokens it wants, and the event that wakes it."""

    n: int
    woken: threading.Event


class Semaphore:
    """``capacity`` tokens, handed out strictly first come, first served (Go
    ``semaphore.Weighted``).

    ``acquire(n)`` waits until ``n`` tokens are free *and* every earlier waiter has been
    served: a big request at the head of the queue holds back the small ones behind it,
    even those that would fit, or a stream of small requests could starve it forever.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"Semaphore capacity must be at least 1, not {capacity}")
        self._capacity = self._available = capacity
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        """Tokens free right now."""
        return self._available

    @property
    def waiting(self) -> int:
        """Acquirers queued for tokens."""
        return len(self._waiters)

    def acquire(self, n: int = 1) -> None:
        """Block until ``n`` tokens are granted, in arrival order."""
        if not 1 <= n <= self._capacity:  # more than capacity would block everyone forever
            raise ValueError(f"acquire({n}) on a semaphore of {self._capacity} tokens")
        with self._lock:
            if not self._waiters and self._available >= n:  # nobody ahead: take them
                self._available -= n
                return
            waiter = _Waiter(n, threading.Event())
            self._waiters.append(waiter)
        waiter.woken.wait()  # release() takes the tokens for us, then sets it

    def release(self, n: int = 1) -> None:
        """Give back ``n`` tokens and wake, in order, every waiter they now satisfy."""
        with self._lock:
            if self._available + n > self._capacity:
                raise ValueError(f"release({n}) would free more tokens than were taken")
            self._available += n
            while self._waiters and self._waiters[0].n <= self._available:
                waiter = self._waiters.popleft()
                self._available -= waiter.n
                waiter.woken.set()


class Group:
    """Functions started with ``go``, each in a thread of its own (Go ``errgroup``).

    ``g.ctx`` is a child of ``ctx`` (default ``background()``): the first exception a
    function raises cancels it, with that exception as its cause, and ``wait()`` (or
    leaving the ``with`` block) raises that exception itself, once every function has
    returned. ``limit`` bounds how many run at once: ``go`` waits for a free slot.
    """

    def __init__(self, ctx: Context | None = None, *, limit: int | None = None) -> None:
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        self._limit = None if limit is None else Semaphore(limit)
        self._lock = threading.Lock()  # guards the first error: functions fail at once
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []

    def go(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` in a new thread, first waiting while ``limit`` run."""
        if self._limit is not None:
            self._limit.acquire()
        thread = threading.Thread(target=self._run, args=(fn, args))
        self._threads.append(thread)
        thread.start()

    def wait(self) -> None:
        """Wait for every function, cancel ``g.ctx``, and raise the first error (Go
        ``Wait``)."""
        for thread in self._threads:
            thread.join()
        self.ctx.cancel()  # the group is over: so is its context
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Group:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.wait()
            return
        # The body failed: tell the functions to stop, wait for them, and let its
        # exception go on (it is the one the caller is looking at).
        self.ctx.cancel(exc)
        for thread in self._threads:
            thread.join()

    def _run(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # whatever it raised, KeyboardInterrupt too
            self._fail(exc)
        finally:
            if self._limit is not None:
                self._limit.release()  # a function that failed frees its slot too

    def _fail(self, exc: BaseException) -> None:
        """Keep the first error, and cancel ``g.ctx`` with it: the others stop early."""
        with self._lock:
            self._error = exc  # BUG: every error replaces the one before: the last one wins
        self.ctx.cancel(exc)
