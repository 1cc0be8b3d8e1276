"""Chapter 10, threads: graceful shutdown, Go's ``signal.NotifyContext``.

Go::

    ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
    defer stop()        // the handlers go, the context is cancelled
    run(ctx)            // the first signal cancels ctx: everything under it stops

Python runs a signal handler in the main thread, between two bytecodes, wherever that
thread happens to be: perhaps inside the context tree's lock. So the handler only puts
the signal on a queue (``queue.SimpleQueue.put`` takes no lock) and a watcher thread
does the cancelling. A second signal ends the process: a thread cannot be stopped from
outside, so nothing less would be "at once".

BUGGY (wrong-cause): the context is cancelled without the Signaled cause.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from types import FrameType

from patterns.context.on_threads import Context, background

__all__ = ["notify_context"]


@contextlib.contextmanager
def notify_context(parent: Context | None = None, *,
                   signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[Context]:
    """``with notify_context() as ctx:``, a child of ``parent`` that the first of
    ``signals`` cancels with cause ``Signaled(signum)``; a second one ends the process
    with ``128 +`` the first. Leaving the block restores the handlers from before."""
    ctx = (parent if parent is not None else background()).with_cancel()
    received: queue.SimpleQueue[int | None] = queue.SimpleQueue()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.put(signum)  # no lock: safe wherever the main thread was interrupted

    watcher = threading.Thread(target=_watch, args=(received, ctx), daemon=True)
    watcher.start()
    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, on_signal)
        yield ctx
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        received.put(None)  # the block is over: so is the watcher
        watcher.join()
        ctx.cancel()  # Go's stop()


def _watch(received: queue.SimpleQueue[int | None], ctx: Context) -> None:
    first = received.get()
    if first is None:
        return
    ctx.cancel()  # BUG: no cause: nothing says a signal did it, nor which
    if received.get() is not None:  # a second signal while the block still runs
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + first)
