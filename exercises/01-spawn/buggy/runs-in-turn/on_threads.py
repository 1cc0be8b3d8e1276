"""Chapter 01, threads: start a function in a thread of its own, and wait for them all.

Go's ``sync.WaitGroup`` (and the start of ``errgroup.Group``)::

    var wg sync.WaitGroup
    for i := 0; i < n; i++ {
        wg.Add(1)
        go func(i int) { defer wg.Done(); work(i) }(i)
    }
    wg.Wait()

becomes::

    with Group() as g:
        for i in range(n):
            g.go(work, i)
    # every work(i) has ended here

A thread is the operating system's: each one has its own stack (reserved, and touched
as it grows) and a kernel task, and starting one is a system call. Go's goroutine is
the runtime's, a few KiB that grow on demand; asyncio's and trio's tasks are smaller
still. Chapter 01's ``check`` prints what your three versions cost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["Group"]


class Group:
    """Functions started with ``go``, each in a thread of its own; leaving the block
    waits for every one of them."""

    def __enter__(self) -> Group:
        self._threads: list[threading.Thread] = []
        return self

    def go(self, fn: Callable[..., object], *args: Any) -> None:
        """Start ``fn(*args)`` in a new thread and return at once."""
        fn(*args)  # BUG: runs fn to its end before go() returns: a loop, not concurrency

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for thread in self._threads:
            thread.join()
