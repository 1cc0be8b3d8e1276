"""Chapter 10, asyncio: graceful shutdown, Go's ``signal.NotifyContext``.

Go::

    ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
    defer stop()        // the handlers go, the context is cancelled
    run(ctx)            // the first signal cancels ctx: everything under it stops

Write ``notify_context``, used as ``async with notify_context() as ctx:``. asyncio's
``loop.add_signal_handler`` runs a handler as a loop callback, between tasks; a second
signal cancels the task running the block, natively. Each ``TODO`` names its task.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Iterable

from patterns.context import Signaled  # noqa: F401  (task 1: the cause of the cancel)
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
    # TODO(task 1): a handler on each of `signals`; the first cancels ctx with cause
    #   Signaled(signum).
    # TODO(task 2): ... as a loop callback (loop.add_signal_handler), not inside the
    #   code the signal interrupted.
    # TODO(task 3): on the way out, whatever happened, put back the handlers from
    #   before (remove_signal_handler leaves the default, not those) and cancel ctx.
    # TODO(task 4): a second signal cancels the block's task; the block then raises the
    #   first signal's Signaled instead of CancelledError.
    yield ctx
