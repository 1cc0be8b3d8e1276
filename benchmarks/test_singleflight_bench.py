"""Uncontended ``do``: what singleflight adds to a call that nobody shares.

One caller at a time asks for the same key, so every ``do`` starts a call and ends it:
the bookkeeping and nothing to hide it behind. The baseline is calling the function
directly (``direct``), not another library: it is what the call costs without
singleflight, so the report lists it beside ours rather than holding ours to a target.

What each runtime pays for beyond the call:

- threads: the lock twice (join, finish) and an event per caller; the first caller
  runs ``fn`` itself, so no thread is started;
- asyncio: a task per call (the call must outlive a caller who leaves), an event to
  wait on, and the scheduler's turns to start the task and wake the caller;
- trio: the same, in a nursery, with a cancel scope per call.

A round is 1,000 calls inside one event loop (see ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from patterns.singleflight import on_asyncio, on_threads, on_trio

CALLS = 1_000  # do() calls per round

def answer() -> int:
    return 42


async def answer_async() -> int:
    return 42


def direct() -> None:
    for _ in range(CALLS):
        answer()


async def direct_async() -> None:
    for _ in range(CALLS):
        await answer_async()


def through_group() -> None:
    g = on_threads.Group()
    for _ in range(CALLS):
        g.do("key", answer)


async def through_group_async(group_type: Any) -> None:
    async with group_type() as g:
        for _ in range(CALLS):
            await g.do("key", answer_async)


ROUNDS: dict[str, Callable[[], Any]] = {  # "runtime-implementation": one round
    "threads-patterns": through_group,
    "threads-direct": direct,
    "asyncio-patterns": partial(through_group_async, on_asyncio.Group),
    "asyncio-direct": direct_async,
    "trio-patterns": partial(through_group_async, on_trio.Group),
    "trio-direct": direct_async,
}


@pytest.mark.benchmark(group="singleflight-uncontended")
@pytest.mark.parametrize("case", ROUNDS)
def test_singleflight(benchmark: Any, in_runtime: Any, case: str) -> None:
    runtime = case.split("-")[0]
    benchmark.extra_info.update(ops=CALLS, op="call")
    benchmark(in_runtime(runtime, ROUNDS[case]))
