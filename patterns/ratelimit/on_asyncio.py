"""Go's ``x/time/rate`` on asyncio: a token bucket on the event loop's clock.

``await wait(n)`` suspends the task until its ``n`` tokens come, in arrival order;
``allow(n)`` takes them only if they are there now; ``reserve(n)`` takes them ahead
and says how long to wait. Go counterpart: ``rate.Limiter``.

What asyncio does differently: a sleeping task can be cancelled at its ``await``, so a
context needs no watching: the sleep runs inside ``ctx.scope()``, and a wait cancelled
before its time (natively, or through its context) gives its reservation back. The
clock is ``loop.time()``. ``aiolimiter`` is the closest tool outside the standard
library: a leaky bucket whose waiters queue for capacity and are woken to try again,
where here each waiter's time is fixed when it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from patterns.context.on_asyncio import Context
from patterns.ratelimit._bucket import LimiterCore

__all__ = ["Limiter"]


class Limiter(LimiterCore):
    """A token bucket: ``rate`` tokens a second, at most ``burst``, full at the start
    (Go ``rate.NewLimiter``).

    ``rate`` may be ``math.inf`` (no limit) or 0 (the burst, then nothing). Waiters are
    served first come, first served, by construction: each one's time is fixed when it
    reserves, behind every reservation before it, and ``allow`` never takes tokens that
    waiters are owed. ``allow``, ``reserve``, ``tokens``, ``rate``, ``burst``,
    ``set_rate`` and ``set_burst`` are in :class:`~patterns.ratelimit._bucket.LimiterCore`.

    >>> import asyncio
    >>> async def main():
    ...     limiter = Limiter(10, burst=2)
    ...     print(limiter.allow(), limiter.allow(), limiter.allow())
    ...     await limiter.wait()  # 0.1 s: the next token
    >>> asyncio.run(main())
    True True False
    """

    _lock = contextlib.nullcontext()  # one thread, one loop: nothing to guard

    def _now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:  # outside a loop: the clock asyncio's default loop uses
            return time.monotonic()

    async def wait(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Wait until ``n`` tokens are taken, first come, first served (Go ``WaitN``).

        If ``ctx`` is done first, or already, raise ``ctx.err`` holding nothing; if the
        task is cancelled, ``CancelledError`` propagates, likewise holding nothing. If
        ``ctx``'s deadline comes before the tokens would, raise ``DeadlineExceeded`` at
        once, without waiting. ``ValueError`` for ``n > burst`` unless the rate is
        ``math.inf``; at rate 0, a wait beyond what is left raises ``DeadlineExceeded``
        at once, as Go's does: no deadline is far enough. Like ``asyncio.Semaphore``,
        it does not suspend when the tokens are there.
        """
        self._check(n)
        if ctx is not None:
            ctx.check()
        grant = self._reserve_before(n, None if ctx is None else ctx.deadline)
        if not grant.delay:  # the tokens are there: no sleep
            return
        loop = asyncio.get_running_loop()
        try:
            async with ctx.scope() if ctx is not None else contextlib.nullcontext():
                # A timer may fire a hair early (the loop's clock resolution): look again.
                while (left := grant.act_at - loop.time()) > 0:
                    await asyncio.sleep(left)
        except BaseException:  # cancelled, natively or through ctx
            self._give_back(grant)
            raise
