"""Chapter 13, threads: callers asking for the same key share one call.

Go's ``x/sync/singleflight``::

    var g singleflight.Group
    v, err, shared := g.Do(key, func() (any, error) {
        return db.Load(key) // once per key in flight, however many goroutines ask
    })

becomes::

    g = Group()
    value, shared = g.do(key, db.load, key)  # the load's exception is raised instead

As in Go, the first caller runs ``fn`` itself, on its own thread, and cannot leave;
the callers who join it sleep, each on an event of its own, which both the end of the
call and the end of their ctx set: a thread has no ``select``, so one event is woken by
either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from patterns.context.on_threads import Context

__all__ = ["Group"]


class _Call:
    """One call in flight (Go's ``call``): its callers, and its outcome once it ends."""

    def __init__(self) -> None:
        self.callers = 1  # the caller running it, and those who joined and stayed
        self.wakes: list[Callable[[], object]] = []  # one per caller who joined
        self.finished = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.shared = False


class Group:
    """Calls that callers share, by key (Go ``singleflight.Group``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call] = {}

    def do(self, key: Hashable, fn: Callable[..., Any], *args: Any,
           ctx: Context | None = None) -> tuple[Any, bool]:
        """Run ``fn(*args)`` once for all the callers of ``key`` while it runs; return
        ``(value, shared)``, or raise its exception, the same object in every caller."""
        woken = threading.Event()
        with self._lock:  # look and fill in one step: two callers must not both start
            call = self._calls.get(key)
            first = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                call.callers += 1
                call.wakes.append(woken.set)
        if first:
            self._run(key, call, fn, args)
        else:
            self._wait(call, woken, ctx)
        if call.error is not None:
            raise call.error
        return call.value, call.shared

    def forget(self, key: Hashable) -> None:
        """The next ``do(key)`` starts a new call, even while one is in flight."""
        with self._lock:
            self._calls.pop(key, None)

    def _run(self, key: Hashable, call: _Call, fn: Callable[..., Any],
             args: tuple[Any, ...]) -> None:
        try:
            call.value = fn(*args)
        except BaseException as exc:  # KeyboardInterrupt's kind too: every caller gets it
            call.error = exc
        with self._lock:
            call.shared = call.callers > 1
            call.finished = True
            if self._calls.get(key) is call:  # after forget(), the key may hold a newer one
                del self._calls[key]
            wakes = call.wakes
        for wake in wakes:
            wake()

    def _wait(self, call: _Call, woken: threading.Event, ctx: Context | None) -> None:
        stop = ctx.after_cancel(woken.set) if ctx is not None else None
        try:
            while not call.finished and not (ctx is not None and ctx.done):
                woken.wait(None if ctx is None else ctx.remaining())
        finally:
            if stop is not None:
                stop()
        with self._lock:
            if call.finished:  # the outcome came first: it is this caller's
                return
            call.callers -= 1
            call.wakes.remove(woken.set)
        assert ctx is not None
        ctx.check()
