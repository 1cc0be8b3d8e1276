"""Chapter 10, trio: graceful shutdown, Go's ``signal.NotifyContext``.

Go::

    ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
    defer stop()        // the handlers go, the context is cancelled
    run(ctx)            // the first signal cancels ctx: everything under it stops

Write ``notify_context``, used as ``async with notify_context() as ctx:``. trio delivers
signals as messages (``trio.open_signal_receiver``) to a task that reads them: a task in
a nursery around the block. A second signal cancels the block's cancel scope. Each
``TODO`` names its task.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Iterable

from patterns.context import Signaled  # noqa: F401  (task 1: the cause of the cancel)
from patterns.context.on_trio import Context, background

__all__ = ["notify_context"]


@contextlib.asynccontextmanager
async def notify_context(parent: Context | None = None, *,
                         signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
                         ) -> AsyncIterator[Context]:
    """``async with notify_context() as ctx:``, a child of ``parent`` that the first of
    ``signals`` cancels with cause ``Signaled(signum)``; a second one cancels the block,
    which raises that ``Signaled``. Leaving the block restores the handlers from before."""
    ctx = (parent if parent is not None else background()).with_cancel()
    # TODO(task 1): the first of `signals` cancels ctx with cause Signaled(signum).
    # TODO(task 2): ... in a task that reads them (trio.open_signal_receiver), started
    #   in a nursery around the block with nursery.start, so it listens before the
    #   block runs.
    # TODO(task 3): on the way out, whatever happened, end that task (the receiver then
    #   restores the handlers) and cancel ctx; let the block's own error out as it is.
    # TODO(task 4): a second signal cancels a trio.CancelScope around the block; the
    #   block then raises the first signal's Signaled.
    yield ctx
