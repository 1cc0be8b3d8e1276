"""Go's ``x/sync/errgroup`` on asyncio: tasks in a block, the first error wins.

``await g.go(afn, *args)`` starts a task; ``await g.wait()`` waits for the running
tasks and raises the first exception. The first exception cancels ``g.ctx``. Go
counterpart: ``errgroup.Group``.

What asyncio does differently: it can interrupt a task, and ``asyncio.TaskGroup``
already guarantees that no task outlives its block. So a group is a ``TaskGroup``
entered by ``async with Group() as g:``; the body runs inside ``g.ctx.scope()``, and
one ``g.ctx.after`` callback cancels the running tasks, so the first error (which
cancels ``g.ctx``) stops all of them natively. The difference
to teach: ``TaskGroup`` raises an ``ExceptionGroup`` of every failure; a ``Group``
raises the first failure itself, and the siblings' cancellations are not failures.

The group finishes when the block ends: only then is ``g.ctx`` cancelled without an
error, since the body runs inside it (``wait()`` inside the block does not cancel it,
unlike Go's ``Wait``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from patterns.context.on_asyncio import Context, background
from patterns.errgroup._group import GroupCore
from patterns.semaphore.on_asyncio import Semaphore

__all__ = ["Group"]


class Group(GroupCore):
    """A group of asyncio tasks (Go ``errgroup.WithContext``), used as
    ``async with Group() as g:``.

    ``g.ctx`` is a child of ``ctx`` (default ``background()``), cancelled by the first
    error, with that error as its cause, and when the block ends. ``limit`` bounds the
    tasks running at once (``None``: no bound).

    >>> import asyncio
    >>> async def fetch(ctx, page):
    ...     if page == 3:
    ...         raise RuntimeError(f"page {page}: HTTP 503")
    >>> async def main():
    ...     async with Group(limit=2) as g:
    ...         for page in range(6):
    ...             await g.go(fetch, g.ctx, page)
    >>> try:
    ...     asyncio.run(main())
    ... except RuntimeError as exc:  # the first error itself, not an ExceptionGroup
    ...     print("failed:", exc)
    failed: page 3: HTTP 503
    """

    ctx: Context
    _semaphore_type = Semaphore
    _lock = contextlib.nullcontext()  # one thread, one loop: nothing to guard
    _task_group: asyncio.TaskGroup | None = None

    def __init__(self, ctx: Context | None = None, *, limit: int | None = None) -> None:
        super().__init__(ctx if ctx is not None else background(), limit)
        self._idle = asyncio.Event()
        self._idle.set()
        self._started: set[asyncio.Task[None]] = set()
        self._stopped = False  # did g.ctx stop a task?

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
        self._task_group = asyncio.TaskGroup()
        await self._task_group.__aenter__()
        self._body = self.ctx.scope()  # the body is stopped by g.ctx like any task
        await self._body.__aenter__()
        self._stop = self.ctx.after(self._cancel_tasks)
        return self

    def _cancel_tasks(self) -> None:
        """g.ctx is done: cancel every running task natively, the job a trio nursery's
        cancel scope does (one callback per group, not a scope per task)."""
        current = asyncio.current_task()
        for task in self._started:
            if task is not current:
                task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Wait for every task. If the body raised, cancel ``ctx`` first; the body's
        exception wins over the tasks' (``_outcome``); a native cancellation from
        outside the block propagates."""
        assert self._task_group is not None
        try:
            await self._body.__aexit__(exc_type, exc, tb)
        except BaseException as converted:  # the body was stopped by ctx: now ctx.err
            exc_type, exc = type(converted), converted
        if exc_type is asyncio.CancelledError:  # from outside: TaskGroup knows what to do
            self.ctx.cancel(exc)
            try:
                await self._task_group.__aexit__(exc_type, exc, tb)
            finally:
                self._stop()
            return
        if exc is not None:
            self.ctx.cancel(exc)
        try:
            await self._task_group.__aexit__(None, None, None)
        finally:
            self._stop()
        self.ctx.cancel()
        outcome = self._outcome(exc, stopped=self._stopped)
        if outcome is not None:
            raise outcome

    def _start(self, afn: Callable[..., Awaitable[object]], args: Any, kwargs: Any) -> None:
        if self._task_group is None:
            if self._limit is not None:
                self._limit.release()
            raise RuntimeError("Group.go() needs the group's block: 'async with Group() as g:'")
        self._task_group.create_task(self._run(afn, args, kwargs))
        if not self._running:
            self._idle = asyncio.Event()
        self._running += 1

    async def _run(self, afn: Callable[..., Awaitable[object]], args: Any, kwargs: Any) -> None:
        # Only a task that has started is cancelled by _cancel_tasks: cancelling one that
        # has not would skip this function, and the bookkeeping in its finally.
        task = asyncio.current_task()
        assert task is not None
        self._started.add(task)
        try:
            if self.ctx.done:  # started after g.ctx ended: cancelled at its first await,
                task.cancel()  # as trio cancels a task started into a cancelled nursery
            await afn(*args, **kwargs)
        except asyncio.CancelledError:
            self._stopped = True
            raise  # stopped by g.ctx or from outside: never this task's failure
        except BaseException as exc:  # kept, and raised by wait() and the block
            self._fail(exc)
        finally:
            self._started.discard(task)
            if self._limit is not None:
                self._limit.release()
            self._running -= 1
            if not self._running:
                self._idle.set()
