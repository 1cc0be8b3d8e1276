"""Chapter 12, trio: a token bucket, Go's ``golang.org/x/time/rate``.

::

    lim := rate.NewLimiter(5, 2)   // 5 tokens a second, at most 2 at once
    if lim.Allow() { ... }         // a token now, or no
    err := lim.WaitN(ctx, 1)       // a token as soon as it comes, within ctx

becomes::

    lim = Limiter(5, burst=2)
    if lim.allow(): ...
    await lim.wait(1, ctx=ctx)

Go's arithmetic: a wait takes its tokens at once, in debt if need be (the count goes
negative), and sleeps until the debt is paid. Its time is fixed when it arrives, so
waiters are served in arrival order and ``allow`` cannot take what they are owed.
"""

from __future__ import annotations

import contextlib  # noqa: F401  (nullcontext, for a wait without a ctx)
import math

import trio  # noqa: F401  (its clock, and its sleep)

from patterns.context import DeadlineExceeded  # noqa: F401  (task 3)
from patterns.context.on_trio import Context

__all__ = ["Limiter"]


class Limiter:
    """``rate`` tokens a second, at most ``burst`` of them, full at the start (Go
    ``rate.NewLimiter``). The clock is ``trio.current_time()``."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)  # as of self._last
        self._last: float | None = None  # when _tokens was counted; None: never, full
        self._last_event = -math.inf  # the latest time any wait may act

    @property
    def tokens(self) -> float:
        """Tokens there now; negative while waiters are owed some (the tests read it)."""
        # TODO (task 1): the tokens as of self._last, plus what came at self.rate since,
        # never more than self.burst.
        raise NotImplementedError("task 1: tokens should count the bucket")

    def allow(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are there now (Go ``AllowN``)."""
        # TODO (task 1): bring the count up to date; take n if there are n, and say so.
        raise NotImplementedError("task 1: allow(n) should take n tokens if they are there")

    async def wait(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Wait until ``n`` tokens are taken, first come, first served (Go ``WaitN``)."""
        # TODO (task 2): take the n tokens now, in debt if need be (the count may go
        # negative), and sleep until the debt is paid: act_at = now + debt / rate.
        # ValueError for n > burst: those tokens would never be there at once.
        # TODO (task 3): a done ctx raises its error; a deadline before act_at raises
        # DeadlineExceeded at once, taking nothing. Sleep with trio.sleep_until(act_at)
        # inside 'with ctx.scope():'.
        # TODO (task 4): a wait cancelled before act_at gives its tokens back.
        raise NotImplementedError("task 2: wait(n) should take n tokens as they come")
