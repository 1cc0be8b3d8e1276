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
the callers who join it wait for it, and may leave when their ctx ends.
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
        self._calls: dict[Hashable, _Call] = {}  # the call in flight for each key

    def do(self, key: Hashable, fn: Callable[..., Any], *args: Any,
           ctx: Context | None = None) -> tuple[Any, bool]:
        """Run ``fn(*args)`` once for all the callers of ``key`` while it runs; return
        ``(value, shared)``, or raise its exception, the same object in every caller."""
        # TODO (task 1): under the lock, in one step, join the call in flight for key
        # (callers += 1) or put a new _Call in the map. The first caller runs
        # fn(*args) itself, then takes the call out of the map; the others wait for it.
        # TODO (task 2): the call keeps its value or its exception, and shared (more than
        # one caller?); every caller returns (value, shared) or raises that exception.
        # TODO (task 3): a caller who joined sleeps on a threading.Event of its own (put
        # its .set in call.wakes, for the call's end to wake it). With a ctx, the ctx's
        # cancel wakes it too: if the ctx ended first, it leaves and raises ctx.err.
        # TODO (task 5): at the end, take the key out of the map only if it still holds
        # this call: forget() may have put a newer one there.
        # TODO (task 6): KeyboardInterrupt's kind too: catch BaseException from fn.
        raise NotImplementedError("task 1: do() should run fn once for all callers of key")

    def forget(self, key: Hashable) -> None:
        """The next ``do(key)`` starts a new call, even while one is in flight."""
        # TODO (task 5): take key out of the map (under the lock); the call goes on.
        raise NotImplementedError("task 5: forget(key) should take key out of the map")
