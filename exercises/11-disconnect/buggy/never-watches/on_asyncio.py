"""Chapter 11, asyncio: run a handler's work under a context the client's hang-up cancels.

BUGGY (never-watches): nothing watches the client; the work runs to its own timeout.

Go's ``net/http`` cancels ``r.Context()`` when the client's connection closes: a
background read on the connection sees end of file while the handler runs::

    func handler(w http.ResponseWriter, r *http.Request) {
        result, err := probe(r.Context(), target)  // stops when the client leaves
        ...
    }

Here that is ``run_until_hangup(ctx, client, afn)``. A task is cheap: the hang-up is
watched by a second task beside the work, in a ``TaskGroup``, and cancelled when the
work ends. The work's own exception is raised after the block, itself: raised inside
it, the ``TaskGroup`` would wrap it in an ``ExceptionGroup``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from patterns.context.on_asyncio import Context
from patterns.probe.serve import ClientGone

__all__ = ["run_until_hangup"]

CHUNK = 65536
T = TypeVar("T")


async def run_until_hangup(ctx: Context, client: socket.socket,
                           afn: Callable[[Context], Awaitable[T]]) -> T:
    """``await afn(work)``, ``work`` a child of ``ctx`` cancelled with ``ClientGone``
    as its cause when ``client`` (non-blocking) reaches end of file or is reset;
    returns what ``afn`` returns and raises what it raises."""
    with ctx.with_cancel() as work:  # nothing watches the client
        return await afn(work)


async def _watch(client: socket.socket, work: Context) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = await loop.sock_recv(client, CHUNK)
        except OSError:  # a reset: as gone as a close
            data = b""
        if not data:  # end of file: the client hung up
            work.cancel(ClientGone("the client closed its connection"))
            return
        # anything else (a pipelined request) is not a hang-up: read on
