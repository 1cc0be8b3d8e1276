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

The ``Group`` below is where chapter 01 left it: ``go`` starts a thread, leaving the
block joins them all. This chapter gives it errors, a context and a limit.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from patterns.context.on_threads import Context, background

__all__ = ["Group", "Semaphore"]


class Semaphore:
    """``capacity`` tokens, handed out strictly first come, first served (Go
    ``semaphore.Weighted``)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = self._available = capacity
        self._waiters: deque[Any] = deque()  # the queued acquires, oldest first
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        """Tokens free right now (the tests read it: keep it true)."""
        return self._available

    @property
    def waiting(self) -> int:
        """Acquirers queued for tokens (the tests read it: keep it true)."""
        return len(self._waiters)

    def acquire(self, n: int = 1) -> None:
        """Block until ``n`` tokens are granted, in arrival order."""
        # TODO (task 4): take n tokens if they are free; if not, join the queue in
        # self._waiters and sleep until release() has taken them for you.
        # TODO (task 5): and never while someone is queued ahead of you, even if n fit.
        raise NotImplementedError("task 4: acquire(n) should take n tokens, waiting for them")

    def release(self, n: int = 1) -> None:
        """Give back ``n`` tokens and wake, in order, every waiter they now satisfy."""
        # TODO (task 4): give the tokens back; then serve the waiters from the head of
        # the queue, as long as the head's request fits.
        raise NotImplementedError("task 4: release(n) should give n tokens back")


class Group:
    """Functions started with ``go``, each in a thread of its own (Go ``errgroup``).

    ``g.ctx`` is a child of ``ctx`` (default ``background()``): the first exception a
    function raises cancels it, with that exception as its cause, and ``wait()`` (or
    leaving the ``with`` block) raises that exception itself, once every function has
    returned. ``limit`` bounds how many run at once: ``go`` waits for a free slot.
    """

    def __init__(self, ctx: Context | None = None, *, limit: int | None = None) -> None:
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        # TODO (task 6): a Semaphore of `limit` slots (None: no limit).
        self._limit: Semaphore | None = None
        self._error: BaseException | None = None  # the first error, once there is one
        self._threads: list[threading.Thread] = []

    def go(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` in a new thread, first waiting while ``limit`` run."""
        # TODO (task 6): wait for a free slot first.
        thread = threading.Thread(target=self._run, args=(fn, args))
        self._threads.append(thread)
        thread.start()

    def wait(self) -> None:
        """Wait for every function, cancel ``g.ctx``, and raise the first error (Go
        ``Wait``)."""
        for thread in self._threads:
            thread.join()
        # TODO (task 2): the group is over: cancel g.ctx.
        # TODO (task 1): raise the first error, if there was one.

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
        """One function, in its own thread: what it raises is the group's business."""
        # TODO (task 1): catch what fn raises and hand it to self._fail.
        # TODO (task 3): catch what, exactly? A thread has no cancellation of its own:
        # everything fn raises is its failure, KeyboardInterrupt's kind too.
        # TODO (task 6): and whatever happens, give the slot back.
        fn(*args)

    def _fail(self, exc: BaseException) -> None:
        """Keep the first error, and cancel ``g.ctx`` with it: the others stop early."""
        # TODO (task 1): keep exc in self._error, unless an error came first (two
        # threads may fail at once).
        # TODO (task 2): cancel self.ctx with exc as its cause.
        raise NotImplementedError("task 1: _fail(exc) should keep the first error")
