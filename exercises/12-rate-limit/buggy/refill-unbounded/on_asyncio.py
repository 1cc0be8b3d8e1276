"""Chapter 12, asyncio: a token bucket, Go's ``golang.org/x/time/rate``.

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

import asyncio
import contextlib
import math

from patterns.context import DeadlineExceeded
from patterns.context.on_asyncio import Context

__all__ = ["Limiter"]


class Limiter:
    """``rate`` tokens a second, at most ``burst`` of them, full at the start (Go
    ``rate.NewLimiter``)."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)  # as of self._last
        self._last: float | None = None  # when _tokens was counted; None: never, full
        self._last_event = -math.inf  # the latest time any wait may act

    def _advance(self, now: float) -> float:
        """The tokens at ``now``: refilled since ``_last``, never past the burst."""
        if self._last is None:
            return self._tokens
        return self._tokens + (now - self._last) * self.rate  # BUG: no cap at the burst

    @property
    def tokens(self) -> float:
        """Tokens there now; negative while waiters are owed some."""
        return self._advance(asyncio.get_running_loop().time())

    def allow(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are there now (Go ``AllowN``)."""
        now = asyncio.get_running_loop().time()
        tokens = self._advance(now) - n
        if n > self.burst or tokens < 0:
            return False
        self._tokens, self._last = tokens, now
        return True

    async def wait(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Wait until ``n`` tokens are taken, first come, first served (Go ``WaitN``)."""
        if n > self.burst:
            raise ValueError(f"n={n} exceeds the burst {self.burst}: it would wait forever")
        if ctx is not None:
            ctx.check()
        now = asyncio.get_running_loop().time()
        tokens = self._advance(now) - n
        act_at = now if tokens >= 0 else now - tokens / self.rate  # when the debt is paid
        if ctx is not None and ctx.deadline is not None and act_at >= ctx.deadline:
            raise DeadlineExceeded(f"wait(n={n}) would exceed the context's deadline")
        self._tokens, self._last, self._last_event = tokens, now, act_at
        if act_at <= now:
            return  # the tokens are there: no sleep
        loop = asyncio.get_running_loop()
        try:
            async with ctx.scope() if ctx is not None else contextlib.nullcontext():
                while (left := act_at - loop.time()) > 0:  # a timer may fire a hair early
                    await asyncio.sleep(left)
        except BaseException:  # cancelled, natively or through ctx
            self._give_back(n, act_at, asyncio.get_running_loop().time())
            raise

    def _give_back(self, n: int, act_at: float, now: float) -> None:
        """Return a cancelled wait's tokens, but not those later waits were counted
        against: their times are fixed already (Go ``Reservation.CancelAt``)."""
        if act_at < now:
            return  # its time had come: the tokens were its own
        restore = n - self.rate * (self._last_event - act_at)
        if restore <= 0:
            return
        self._tokens, self._last = min(float(self.burst), self._advance(now) + restore), now
        if act_at == self._last_event:
            self._last_event = max(now, act_at - n / self.rate)
