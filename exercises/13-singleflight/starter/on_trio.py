"""Chapter 13, trio: callers asking for the same key share one call.

Go's ``x/sync/singleflight``::

    var g singleflight.Group
    v, err, shared := g.Do(key, func() (any, error) {
        return db.Load(key) // once per key in flight, however many goroutines ask
    })

becomes::

    async with Group() as g:
        value, shared = await g.do(key, db.load, key)  # or its exception, raised

Cancellation is built in: think about which task runs the call, and what a caller's
cancellation must (and must not) do to it.
"""

from __future__ import annotations

import contextlib  # noqa: F401  (contextlib.nullcontext: task 3)
from collections.abc import Awaitable, Callable, Hashable
from types import TracebackType
from typing import Any

import trio

from patterns.context.on_trio import Context

__all__ = ["Group"]


class _Call:
    """One call in flight (Go's ``call``): its callers, and its outcome once it ends."""

    def __init__(self) -> None:
        self.callers = 1  # the callers waiting for it
        self.done = trio.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.shared = False
        self.scope = trio.CancelScope()  # the call's own: cancelled by its last caller


class Group:
    """Calls that callers share, by key (Go ``singleflight.Group``), used as
    ``async with Group() as g:``: the block owns the calls' tasks."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, _Call] = {}

    async def __aenter__(self) -> Group:
        self._opening = trio.open_nursery()
        self._nursery = await self._opening.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._opening.__aexit__(exc_type, exc, tb)

    async def do(self, key: Hashable, afn: Callable[..., Awaitable[Any]], *args: Any,
                 ctx: Context | None = None) -> tuple[Any, bool]:
        """Wait for the call of ``key`` in flight, starting ``afn(*args)`` as a task if
        there is none; return ``(value, shared)``, or raise its exception, the same
        object in every caller."""
        # TODO (task 1): join the call in flight for key (callers += 1), or put a new
        # _Call in the map and start _run as a task of the group's:
        # self._nursery.start_soon(self._run, key, call, afn, args)
        # No await between the look-up and the fill. Then every caller, the first too,
        # waits for call.done.
        # TODO (task 2): once it is set, return (call.value, call.shared), or raise
        # call.error, the very object.
        # TODO (task 3): wait inside `with ctx.scope():` when there is a ctx; if the wait
        # raises (the ctx ended, or this task was cancelled), this caller leaves
        # (callers -= 1) and re-raises. The call goes on for the others.
        # TODO (task 4): ... unless it was the last: then take the call out of the map
        # and cancel it (call.scope.cancel()).
        raise NotImplementedError("task 1: do() should start or join the call for key")

    def forget(self, key: Hashable) -> None:
        """The next ``do(key)`` starts a new call, even while one is in flight."""
        # TODO (task 5): take key out of the map; the call goes on for its callers.
        raise NotImplementedError("task 5: forget(key) should take key out of the map")

    async def _run(self, key: Hashable, call: _Call, afn: Callable[..., Awaitable[Any]],
                   args: tuple[Any, ...]) -> None:
        """The call's own task: run afn, keep its outcome, wake the callers."""
        # TODO (task 1): await afn(*args), keep the value in call.value; take the call
        # out of the map; then call.done.set().
        # TODO (task 2): keep an exception in call.error instead; set call.shared (more
        # than one caller waiting?) before waking them.
        # TODO (task 4): run it all inside `with call.scope:`, the call's own cancel
        # scope, which catches its own trio.Cancelled; that is how the call is stopped,
        # not its failure: let it go on.
        # TODO (task 5): take the key out of the map only if it still holds this call.
        # TODO (task 6): KeyboardInterrupt's kind too: catch BaseException.
        raise NotImplementedError("task 1: _run() should run the call")
