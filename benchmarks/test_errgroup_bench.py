"""``Group(limit=8)`` running 1,000 no-op tasks, against each runtime's native tools.

The tasks do nothing, so what is timed is the group itself: starting a task, the limit,
the bookkeeping (the running count, the first error, the group's context and the one
cancellation it ties to it), and waiting for the end. Each runtime against the closest
thing it has:

- threads: ``ThreadPoolExecutor(max_workers=8)``, made per round as the group is, since
  both start their threads (up to 8) on demand and end them when they finish. The one
  difference of shape: ``submit`` never blocks (its queue has no bound), while
  ``Group.go`` waits while 8 tasks run, as Go's ``g.Go`` does.
- asyncio: ``asyncio.TaskGroup`` + ``asyncio.Semaphore(8)``;
- trio: a nursery + ``trio.CapacityLimiter(8)``.

For asyncio and trio the native version has the group's own shape: the spawning loop
takes a token before it starts a task, and the task gives it back when it ends, so at
most 8 tasks exist at a time. (Starting all 1,000 tasks at once, each waiting on the
semaphore inside, is the other common spelling; it is a different workload.)

And a fourth line for threads, ``threads-no-reuse``: the naive shape of a group, a new
OS thread per task, bounded by the same ``Semaphore(8)``. Against ``threads-patterns``
it shows what starting an OS thread costs, which is why the group keeps its threads.

A round is one whole group inside one event loop (see ``conftest.py``); the start-up
of ``trio.run``, or of a task on asyncio's loop, is the same for ours and native.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import trio

from patterns.errgroup import on_asyncio, on_threads, on_trio
from patterns.semaphore.on_threads import Semaphore

TASKS = 1_000
LIMIT = 8


def noop() -> None:
    """A task with no work, so that the group's own cost is all there is to time."""


async def anoop() -> None:
    """The same, for asyncio and trio."""


class ThreadPerTask:
    """The naive group: every ``go`` starts a new OS thread, which ends with its task.

    Bounded like ``Group(limit=8)``, by the same ``Semaphore``, and used the same way;
    it keeps no context and no error, since here it only has to show the price of
    not reusing threads.
    """

    def __init__(self, limit: int) -> None:
        self._limit = Semaphore(limit)
        self._threads: list[threading.Thread] = []

    def go(self, fn: Callable[[], object]) -> None:
        self._limit.acquire()
        thread = threading.Thread(target=self._run, args=(fn,))
        thread.start()
        self._threads.append(thread)

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        finally:
            self._limit.release()

    def __enter__(self) -> ThreadPerTask:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for thread in self._threads:
            thread.join()


def threads_patterns() -> None:
    with on_threads.Group(limit=LIMIT) as g:
        for _ in range(TASKS):
            g.go(noop)


def threads_native() -> None:
    with ThreadPoolExecutor(max_workers=LIMIT) as pool:
        for _ in range(TASKS):
            pool.submit(noop)


def threads_no_reuse() -> None:
    with ThreadPerTask(limit=LIMIT) as g:
        for _ in range(TASKS):
            g.go(noop)


async def asyncio_patterns() -> None:
    async with on_asyncio.Group(limit=LIMIT) as g:
        for _ in range(TASKS):
            await g.go(anoop)


async def asyncio_native() -> None:
    limit = asyncio.Semaphore(LIMIT)

    async def run() -> None:
        try:
            await anoop()
        finally:
            limit.release()

    async with asyncio.TaskGroup() as tg:
        for _ in range(TASKS):
            await limit.acquire()
            tg.create_task(run())


async def trio_patterns() -> None:
    async with on_trio.Group(limit=LIMIT) as g:
        for _ in range(TASKS):
            await g.go(anoop)


async def trio_native() -> None:
    limit = trio.CapacityLimiter(LIMIT)

    # A CapacityLimiter wants its token back from the borrower that took it; the
    # spawning task takes it, so each task gets a borrower of its own to return it as.
    async def run(borrower: object) -> None:
        try:
            await anoop()
        finally:
            limit.release_on_behalf_of(borrower)

    async with trio.open_nursery() as nursery:
        for _ in range(TASKS):
            borrower = object()
            await limit.acquire_on_behalf_of(borrower)
            nursery.start_soon(run, borrower)


GROUPS: dict[str, Callable[[], Any]] = {  # "runtime-implementation": one round
    "threads-patterns": threads_patterns,
    "threads-native": threads_native,
    "threads-no-reuse": threads_no_reuse,
    "asyncio-patterns": asyncio_patterns,
    "asyncio-native": asyncio_native,
    "trio-patterns": trio_patterns,
    "trio-native": trio_native,
}


@pytest.mark.benchmark(group="errgroup-1000-noop-limit-8")
@pytest.mark.parametrize("case", GROUPS)
def test_errgroup(benchmark: Any, in_runtime: Any, case: str) -> None:
    runtime = case.split("-")[0]
    benchmark.extra_info.update(ops=TASKS, op="task")
    benchmark(in_runtime(runtime, GROUPS[case]))
