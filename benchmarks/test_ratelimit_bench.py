"""A ``wait`` that does not wait: what our ``Limiter`` costs per acquisition.

A rate limiter is on the path of every request it guards, and most of the time it lets
the request straight through. That is the case measured here: 10,000 waits on a
limiter whose rate (a billion a second) and burst (10,000) never make one sleep, so
each is the whole bookkeeping: read the clock, bring the bucket up to date, take the
token. Against, in each runtime:

- ``semaphore``: the runtime's own semaphore, ``acquire`` + ``release``
  (``threading.Semaphore``, ``asyncio.Semaphore``, ``trio.Semaphore``), the cheapest
  native "may I go?"; there is no native rate limiter to hold ours to;
- ``aiolimiter`` (asyncio): ``AsyncLimiter.acquire()``, the third-party peer, a leaky
  bucket of the same capacity and rate, which does not suspend either when it has room.

A round is 10,000 waits on a fresh limiter inside one event loop (see ``conftest.py``).
In trio, ours is a checkpoint, as ``trio.Semaphore.acquire`` is: most of both costs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import trio
from aiolimiter import AsyncLimiter

from patterns.ratelimit import on_asyncio, on_threads, on_trio

WAITS = 10_000  # acquisitions per round
RATE = 1e9  # tokens a second: never a wait within a round
BURST = WAITS  # and a full bucket holds every token of the round


def patterns_limiter(limiter_type: Any) -> Callable[[], Any]:
    return lambda: limiter_type(RATE, BURST)


def aiolimiter() -> Any:
    return AsyncLimiter(BURST, BURST / RATE)  # BURST tokens per BURST / RATE seconds


def waits(make: Callable[[], Any]) -> None:
    limiter = make()
    for _ in range(WAITS):
        limiter.wait()


async def waits_async(make: Callable[[], Any]) -> None:
    limiter = make()
    for _ in range(WAITS):
        await limiter.wait()


async def aiolimiter_acquires(make: Callable[[], Any]) -> None:
    limiter = make()
    for _ in range(WAITS):
        await limiter.acquire()


def acquire_release(make: Callable[[], Any]) -> None:
    sem = make()
    for _ in range(WAITS):
        sem.acquire()
        sem.release()


async def acquire_release_async(make: Callable[[], Any]) -> None:
    sem = make()
    for _ in range(WAITS):
        await sem.acquire()
        sem.release()


CASES: dict[str, tuple[Callable[..., Any], Callable[[], Any]]] = {
    "threads-patterns": (waits, patterns_limiter(on_threads.Limiter)),
    "threads-semaphore": (acquire_release, partial(threading.Semaphore, 1)),
    "asyncio-patterns": (waits_async, patterns_limiter(on_asyncio.Limiter)),
    "asyncio-aiolimiter": (aiolimiter_acquires, aiolimiter),
    "asyncio-semaphore": (acquire_release_async, partial(asyncio.Semaphore, 1)),
    "trio-patterns": (waits_async, patterns_limiter(on_trio.Limiter)),
    "trio-semaphore": (acquire_release_async, partial(trio.Semaphore, 1)),
}


@pytest.mark.benchmark(group="ratelimit-wait-uncontended")
@pytest.mark.parametrize("case", CASES)
def test_ratelimit_wait(benchmark: Any, in_runtime: Any, case: str) -> None:
    runtime = case.split("-")[0]
    loop, make = CASES[case]
    benchmark.extra_info.update(ops=WAITS, op="wait")
    benchmark(in_runtime(runtime, partial(loop, make)))
