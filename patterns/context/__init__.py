"""Go's ``context``: a tree of cancellation signals with deadlines, causes and values.

A context is handed down a call chain; cancelling it (or passing its deadline) tells
every piece of work below it to stop, and never anything above it. This package holds
the runtime-neutral errors; ``on_threads``, ``on_asyncio`` and ``on_trio`` each define
``background()`` and ``Context`` with the same members, differing only where the runtime
does: threads can only be asked to stop (``check``, ``sleep``, ``after``), while asyncio
and trio can be interrupted natively inside ``ctx.scope()``.
"""

from __future__ import annotations

from patterns.runtimes import runtime_modules

__all__ = ["Canceled", "ContextError", "DeadlineExceeded"]


class ContextError(Exception):
    """Why a context is done: the base of :class:`Canceled` and :class:`DeadlineExceeded`."""


class Canceled(ContextError):
    """The context was cancelled (Go ``context.Canceled``)."""


class DeadlineExceeded(ContextError, TimeoutError):
    """The context's deadline passed (Go ``context.DeadlineExceeded``).

    Also a :class:`TimeoutError`, so ``except TimeoutError`` catches it as it catches
    ``asyncio.timeout`` and socket timeouts.
    """


__getattr__ = runtime_modules(__name__)
