"""Chapter 10, threads: graceful shutdown, Go's ``signal.NotifyContext``.

BUGGY (cancel-in-handler): the handler cancels the context itself, in the main thread,
between two bytecodes of whatever that thread was doing: if it held the context tree's
lock just then (deriving a child, registering a callback), the cancel waits for a lock
its own thread holds, for ever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from types import FrameType

from patterns.context import Signaled
from patterns.context.on_threads import Context, background

__all__ = ["notify_context"]


@contextlib.contextmanager
def notify_context(parent: Context | None = None, *,
                   signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[Context]:
    ctx = (parent if parent is not None else background()).with_cancel()
    first: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if first:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + first[0])
        first.append(signum)
        ctx.cancel(Signaled(signum))  # BUG: takes the tree's lock in the interrupted thread

    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, on_signal)
        yield ctx
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        ctx.cancel()
