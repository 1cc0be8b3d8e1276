"""The arithmetic of a token bucket, shared by every runtime (neutral).

This is Go's ``rate.go`` without the clock and without the waiting: :class:`Bucket`
is the state (``tokens`` as of ``last``, and ``last_event``, the latest time any
reservation may act), and every method is handed ``now``, so that a test can drive it
with any clock it likes. :class:`LimiterCore` puts a clock and a lock around it: each
runtime's ``Limiter`` subclasses it, supplies ``_now`` (its clock) and ``_lock`` (a real
one only for threads), and writes ``wait``, the one member that sleeps.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

from patterns.context import DeadlineExceeded
from patterns.ratelimit import Reservation


@dataclass(slots=True, eq=False)
class Grant:
    """One reservation as the bucket keeps it (Go's ``Reservation`` minus its limiter):
    whether it is ``ok``, the ``n`` tokens it holds (0 once given back, and at an
    unlimited rate, where it takes none), when it may act (``act_at``) and how long
    after its reserving that is (``delay``: ``math.inf`` if not ``ok``), and the
    ``rate`` it was reserved at, which a cancel counts with."""

    ok: bool
    n: int
    act_at: float
    delay: float
    rate: float


def check_rate(rate: float) -> float:
    if not rate >= 0:  # also refuses nan
        raise ValueError(f"rate must be a number of tokens per second >= 0, not {rate!r}")
    return float(rate)


def check_burst(burst: int) -> int:
    if not (isinstance(burst, int) and burst >= 0):
        raise ValueError(f"burst must be a whole number of tokens >= 0, not {burst!r}")
    return burst


class Bucket:
    """Tokens that come at ``rate`` a second, at most ``burst`` of them, full at the
    start (Go's ``Limiter`` minus its mutex and its clock). ``rate`` may be ``math.inf``
    (no limit: every reservation acts at once) or 0 (the burst, then nothing)."""

    __slots__ = ("burst", "last", "last_event", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = check_rate(rate)
        self.burst = check_burst(burst)
        self.tokens = float(burst)
        # No clock yet (a trio limiter may be made outside trio.run): a full bucket as
        # of the beginning of time is full whenever it is first looked at.
        self.last = -math.inf  # when ``tokens`` was brought up to date
        self.last_event = -math.inf  # the latest time to act of any reservation

    def advance(self, now: float) -> float:
        """The tokens there would be at ``now``: refilled since ``last``, never past
        ``burst``. Changes nothing (Go ``advance``)."""
        if self.rate == math.inf:
            return float(self.burst)
        gained = (now - self.last) * self.rate if now > self.last and self.rate else 0.0
        return min(float(self.burst), self.tokens + gained)

    def reserve(self, now: float, n: int, *, act_by: float = math.inf) -> Grant:
        """Take ``n`` tokens at ``now``, in debt if need be, if they can be had by
        ``act_by`` (Go ``reserveN``); a grant that is not ``ok`` takes nothing.

        ``act_by=now`` is ``allow``: now or never. The count goes negative when
        tokens are promised ahead; the grant's ``act_at`` is when the debt is paid.
        """
        if self.rate == math.inf:
            return Grant(True, 0, now, 0.0, self.rate)
        tokens = self.advance(now) - n
        delay = 0.0 if tokens >= 0 else self.seconds_for(-tokens)
        if n > self.burst or now + delay > act_by or delay == math.inf:
            return Grant(False, 0, math.inf, math.inf, self.rate)
        self.last, self.tokens, self.last_event = now, tokens, now + delay
        return Grant(True, n, now + delay, delay, self.rate)

    def seconds_for(self, tokens: float) -> float:
        """How long ``tokens`` take to come at ``rate``: never, at rate 0 (Go
        ``durationFromTokens``)."""
        return tokens / self.rate if self.rate else math.inf

    def cancel(self, grant: Grant, now: float) -> bool:
        """Give back what ``grant`` holds at ``now`` (Go ``CancelAt``); return whether
        it was still pending, that is, its time had not passed.

        Only what no later reservation was counted against comes back: their times are
        fixed already, and were computed as if these tokens were gone. A grant whose
        time has passed is used, and gives back nothing; nor does a second cancel.
        """
        n, grant.n = grant.n, 0
        if grant.act_at < now:
            return False
        if n == 0 or self.rate == math.inf:
            return True
        restore = n - grant.rate * (self.last_event - grant.act_at)
        if restore <= 0:
            return True
        self.tokens = min(float(self.burst), self.advance(now) + restore)
        self.last = now
        if grant.act_at == self.last_event and grant.rate:
            # It was the last reservation: the latest time to act goes back to the one
            # before it, unless that one has passed.
            previous = grant.act_at - n / grant.rate
            if previous >= now:
                self.last_event = previous
        return True

    def set_rate(self, now: float, rate: float) -> None:
        """From ``now`` on, tokens come at ``rate`` (Go ``SetLimitAt``). Reservations
        made before keep their times."""
        self.tokens, self.last = self.advance(now), now
        self.rate = check_rate(rate)

    def set_burst(self, now: float, burst: int) -> None:
        """From ``now`` on, at most ``burst`` tokens (Go ``SetBurstAt``)."""
        self.tokens, self.last = self.advance(now), now
        self.burst = check_burst(burst)


class LimiterCore:
    """A :class:`Bucket` on a runtime's clock: everything of ``Limiter`` but ``wait``.

    The clock is read inside the lock, so that the times handed to the bucket never go
    backwards, whichever thread gets the lock first.
    """

    _lock: AbstractContextManager[Any]  # a real lock only where threads share it

    def __init__(self, rate: float, burst: int = 1) -> None:
        self._bucket = Bucket(rate, burst)

    def _now(self) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"<{type(self).__module__}.Limiter rate={self.rate:g}/s "
                f"burst={self.burst} tokens={self.tokens:.3g}>")

    @property
    def rate(self) -> float:
        """Tokens a second (``math.inf``: no limit) (Go ``Limit``)."""
        return self._bucket.rate

    @property
    def burst(self) -> int:
        """The most tokens the bucket holds (Go ``Burst``)."""
        return self._bucket.burst

    @property
    def tokens(self) -> float:
        """Tokens there now; negative while reservations wait for theirs (Go
        ``Tokens``). ``burst`` at an unlimited rate."""
        with self._lock:
            return self._bucket.advance(self._now())

    def set_rate(self, rate: float) -> None:
        """Tokens come at ``rate`` from now on; reservations made already keep their
        times (Go ``SetLimit``). ``ValueError`` for a negative rate."""
        with self._lock:
            self._bucket.set_rate(self._now(), rate)

    def set_burst(self, burst: int) -> None:
        """The bucket holds at most ``burst`` tokens from now on (Go ``SetBurst``)."""
        with self._lock:
            self._bucket.set_burst(self._now(), burst)

    def allow(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are there now, and say whether it did (Go
        ``AllowN``). Never while others wait for tokens: their debt makes the count
        negative. ``False`` for ``n > burst`` (unless the rate is ``math.inf``)."""
        _check_positive(n)
        with self._lock:
            now = self._now()
            return self._bucket.reserve(now, n, act_by=now).ok

    def reserve(self, n: int = 1) -> Reservation:
        """Take ``n`` tokens now, in debt if need be, and say when the holder may act
        (Go ``ReserveN``): wait ``delay`` seconds, or ``cancel()``. ``ValueError`` for
        ``n > burst`` (unless the rate is ``math.inf``): it could never be paid. At rate
        0, a reservation beyond what is left is not ``ok``."""
        self._check(n)
        with self._lock:
            grant = self._bucket.reserve(self._now(), n)
        return Reservation(grant.ok, grant.delay, partial(self._give_back, grant))

    # -- for the runtime modules' wait ------------------------------------------------------

    def _check(self, n: int) -> None:
        _check_positive(n)
        if n > self._bucket.burst and self._bucket.rate != math.inf:
            raise ValueError(
                f"{self!r}: n={n} exceeds the burst {self._bucket.burst}: the bucket never "
                "holds that many (Go's WaitN returns an error)")

    def _reserve_before(self, n: int, deadline: float | None) -> Grant:
        """Reserve ``n`` tokens for a wait that must end before ``deadline``; raise
        ``DeadlineExceeded`` at once, taking nothing, if they would come too late
        (Go's ``WaitN`` does the same: no sense waiting for a deadline to pass)."""
        # Strictly before: tokens that come at the deadline itself would be a sleep
        # that the deadline ends, with nothing to show for it.
        act_by = math.inf if deadline is None else math.nextafter(deadline, -math.inf)
        with self._lock:
            grant = self._bucket.reserve(self._now(), n, act_by=act_by)
        if not grant.ok:
            raise DeadlineExceeded(
                f"rate: wait(n={n}) would exceed the context's deadline" if deadline is not None
                else f"rate: wait(n={n}) can never be served: rate 0, and the burst is spent")
        return grant

    def _give_back(self, grant: Grant) -> bool:
        """Cancel ``grant`` now; ``True`` if its time had not come (see Bucket.cancel)."""
        with self._lock:
            return self._bucket.cancel(grant, self._now())


def _check_positive(n: int) -> None:
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be a whole number of tokens >= 1, not {n!r}")
