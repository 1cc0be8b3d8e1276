"""Go's ``x/sync/semaphore`` on OS threads: a weighted, FIFO-fair semaphore.

``acquire(n)`` blocks the calling thread until ``n`` tokens are free and every earlier
waiter has been served; ``release(n)`` gives tokens back. Go counterpart:
``semaphore.Weighted``.

What threads do differently: a blocked thread cannot be interrupted, so a waiter
watches its context itself. It sleeps on a lock of its own, which a grant or a
cancellation releases, with the context's ``remaining()`` time as the timeout: Go's
``select`` on ``ready`` and ``ctx.Done()``, spelled with one lock and a timeout.
Unlike ``threading.Semaphore``, it is weighted, strictly FIFO, and refuses to release
more than it holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial

from patterns.context.on_threads import Context
from patterns.semaphore._weighted import Weighted

__all__ = ["Semaphore"]


class Semaphore(Weighted):
    """A weighted semaphore with ``capacity`` tokens (Go ``semaphore.NewWeighted``).

    ``n`` must be between 1 and ``capacity`` in every method (``ValueError`` at once:
    Go would block forever on ``n > capacity``). ``capacity``, ``available``,
    ``waiting`` and ``statistics()`` describe it; ``try_acquire`` and ``release`` are
    in :class:`~patterns.semaphore._weighted.Weighted`.

    >>> sem = Semaphore(3)
    >>> with sem.hold(2):
    ...     sem.available
    1
    """

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._lock = threading.Lock()

    def acquire(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Block until ``n`` tokens are granted, in arrival order (Go ``Acquire``).

        If ``ctx`` is done first, or already, raise ``ctx.err`` holding nothing; a grant
        that lands as the context ends is given back.
        """
        self._check(n)
        if ctx is not None:
            ctx.check()
        with self._lock:
            if self._take(n):
                return
            # The waiter sleeps on a lock of its own, taken here and released to wake it:
            # what threading.Condition does underneath, without the Condition.
            woken = threading.Lock()
            woken.acquire()
            waiter = self._enqueue(n, partial(_release, woken))
        # A cancel releases the same lock; the deadline is this wait's timeout.
        stop = ctx.after_cancel(partial(_release, woken)) if ctx is not None else None
        try:
            while not waiter.granted and not (ctx is not None and ctx.done):
                remaining = None if ctx is None else ctx.remaining()
                woken.acquire(timeout=-1 if remaining is None else remaining)
        except BaseException:  # KeyboardInterrupt, in the main thread
            self._abandon(waiter)
            raise
        finally:
            if stop is not None:
                stop()
        if ctx is not None and ctx.done:
            self._abandon(waiter)
            ctx.check()

    @contextmanager
    def hold(self, n: int = 1, *, ctx: Context | None = None) -> Iterator[None]:
        """``with sem.hold(n):`` acquires ``n`` tokens and releases them on the way out."""
        self.acquire(n, ctx=ctx)
        try:
            yield
        finally:
            self.release(n)


def _release(lock: threading.Lock) -> None:
    """Wake the waiter sleeping on ``lock``; a grant and a cancel may both try."""
    with suppress(RuntimeError):  # released already: it is awake
        lock.release()
