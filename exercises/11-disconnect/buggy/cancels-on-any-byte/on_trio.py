"""Chapter 11, trio: run a handler's work under a context the client's hang-up cancels.

BUGGY (cancels-on-any-byte): any bytes from the client are taken for a hang-up.

Go's ``net/http`` cancels ``r.Context()`` when the client's connection closes: a
background read on the connection sees end of file while the handler runs::

    func handler(w http.ResponseWriter, r *http.Request) {
        result, err := probe(r.Context(), target)  // stops when the client leaves
        ...
    }

Here that is ``run_until_hangup(ctx, client, afn)``. The hang-up is watched by a second
task beside the work, in a nursery, whose cancel scope ends it when the work ends. The
work's own exception is raised after the block, itself: raised inside it, the nursery
would wrap it in an ``ExceptionGroup``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from patterns.context.on_trio import Context
from patterns.probe.serve import ClientGone

__all__ = ["run_until_hangup"]

CHUNK = 65536
T = TypeVar("T")


async def run_until_hangup(ctx: Context, client: trio.socket.SocketType,
                           afn: Callable[[Context], Awaitable[T]]) -> T:
    """``await afn(work)``, ``work`` a child of ``ctx`` cancelled with ``ClientGone``
    as its cause when ``client`` (a trio socket) reaches end of file or is reset;
    returns what ``afn`` returns and raises what it raises."""
    work = ctx.with_cancel()
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch, client, work)
        try:
            value = await afn(work)
        except Exception as exc:  # raised below, itself, not in an ExceptionGroup
            failure = exc
        finally:
            nursery.cancel_scope.cancel()  # the work is over, and so is the watch
            work.cancel()
    if failure is not None:
        raise failure
    return value


async def _watch(client: trio.socket.SocketType, work: Context) -> None:
    while True:
        try:
            data = await client.recv(CHUNK)
        except OSError:  # a reset: as gone as a close
            data = b""
        if data is not None:  # anything that wakes the read is taken for a hang-up
            work.cancel(ClientGone("the client closed its connection"))
            return
        # anything else (a pipelined request) is not a hang-up: read on
