"""The probe workload on OS threads: blocking sockets, one deadline for each probe.

``probe(ctx, target)`` asks one target its question (a TCP connect, an HTTP ``GET``,
the same over TLS, an ICMP echo) and ends as a :class:`~patterns.probe.ProbeResult`;
``scan`` probes every target through a ``WorkerPool``. Go counterpart:
``net.DialTimeout`` and ``http.Get`` under a ``context.Context``, fanned out over a
worker pool.

What threads do differently: a thread blocked on a socket cannot be interrupted, so
every blocking call keeps the context's deadline itself. The time left becomes the
socket's timeout before each call (it shrinks, so a host that drips a byte a second
cannot stretch it: one deadline, never a timeout per ``recv``), and a cancel shuts the
socket down, which wakes the call (closing it would not, on Linux). Whatever woke the
call, the probe then asks the context why (``ctx.check()``): past the deadline the probe
is a ``timeout``, and cancelled it is no outcome at all. The context is handed down to
every call; asyncio and trio wrap the whole probe in one ``ctx.scope()`` instead.

TLS (``https``): :class:`~patterns.probe.tls.TlsSession`'s bytes over the same
blocking calls, so ``_blocking`` keeps the deadline through the handshake as through
every read. The runtime's own way is ``ssl``'s ``SSLContext.wrap_socket``, which shakes
hands inside the socket calls under the same socket timeout; the driver keeps to one
TLS core for the three runtimes, as it keeps to one HTTP core.

Cancelling a scan (its ``ctx``) stops the probes in flight and probes nothing more;
``scan`` returns the results of the probes that finished, in input order. A probe that
was stopped has no outcome to report (``timeout`` would blame the host), so it has no
result, and ``ctx.err`` tells the caller that the list is short: Go's
``return results, ctx.Err()``.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from patterns.context import Canceled, ContextError
from patterns.context.on_threads import Context, background
from patterns.probe import ProbeResult, Target, Verdict, outcome_for, result_of_job, then_close
from patterns.probe.icmp import EchoExchange, icmp_socket
from patterns.probe.tls import Exchange, TlsConfig, TlsSession, exchange_for
from patterns.ratelimit.on_threads import Limiter
from patterns.workerpool.on_threads import WorkerPool

__all__ = ["probe", "scan"]

RUNTIME = "threads"
CHUNK = 65536  # bytes asked of each read

T = TypeVar("T")


def scan(targets: Iterable[Target], *, workers: int, timeout: float,
         ctx: Context | None = None,
         on_result: Callable[[ProbeResult], object] | None = None,
         rate: float | None = None, tls: TlsConfig | None = None) -> list[ProbeResult]:
    """Probe every target, ``workers`` at a time, each within ``timeout`` seconds, and
    return the results in the order of ``targets``.

    ``on_result(result)`` is called in this thread as each probe finishes (completion
    order). Cancelling ``ctx`` stops the scan: probes in flight stop, the rest ask
    nothing, and the results of the probes that finished are returned; ``ctx.err``
    says the list is short. Go counterpart: a worker pool of health checks with a
    results channel.

    ``rate`` (probes a second) spaces the probes' starts out: each waits for a token of
    a ``Limiter(rate)`` (burst 1) under the scan's ``ctx`` before it starts, so at most
    ``1 + rate * t`` start in any ``t`` seconds, however many workers wait. A probe's
    ``timeout`` starts once it has its token: the time it queued is not the host's.
    ``tls`` is what every ``https`` probe trusts (``None``: the system's store).
    """
    parent = ctx if ctx is not None else background()
    limiter = None if rate is None else Limiter(rate)

    def probe_job(job: Context, target: Target) -> ProbeResult:
        # The scan's ctx reaches the probe through its job's context (Go's AfterFunc).
        # Handed to the pool instead, a cancel would close the pool under map's submit.
        stop = parent.after(job.cancel)
        try:
            if limiter is not None:
                limiter.wait(ctx=job)
            # The probe keeps its own deadline, not the pool's (WorkerPool(timeout=)):
            # a probe that times out still returns its result (an https host's expiry
            # with it), where the pool would drop a value returned past the deadline.
            with job.with_timeout(timeout) as probe_ctx:
                return probe(probe_ctx, target, tls=tls)
        finally:
            stop()

    finished: dict[int, ProbeResult] = {}
    with WorkerPool(probe_job, workers=workers) as pool:
        # Completion order, not ordered=True: a hanging host must not hold back the
        # progress report, nor the submitting of the targets after it. The pool closes
        # after the last target, so each worker ends after its last probe.
        for job in pool.map(then_close(targets, pool.close)):
            result = result_of_job(job, RUNTIME)
            if result is not None:
                finished[job.index] = result
                if on_result is not None:
                    on_result(result)
    return [finished[index] for index in sorted(finished)]


def probe(ctx: Context, target: Target, *, tls: TlsConfig | None = None) -> ProbeResult:
    """Ask ``target`` its question before ``ctx``'s deadline; every failure is a result.

    A ``tcp`` target is healthy when it accepts a connection, an ``http`` one when its
    answer to ``GET`` passes :class:`~patterns.probe.http.HttpExchange`, an ``https``
    one when, on top of that, its certificate passes ``tls`` (``None``: the system's
    store), an ``icmp`` one when it echoes a ping. The deadline covers the whole probe,
    name lookup aside (the system resolver cannot be interrupted); without one, a
    silent host holds the probe forever. A cancelled ``ctx`` raises ``Canceled``:
    cancellation is no outcome.
    """
    start = time.monotonic()
    # Made before the connect and read after the probe, however it ended: a certificate
    # seen in the handshake is reported even if a reset or the deadline comes after it.
    exchange = exchange_for(target, tls)
    try:
        ctx.check()  # done already: ask nothing
        outcome, status, error = _ask(ctx, target, exchange)
    except Canceled:
        raise
    except Exception as exc:  # refused, reset, the deadline, a surprise: all outcomes
        outcome, error = outcome_for(exc)
        status = None
    cert_expires = exchange.cert_expires if isinstance(exchange, TlsSession) else None
    return ProbeResult(target, outcome, status, time.monotonic() - start, error, RUNTIME,
                       cert_expires)


def _ask(ctx: Context, target: Target, exchange: Exchange | None) -> Verdict:
    if target.kind == "icmp":
        return _ping(ctx, target)
    refusals: list[OSError] = []
    for family, kind, proto, _, address in socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM):
        with _watched(ctx, socket.socket(family, kind, proto)) as sock:
            try:
                _blocking(ctx, sock, sock.connect, address)
            except ContextError:  # (a TimeoutError too) past the deadline: stop here
                raise
            except OSError as exc:  # this address said no: try the next one
                refusals.append(exc)
                continue
            if exchange is None:  # tcp: the connection was accepted, and that was all
                return Verdict("ok", None, None)
            return _get(ctx, sock, exchange)
    raise refusals[-1]  # every address said no; the last one says why


def _get(ctx: Context, sock: socket.socket, exchange: Exchange) -> Verdict:
    _blocking(ctx, sock, sock.sendall, exchange.request())
    while not exchange.receive(_blocking(ctx, sock, sock.recv, CHUNK)):
        if data := exchange.data_to_send():  # TLS: the handshake's next flight, the GET
            _blocking(ctx, sock, sock.sendall, data)
    return exchange.verdict()


def _ping(ctx: Context, target: Target) -> Verdict:
    family, _, _, _, address = socket.getaddrinfo(target.host, None, type=socket.SOCK_DGRAM)[0]
    with _watched(ctx, icmp_socket(family)) as sock:
        exchange = EchoExchange.for_socket(sock)
        _blocking(ctx, sock, sock.sendto, exchange.request(), address)
        while not exchange.receive(_blocking(ctx, sock, sock.recv, CHUNK)):
            pass
    return exchange.verdict()


@contextlib.contextmanager
def _watched(ctx: Context, sock: socket.socket) -> Iterator[socket.socket]:
    """``sock``, shut down when ``ctx`` is cancelled (that wakes a call blocked on it),
    and closed on the way out."""
    # The context's cancel hook, not after(): after() would start a timer thread for
    # the deadline, and the socket's timeout already keeps that.
    stop = ctx.after_cancel(lambda: _shut_down(sock))
    with sock:
        try:
            yield sock
        finally:
            stop()


def _shut_down(sock: socket.socket) -> None:
    # Runs in whatever thread ends the context, and must not raise there. A socket that
    # is closed, reset or not connected says so, and is woken all the same.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _blocking(ctx: Context, sock: socket.socket, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``, a blocking call on ``sock``, kept within ``ctx``: the time left
    is the socket's timeout, and once the call returns or fails the context says why it
    woke (a cancel shuts the socket down: an empty read, a "reset" that is ours)."""
    ctx.check()
    sock.settimeout(ctx.remaining())
    try:
        value = call(*args)
    except OSError:
        ctx.check()  # a socket timeout at the deadline is DeadlineExceeded: timeout
        raise
    ctx.check()
    return value

