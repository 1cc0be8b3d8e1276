"""Chapter 11, threads: run a handler's work under a context the client's hang-up cancels.

Go's ``net/http`` cancels ``r.Context()`` when the client's connection closes: a
background read on the connection sees end of file while the handler runs::

    func handler(w http.ResponseWriter, r *http.Request) {
        result, err := probe(r.Context(), target)  // stops when the client leaves
        ...
    }

Here that is ``run_until_hangup(ctx, client, fn)``: ``fn(work)`` runs in the caller's
thread, under ``work``, a child of ``ctx``; your job is to cancel ``work`` when the
client hangs up. A thread waits on one thing at a time, and this one is inside ``fn``:
the client's socket needs a thread of its own. Each ``TODO`` names its task.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TypeVar

from patterns.context.on_threads import Context
from patterns.probe.serve import ClientGone

__all__ = ["run_until_hangup"]

CHUNK = 65536
T = TypeVar("T")


def run_until_hangup(ctx: Context, client: socket.socket, fn: Callable[[Context], T]) -> T:
    """``fn(work)``, ``work`` a child of ``ctx`` cancelled with ``ClientGone`` as its
    cause when ``client`` reaches end of file or is reset; returns what ``fn`` returns
    and raises what it raises."""
    work = ctx.with_cancel()
    # TODO (task 1): start a watcher thread, _watch(client, work), before the work.
    try:
        return fn(work)
    finally:
        work.cancel()
        # TODO (task 3): end the watcher and join it. Nothing interrupts a thread, but
        # client.shutdown(socket.SHUT_RD) wakes its recv() with b"" (the write side
        # stays open for the answer).


def _watch(client: socket.socket, work: Context) -> None:
    """Read ``client`` until it hangs up, then cancel ``work``."""
    # TODO (task 1): loop on client.recv(CHUNK). b"" is end of file: the client hung up,
    # so work.cancel(ClientGone("the client closed its connection")). A reset raises
    # ConnectionResetError (an OSError): the same. A socket timeout (TimeoutError) is
    # only quiet: read again.
    # TODO (task 2): bytes are not a hang-up: drop them and read again.
