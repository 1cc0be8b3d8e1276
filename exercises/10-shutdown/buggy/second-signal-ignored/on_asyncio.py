"""Chapter 10, asyncio: graceful shutdown, Go's ``signal.NotifyContext``.

Go::

    ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
    defer stop()        // the handlers go, the context is cancelled
    run(ctx)            // the first signal cancels ctx: everything under it stops

asyncio's ``loop.add_signal_handler`` runs the handler as an ordinary loop callback,
between tasks, never in the middle of other code: it may cancel the context itself. A
second signal cancels the task running the block, natively, and the block raises the
first signal's ``Signaled``. ``remove_signal_handler`` leaves the *default* handler,
not the one from before: that one is put back by hand.

BUGGY (second-signal-ignored): a second signal is dropped; the block runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterable

from patterns.context import Signaled
from patterns.context.on_asyncio import Context, background

__all__ = ["notify_context"]


@contextlib.asynccontextmanager
async def notify_context(parent: Context | None = None, *,
                         signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
                         ) -> AsyncIterator[Context]:
    """``async with notify_context() as ctx:``, a child of ``parent`` that the first of
    ``signals`` cancels with cause ``Signaled(signum)``; a second one cancels the block,
    which raises that ``Signaled``. Leaving the block restores the handlers from before."""
    ctx = (parent if parent is not None else background()).with_cancel()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()  # cancels already on their way to the task: not ours
    first: list[Signaled] = []
    cut = False

    def on_signal(signum: int) -> None:
        nonlocal cut
        if not first:
            first.append(Signaled(signum))
            ctx.cancel(first[0])
        # BUG: a second signal is dropped; nothing cancels the block

    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.getsignal(signum)
            loop.add_signal_handler(signum, on_signal, signum)
        yield ctx
    except asyncio.CancelledError:
        if cut and task.uncancel() <= cancelling:  # our cancel, and nobody else's
            raise first[0] from None
        raise
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, handler)
        ctx.cancel()  # Go's stop()
