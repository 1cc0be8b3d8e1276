"""The probe workload on asyncio: non-blocking sockets, one deadline for each probe.

``probe(ctx, target)`` asks one target its question (a TCP connect, an HTTP ``GET``,
the same over TLS, an ICMP echo) and ends as a :class:`~patterns.probe.ProbeResult`;
``scan`` probes every target through a ``WorkerPool``. Go counterpart:
``net.DialTimeout`` and ``http.Get`` under a ``context.Context``, fanned out over a
worker pool.

What asyncio does differently: a task can be interrupted at any ``await``, so the whole
probe runs inside one ``async with ctx.scope():``. When the deadline passes, wherever
the probe waits (connecting, sending, reading the third byte of a slow drip), it is
cancelled there and the scope raises ``DeadlineExceeded``: a ``timeout``. No call below
needs the context, and none has a timeout of its own. A ``CancelledError`` from outside
(``task.cancel()``, a ``TaskGroup``) is no outcome and passes through.

The socket calls are the threads driver's, each awaited on the loop (``sock_connect``,
``sock_sendall``, ``sock_recv``), not asyncio's streams: a probe reads one short answer
and closes, and needs no stream's transport, protocol and buffers. That keeps the
three drivers one text; it is hardly faster (``docs/measurements.md``).

TLS (``https``): :class:`~patterns.probe.tls.TlsSession`'s bytes over the same
``sock_*`` calls, inside the same scope, so the deadline covers the handshake as every
read. The runtime's own way is its transports' TLS (``open_connection(ssl=...)``,
``loop.start_tls``), with a handshake timeout of its own beside the probe's deadline;
the driver keeps to one TLS core for the three runtimes, as it keeps to one HTTP core.

Cancelling a scan (its ``ctx``) stops the probes in flight and probes nothing more;
``scan`` returns the results of the probes that finished, in input order. A probe that
was stopped has no outcome to report (``timeout`` would blame the host), so it has no
result, and ``ctx.err`` tells the caller that the list is short: Go's
``return results, ctx.Err()``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable
from typing import Any

from patterns.context import Canceled
from patterns.context.on_asyncio import Context, background
from patterns.probe import ProbeResult, Target, Verdict, outcome_for, result_of_job, then_close
from patterns.probe.icmp import EchoExchange, icmp_socket
from patterns.probe.tls import Exchange, TlsConfig, TlsSession, exchange_for
from patterns.ratelimit.on_asyncio import Limiter
from patterns.workerpool.on_asyncio import WorkerPool

__all__ = ["probe", "scan"]

RUNTIME = "asyncio"
CHUNK = 65536  # bytes asked of each read


async def scan(targets: Iterable[Target], *, workers: int, timeout: float,
               ctx: Context | None = None,
               on_result: Callable[[ProbeResult], object] | None = None,
               rate: float | None = None, tls: TlsConfig | None = None) -> list[ProbeResult]:
    """Probe every target, ``workers`` at a time, each within ``timeout`` seconds, and
    return the results in the order of ``targets``.

    ``on_result(result)`` is called in this task as each probe finishes (completion
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

    async def probe_job(job: Context, target: Target) -> ProbeResult:
        # The scan's ctx reaches the probe through its job's context (Go's AfterFunc).
        # Handed to the pool instead, a cancel would close the pool under map's submit.
        stop = parent.after(job.cancel)
        try:
            if limiter is not None:
                await limiter.wait(ctx=job)
            # The probe keeps its own deadline, not the pool's (WorkerPool(timeout=)):
            # a probe that times out still returns its result (an https host's expiry
            # with it), where the pool would drop a value returned past the deadline.
            with job.with_timeout(timeout) as probe_ctx:
                return await probe(probe_ctx, target, tls=tls)
        finally:
            stop()

    finished: dict[int, ProbeResult] = {}
    async with WorkerPool(probe_job, workers=workers) as pool:
        # Completion order, not ordered=True: a hanging host must not hold back the
        # progress report, nor the submitting of the targets after it. The pool closes
        # after the last target, so each worker ends after its last probe.
        async for job in pool.map(then_close(targets, pool.close)):
            result = result_of_job(job, RUNTIME)
            if result is not None:
                finished[job.index] = result
                if on_result is not None:
                    on_result(result)
    return [finished[index] for index in sorted(finished)]


async def probe(ctx: Context, target: Target, *,
                tls: TlsConfig | None = None) -> ProbeResult:
    """Ask ``target`` its question before ``ctx``'s deadline; every failure is a result.

    A ``tcp`` target is healthy when it accepts a connection, an ``http`` one when its
    answer to ``GET`` passes :class:`~patterns.probe.http.HttpExchange`, an ``https``
    one when, on top of that, its certificate passes ``tls`` (``None``: the system's
    store), an ``icmp`` one when it echoes a ping. The deadline covers the whole probe,
    name lookup included; without one, a silent host holds the probe forever. A
    cancelled ``ctx`` raises ``Canceled``, a cancelled task ``CancelledError``:
    cancellation is no outcome.
    """
    now = asyncio.get_running_loop().time
    start = now()
    # Made before the connect and read after the probe, however it ended: a certificate
    # seen in the handshake is reported even if a reset or the deadline comes after it.
    exchange = exchange_for(target, tls)
    try:
        ctx.check()  # done already: ask nothing (the scope would let the connect go out first)
        async with ctx.scope():  # the deadline interrupts whatever the probe awaits
            outcome, status, error = await _ask(target, exchange)
    except Canceled:
        raise
    except Exception as exc:  # refused, reset, the deadline, a surprise: all outcomes
        outcome, error = outcome_for(exc)
        status = None
    cert_expires = exchange.cert_expires if isinstance(exchange, TlsSession) else None
    return ProbeResult(target, outcome, status, now() - start, error, RUNTIME, cert_expires)


async def _ask(target: Target, exchange: Exchange | None) -> Verdict:
    if target.kind == "icmp":
        return await _ping(target)
    loop = asyncio.get_running_loop()
    refusals: list[OSError] = []
    for family, kind, proto, _, address in await _addresses(target):
        with socket.socket(family, kind, proto) as sock:
            sock.setblocking(False)  # the loop's sock_* calls want a non-blocking socket
            try:
                await loop.sock_connect(sock, address)
            except OSError as exc:  # this address said no: try the next one
                refusals.append(exc)
                continue
            if exchange is None:  # tcp: the connection was accepted, and that was all
                return Verdict("ok", None, None)
            return await _get(loop, sock, exchange)
    raise refusals[-1]  # every address said no; the last one says why


async def _addresses(target: Target) -> list[Any]:
    """The target's addresses, as ``socket.getaddrinfo`` gives them. An IP address is
    parsed on the spot: the loop's ``getaddrinfo`` would ask a thread every time."""
    try:
        return socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM,
                                  flags=socket.AI_NUMERICHOST)
    except socket.gaierror:  # a name: the system resolver blocks, so in a thread
        return await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM)


async def _get(loop: asyncio.AbstractEventLoop, sock: socket.socket,
               exchange: Exchange) -> Verdict:
    await loop.sock_sendall(sock, exchange.request())
    while not exchange.receive(await loop.sock_recv(sock, CHUNK)):
        if data := exchange.data_to_send():  # TLS: the handshake's next flight, the GET
            await loop.sock_sendall(sock, data)
    return exchange.verdict()


async def _ping(target: Target) -> Verdict:
    loop = asyncio.get_running_loop()
    family, _, _, _, address = (await loop.getaddrinfo(
        target.host, None, type=socket.SOCK_DGRAM))[0]
    with icmp_socket(family) as sock:
        sock.setblocking(False)  # the loop's sock_* calls want a non-blocking socket
        exchange = EchoExchange.for_socket(sock)
        await loop.sock_sendto(sock, exchange.request(), address)
        while not exchange.receive(await loop.sock_recv(sock, CHUNK)):
            pass
    return exchange.verdict()

