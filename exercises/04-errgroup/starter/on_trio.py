"""Chapter 04, trio: the first error cancels the rest; a weighted semaphore bounds them.

Go's ``x/sync/errgroup`` and ``x/sync/semaphore``::

    g, ctx := errgroup.WithContext(ctx)
    g.SetLimit(4)
    for _, url := range urls {
        g.Go(func() error { return fetch(ctx, url) })
    }
    err := g.Wait() // the first error; it cancelled ctx, so the other fetches stop early

becomes::

    async with Group(ctx, limit=4) as g:
        for url in urls:
            await g.go(fetch, g.ctx, url)
    # the first error is raised here, once every fetch has ended

The ``Group`` below is where chapter 01 left it: a nursery that ``go`` starts tasks
in. This chapter gives it errors, a context and a limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio

from patterns.context.on_trio import Context, background

__all__ = ["Group", "Semaphore"]


class Semaphore:
    """``capacity`` tokens, handed out strictly first come, first served (Go
    ``semaphore.Weighted``)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = self._available = capacity
        self._waiters: deque[Any] = deque()  # the queued acquires, oldest first

    @property
    def available(self) -> int:
        """Tokens free right now (the tests read it: keep it true)."""
        return self._available

    @property
    def waiting(self) -> int:
        """Acquirers queued for tokens (the tests read it: keep it true)."""
        return len(self._waiters)

    async def acquire(self, n: int = 1) -> None:
        """Wait until ``n`` tokens are granted, in arrival order."""
        # TODO (task 4): take n tokens if they are free; if not, join the queue in
        # self._waiters and sleep until release() has taken them for you.
        # TODO (task 5): never while someone is queued ahead of you, even if n fit; and
        # a waiter cancelled in its sleep leaves the queue (or, if release() granted it
        # the tokens in that same step, gives them back).
        raise NotImplementedError("task 4: acquire(n) should take n tokens, waiting for them")

    def release(self, n: int = 1) -> None:
        """Give back ``n`` tokens and wake, in order, every waiter they now satisfy."""
        # TODO (task 4): give the tokens back; then serve the waiters from the head of
        # the queue, as long as the head's request fits.
        raise NotImplementedError("task 4: release(n) should give n tokens back")


class Group:
    """Async functions started with ``go``, each as a task in one nursery (Go
    ``errgroup``), used as ``async with Group() as g:``.

    ``g.ctx`` is a child of ``ctx`` (default ``background()``): the first exception a
    task raises cancels it, with that exception as its cause, which interrupts the other
    tasks; ``wait()`` and the block raise that exception itself, once every task has
    ended. ``limit`` bounds how many run at once: ``go`` waits for a free slot.
    """

    def __init__(self, ctx: Context | None = None, *, limit: int | None = None) -> None:
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        # TODO (task 6): a Semaphore of `limit` slots (None: no limit).
        self._limit: Semaphore | None = None
        self._error: BaseException | None = None  # the first error, once there is one

    async def __aenter__(self) -> Group:
        self._opening = trio.open_nursery()
        self._nursery = await self._opening.__aenter__()
        return self

    async def go(self, afn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``afn(*args)`` as a task, first waiting while ``limit`` run."""
        # TODO (task 6): wait for a free slot first.
        # TODO (task 1): count the running tasks, for wait().
        self._nursery.start_soon(self._run, afn, args)

    async def wait(self) -> None:
        """Wait until no task runs, then raise the first error (Go ``Wait``)."""
        # TODO (task 1): wait until no task runs (a trio.Event, set by the last task
        # to end), then raise the first error, if there was one.
        raise NotImplementedError("task 1: wait() should wait for the running tasks")

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        # TODO (task 1): the nursery wraps whatever reaches it in an ExceptionGroup:
        # hand it (None, None, None) unless the body was cancelled from outside (that,
        # only the nursery can handle), and once the tasks have ended raise the first
        # error yourself (unless the body raised: its own exception goes on).
        # TODO (task 2): if the body raised, cancel g.ctx with it first; and once the
        # tasks have ended, cancel g.ctx in any case: the group is over.
        await self._opening.__aexit__(exc_type, exc, tb)

    async def _run(self, afn: Callable[..., Awaitable[object]], args: tuple[Any, ...]) -> None:
        """One task: what it raises is the group's business."""
        # TODO (task 1): catch what afn raises and hand it to self._fail.
        # TODO (task 2): run afn inside `with self.ctx.scope():`, so that g.ctx being
        # cancelled interrupts it at its next checkpoint.
        # TODO (task 3): catch what, exactly? trio.Cancelled is how a task is
        # stopped, never its failure: let it go on. Everything else, a KeyboardInterrupt's
        # kind too, is the group's error.
        # TODO (task 6): and whatever happens, give the slot back.
        await afn(*args)

    def _fail(self, exc: BaseException) -> None:
        """Keep the first error, and cancel ``g.ctx`` with it: the others stop."""
        # TODO (task 1): keep exc in self._error, unless an error came first.
        # TODO (task 2): cancel self.ctx with exc as its cause.
        raise NotImplementedError("task 1: _fail(exc) should keep the first error")
