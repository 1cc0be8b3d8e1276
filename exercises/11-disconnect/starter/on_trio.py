"""Chapter 11, trio: run a handler's work under a context the client's hang-up cancels.

Go's ``net/http`` cancels ``r.Context()`` when the client's connection closes: a
background read on the connection sees end of file while the handler runs::

    func handler(w http.ResponseWriter, r *http.Request) {
        result, err := probe(r.Context(), target)  // stops when the client leaves
        ...
    }

Here that is ``run_until_hangup(ctx, client, afn)``: ``await afn(work)`` runs in the
caller's task, under ``work``, a child of ``ctx``; your job is to cancel ``work`` when
the client hangs up. Watch the client's socket in a second task, beside the work, in a
nursery. Each ``TODO`` names its task.
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
    # TODO (task 1): run _watch(client, work) as a task of a nursery, around the work.
    # TODO (task 2): an exception raised inside the nursery's block comes out wrapped in
    # an ExceptionGroup: keep the work's, and raise it after the block, itself.
    # TODO (task 3): when the work ends, end the watcher (the nursery waits for it): its
    # cancel scope is nursery.cancel_scope.
    try:
        return await afn(work)
    finally:
        work.cancel()


async def _watch(client: trio.socket.SocketType, work: Context) -> None:
    """Read ``client`` until it hangs up, then cancel ``work``."""
    # TODO (task 1): loop on await client.recv(CHUNK). b"" is end of file: the client hung
    # up, so work.cancel(ClientGone("the client closed its connection")). A reset raises
    # ConnectionResetError (an OSError): the same.
    # TODO (task 2): bytes are not a hang-up: drop them and read again.
