"""Go's ``x/sync/semaphore`` on trio: a weighted, FIFO-fair semaphore.

``await acquire(n)`` suspends the task until ``n`` tokens are free and every earlier
waiter has been served; ``release(n)`` gives tokens back. Go counterpart:
``semaphore.Weighted``.

What trio does differently: cancellation is built in, so the wait runs inside
``ctx.scope()`` (a cancel scope) and a cancelled waiter gives up its place, or the
tokens granted in the same step. Like every trio primitive, ``acquire`` is a
checkpoint even when it does not wait. trio's ``CapacityLimiter`` is the closest
native tool, but it is not weighted: each borrower holds exactly one token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from patterns.context.on_trio import Context
from patterns.semaphore._weighted import Weighted

__all__ = ["Semaphore"]


class Semaphore(Weighted):
    """A weighted semaphore with ``capacity`` tokens (Go ``semaphore.NewWeighted``).

    ``n`` must be between 1 and ``capacity`` in every method (``ValueError`` at once:
    Go would block forever on ``n > capacity``). ``capacity``, ``available``,
    ``waiting`` and ``statistics()`` describe it; ``try_acquire`` and ``release`` are
    in :class:`~patterns.semaphore._weighted.Weighted`.

    >>> import trio
    >>> async def main():
    ...     sem = Semaphore(3)
    ...     async with sem.hold(2):
    ...         print(sem.available)
    >>> trio.run(main)
    1
    """

    _lock = contextlib.nullcontext()  # one thread, one run: nothing to guard

    async def acquire(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Wait until ``n`` tokens are granted, in arrival order (Go ``Acquire``).

        If ``ctx`` is done first, or already, raise ``ctx.err`` holding nothing; if an
        enclosing cancel scope is cancelled, ``trio.Cancelled`` propagates, likewise
        holding nothing.
        """
        self._check(n)
        if ctx is not None:
            ctx.check()
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._take(n):
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        woken = trio.Event()
        waiter = self._enqueue(n, woken.set)
        try:
            with ctx.scope() if ctx is not None else contextlib.nullcontext():
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
