"""The probe's HTTP server on OS threads: a thread per connection, and one more to watch
the client while its probe runs.

``serve(ctx, listener, app)`` answers ``/metrics`` and ``/probe?target=URL`` until
``ctx`` is cancelled; ``run_until_hangup(ctx, client, fn)`` runs a handler's work under
a context that the client's hang-up cancels. Go counterpart: ``http.Server.Serve`` and
a handler that probes under ``r.Context()``.

What threads do differently: a thread waits on one thing at a time. The handler's
thread is inside the probe, blocked in a ``recv`` from the host, so it cannot also wait
for the client's end of file; asyncio and trio start a second task for that, and
threads start a second thread. The watcher blocks in ``recv`` on the client's socket;
when that gives ``b""`` (or a reset), it cancels the probe's context. The probe's driver
honours a cancel by shutting its own socket down (``ctx.after_cancel``, see
:mod:`patterns.probe.on_threads`), which wakes the probe's ``recv`` and sends the
hanging host a FIN: the host sees its connection close a moment after the client's.

When the probe ends first, the watcher must end too, and nothing interrupts a thread.
So the handler shuts down the *read* side of the client's socket (``SHUT_RD``: on Linux
that wakes the watcher's ``recv`` with ``b""``, and the write side stays open for the
answer), then joins the watcher before it answers: no watcher outlives its request.

Why not ``select`` in the handler's thread: that thread is the probe's, and the probe
blocks in a ``recv`` of its own; polling both sockets would mean moving the probe to
another thread, the same two threads in another order. One watcher thread for every
connection (a ``selectors`` loop over their sockets) would save a thread per request,
and is an event loop written by hand: what asyncio is. A thread per watch is the plain
version; its cost, a thread start per ``/probe`` (a fraction of a millisecond), is small
beside a probe's round trip.

A connection's handler runs on a thread of an errgroup (``patterns.errgroup``), which
keeps finished threads for the next connection and bounds them at ``connections``.
Stopping: cancelling ``ctx`` shuts the listener down (which wakes ``accept()``, as it
wakes ``recv``) and every connection's socket, so each handler's blocking call returns
and the handler ends; ``serve`` returns once they all have.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from patterns.context import ContextError
from patterns.context.on_threads import Context
from patterns.errgroup.on_threads import Group
from patterns.probe import Target
from patterns.probe.on_threads import probe
from patterns.probe.serve import (
    CONNECTIONS,
    READ_TIMEOUT_S,
    WRITE_TIMEOUT_S,
    App,
    ClientGone,
    Request,
    ServerExchange,
)

__all__ = ["run_until_hangup", "serve"]

CHUNK = 65536  # bytes asked of each read

T = TypeVar("T")


def serve(ctx: Context, listener: socket.socket, app: App, *,
          connections: int = CONNECTIONS) -> None:
    """Answer HTTP on ``listener`` (bound and listening) until ``ctx`` is cancelled: a
    thread per connection, at most ``connections`` at once. Then stop accepting, stop
    every handler, and return once each has ended; the listener stays the caller's to
    close. Go counterpart: ``http.Server{BaseContext: ctx}.Serve(l)``, closed with
    the context.
    """
    stop = ctx.after_cancel(lambda: _shut_down(listener))  # wakes accept(), as recv()
    try:
        with Group(ctx, limit=connections) as g:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    if ctx.done:  # the listener was shut down by the cancel
                        return
                    raise
                g.go(_handle, g.ctx, conn, app)  # blocks while `connections` run
    finally:
        stop()


def run_until_hangup(ctx: Context, client: socket.socket, fn: Callable[[Context], T]) -> T:
    """``fn(work)``, where ``work`` is a child of ``ctx`` that is cancelled, with
    :class:`~patterns.probe.serve.ClientGone` as its cause, when ``client`` hangs up:
    its socket reaches end of file or is reset. Bytes the client sends meanwhile are not
    a hang-up (they are read and dropped). Returns what ``fn`` returns and raises what it
    raises: a probe whose client left raises ``Canceled``.

    ``fn`` must honour its context (``ctx.check()``, a socket shut down on cancel, as
    the probe does): a thread can only be asked to stop. The watcher is a thread of its
    own, blocked in ``client.recv``; when ``fn`` ends, ``shutdown(SHUT_RD)`` wakes it
    and it is joined before this returns. Go counterpart: the background read that
    ``net/http``'s server keeps on a connection while a handler runs, which cancels the
    request's context at end of file.
    """
    work = ctx.with_cancel()
    watcher = threading.Thread(target=_watch, args=(client, work),
                               name="patterns.probe.serve hang-up watcher")
    watcher.start()
    try:
        return fn(work)
    finally:
        work.cancel()  # the work is over: a hang-up from now on changes nothing
        _shut_down(client, socket.SHUT_RD)  # wakes the watcher's recv() with b""
        watcher.join()


def _watch(client: socket.socket, work: Context) -> None:
    while True:
        try:
            data = client.recv(CHUNK)
        except TimeoutError:  # the socket's own timeout: quiet is not gone
            continue
        except OSError:  # a reset: the client is as gone as after a close
            data = b""
        if not data:
            work.cancel(ClientGone("the client closed its connection"))
            return


def _handle(ctx: Context, conn: socket.socket, app: App) -> None:
    """One connection: its request, its answer, then close. A client that left, a
    deadline, a server stopping: nobody is waiting for an answer, and nothing to say."""
    with conn, _watched(ctx, conn), contextlib.suppress(ContextError, OSError):
        _answer(ctx, conn, app)


def _answer(ctx: Context, conn: socket.socket, app: App) -> None:
    exchange = ServerExchange()
    with ctx.with_timeout(READ_TIMEOUT_S) as reading:
        while not exchange.receive(_blocking(reading, conn, conn.recv, CHUNK)):
            pass
    asked = exchange.asked()
    if asked is None:
        return  # the client closed before it asked anything
    answer = app.route(asked) if isinstance(asked, Request) else asked
    if isinstance(answer, Target):
        target = answer
        with ctx.with_timeout(app.timeout) as probing:
            result = run_until_hangup(probing, conn,
                                      lambda work: probe(work, target, tls=app.tls))
        answer = app.result(result)
    with ctx.with_timeout(WRITE_TIMEOUT_S) as writing:
        _blocking(writing, conn, conn.sendall, exchange.respond(answer))


@contextlib.contextmanager
def _watched(ctx: Context, sock: socket.socket) -> Iterator[None]:
    """Inside the block, cancelling ``ctx`` shuts ``sock`` down: that wakes a call
    blocked on it (closing it would not, on Linux)."""
    stop = ctx.after_cancel(lambda: _shut_down(sock))
    try:
        yield
    finally:
        stop()


def _shut_down(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    # Runs in whatever thread ends a context, and must not raise there. A socket that is
    # closed, reset or not connected says so, and is woken all the same.
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def _blocking(ctx: Context, sock: socket.socket, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``, a blocking call on ``sock``, kept within ``ctx``: the time left
    is the socket's timeout, and once the call returns or fails the context says why it
    woke (the probe driver's rule: one deadline, never a timeout per call)."""
    ctx.check()
    sock.settimeout(ctx.remaining())
    try:
        value = call(*args)
    except OSError:
        ctx.check()  # a socket timeout at the deadline is DeadlineExceeded
        raise
    ctx.check()
    return value
