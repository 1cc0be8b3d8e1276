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
        # TODO (task 2): open an asyncio.TaskGroup here and keep it.
        return self

    async def go(self, afn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``afn(*args)`` as a task and return at once."""
        # TODO (tasks 1 and 3): create a task running afn(*args); do not await it.
        raise NotImplementedError("task 1: go() should start afn(*args) as a task")

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        # TODO (task 2): wait for every task go() started.
        pass

