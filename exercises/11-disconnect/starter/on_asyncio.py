"""Chapter 11, asyncio: run a handler's work under a context the client's hang-up cancels.

Go's ``net/http`` cancels ``r.Context()`` when the client's connection closes: a
background read on the connection sees end of file while the handler runs::

    func handler(w http.ResponseWriter, r *http.Request) {
        result, err := probe(r.Context(), target)  // stops when the client leaves
        ...
    }

Here that is ``run_until_hangup(ctx, client, afn)``: ``await afn(work)`` runs in the
caller's task, under ``work``, a child of ``ctx``; your job is to cancel ``work`` when
the client hangs up. A task is cheap: watch the client's socket in a second task,
beside the work, in an ``asyncio.TaskGroup``. Each ``TODO`` names its task.
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
    work = ctx.with_cancel()
    # TODO (task 1): run _watch(client, work) as a task of a TaskGroup, around the work.
    # TODO (task 2): an exception raised inside the TaskGroup's block comes out wrapped
    # in an ExceptionGroup: keep the work's, and raise it after the block, itself.
    # TODO (task 3): when the work ends, cancel the watcher (the block waits for it).
    try:
        return await afn(work)
    finally:
        work.cancel()


async def _watch(client: socket.socket, work: Context) -> None:
    """Read ``client`` until it hangs up, then cancel ``work``."""
    loop = asyncio.get_running_loop()
    # TODO (task 1): loop on await loop.sock_recv(client, CHUNK). b"" is end of file: the
    # client hung up, so work.cancel(ClientGone("the client closed its connection")). A
    # reset raises ConnectionResetError (an OSError): the same.
    # TODO (task 2): bytes are not a hang-up: drop them and read again.
    del loop  # (this line goes once the TODOs are done)
