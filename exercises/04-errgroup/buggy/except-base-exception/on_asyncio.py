"""Chapter 04, asyncio: the first error cancels the rest; a weighted semaphore bounds them.

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

What asyncio does differently: a task can be interrupted at any ``await``. Each task
runs inside ``g.ctx.scope()``, so the first error, which cancels ``g.ctx``, interrupts
the others natively, even those that never look at their context; the scope turns that
``CancelledError`` into ``g.ctx.err``. The runtime's own ``CancelledError`` is never a
task's failure: it is how the task is stopped, and it must go on up to the
``TaskGroup``. And unlike a ``TaskGroup``, which raises an ``ExceptionGroup`` of every
failure, a group raises the first failure itself.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from patterns.context.on_asyncio import Context, background

__all__ = ["Group", "Semaphore"]


@dataclass(eq=False)
class _Waiter:
    """One queued ``acquire``: how many tokens it wants, and the event that wakes it."""

    n: int
    woken: asyncio.Event


class Semaphore:
    """``capacity`` tokens, handed out strictly first come, first served (Go
    ``semaphore.Weighted``).

    ``acquire(n)`` waits until ``n`` tokens are free *and* every earlier waiter has been
    served: a big request at the head of the queue holds back the small ones behind it,
    even those that would fit, or a stream of small requests could starve it forever.
    A waiter that is cancelled leaves the queue (or gives back the tokens granted to it
    in the same step), so that nobody waits behind a task that is gone.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"Semaphore capacity must be at least 1, not {capacity}")
        self._capacity = self._available = capacity
        self._waiters: deque[_Waiter] = deque()

    @property
    def available(self) -> int:
        """Tokens free right now."""
        return self._available

    @property
    def waiting(self) -> int:
        """Acquirers queued for tokens."""
        return len(self._waiters)

    async def acquire(self, n: int = 1) -> None:
        """Wait until ``n`` tokens are granted, in arrival order."""
        if not 1 <= n <= self._capacity:  # more than capacity would block everyone forever
            raise ValueError(f"acquire({n}) on a semaphore of {self._capacity} tokens")
        if not self._waiters and self._available >= n:  # nobody ahead: take them
            self._available -= n
            return
        waiter = _Waiter(n, asyncio.Event())
        self._waiters.append(waiter)
        try:
            await waiter.woken.wait()  # release() takes the tokens for us, then sets it
        except BaseException:  # cancelled while waiting: hold nothing, block nobody
            if waiter.woken.is_set():
                self.release(n)  # granted in the same step: give the tokens back
            else:
                self._waiters.remove(waiter)
                self._grant()  # it may have held back the ones behind it
            raise

    def release(self, n: int = 1) -> None:
        """Give back ``n`` tokens and wake, in order, every waiter they now satisfy."""
        if self._available + n > self._capacity:
            raise ValueError(f"release({n}) would free more tokens than were taken")
        self._available += n
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self._waiters[0].n <= self._available:
            waiter = self._waiters.popleft()
            self._available -= waiter.n
            waiter.woken.set()


class Group:
    """Coroutine functions started with ``go``, each as a task (Go ``errgroup``), used
    as ``async with Group() as g:``.

    ``g.ctx`` is a child of ``ctx`` (default ``background()``): the first exception a
    task raises cancels it, with that exception as its cause, which interrupts the other
    tasks; ``wait()`` and the block raise that exception itself, once every task has
    ended. ``limit`` bounds how many run at once: ``go`` waits for a free slot.
    """

    def __init__(self, ctx: Context | None = None, *, limit: int | None = None) -> None:
        self.ctx = (ctx if ctx is not None else background()).with_cancel()
        self._limit = None if limit is None else Semaphore(limit)
        self._error: BaseException | None = None
        self._running = 0
        self._idle = asyncio.Event()  # set while no task runs
        self._idle.set()

    async def __aenter__(self) -> Group:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        return self

    async def go(self, afn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``afn(*args)`` as a task, first waiting while ``limit`` run."""
        if self._limit is not None:
            await self._limit.acquire()
        self._tasks.create_task(self._run(afn, args))
        if not self._running:
            self._idle = asyncio.Event()
        self._running += 1

    async def wait(self) -> None:
        """Wait until no task runs, then raise the first error (Go ``Wait``)."""
        while self._running:
            await self._idle.wait()
        if self._error is not None:
            raise self._error

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None:
            self.ctx.cancel(exc)  # the body failed, or was cancelled: stop the tasks
        # A cancellation from outside is the TaskGroup's to handle; any other exception
        # of the body goes on once the tasks have ended (returning None lets it).
        outside = isinstance(exc, asyncio.CancelledError)
        await self._tasks.__aexit__(*((exc_type, exc, tb) if outside else (None, None, None)))
        self.ctx.cancel()  # the group is over: so is its context
        if exc is None and self._error is not None:
            raise self._error

    async def _run(self, afn: Callable[..., Awaitable[object]], args: tuple[Any, ...]) -> None:
        try:
            async with self.ctx.scope():  # g.ctx done: interrupted at the next await
                try:
                    await afn(*args)
                except BaseException as exc:  # BUG: catches the scope's own cancellation too
                    self._fail(exc)  # the task swallows it, and it becomes the group's error
        finally:
            if self._limit is not None:
                self._limit.release()  # a task that failed frees its slot too
            self._running -= 1
            if not self._running:
                self._idle.set()

    def _fail(self, exc: BaseException) -> None:
        """Keep the first error, and cancel ``g.ctx`` with it: the others stop."""
        if self._error is not None:
            return  # a later error never replaces the first
        self._error = exc
        self.ctx.cancel(exc)
