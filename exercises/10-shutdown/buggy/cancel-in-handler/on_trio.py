"""Chapter 10, trio: graceful shutdown, Go's ``signal.NotifyContext``.

BUGGY (cancel-in-handler): ``signal.signal`` handlers that cancel right there, in the
middle of whatever the task was running, instead of signals read as messages
(``trio.open_signal_receiver``) by a task of their own.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Iterable
from types import FrameType

import trio

from patterns.context import Signaled
from patterns.context.on_trio import Context, background

__all__ = ["notify_context"]


@contextlib.asynccontextmanager
async def notify_context(parent: Context | None = None, *,
                         signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
                         ) -> AsyncIterator[Context]:
    ctx = (parent if parent is not None else background()).with_cancel()
    block = trio.CancelScope()
    first: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if first:
            block.cancel()
            return
        first.append(signum)
        ctx.cancel(Signaled(signum))  # BUG: runs inside the interrupted code

    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, on_signal)
        with block:
            yield ctx
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        ctx.cancel()
    if block.cancelled_caught:
        assert isinstance(ctx.cause, Signaled)
        raise ctx.cause
