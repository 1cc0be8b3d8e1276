"""Go's ``x/time/rate`` on trio: a token bucket on trio's clock.

``await wait(n)`` suspends the task until its ``n`` tokens come, in arrival order;
``allow(n)`` takes them only if they are there now; ``reserve(n)`` takes them ahead
and says how long to wait. Go counterpart: ``rate.Limiter``.

What trio does differently: cancellation is built in, so the sleep runs inside
``ctx.scope()`` (a cancel scope whose deadline is the context's), and a wait cancelled
before its time gives its reservation back. The clock is ``trio.current_time()``, so
``trio.testing.MockClock`` makes a rate instant in tests. Like every trio primitive,
``wait`` is a checkpoint even when it does not sleep. trio has no rate limiter of its
own; ``CapacityLimiter`` bounds how many run at once, not how often they start.
"""

from __future__ import annotations

import contextlib

import trio

from patterns.context.on_trio import Context
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

    >>> import trio
    >>> async def main():
    ...     limiter = Limiter(10, burst=2)
    ...     print(limiter.allow(), limiter.allow(), limiter.allow())
    ...     await limiter.wait()  # 0.1 s: the next token
    >>> trio.run(main)
    True True False
    """

    _lock = contextlib.nullcontext()  # one thread, one run: nothing to guard

    def _now(self) -> float:
        return trio.current_time()

    async def wait(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Wait until ``n`` tokens are taken, first come, first served (Go ``WaitN``).

        If ``ctx`` is done first, or already, raise ``ctx.err`` holding nothing; if an
        enclosing cancel scope is cancelled, ``trio.Cancelled`` propagates, likewise
        holding nothing. If ``ctx``'s deadline comes before the tokens would, raise
        ``DeadlineExceeded`` at once, without waiting. ``ValueError`` for ``n > burst``
        unless the rate is ``math.inf``; at rate 0, a wait beyond what is left raises
        ``DeadlineExceeded`` at once, as Go's does: no deadline is far enough.
        """
        self._check(n)
        if ctx is not None:
            ctx.check()
        await trio.lowlevel.checkpoint_if_cancelled()
        grant = self._reserve_before(n, None if ctx is None else ctx.deadline)
        if not grant.delay:  # the tokens are there: no sleep, but still a checkpoint
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        try:
            with ctx.scope() if ctx is not None else contextlib.nullcontext():
                await trio.sleep_until(grant.act_at)
        except BaseException:  # cancelled, natively or through ctx
            self._give_back(grant)
            raise
