"""Chapter 10, threads: graceful shutdown, Go's ``signal.NotifyContext``.

Go::

    ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
    defer stop()        // the handlers go, the context is cancelled
    run(ctx)            // the first signal cancels ctx: everything under it stops

Write ``notify_context``, used as ``with notify_context() as ctx:``. Python runs a
signal handler in the main thread, between two bytecodes, wherever that thread
happens to be (perhaps inside the context tree's lock): the handler must not cancel
the context itself. A thread cannot be stopped from outside, so a second signal ends
the process. Each ``TODO`` names its task.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable, Iterator

from patterns.context import Signaled  # noqa: F401  (task 1: the cause of the cancel)
from patterns.context.on_threads import Context, background

__all__ = ["notify_context"]


@contextlib.contextmanager
def notify_context(parent: Context | None = None, *,
                   signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[Context]:
    """``with notify_context() as ctx:``, a child of ``parent`` that the first of
    ``signals`` cancels with cause ``Signaled(signum)``; a second one ends the process
    with ``128 +`` the first. Leaving the block restores the handlers from before."""
    ctx = (parent if parent is not None else background()).with_cancel()
    # TODO(task 1): install a handler on each of `signals`; the first signal cancels
    #   ctx with cause Signaled(signum).
    # TODO(task 2): the handler only passes the signal on (a queue.SimpleQueue); a
    #   watcher thread, started here, does the cancelling.
    # TODO(task 3): on the way out, whatever happened, put back the handlers from
    #   before and cancel ctx (Go's stop()).
    # TODO(task 4): a second signal while the block runs: flush stdout and stderr, and
    #   os._exit(128 + the first signal).
    yield ctx
