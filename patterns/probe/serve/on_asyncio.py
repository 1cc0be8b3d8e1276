"""The probe's HTTP server on asyncio: a task per connection, and one more to watch the
client while its probe runs.

``serve(ctx, listener, app)`` answers ``/metrics`` and ``/probe?target=URL`` until
``ctx`` is cancelled; ``run_until_hangup(ctx, client, fn)`` runs a handler's work under
a context that the client's hang-up cancels. Go counterpart: ``http.Server.Serve`` and
a handler that probes under ``r.Context()``.

What asyncio does differently: a task is cheap, and any ``await`` can be interrupted.
So the hang-up is watched by a second task beside the probe, in a ``TaskGroup``: it
awaits ``sock_recv`` on the client's socket, and when that gives ``b""`` (or a reset)
it cancels the probe's context, whose scope interrupts the probe wherever it waits.
The probe's socket is closed on the way out, and the hanging host sees its connection
close a moment after the client's. When the probe ends first, the watcher is cancelled
(``task.cancel()``), and the ``TaskGroup`` waits for it: no watcher outlives its
request. The work's exception is raised after the block, itself: raised inside it, the
``TaskGroup`` would wrap it in an ``ExceptionGroup``.

The socket calls are the probe driver's (``sock_accept``, ``sock_recv``,
``sock_sendall``), not asyncio's streams, so the three servers are one text. A
connection's handler is a task of an errgroup (``patterns.errgroup``) bounded at
``connections``; cancelling ``ctx`` interrupts the ``accept`` and every handler
natively, and ``serve`` returns once they have all ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from patterns.context import ContextError
from patterns.context.on_asyncio import Context
from patterns.errgroup.on_asyncio import Group
from patterns.probe import Target
from patterns.probe.on_asyncio import probe
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


async def serve(ctx: Context, listener: socket.socket, app: App, *,
                connections: int = CONNECTIONS) -> None:
    """Answer HTTP on ``listener`` (bound and listening) until ``ctx`` is cancelled: a
    task per connection, at most ``connections`` at once. Then stop accepting, stop
    every handler, and return once each has ended; the listener stays the caller's to
    close. Go counterpart: ``http.Server{BaseContext: ctx}.Serve(l)``, closed with
    the context.
    """
    loop = asyncio.get_running_loop()
    listener.setblocking(False)  # the loop's sock_* calls want a non-blocking socket
    try:
        async with Group(ctx, limit=connections) as g:  # its body is inside g.ctx.scope()
            while True:
                conn, _ = await loop.sock_accept(listener)
                try:
                    await g.go(_handle, g.ctx, conn, app)  # waits while `connections` run
                except BaseException:
                    conn.close()  # stopped while it waited for a slot: nobody else will
                    raise
    except ContextError:
        if not ctx.done:
            raise
        # ctx was cancelled: the group stopped the accept and the handlers, as asked


async def run_until_hangup(ctx: Context, client: socket.socket,
                           afn: Callable[[Context], Awaitable[T]]) -> T:
    """``await afn(work)``, where ``work`` is a child of ``ctx`` that is cancelled, with
    :class:`~patterns.probe.serve.ClientGone` as its cause, when ``client`` (a
    non-blocking socket) hangs up: it reaches end of file or is reset. Bytes the client
    sends meanwhile are not a hang-up (they are read and dropped). Returns what ``afn``
    returns and raises what it raises. ``afn`` must honour ``work``, as the probe does
    (its ``work.scope()`` interrupts it wherever it waits, and a hang-up raises
    ``Canceled``); a scope here, around it, would be the outermost one at the deadline
    too, and turn the probe's ``timeout`` result into ``DeadlineExceeded``.

    The watcher is a task beside ``afn`` in a ``TaskGroup``, cancelled when ``afn``
    ends. Go counterpart: the background read that ``net/http``'s server keeps on a
    connection while a handler runs, which cancels the request's context at end of file.
    """
    work = ctx.with_cancel()
    failure: Exception | None = None
    async with asyncio.TaskGroup() as tg:
        watcher = tg.create_task(_watch(client, work))
        try:
            value = await afn(work)
        except Exception as exc:  # raised below, itself, not in an ExceptionGroup
            failure = exc
        finally:
            watcher.cancel()  # the work is over, and so is the watch
            work.cancel()
    if failure is not None:
        raise failure
    return value


async def _watch(client: socket.socket, work: Context) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = await loop.sock_recv(client, CHUNK)
        except OSError:  # a reset: the client is as gone as after a close
            data = b""
        if not data:
            work.cancel(ClientGone("the client closed its connection"))
            return


async def _handle(ctx: Context, conn: socket.socket, app: App) -> None:
    """One connection: its request, its answer, then close. A client that left, a
    deadline: nobody is waiting for an answer, and nothing to say. (A server stopping
    cancels the task natively, and the connection closes on the way out.)"""
    with conn, contextlib.suppress(ContextError, OSError):
        await _answer(ctx, conn, app)


async def _answer(ctx: Context, conn: socket.socket, app: App) -> None:
    loop = asyncio.get_running_loop()
    exchange = ServerExchange()
    with ctx.with_timeout(READ_TIMEOUT_S) as reading:
        async with reading.scope():
            while not exchange.receive(await loop.sock_recv(conn, CHUNK)):
                pass
    asked = exchange.asked()
    if asked is None:
        return  # the client closed before it asked anything
    answer = app.route(asked) if isinstance(asked, Request) else asked
    if isinstance(answer, Target):
        target = answer
        with ctx.with_timeout(app.timeout) as probing:
            result = await run_until_hangup(probing, conn,
                                            lambda work: probe(work, target, tls=app.tls))
        answer = app.result(result)
    with ctx.with_timeout(WRITE_TIMEOUT_S) as writing:
        async with writing.scope():
            await loop.sock_sendall(conn, exchange.respond(answer))
