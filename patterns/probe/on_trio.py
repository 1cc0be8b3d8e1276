"""The probe workload on trio: trio's sockets, one deadline for each probe.

``probe(ctx, target)`` asks one target its question (a TCP connect, an HTTP ``GET``,
the same over TLS, an ICMP echo) and ends as a :class:`~patterns.probe.ProbeResult`;
``scan`` probes every target through a ``WorkerPool``. Go counterpart:
``net.DialTimeout`` and ``http.Get`` under a ``context.Context``, fanned out over a
worker pool.

What trio does differently: cancellation is built in, so the whole probe runs inside
one ``with ctx.scope():``, a cancel scope whose deadline is the context's. When it
passes, wherever the probe waits (connecting, sending, reading the third byte of a slow
drip), it is cancelled there and the scope raises ``DeadlineExceeded``: a ``timeout``.
No call below needs the context, and none has a timeout of its own. A ``Cancelled``
from an enclosing scope is no outcome and passes through.

The socket calls are the threads driver's, each awaited (``trio.socket``), not trio's
streams: ``open_tcp_stream`` races addresses in a nursery of its own ("happy
eyeballs") and wraps the socket's errors in its own, more than a probe of one short
answer needs (``docs/measurements.md`` has what the bare sockets save in a burst).

TLS (``https``): :class:`~patterns.probe.tls.TlsSession`'s bytes over the same socket,
inside the same scope, so the deadline covers the handshake as every read. The
runtime's own way is ``trio.SSLStream``, TLS over any trio stream on the same
``ssl.MemoryBIO`` machinery as ``TlsSession``; it wants a stream where the driver has a
socket, and the driver keeps to one TLS core for the three runtimes, as it keeps to one
HTTP core.

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
from patterns.probe import ProbeResult, Target, Verdict, outcome_for, result_of_job, then_close
from patterns.probe.icmp import EchoExchange, icmp_socket
from patterns.probe.tls import Exchange, TlsConfig, TlsSession, exchange_for
from patterns.ratelimit.on_trio import Limiter
from patterns.workerpool.on_trio import WorkerPool

__all__ = ["probe", "scan"]

RUNTIME = "trio"
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
    cancelled ``ctx`` raises ``Canceled``, an enclosing cancel scope ``Cancelled``:
    cancellation is no outcome.
    """
    start = trio.current_time()
    # Made before the connect and read after the probe, however it ended: a certificate
    # seen in the handshake is reported even if a reset or the deadline comes after it.
    exchange = exchange_for(target, tls)
    try:
        ctx.check()  # done already: ask nothing
        with ctx.scope():  # the deadline interrupts whatever the probe awaits
            outcome, status, error = await _ask(target, exchange)
    except Canceled:
        raise
    except Exception as exc:  # refused, reset, the deadline, a surprise: all outcomes
        outcome, error = outcome_for(exc)
        status = None
    cert_expires = exchange.cert_expires if isinstance(exchange, TlsSession) else None
    return ProbeResult(target, outcome, status, trio.current_time() - start, error, RUNTIME,
                       cert_expires)


async def _ask(target: Target, exchange: Exchange | None) -> Verdict:
    if target.kind == "icmp":
        return await _ping(target)
    refusals: list[OSError] = []
    # trio's getaddrinfo parses an IP address on the spot, and asks a thread otherwise.
    for family, kind, proto, _, address in await trio.socket.getaddrinfo(
            target.host, target.port, type=trio.socket.SOCK_STREAM):
        with trio.socket.socket(family, kind, proto) as sock:
            try:
                await sock.connect(address)
            except OSError as exc:  # this address said no: try the next one
                refusals.append(exc)
                continue
            if exchange is None:  # tcp: the connection was accepted, and that was all
                return Verdict("ok", None, None)
            return await _get(sock, exchange)
    raise refusals[-1]  # every address said no; the last one says why


async def _get(sock: trio.socket.SocketType, exchange: Exchange) -> Verdict:
    await _send_all(sock, exchange.request())
    while not exchange.receive(await sock.recv(CHUNK)):
        if data := exchange.data_to_send():  # TLS: the handshake's next flight, the GET
            await _send_all(sock, data)
    return exchange.verdict()


async def _send_all(sock: trio.socket.SocketType, data: bytes) -> None:
    view = memoryview(data)
    while view:  # trio's socket has no sendall: a send may take part of the bytes
        view = view[await sock.send(view):]


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
