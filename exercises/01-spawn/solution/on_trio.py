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

A nursery is the whole of a wait group: a task can only be started in one, and the
nursery's block does not end before its tasks do. There is no way to forget to wait.
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
        self._opening = trio.open_nursery()
        self._nursery = await self._opening.__aenter__()
        return self

    async def go(self, afn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Start ``afn(*args)`` as a task and return at once."""
        self._nursery.start_soon(afn, *args)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._opening.__aexit__(exc_type, exc, tb)
