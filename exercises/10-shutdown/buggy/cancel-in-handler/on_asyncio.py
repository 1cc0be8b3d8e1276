"""Chapter 10, asyncio: graceful shutdown, Go's ``signal.NotifyContext``.

BUGGY (cancel-in-handler): the handlers are ``signal.signal``'s, not the loop's, and
cancel the context right there, in the middle of whatever the task was running (the
loop's own bookkeeping, a callback half done), instead of as a loop callback
(``loop.add_signal_handler``) between tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterable
from types import FrameType

from patterns.context import Signaled
from patterns.context.on_asyncio import Context, background

__all__ = ["notify_context"]


@contextlib.asynccontextmanager
async def notify_context(parent: Context | None = None, *,
                         signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
                         ) -> AsyncIterator[Context]:
    ctx = (parent if parent is not None else background()).with_cancel()
    task = asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()
    first: list[Signaled] = []
    cut = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal cut
        if not first:
            first.append(Signaled(signum))
            ctx.cancel(first[0])  # BUG: runs inside the interrupted code
        elif not cut:
            cut = True
            task.cancel()

    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, on_signal)
        yield ctx
    except asyncio.CancelledError:
        if cut and task.uncancel() <= cancelling:
            raise first[0] from None
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        ctx.cancel()
