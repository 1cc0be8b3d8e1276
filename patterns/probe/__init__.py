"""The probe workload: ask every host of a fleet one question, a bounded number at a time.

A probe asks one :class:`Target` one question (does it accept a TCP connection, answer
``GET`` with the expected status and body, echo a ping) under one deadline, and ends as
a :class:`ProbeResult` with exactly one of eleven :data:`OUTCOMES`; a scan runs many probes
through a worker pool. Go counterpart: none in the library; it is the health checker
every Go shop writes, ``net.DialTimeout`` and ``http.Get`` fanned out over a worker pool.

This package is the runtime-neutral core, which does no I/O of its own:

- :mod:`patterns.probe.targets`: :class:`Target` and the hosts file (:func:`parse_targets`);
- :mod:`patterns.probe.http`: the HTTP/1.1 exchange on ``h11``, sans-IO: bytes in,
  bytes out, a verdict at the end; the drivers only move the bytes;
- :mod:`patterns.probe.tls`: what an ``https`` probe trusts (``TlsConfig``), and the
  TLS session that carries the HTTP exchange, sans-IO too (``ssl.MemoryBIO``);
- :mod:`patterns.probe.icmp`: ICMP echo packets, and the socket to send them on;
- :mod:`patterns.probe.schedule`: the two yardsticks of a scan, :func:`ideal_makespan`
  and :func:`lower_bound`;
- :func:`outcome_for`: the one mapping from an exception to an outcome, shared by all
  three drivers so that a refused connection is ``refused`` in every runtime.

``on_threads``, ``on_asyncio`` and ``on_trio`` each do the I/O and define
``probe(ctx, target, *, tls=None)`` and ``scan(targets, *, workers, timeout, tls=None)``
(``tls``: a ``TlsConfig``; ``None`` trusts the system's store); only the one you name
is imported. The deadline is one for the whole probe (connect, TLS handshake, send,
every read), taken from the probe's context, never a timeout per ``recv``: a host that
drips one byte a second would renew a per-read timeout forever.
:mod:`patterns.probe.serve`, the HTTP server of the ``serve`` command, is built on the
drivers: a probe asked for over HTTP, stopped when its client hangs up.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

from patterns.context import Canceled
from patterns.probe.schedule import ideal_makespan, lower_bound
from patterns.probe.targets import Target, TargetError, parse_targets
from patterns.runtimes import runtime_modules
from patterns.workerpool import Result

__all__ = [
    "BODY_CAP",
    "HEALTHY",
    "OUTCOMES",
    "Outcome",
    "ProbeResult",
    "Target",
    "TargetError",
    "Verdict",
    "ideal_makespan",
    "lower_bound",
    "outcome_for",
    "parse_targets",
    "result_of_job",
    "then_close",
]

Outcome = Literal["ok", "dns_error", "unreachable", "refused", "timeout", "reset",
                  "tls_error", "protocol_error", "bad_status", "too_large",
                  "content_mismatch"]

OUTCOMES: tuple[Outcome, ...] = (
    "ok",                # every check passed
    "dns_error",         # the name did not resolve
    "unreachable",       # no route to the host (or an ICMP "unreachable" came back)
    "refused",           # the host said no to the connection: nobody listens there
    "timeout",           # the probe's deadline passed first, wherever it was
    "reset",             # the connection was torn down under us
    "tls_error",         # https: the TLS handshake failed, or the certificate did not
                         # verify (unknown CA, expired, made out to another name)
    "protocol_error",    # the answer was not HTTP (or not ICMP), or ended early;
                         # also every surprise no other outcome names, with its text
    "bad_status",        # an HTTP status other than the expected one
    "too_large",         # a body past BODY_CAP (decided as soon as it passes)
    "content_mismatch",  # a whole body, within the cap, without the expected text
)
"""The eleven ways a probe ends, in the order a probe can meet them: resolve the name,
reach the host, connect, wait, shake hands over TLS (https), read an answer, then check
it (status, size, content).
Reports list outcomes in this order; ``ok`` is first and is the only healthy one."""

HEALTHY: Outcome = "ok"
"""The outcome of a probe whose every check passed."""

BODY_CAP = 1 << 20
"""Bytes of an HTTP body a probe reads (1 MiB); one more byte is ``too_large``."""


class Verdict(NamedTuple):
    """How a sans-IO exchange decided: its ``outcome``, the HTTP ``status`` if a
    response head arrived (else ``None``), and the ``error`` text (``None`` for ``ok``).
    A driver adds the target, latency and runtime to make a :class:`ProbeResult`."""

    outcome: Outcome
    status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """How one probe ended: the ``target`` probed, its ``outcome`` (one of
    :data:`OUTCOMES`), the HTTP ``status`` if one arrived, the ``latency`` in seconds
    from the start of the probe to its verdict (``None`` if it never started), the
    ``error`` text of a failure (``None`` for ``ok``), the ``runtime`` that ran it
    (``"threads"``, ``"asyncio"`` or ``"trio"``), and for an ``https`` target whose
    handshake got as far as a certificate, ``cert_expires``: the leaf certificate's
    ``notAfter`` in seconds since the epoch (``None`` otherwise). It is kept even when
    the probe then fails, so an operator sees an expiry coming whatever else is wrong.

    Go counterpart: the result struct a Go health checker sends down its results
    channel. A probe's failure is a result, never an exception, so one bad host cannot
    end a scan.
    """

    target: Target
    outcome: Outcome
    status: int | None
    latency: float | None
    error: str | None
    runtime: str
    cert_expires: float | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"ProbeResult outcome {self.outcome!r} is not one of {OUTCOMES}")

    @property
    def healthy(self) -> bool:
        """``True`` if every check passed (the outcome is :data:`HEALTHY`)."""
        return self.outcome == HEALTHY


_BY_ERRNO: dict[int, Outcome] = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "reset",
    errno.ECONNABORTED: "reset",
    errno.EPIPE: "reset",  # BrokenPipeError: we wrote after the peer reset
    errno.ETIMEDOUT: "timeout",  # the kernel's own connect timeout, if it comes first
    errno.ENETUNREACH: "unreachable",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETDOWN: "unreachable",
    errno.EHOSTDOWN: "unreachable",
}


def outcome_for(exc: BaseException) -> tuple[Outcome, str]:
    """The outcome of a probe that raised ``exc``, and the error text for its result.

    Every driver catches the exceptions of its I/O and asks this function, so the same
    failure is the same outcome in all three runtimes:

    ====================================================  ===================
    exception                                             outcome
    ====================================================  ===================
    ``socket.gaierror`` (the name did not resolve)        ``dns_error``
    ``ENETUNREACH``, ``EHOSTUNREACH``, ``ENETDOWN``,      ``unreachable``
    ``EHOSTDOWN``
    ``ConnectionRefusedError`` (``ECONNREFUSED``)         ``refused``
    ``ConnectionResetError``, ``ConnectionAbortedError``  ``reset``
    and ``BrokenPipeError``
    ``ssl.SSLError``: a certificate that did not verify   ``tls_error``
    (``SSLCertVerificationError``), a failed handshake
    ``TimeoutError`` (socket timeouts, ``asyncio``        ``timeout``
    timeouts, ``DeadlineExceeded``), ``ETIMEDOUT``
    anything else, ``PermissionError`` included           ``protocol_error``
    ====================================================  ===================

    OS errors are matched by ``errno``, so a plain ``OSError(ECONNREFUSED, ...)`` (as
    asyncio raises when every address of a name refused) is ``refused`` too. A group
    holding a single exception (a trio nursery's, a ``TaskGroup``'s) is unwrapped
    first. ``trio.TooSlowError`` is no ``TimeoutError``: the trio driver takes its
    deadline from the context, whose scope raises ``DeadlineExceeded`` instead.

    The split with the sans-IO exchanges: what the *socket* reports is mapped here;
    what the *bytes* say (bad status, garbage, an answer cut short by a clean close) is
    decided by :class:`~patterns.probe.http.HttpExchange`. A close in mid-answer is
    ``protocol_error``; ``reset`` needs the kernel to report a reset. TLS errors are
    raised by ``ssl`` inside :class:`~patterns.probe.tls.TlsSession`, which asks this
    function too, so a verification failure reads the same wherever it is caught:
    ``certificate verify failed: certificate has expired``, OpenSSL's words without its
    codes. Cancellation is not an outcome: a driver lets ``Canceled`` and the runtime's
    cancellation pass.
    """
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, ssl.SSLError):  # an OSError too, whose errno is OpenSSL's: first
        return "tls_error", _tls_reason(exc)
    if isinstance(exc, OSError):
        # strerror is the message without the "[Errno 111]" prefix, where there is one.
        text = exc.strerror or str(exc)
        if isinstance(exc, socket.gaierror):
            return "dns_error", text or "the name did not resolve"
        if exc.errno in _BY_ERRNO:
            outcome = _BY_ERRNO[exc.errno]
            return outcome, text or outcome.replace("_", " ")
        if isinstance(exc, TimeoutError):
            return "timeout", text or "no answer before the deadline"
        return "protocol_error", text or type(exc).__name__
    # Not an I/O error: a surprise. Name its type, so the report points at the bug.
    return "protocol_error", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


_SSL_NOISE = re.compile(r"^\[SSL: \w+\] | \(_ssl\.c:\d+\)$")


def _tls_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's one line, without the library's code and the C source's line number:
    ``certificate verify failed: certificate has expired``."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message.rstrip('.')}"
    text = _SSL_NOISE.sub("", exc.strerror or str(exc))
    return text or exc.reason or type(exc).__name__


def result_of_job(job: Result, runtime: str) -> ProbeResult | None:
    """The probe's result from the worker pool's record of its job, in any runtime.

    A job that failed in the pool still gets an outcome (its deadline: ``timeout``; a bug
    in a driver: ``protocol_error`` with its text); a probe the scan cancelled gets none,
    since no outcome would be honest for it.
    """
    if job.error is None:
        result: ProbeResult = job.value
        return result
    if isinstance(job.error, Canceled):
        return None
    outcome, error = outcome_for(job.error)
    return ProbeResult(job.item, outcome, None, job.elapsed, error, runtime)


def then_close(targets: Iterable[Target], close: Callable[[], object]) -> Iterator[Target]:
    """Each of ``targets``, then ``close()``. A scan hands this to its pool's ``map``,
    with the pool's ``close``, so the pool is closed once the last target is in: Go's
    producer closing the jobs channel after its last send. Each worker then ends after
    its last probe, instead of waiting, idle, for the end of the scan to wake it.
    """
    yield from targets
    close()


__getattr__ = runtime_modules(__name__)
