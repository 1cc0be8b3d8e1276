"""Chapter 12, threads: a token bucket, Go's ``golang.org/x/time/rate``.

::

    lim := rate.NewLimiter(5, 2)   // 5 tokens a second, at most 2 at once
    if lim.Allow() { ... }         // a token now, or no
    err := lim.WaitN(ctx, 1)       // a token as soon as it comes, within ctx

becomes::

    lim = Limiter(5, burst=2)
    if lim.allow(): ...
    lim.wait(1, ctx=ctx)

Go's arithmetic: a wait takes its tokens at once, in debt if need be (the count goes
negative), and sleeps until the debt is paid. Its time is fixed when it arrives, so
waiters are served in arrival order and ``allow`` cannot take what they are owed.
"""

from __future__ import annotations

import math
import threading
import time

from patterns.context import DeadlineExceeded
from patterns.context.on_threads import Context

__all__ = ["Limiter"]


class Limiter:
    """``rate`` tokens a second, at most ``burst`` of them, full at the start (Go
    ``rate.NewLimiter``)."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)  # as of self._last
        self._last: float | None = None  # when _tokens was counted; None: never, full
        self._last_event = -math.inf  # the latest time any wait may act
        self._lock = threading.Lock()  # threads share the bucket

    def _advance(self, now: float) -> float:
        """The tokens at ``now``: refilled since ``_last``, never past the burst."""
        if self._last is None:
            return self._tokens
        return min(float(self.burst), self._tokens + (now - self._last) * self.rate)

    @property
    def tokens(self) -> float:
        """Tokens there now; negative while waiters are owed some."""
        with self._lock:
            return self._advance(time.monotonic())

    def allow(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are there now (Go ``AllowN``)."""
        with self._lock:
            now = time.monotonic()
            tokens = self._advance(now) - n
            if n > self.burst or tokens < 0:
                return False
            self._tokens, self._last = tokens, now
            return True

    def wait(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Wait until ``n`` tokens are taken, first come, first served (Go ``WaitN``)."""
        if n > self.burst:
            raise ValueError(f"n={n} exceeds the burst {self.burst}: it would wait forever")
        if ctx is not None:
            ctx.check()
        with self._lock:
            now = time.monotonic()
            tokens = self._advance(now) - n
            act_at = now if tokens >= 0 else now - tokens / self.rate  # the debt paid
            if ctx is not None and ctx.deadline is not None and act_at >= ctx.deadline:
                raise DeadlineExceeded(f"wait(n={n}) would exceed the context's deadline")
            self._tokens, self._last, self._last_event = tokens, now, act_at
        # A thread cannot be interrupted: it watches ctx, with the time left as timeout.
        while (left := act_at - time.monotonic()) > 0:
            if ctx is None:
                time.sleep(left)
            elif ctx.wait(left) and self._give_back(n, act_at, time.monotonic()):
                ctx.check()  # done before the tokens came: they went back

    def _give_back(self, n: int, act_at: float, now: float) -> bool:
        """Return a cancelled wait's tokens, but not those later waits were counted
        against: their times are fixed already (Go ``Reservation.CancelAt``). ``False``
        if its time had come: then the tokens are its own."""
        with self._lock:
            if act_at < now:
                return False
            restore = n - self.rate * (self._last_event - act_at)
            if restore > 0:
                self._tokens = min(float(self.burst), self._advance(now) + restore)
                self._last = now
                if act_at == self._last_event:
                    self._last_event = max(now, act_at - n / self.rate)
            return True
