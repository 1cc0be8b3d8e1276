"""Chapter 01, trio: start an async function as a task in a nursery, and wait for them all.

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

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio

__all__ = ["Group"]


class Group:
    """Async functions started with ``go``, each as a task in one nursery; leaving the
    block waits for every one of them."""

    async def __aenter__(self) -> Group:
        # TODO (task 2): open a nursery here (trio.open_nursery() is an async context
        # manager: enter it by hand) and keep it.
        return self

    async def go(self, afn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``afn(*args)`` as a task and return at once."""
        # TODO (tasks 1 and 3): start afn(*args) in the nursery; do not await it.
        raise NotImplementedError("task 1: go() should start afn(*args) in the nursery")

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        # TODO (task 2): wait for every task go() started.
        pass

