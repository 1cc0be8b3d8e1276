"""Uncontended ``acquire`` + ``release``: our ``Semaphore`` against the runtime's own.

Uncontended is the common case (the semaphore has tokens to spare), and the one where a
pure-Python semaphore has nothing to hide behind: no waiting, only bookkeeping. Ours
does more of it than the native ones: it is weighted, checks ``n``, refuses to release
more than it holds, and keeps a FIFO queue that a new acquirer must not overtake.

Each runtime against its own:

- threads: ``threading.Semaphore`` (pure Python too: a ``Condition`` over a lock);
- asyncio: ``asyncio.Semaphore``; neither it nor ours suspends when a token is free;
- trio: ``trio.Semaphore``; like ours, its ``acquire`` is a checkpoint even when it
  does not wait (trio's rule), which is most of the cost on both sides.

A round is 1,000 pairs on a fresh ``Semaphore(8)`` inside one event loop (see
``conftest.py``), so the loop's start-up is paid once per 1,000 pairs, equally by both.
"""

from __future__ import annotations

import asyncio
import threading
from functools import partial
from typing import Any

import pytest
import trio

from patterns.semaphore import on_asyncio, on_threads, on_trio

PAIRS = 1_000  # acquire+release pairs per round
CAPACITY = 8

SEMAPHORES: dict[str, Any] = {  # "runtime-implementation": the class
    "threads-patterns": on_threads.Semaphore,
    "threads-native": threading.Semaphore,
    "asyncio-patterns": on_asyncio.Semaphore,
    "asyncio-native": asyncio.Semaphore,
    "trio-patterns": on_trio.Semaphore,
    "trio-native": trio.Semaphore,
}


def acquire_release(semaphore_type: Any) -> None:
    sem = semaphore_type(CAPACITY)
    for _ in range(PAIRS):
        sem.acquire()
        sem.release()


async def acquire_release_async(semaphore_type: Any) -> None:
    # The same loop as above; only the await differs.
    sem = semaphore_type(CAPACITY)
    for _ in range(PAIRS):
        await sem.acquire()
        sem.release()


@pytest.mark.benchmark(group="semaphore-uncontended")
@pytest.mark.parametrize("case", SEMAPHORES)
def test_semaphore(benchmark: Any, in_runtime: Any, case: str) -> None:
    runtime = case.split("-")[0]
    pairs = acquire_release if runtime == "threads" else acquire_release_async
    benchmark.extra_info.update(ops=PAIRS, op="acquire+release")
    benchmark(in_runtime(runtime, partial(pairs, SEMAPHORES[case])))
