"""The probe workload on trio: streams, one deadline for each probe.

``probe(ctx, target)`` asks one target its question (a TCP connect, an HTTP ``GET``, an
ICMP echo) and ends as a :class:`~patterns.probe.ProbeResult`; ``scan`` probes every
target through a ``WorkerPool``. Go counterpart: ``net.DialTimeout`` and ``http.Get``
under a ``context.Context``, fanned out over a worker pool.

What trio does differently: cancellation is built in, so the whole probe runs inside
one ``with ctx.scope():``, a cancel scope whose deadline is the context's. When it
passes, wherever the probe waits (connecting, sending, reading the third byte of a slow
drip), it is cancelled there and the scope raises ``DeadlineExceeded``: a ``timeout``.
No call below needs the context, and none has a timeout of its own. A ``Cancelled``
from an enclosing scope is no outcome and passes through. trio's streams wrap the
socket's errors in their own (see :func:`_socket_error`), so the probe unwraps them.

Cancelling a scan (its ``ctx``) stops the probes in flight and probes nothing more;
``scan`` returns the results of the probes that finished, in input order. A probe that
was stopped has no outcome to report (``timeout`` would blame the host), so it has no
result, and ``ctx.err`` tells the caller that the list is short: Go's
``return results, ctx.Err()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import trio

from patterns.context import Canceled
from patterns.context.on_trio import Context, background
from patterns.probe import ProbeResult, Target, Verdict, outcome_for, result_of_job
from patterns.probe.http import HttpExchange
from patterns.probe.icmp import EchoExchange, icmp_socket
from patterns.workerpool.on_trio import WorkerPool

__all__ = ["probe", "scan"]

RUNTIME = "trio"
CHUNK = 65536  # bytes asked of each read


async def scan(targets: Iterable[Target], *, workers: int, timeout: float,
               ctx: Context | None = None,
               on_result: Callable[[ProbeResult], object] | None = None) -> list[ProbeResult]:
    """Probe every target, ``workers`` at a time, each within ``timeout`` seconds, and
    return the results in the order of ``targets``.

    ``on_result(result)`` is called in this task as each probe finishes (completion
    order). Cancelling ``ctx`` stops the scan: probes in flight stop, the rest ask
    nothing, and the results of the probes that finished are returned; ``ctx.err``
    says the list is short. Go counterpart: a worker pool of health checks with a
    results channel.
    """
    parent = ctx if ctx is not None else background()

    async def probe_job(job: Context, target: Target) -> ProbeResult:
        # The scan's ctx reaches the probe through its job's context (Go's AfterFunc).
        # Handed to the pool instead, a cancel would close the pool under map's submit.
        stop = parent.after(job.cancel)
        try:
            return await probe(job, target)
        finally:
            stop()

    finished: dict[int, ProbeResult] = {}
    async with WorkerPool(probe_job, workers=workers, timeout=timeout) as pool:
        # Completion order, not ordered=True: a hanging host must not hold back the
        # progress report, nor the submitting of the targets after it.
        async for job in pool.map(targets):
            result = result_of_job(job, RUNTIME)
            if result is not None:
                finished[job.index] = result
                if on_result is not None:
                    on_result(result)
    return [finished[index] for index in sorted(finished)]


async def probe(ctx: Context, target: Target) -> ProbeResult:
    """Ask ``target`` its question before ``ctx``'s deadline; every failure is a result.

    A ``tcp`` target is healthy when it accepts a connection, an ``http`` one when its
    answer to ``GET`` passes :class:`~patterns.probe.http.HttpExchange`, an ``icmp`` one
    when it echoes a ping. The deadline covers the whole probe, name lookup included;
    without one, a silent host holds the probe forever. A cancelled ``ctx`` raises
    ``Canceled``, an enclosing cancel scope ``Cancelled``: cancellation is no outcome.
    """
    start = trio.current_time()
    try:
        ctx.check()  # done already: ask nothing
        with ctx.scope():  # the deadline interrupts whatever the probe awaits
            outcome, status, error = await _ask(target)
    except Canceled:
        raise
    except Exception as exc:  # refused, reset, the deadline, a surprise: all outcomes
        outcome, error = outcome_for(_socket_error(exc))
        status = None
    return ProbeResult(target, outcome, status, trio.current_time() - start, error, RUNTIME)


async def _ask(target: Target) -> Verdict:
    if target.kind == "icmp":
        return await _ping(target)
    assert target.port is not None  # tcp and http targets have one
    async with await trio.open_tcp_stream(target.host, target.port) as stream:
        if target.kind == "tcp":
            return Verdict("ok", None, None)  # the connection was accepted: that was all
        return await _get(stream, target)


async def _get(stream: trio.SocketStream, target: Target) -> Verdict:
    exchange = HttpExchange(target)
    await stream.send_all(exchange.request())
    while not exchange.receive(await stream.receive_some(CHUNK)):
        pass
    return exchange.verdict()


async def _ping(target: Target) -> Verdict:
    family, _, _, _, address = (await trio.socket.getaddrinfo(
        target.host, None, type=trio.socket.SOCK_DGRAM))[0]
    plain = icmp_socket(family)
    with trio.socket.from_stdlib_socket(plain) as sock:
        exchange = EchoExchange.for_socket(plain)
        await sock.sendto(exchange.request(), address)
        while not exchange.receive(await sock.recv(CHUNK)):
            pass
    return exchange.verdict()


def _socket_error(exc: Exception) -> BaseException:
    """The socket's own error, where a trio stream wrapped it: a reset or a broken pipe
    is a ``BrokenResourceError`` caused by it, and ``open_tcp_stream`` raises one
    ``OSError`` for all the addresses it tried, caused by a group of their errors
    (:func:`~patterns.probe.outcome_for` unwraps a group of one)."""
    if isinstance(exc, trio.BrokenResourceError) and exc.__cause__ is not None:
        return exc.__cause__
    if isinstance(exc, OSError) and isinstance(exc.__cause__, ExceptionGroup):
        return exc.__cause__
    return exc

