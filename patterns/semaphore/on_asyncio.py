"""Go's ``x/sync/semaphore`` on asyncio: a weighted, FIFO-fair semaphore.

``await acquire(n)`` suspends the task until ``n`` tokens are free and every earlier
waiter has been served; ``release(n)`` gives tokens back. Go counterpart:
``semaphore.Weighted``.

What asyncio does differently: a waiting task can be cancelled at its ``await``, so a
context needs no watching: the wait runs inside ``ctx.scope()``, and a cancelled task
(natively, or through its context) gives up its place in the queue, or the tokens if
they were granted in the same step. Unlike ``asyncio.Semaphore``, it is weighted and
refuses to release more than it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from patterns.context.on_asyncio import Context
from patterns.semaphore._weighted import Weighted

__all__ = ["Semaphore"]


class Semaphore(Weighted):
    """A weighted semaphore with ``capacity`` tokens (Go ``semaphore.NewWeighted``).

    ``n`` must be between 1 and ``capacity`` in every method (``ValueError`` at once:
    Go would block forever on ``n > capacity``). ``capacity``, ``available``,
    ``waiting`` and ``statistics()`` describe it; ``try_acquire`` and ``release`` are
    in :class:`~patterns.semaphore._weighted.Weighted`.

    >>> import asyncio
    >>> async def main():
    ...     sem = Semaphore(3)
    ...     async with sem.hold(2):
    ...         print(sem.available)
    >>> asyncio.run(main())
    1
    """

    _lock = contextlib.nullcontext()  # one thread, one loop: nothing to guard

    async def acquire(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Wait until ``n`` tokens are granted, in arrival order (Go ``Acquire``).

        If ``ctx`` is done first, or already, raise ``ctx.err`` holding nothing; if the
        task is cancelled, ``CancelledError`` propagates, likewise holding nothing.
        """
        self._check(n)
        if ctx is not None:
            ctx.check()
        if self._take(n):
            return
        woken = asyncio.Event()
        waiter = self._enqueue(n, woken.set)
        try:
            async with ctx.scope() if ctx is not None else contextlib.nullcontext():
                await woken.wait()
        except BaseException:  # cancelled, natively or through ctx
            self._abandon(waiter)
            raise
        if ctx is not None and ctx.done:  # granted as it ended: Go gives it back too
            self._abandon(waiter)
            ctx.check()

    @asynccontextmanager
    async def hold(self, n: int = 1, *, ctx: Context | None = None) -> AsyncIterator[None]:
        """``async with sem.hold(n):`` acquires ``n`` tokens, releases them on the way out."""
        await self.acquire(n, ctx=ctx)
        try:
            yield
        finally:
            self.release(n)
