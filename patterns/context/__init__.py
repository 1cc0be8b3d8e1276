"""Go's ``context``: a tree of cancellation signals with deadlines, causes and values.

A context is handed down a call chain; cancelling it (or passing its deadline) tells
every piece of work below it to stop, and never anything above it. This package holds
the runtime-neutral errors; ``on_threads``, ``on_asyncio`` and ``on_trio`` each define
``background()`` and ``Context`` with the same members, differing only where the runtime
does: threads can only be asked to stop (``check``, ``sleep``, ``after``), while asyncio
and trio can be interrupted natively inside ``ctx.scope()``.

Each runtime module also has ``notify_context(parent, signals=(SIGINT, SIGTERM),
grace=None)``, Go's ``signal.NotifyContext``: graceful shutdown as *signal, cancel,
drain, exit*. Inside its block the first of ``signals`` cancels the context with a
:class:`Signaled` cause, so everything under it stops and the pools drain, keeping the
results that finished; a second signal, or ``grace`` seconds with the block still
running, stops at once; leaving the block restores the handlers that were there
before. What "at once" can mean is where the runtimes differ: asyncio and trio cancel
the block natively, and it raises the :class:`Signaled`; threads cannot be stopped
from outside, so the process exits with ``128 + signal`` (the shell's code for "killed
by that signal") after flushing stdout and stderr. ``with`` in threads, ``async with``
in asyncio and trio, since there the block itself may be cancelled, as in
``asyncio.timeout()``. In no runtime does a signal handler cancel the context itself:
a handler interrupts the main thread between two bytecodes, perhaps while it holds the
context tree's lock, so the cancel is handed to a thread (threads) or runs on the
event loop (asyncio's ``loop.add_signal_handler``, a trio task reading
``trio.open_signal_receiver``).
"""

from __future__ import annotations

import signal

from patterns.runtimes import runtime_modules

__all__ = ["Canceled", "ContextError", "DeadlineExceeded", "Signaled"]


class ContextError(Exception):
    """Why a context is done: the base of :class:`Canceled` and :class:`DeadlineExceeded`."""


class Canceled(ContextError):
    """The context was cancelled (Go ``context.Canceled``)."""


class DeadlineExceeded(ContextError, TimeoutError):
    """The context's deadline passed (Go ``context.DeadlineExceeded``).

    Also a :class:`TimeoutError`, so ``except TimeoutError`` catches it as it catches
    ``asyncio.timeout`` and socket timeouts.
    """


class Signaled(Canceled):
    """A signal stopped the work: the cause with which ``notify_context`` cancels its
    context (Go ``signal.NotifyContext``; ``context.Cause`` tells which signal).

    ``signal`` is the signal's number; a program stopped by one exits with ``128 +
    signal`` by the shell's convention (130 for SIGINT, 143 for SIGTERM). A
    :class:`Canceled`, so ``except Canceled`` catches it too.

    >>> import signal
    >>> stop = Signaled(signal.SIGTERM)
    >>> stop.signal, str(stop), 128 + stop.signal
    (15, 'SIGTERM received', 143)
    """

    def __init__(self, signum: int) -> None:
        super().__init__(int(signum))  # the args a pickled copy is rebuilt from
        self.signal = int(signum)

    def __str__(self) -> str:
        try:
            name = signal.Signals(self.signal).name
        except ValueError:
            name = f"signal {self.signal}"
        return f"{name} received"


__getattr__ = runtime_modules(__name__)
