"""Chapter 13, asyncio: callers asking for the same key share one call.

Buggy variant 'end-deletes-newer-call': a call that ends takes its key out of the map
even when, after a forget(), the key holds a newer call.

Go's ``x/sync/singleflight``::

    var g singleflight.Group
    v, err, shared := g.Do(key, func() (any, error) {
        return db.Load(key) // once per key in flight, however many goroutines ask
    })

becomes::

    async with Group() as g:
        value, shared = await g.do(key, db.load, key)  # or its exception, raised

A task can be cancelled at any ``await``, so the call does not run in its first
caller, whose cancellation would end it for everyone: it runs as a task of the group's
own, and every caller, the first too, only waits for it. A caller who leaves (its ctx
ends, or it is cancelled) leaves the call to the others; the last one to leave cancels
it, since nobody wants the answer any more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from types import TracebackType
from typing import Any

from patterns.context.on_asyncio import Context

__all__ = ["Group"]


class _Call:
    """One call in flight (Go's ``call``): its callers, and its outcome once it ends."""

    def __init__(self) -> None:
        self.callers = 1  # the callers waiting for it
        self.done = asyncio.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.shared = False
        self.task: asyncio.Task[None] | None = None  # the task running the call


class Group:
    """Calls that callers share, by key (Go ``singleflight.Group``), used as
    ``async with Group() as g:``: the block owns the calls' tasks."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, _Call] = {}

    async def __aenter__(self) -> Group:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._tasks.__aexit__(exc_type, exc, tb)

    async def do(self, key: Hashable, afn: Callable[..., Awaitable[Any]], *args: Any,
                 ctx: Context | None = None) -> tuple[Any, bool]:
        """Wait for the call of ``key`` in flight, starting ``afn(*args)`` as a task if
        there is none; return ``(value, shared)``, or raise its exception, the same
        object in every caller."""
        call = self._calls.get(key)  # no await from here to the fill: nobody cuts in
        if call is None:
            call = self._calls[key] = _Call()
            call.task = self._tasks.create_task(self._run(key, call, afn, args))
        else:
            call.callers += 1
        try:
            async with ctx.scope() if ctx is not None else contextlib.nullcontext():
                await call.done.wait()
        except BaseException:  # cancelled, natively or through ctx: this caller leaves
            call.callers -= 1
            if call.callers == 0 and not call.done.is_set():  # the last: nobody wants it
                if self._calls.get(key) is call:
                    del self._calls[key]
                assert call.task is not None
                call.task.cancel()
            raise
        if call.error is not None:
            raise call.error
        return call.value, call.shared

    def forget(self, key: Hashable) -> None:
        """The next ``do(key)`` starts a new call, even while one is in flight."""
        self._calls.pop(key, None)

    async def _run(self, key: Hashable, call: _Call, afn: Callable[..., Awaitable[Any]],
                   args: tuple[Any, ...]) -> None:
        try:
            call.value = await afn(*args)
        except asyncio.CancelledError:
            raise  # its last caller left: there is nobody to tell
        except BaseException as exc:  # KeyboardInterrupt's kind too: every caller gets it
            call.error = exc
        call.shared = call.callers > 1
        self._calls.pop(key, None)  # BUG: the key may hold a newer call
        call.done.set()
