"""Chapter 01, asyncio: start a coroutine function as a task, and wait for them all.

Go's ``sync.WaitGroup`` (and the start of ``errgroup.Group``)::

    var wg sync.WaitGroup
    for i := 0; i < n; i++ {
        wg.Add(1)
        go func(i int) { defer wg.Done(); work(i) }(i)
    }
    wg.Wait()

becomes::

    async with Group() as g:
        for i in range(n):
            await g.go(work, i)
    # every work(i) has ended here

A task is a coroutine the event loop steps; it costs an object and a frame, not a
thread. ``asyncio.TaskGroup`` (Python 3.11) is the structured way to keep them: no task
outlives the block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

__all__ = ["Group"]


class Group:
    """Coroutine functions started with ``go``, each as a task of its own; leaving the
    block waits for every one of them."""

    async def __aenter__(self) -> Group:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        return self

    async def go(self, afn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``afn(*args)`` as a task and return at once."""
        self._tasks.create_task(afn(*args))  # type: ignore[arg-type]

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._tasks.__aexit__(exc_type, exc, tb)
