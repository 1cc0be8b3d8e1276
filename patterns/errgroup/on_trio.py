"""Go's ``x/sync/errgroup`` on trio: tasks in a nursery, the first error wins.

``await g.go(afn, *args)`` starts a task; ``await g.wait()`` waits for the running
tasks and raises the first exception. The first exception cancels ``g.ctx``. Go
counterpart: ``errgroup.Group``.

What trio does differently: a nursery already is most of an errgroup (no task
outlives the block, and a failing task cancels the others), so a group is a nursery
entered by ``async with Group() as g:`` whose cancel scope is tied to ``g.ctx``: the
first error cancels ``g.ctx``, and with it every task and the block's body. The
difference to teach: a nursery raises an ``ExceptionGroup`` of every failure; a
``Group`` raises the first failure itself, and the siblings' cancellations are not
failures.

The group finishes when the block ends: only then is ``g.ctx`` cancelled without an
error, since the body runs inside it (``wait()`` inside the block does not cancel it,
unlike Go's ``Wait``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio

from patterns.context.on_trio import Context, background
from patterns.errgroup._group import GroupCore
from patterns.semaphore.on_trio import Semaphore

__all__ = ["Group"]


class Group(GroupCore):
    """A group of trio tasks (Go ``errgroup.WithContext``), used as
    ``async with Group() as g:``.

    ``g.ctx`` is a child of ``ctx`` (default ``background()``), cancelled by the first
    error, with that error as its cause, and when the block ends. ``limit`` bounds the
    tasks running at once (``None``: no bound).

    >>> import trio
    >>> async def fetch(ctx, page):
    ...     if page == 3:
    ...         raise RuntimeError(f"page {page}: HTTP 503")
    >>> async def main():
    ...     async with Group(limit=2) as g:
    ...         for page in range(6):
    ...             await g.go(fetch, g.ctx, page)
    >>> try:
    ...     trio.run(main)
    ... except RuntimeError as exc:  # the first error itself, not an ExceptionGroup
    ...     print("failed:", exc)
    failed: page 3: HTTP 503
    """

    ctx: Context
    _semaphore_type = Semaphore
    _lock = contextlib.nullcontext()  # one thread, one run: nothing to guard
    _nursery: trio.Nursery | None = None

    def __init__(self, ctx: Context | None = None, *, limit: int | None = None) -> None:
        super().__init__(ctx if ctx is not None else background(), limit)
        self._idle = trio.Event()
        self._idle.set()

    async def go(self, afn: Callable[..., Awaitable[object]], *args: Any, **kwargs: Any) -> None:
        """Start ``afn(*args, **kwargs)`` as a task, first waiting while ``limit`` tasks
        run (Go ``Go``)."""
        if self._limit is not None:
            await self._limit.acquire()
        self._start(afn, args, kwargs)

    async def wait(self) -> None:
        """Wait until no task is running, then raise the first exception, if any (Go
        ``Wait``)."""
        while self._running:
            await self._idle.wait()
        if self._error is not None:
            raise self._error

    async def __aenter__(self) -> Group:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        # The nursery's own cancel scope is the group's: it carries g.ctx's deadline and
        # is cancelled with g.ctx, so the tasks and the body stop natively, together.
        cancel_scope = self._nursery.cancel_scope
        cancel_scope.deadline = math.inf if self.ctx.deadline is None else self.ctx.deadline
        self._stop = self.ctx.after_cancel(cancel_scope.cancel)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Wait for every task. If the body raised, cancel ``ctx`` first; the body's
        exception wins over the tasks' (``_outcome``); a cancellation from outside the
        block propagates."""
        assert self._nursery is not None
        body_error = None if isinstance(exc, trio.Cancelled) else exc
        if body_error is not None:
            self.ctx.cancel(body_error)
            exc_type = exc = tb = None  # the nursery would wrap it in an ExceptionGroup
        try:
            await self._nursery_manager.__aexit__(exc_type, exc, tb)
        finally:
            self._stop()
        self.ctx.cancel()
        outcome = self._outcome(body_error, stopped=self._nursery.cancel_scope.cancelled_caught)
        if outcome is not None:
            raise outcome

    def _start(self, afn: Callable[..., Awaitable[object]], args: Any, kwargs: Any) -> None:
        if self._nursery is None:
            if self._limit is not None:
                self._limit.release()
            raise RuntimeError("Group.go() needs the group's block: 'async with Group() as g:'")
        self._nursery.start_soon(self._run, afn, args, kwargs)
        if not self._running:
            self._idle = trio.Event()
        self._running += 1

    async def _run(self, afn: Callable[..., Awaitable[object]], args: Any, kwargs: Any) -> None:
        try:
            await afn(*args, **kwargs)
        except BaseException as exc:
            if _cancelled(exc):
                raise  # stopped by g.ctx or from outside: never this task's failure
            self._fail(exc)  # kept, and raised by wait() and the block
        finally:
            if self._limit is not None:
                self._limit.release()
            self._running -= 1
            if not self._running:
                self._idle.set()


def _cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is trio's cancellation: a ``Cancelled``, or a group of nothing
    else (what a task's own nursery raises when the task is cancelled inside it)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)
