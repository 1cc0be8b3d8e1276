"""Go's ``x/time/rate`` on OS threads: a token bucket on ``time.monotonic()``.

``wait(n)`` blocks the calling thread until its ``n`` tokens come, in arrival order;
``allow(n)`` takes them only if they are there now; ``reserve(n)`` takes them ahead
and says how long to wait. Go counterpart: ``rate.Limiter``.

What threads do differently: a sleeping thread cannot be interrupted, so a waiter
watches its context itself. It sleeps in ``ctx.wait(timeout)``, the time until its
tokens as the timeout, which a cancel or the deadline ends early: Go's ``select`` on a
timer and ``ctx.Done()``. A wait that ends early gives its reservation back, unless
its time came first: then the tokens are its own, as when Go's timer wins the race.
Nothing in the standard library limits a rate; one lock guards the bucket.
"""

from __future__ import annotations

import threading
import time

from patterns.context.on_threads import Context
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

    >>> limiter = Limiter(10, burst=2)
    >>> limiter.allow(), limiter.allow(), limiter.allow()
    (True, True, False)
    >>> limiter.wait()  # 0.1 s: the next token
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        super().__init__(rate, burst)
        self._lock = threading.Lock()

    def _now(self) -> float:
        return time.monotonic()

    def wait(self, n: int = 1, *, ctx: Context | None = None) -> None:
        """Block until ``n`` tokens are taken, first come, first served (Go ``WaitN``).

        If ``ctx`` is done first, or already, raise ``ctx.err`` holding nothing. If its
        deadline comes before the tokens would, raise ``DeadlineExceeded`` at once,
        without waiting. ``ValueError`` for ``n > burst`` unless the rate is
        ``math.inf``; at rate 0, a wait beyond what is left raises ``DeadlineExceeded``
        at once, as Go's does: no deadline is far enough.
        """
        self._check(n)
        if ctx is not None:
            ctx.check()
        grant = self._reserve_before(n, None if ctx is None else ctx.deadline)
        if not grant.delay:  # the tokens are there: no sleep
            return
        try:
            while (left := grant.act_at - time.monotonic()) > 0:
                if ctx is None:
                    time.sleep(left)
                elif ctx.wait(left) and self._give_back(grant):
                    ctx.check()  # done before the tokens came: they went back
        except BaseException:  # KeyboardInterrupt in the main thread (and ctx.err from
            self._give_back(grant)  # just above, for which a second give-back is a no-op)
            raise
