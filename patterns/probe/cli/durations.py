"""Durations as Go writes them, for every flag that takes seconds: ``5s``, ``250ms``,
``1m30s``, ``1h``, ``1.5s``, or a bare number of seconds as before.

Go counterpart: ``time.ParseDuration``, which Go's ``flag.Duration`` reads, so that
``--timeout 5s`` means here what it means to the Go tools an operator already runs
(Prometheus's ``scrape_timeout: 5s``, the blackbox exporter's flags). One difference,
kept on purpose: Go wants a unit after every number but ``0``; here a bare number is
seconds, as these flags always took.

Written here rather than taken from a library, though it is a parser: ``durationpy``
(the one on PyPI that reads Go's durations) also reads ``d``, ``w``, ``mm`` and ``y``,
which Go refuses, and keeps a ``timedelta``'s microseconds, so ``1500ns`` becomes 2 us
and ``1ns`` zero. Go's grammar is one regular expression and a table of units, below;
the tests hold it to Go's own answers.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["MAX_SECONDS", "UNITS", "parse_duration"]

UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU: Go takes both
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
"""Each unit Go's ``time.ParseDuration`` knows, in nanoseconds."""

MAX_SECONDS = (2**63 - 1) / 1e9
"""The longest duration Go can hold (an ``int64`` of nanoseconds: about 292 years); a
longer one is refused, as Go refuses it."""

# A number is digits with an optional fraction (5, 5., 5.25) or a bare fraction (.5).
# The units are tried longest first, so "1ms" is never read as a minute and an "s".
_NUMBER = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
_UNIT = "|".join(sorted(UNITS, key=len, reverse=True))
_TERM = re.compile(f"({_NUMBER})({_UNIT})")
_DURATION = re.compile(f"([-+]?)(?:({_NUMBER})|((?:{_NUMBER}(?:{_UNIT}))+))")


def parse_duration(text: str) -> float:
    """Seconds from a Go duration, ``text``: an optional sign, then one or more numbers
    each with a unit (``ns``, ``us`` or ``µs``, ``ms``, ``s``, ``m``, ``h``), added up;
    or an optional sign and a bare number, which is seconds.

    Zero and negative durations are durations (Go's are too): a caller that needs a
    positive one says so. Anything else (no unit after a number, an unknown unit,
    spaces, ``inf``, ``nan``) and anything past :data:`MAX_SECONDS` is a
    :class:`ValueError` that quotes ``text``.

    >>> [parse_duration(text) for text in ("5s", "250ms", "1m30s", "1h", "1.5s", "2")]
    [5.0, 0.25, 90.0, 3600.0, 1.5, 2.0]
    >>> parse_duration("1500ns"), parse_duration("-1m")
    (1.5e-06, -60.0)
    >>> parse_duration("5x")
    Traceback (most recent call last):
    ...
    ValueError: '5x' is not a duration: write 5s, 250ms, 1m30s or a number of seconds
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write 5s, 250ms, 1m30s or a number "
                         f"of seconds")
    sign, bare, terms = match.groups()
    # Added up in nanoseconds, as Go does, and in decimal, so that 1500ns is 1.5e-06
    # exactly as written rather than a float's nearest sum.
    if bare is not None:
        nanoseconds = Decimal(bare) * UNITS["s"]
    else:
        nanoseconds = sum((Decimal(number) * UNITS[unit]
                           for number, unit in _TERM.findall(terms)), Decimal(0))
    seconds = float(nanoseconds / UNITS["s"])
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is out of range: a duration ends at about 292 years")
    return -seconds if sign == "-" else seconds
