"""Go's ``x/sync/singleflight`` on trio: one task per key, its result shared.

``await g.do(key, afn, *args)`` starts ``afn(*args)`` unless a call for ``key`` is in
flight; either way it waits for that call and returns its value, or raises its
exception, with ``shared`` saying whether other callers got it too. Go counterpart:
``singleflight.Group``.

What trio does differently: cancellation is built in, so the call is not run by its
first caller, whose cancellation would take it down for everyone; it runs as a task of
its own in the group's nursery (``async with Group() as g:``), inside a cancel scope of
its own, and every caller, the first included, only waits, each on an event of its own.
A caller whose enclosing scope is cancelled, or whose ``ctx`` ends (the wait runs inside
``ctx.scope()``), leaves; the call goes on for the others. When the last caller has
left, nobody wants the result: the call's scope is cancelled, and the next ``do(key)``
starts afresh.

The group's block waits for the calls still in flight when it ends (callers outside
the block may want them). If the body raises, the calls are cancelled, callers still
waiting raise :class:`~patterns.singleflight.CallCancelled`, and the block raises the
body's exception itself, not wrapped in an ``ExceptionGroup`` as a nursery would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Hashable
from types import TracebackType
from typing import Any, TypeVar

import trio

from patterns.context.on_trio import Context
from patterns.singleflight import CallCancelled
from patterns.singleflight._flights import Call, Flights

__all__ = ["Group"]

T = TypeVar("T")


class Group(Flights):
    """Calls that callers share, by key (Go ``singleflight.Group``), used as
    ``async with Group() as g:``, whose block owns the calls' tasks. ``forget`` and
    ``statistics()`` are in :class:`~patterns.singleflight._flights.Flights`.

    >>> import trio
    >>> async def load(name):
    ...     await trio.sleep(0)
    ...     return {"retries": 3}
    >>> async def main():
    ...     results = []
    ...     async def ask():
    ...         results.append(await g.do("config", load, "config"))
    ...     async with Group() as g:
    ...         async with trio.open_nursery() as callers:
    ...             callers.start_soon(ask)
    ...             callers.start_soon(ask)
    ...     print(results)
    >>> trio.run(main)
    [({'retries': 3}, True), ({'retries': 3}, True)]
    """

    _lock = contextlib.nullcontext()  # one thread, one run: nothing to guard
    _nursery: trio.Nursery | None = None

    async def do(self, key: Hashable, afn: Callable[..., Awaitable[T]], *args: Any,
                 ctx: Context | None = None) -> tuple[T, bool]:
        """Wait for the call of ``key`` in flight, starting ``afn(*args)`` as a task if
        there is none; return ``(value, shared)`` or raise its exception, the same
        object in every caller (Go ``Do``).

        If ``ctx`` ends first, or already, raise ``ctx.err``; if an enclosing cancel
        scope is cancelled, ``trio.Cancelled`` propagates. Either way the call goes on
        for the other callers, or is cancelled if there are none. ``shared`` is ``True``
        when more than one caller was waiting as the call ended. A ``BaseException``
        that is not an ``Exception`` reaches every caller too.
        """
        if self._nursery is None:
            raise RuntimeError("Group.do() needs the group's block: 'async with Group() as g:'")
        if ctx is not None:
            ctx.check()
        woken = trio.Event()
        call, started = self._join(key, woken.set)
        if started:
            scope = trio.CancelScope()
            call.cancel = scope.cancel
            self._nursery.start_soon(self._run, call, scope, afn, args)
        try:
            with ctx.scope() if ctx is not None else contextlib.nullcontext():
                await woken.wait()
        except BaseException:  # cancelled, natively or through ctx
            self._leave(call, woken.set)  # the last to leave cancels the call
            raise
        return call.outcome()

    async def _run(self, call: Call, scope: trio.CancelScope,
                   afn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        with scope:  # cancelled by the call's last caller leaving: then it just ends
            try:
                value = await afn(*args)
            except trio.Cancelled:
                if call.callers:  # not its own scope: the group's block is ending
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
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Wait for the calls in flight. If the body raised, cancel them first, and let
        the body's exception out as it is; a cancellation from outside propagates."""
        assert self._nursery is not None
        nursery, self._nursery = self._nursery, None  # do() now refuses
        if exc is not None and not isinstance(exc, trio.Cancelled):
            nursery.cancel_scope.cancel()
            exc_type = exc = tb = None  # the nursery would wrap it in an ExceptionGroup
        await self._nursery_manager.__aexit__(exc_type, exc, tb)
