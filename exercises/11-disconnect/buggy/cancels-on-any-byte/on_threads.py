"""Chapter 11, threads: run a handler's work under a context the client's hang-up cancels.

BUGGY (cancels-on-any-byte): any bytes from the client are taken for a hang-up.

Go's ``net/http`` cancels ``r.Context()`` when the client's connection closes: a
background read on the connection sees end of file while the handler runs::

    func handler(w http.ResponseWriter, r *http.Request) {
        result, err := probe(r.Context(), target)  // stops when the client leaves
        ...
    }

Here that is ``run_until_hangup(ctx, client, fn)``. A thread waits on one thing at a
time, and the handler's thread is inside ``fn``: the hang-up is watched from a second
thread, blocked in ``client.recv``. When ``fn`` ends first, nothing interrupts that
thread: shutting down the socket's read side wakes its ``recv`` (on Linux), and it is
joined before the call returns.
"""

from __future__ import annotations

import contextlib
import socket
import threading
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
    watcher = threading.Thread(target=_watch, args=(client, work), name="hang-up watcher")
    watcher.start()
    try:
        return fn(work)
    finally:
        work.cancel()  # the work is over: a hang-up from now on changes nothing
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RD)  # wakes the watcher's recv() with b""
        watcher.join()


def _watch(client: socket.socket, work: Context) -> None:
    while True:
        try:
            data = client.recv(CHUNK)
        except TimeoutError:  # the socket's own timeout: quiet is not gone
            continue
        except OSError:  # a reset: as gone as a close
            data = b""
        if data is not None:  # anything that wakes the read is taken for a hang-up
            work.cancel(ClientGone("the client closed its connection"))
            return
        # anything else (a pipelined request) is not a hang-up: read on
