"""Go's ``x/sync/singleflight`` on OS threads: one call per key, its result shared.

``g.do(key, fn, *args)`` runs ``fn(*args)`` unless a call for ``key`` is in flight;
then it blocks until that call ends and returns its value, or raises its exception,
with ``shared`` saying whether other callers got it too. Go counterpart:
``singleflight.Group``.

What threads do differently: nothing can interrupt a thread, so there is no task to
run the call in and nothing to cancel it. As in Go, the first caller runs ``fn``
itself, on its own thread, and cannot leave early, whatever its ``ctx`` does; the
callers who join it sleep, each on an event of its own, which the end of the call or
the end of their ``ctx`` sets. A waiter whose ``ctx`` ends leaves and raises
``ctx.err``; the call goes on for the others. Go's ``DoChan`` is what a Go caller uses
to stop waiting; here that is the ``ctx``. Every caller raises the call's own exception
object; raised in several threads at once, its one ``__traceback__`` may show another
caller's frames: the price of the same object everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from patterns.context.on_threads import Context
from patterns.singleflight._flights import Call, Flights

__all__ = ["Group"]

T = TypeVar("T")


class Group(Flights):
    """Calls that callers share, by key (Go ``singleflight.Group``): a plain object,
    safe to use from any thread. ``forget`` and ``statistics()`` are in
    :class:`~patterns.singleflight._flights.Flights`.

    >>> g = Group()
    >>> g.do("config", lambda: {"retries": 3})
    ({'retries': 3}, False)
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def do(self, key: Hashable, fn: Callable[..., T], *args: Any,
           ctx: Context | None = None) -> tuple[T, bool]:
        """Run ``fn(*args)`` once for all the callers of ``key`` while it runs; return
        ``(value, shared)`` or raise its exception, the same object in every caller
        (Go ``Do``).

        The first caller runs ``fn`` on its own thread and returns when it does; its
        ``ctx`` is only checked on the way in. A caller who joins waits; if its ``ctx``
        ends first it leaves and raises ``ctx.err``, unless the result came first.
        ``shared`` is ``True`` when more than one caller was waiting as the call ended.
        A ``BaseException`` that is not an ``Exception`` reaches every caller too.
        """
        if ctx is not None:
            ctx.check()
        woken = threading.Event()
        call, started = self._join(key, woken.set)
        if started:
            self._run(call, fn, args)
        else:
            self._wait(call, woken, ctx)
        return call.outcome()

    def _run(self, call: Call, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # KeyboardInterrupt's kind too: every caller gets it
            self._finish(call, None, exc)
        else:
            self._finish(call, value, None)

    def _wait(self, call: Call, woken: threading.Event, ctx: Context | None) -> None:
        # A cancel sets the same event; the deadline is this wait's timeout.
        stop = ctx.after_cancel(woken.set) if ctx is not None else None
        try:
            while not call.done and not (ctx is not None and ctx.done):
                woken.wait(None if ctx is None else ctx.remaining())
        except BaseException:  # KeyboardInterrupt, in the main thread
            self._leave(call, woken.set)
            raise
        finally:
            if stop is not None:
                stop()
        if ctx is not None and ctx.done and self._leave(call, woken.set):
            ctx.check()  # left: the call had not ended
