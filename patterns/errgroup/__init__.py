"""Go's ``x/sync/errgroup``: run tasks together; the first error cancels the rest.

A group is a ``sync.WaitGroup`` that also handles errors: ``go`` starts a task,
``wait`` waits for all of them and raises the first error, itself, not an
``ExceptionGroup``. The first error cancels the group's context, so well-behaved
siblings stop early; ``limit`` bounds how many run at once. ``on_threads``,
``on_asyncio`` and ``on_trio`` each define ``Group`` with the same members; in asyncio
and trio the cancellation also interrupts the siblings natively.
"""

from __future__ import annotations

from patterns.runtimes import runtime_modules

__getattr__ = runtime_modules(__name__)
