"""Go's ``golang.org/x/time/rate``: a token bucket that spaces events out in time.

A limiter holds up to ``burst`` tokens and gains ``rate`` of them a second; an event
takes ``n``. ``allow(n)`` takes them if they are there now, ``wait(n)`` takes them as
soon as they come, and ``reserve(n)`` takes them ahead and says how long to wait.
``on_threads``, ``on_asyncio`` and ``on_trio`` each define ``Limiter`` with the same
members, on the runtime's own clock; they differ only in how a wait sleeps and how a
cancelled wait is noticed.

The arithmetic is Go's (:mod:`patterns.ratelimit._bucket`): the bucket never waits
for anyone; a reservation is a debt. Taking ``n`` tokens subtracts them at once, the
count may go negative, and the reservation's time to act is when the debt would be
paid off at ``rate``. That makes the limiter first come, first served by
construction: each waiter's time is fixed when it arrives, behind every debt before
it, and nobody who comes later can take tokens owed to it (``allow`` sees a negative
count and says no). Nothing moves a time once it is fixed: a cancelled reservation
gives back what no later one was counted against, which a newcomer may use at once
while those queued behind keep their times, and ``set_rate`` and ``set_burst`` apply
to reservations still to come. Nobody is ever served later for someone who came
after it.

This package holds what needs no runtime: :func:`parse_rate` for rates written as
text, and :class:`Reservation`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from patterns.runtimes import runtime_modules

__all__ = ["Reservation", "parse_rate"]

_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(?:/([smh]))?")


def parse_rate(text: str) -> float:
    """Events per second from ``"50/s"``, ``"3/m"``, ``"10/h"`` or a bare ``"2.5"``
    (per second). Go has no such parser: its ``rate.Limit`` is a number, and
    ``rate.Every(time.Minute / 3)`` spells "three a minute".

    Anything else, zero and ``inf`` too, is a :class:`ValueError` that names the text:
    a rate read from a flag or a file is a number of events in a unit of time, and a
    limiter that lets nothing through (or everything) is better asked for in code.

    >>> parse_rate("50/s"), parse_rate("3/m"), parse_rate("2.5")
    (50.0, 0.05, 2.5)
    >>> parse_rate("fast")
    Traceback (most recent call last):
    ...
    ValueError: 'fast' is not a rate: write N/s, N/m, N/h or a number per second
    """
    match = _RATE.fullmatch(text.strip())
    count = float(match.group(1)) if match else 0.0
    if match is None or count == 0:
        raise ValueError(f"{text!r} is not a rate: write N/s, N/m, N/h or a number per second")
    return count / _PER[match.group(2) or "s"]


class Reservation:
    """Tokens taken ahead of time (Go ``rate.Reservation``), from ``Limiter.reserve``.

    ``ok`` says whether the limiter could promise them at all (not at rate 0 once the
    burst is spent); ``delay`` is how many seconds after the reserving the holder may
    act, fixed then (``0.0``: at once; ``math.inf`` if not ``ok``). ``cancel()`` gives
    them back, as far as Go's arithmetic allows: tokens that later reservations were
    counted against stay taken, and a reservation whose time has come is used.
    """

    __slots__ = ("_give_back", "delay", "ok")

    def __init__(self, ok: bool, delay: float, give_back: Callable[[], object]) -> None:
        self.ok = ok
        self.delay = delay if ok else math.inf
        self._give_back = give_back

    def __repr__(self) -> str:
        return f"<Reservation ok={self.ok} delay={self.delay:.6g}>"

    def cancel(self) -> None:
        """Give back what this reservation took that no later one was counted against,
        unless its time has come (Go ``Cancel``). A second ``cancel()`` does nothing
        (Go's would give back again)."""
        self._give_back()


__getattr__ = runtime_modules(__name__)
