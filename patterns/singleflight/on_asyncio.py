"""Go's ``x/sync/singleflight`` on asyncio: one task per key, its result shared.

``await g.do(key, afn, *args)`` starts ``afn(*args)`` unless a call for ``key`` is in
flight; either way it waits for that call and returns its value, or raises its
exception, with ``shared`` saying whether other callers got it too. Go counterpart:
``singleflight.Group``.

What asyncio does differently: a task can be cancelled at any ``await``, so the call
is not run by its first caller, who might be cancelled and take it down for everyone;
it runs as a task of its own in the group's ``TaskGroup`` (``async with Group() as
g:``), and every caller, the first included, only waits, each on an event of its own.
A caller cancelled natively, or whose ``ctx`` ends (the wait runs inside
``ctx.scope()``), leaves; the call goes on for the others. When the last caller has
left, nobody wants the result: the call's task is cancelled, and the next ``do(key)``
starts afresh.

The group's block waits for the calls still in flight when it ends (callers outside
the block may want them). If the body raises, the calls are cancelled, callers still
waiting raise :class:`~patterns.singleflight.CallCancelled`, and the block raises the
body's exception itself, not wrapped in an ``ExceptionGroup`` as a ``TaskGroup`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from types import TracebackType
from typing import Any, TypeVar

from patterns.context.on_asyncio import Context
from patterns.singleflight import CallCancelled
from patterns.singleflight._flights import Call, Flights

__all__ = ["Group"]

T = TypeVar("T")


class Group(Flights):
    """Calls that callers share, by key (Go ``singleflight.Group``), used as
    ``async with Group() as g:``, whose block owns the calls' tasks. ``forget`` and
    ``statistics()`` are in :class:`~patterns.singleflight._flights.Flights`.

    >>> import asyncio
    >>> async def load(name):
    ...     await asyncio.sleep(0)
    ...     return {"retries": 3}
    >>> async def main():
    ...     async with Group() as g:
    ...         print(await asyncio.gather(g.do("config", load, "config"),
    ...                                    g.do("config", load, "config")))
    >>> asyncio.run(main())
    [({'retries': 3}, True), ({'retries': 3}, True)]
    """

    _lock = contextlib.nullcontext()  # one thread, one loop: nothing to guard
    _task_group: asyncio.TaskGroup | None = None

    def __init__(self) -> None:
        super().__init__()
        self._tasks: set[asyncio.Task[None]] = set()  # the calls' tasks, to stop them

    async def do(self, key: Hashable, afn: Callable[..., Awaitable[T]], *args: Any,
                 ctx: Context | None = None) -> tuple[T, bool]:
        """Wait for the call of ``key`` in flight, starting ``afn(*args)`` as a task if
        there is none; return ``(value, shared)`` or raise its exception, the same
        object in every caller (Go ``Do``).

        If ``ctx`` ends first, or already, raise ``ctx.err``; if the task is cancelled,
        ``CancelledError`` propagates. Either way the call goes on for the other
        callers, or is cancelled if there are none. ``shared`` is ``True`` when more
        than one caller was waiting as the call ended. A ``BaseException`` that is not
        an ``Exception`` reaches every caller too.
        """
        if self._task_group is None:
            raise RuntimeError("Group.do() needs the group's block: 'async with Group() as g:'")
        if ctx is not None:
            ctx.check()
        woken = asyncio.Event()
        call, started = self._join(key, woken.set)
        if started:
            task = self._task_group.create_task(self._run(call, afn, args))
            call.cancel = task.cancel
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            async with ctx.scope() if ctx is not None else contextlib.nullcontext():
                await woken.wait()
        except BaseException:  # cancelled, natively or through ctx
            self._leave(call, woken.set)  # the last to leave cancels the call
            raise
        return call.outcome()

    async def _run(self, call: Call, afn: Callable[..., Awaitable[Any]],
                   args: tuple[Any, ...]) -> None:
        try:
            value = await afn(*args)
        except asyncio.CancelledError:
            if call.callers:  # not by its last caller: by the group's block, which is ending
                self._finish(call, None, CallCancelled(
                    f"the call for {call.key!r} was cancelled by its group's block"))
            raise
        except BaseException as exc:  # KeyboardInterrupt's kind too: every caller gets it
            self._finish(call, None, exc)
            if not call.callers and not isinstance(exc, Exception):
                raise  # nobody is left to raise it: the group's block does, never swallowed
        else:
            self._finish(call, value, None)

    async def __aenter__(self) -> Group:
        task_group = asyncio.TaskGroup()
        await task_group.__aenter__()
        self._task_group = task_group
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Wait for the calls in flight. If the body raised, cancel them first, and let
        the body's exception out as it is; a cancellation from outside propagates."""
        assert self._task_group is not None
        task_group, self._task_group = self._task_group, None  # do() now refuses
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            for task in self._tasks:
                task.cancel()
            exc_type = exc = tb = None  # the TaskGroup would wrap it in an ExceptionGroup
        await task_group.__aexit__(exc_type, exc, tb)
