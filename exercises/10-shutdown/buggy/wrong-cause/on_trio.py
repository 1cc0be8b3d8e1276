"""Chapter 10, trio: graceful shutdown, Go's ``signal.NotifyContext``.

Go::

    ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
    defer stop()        // the handlers go, the context is cancelled
    run(ctx)            // the first signal cancels ctx: everything under it stops

trio delivers signals as messages: ``trio.open_signal_receiver`` installs the handlers
and restores them when its block ends, and a task reads from it, so the cancelling runs
in that task, never in the middle of other code. The task needs a nursery around the
block; a second signal cancels the block's cancel scope, and the block raises the
first signal's ``Signaled``.

BUGGY (wrong-cause): the context is cancelled without the Signaled cause.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Iterable

import trio

from patterns.context import Signaled
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
    block = trio.CancelScope()
    error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        await nursery.start(_watch, signals, ctx, block)  # handlers in place first
        try:
            with block:
                yield ctx
        except BaseException as exc:
            error = exc  # raised below: the nursery would wrap it in an ExceptionGroup
        finally:
            nursery.cancel_scope.cancel()  # ends the watcher, which restores the handlers
            ctx.cancel()  # Go's stop()
    if block.cancelled_caught:
        assert isinstance(ctx.cause, Signaled)
        raise ctx.cause
    if error is not None:
        raise error


async def _watch(signals: Iterable[int], ctx: Context, block: trio.CancelScope, *,
                 task_status: trio.TaskStatus[None]) -> None:
    with trio.open_signal_receiver(*signals) as received:
        task_status.started()
        await anext(received)
        ctx.cancel()  # BUG: no cause: nothing says a signal did it, nor which
        await anext(received)  # a second signal while the block still runs
        block.cancel()
