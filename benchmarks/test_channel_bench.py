"""``Channel`` throughput: one producer sends 10,000 items to one consumer.

What is timed is the channel per item: a send, a receive, and the wake-ups when one
side has to wait for the other. Ours, ``patterns.fanout.on_<runtime>.Channel``, ends the
stream with ``close()``; each runtime's queue is the baseline, ended by a sentinel:

- threads: ``queue.Queue(64)``, the producer on a thread of its own, the consumer in
  the benchmark's thread (so both lines pay one thread start per round);
- asyncio: ``asyncio.Queue(64)``, the producer a task beside the consumer;
- trio: ``trio.open_memory_channel(64)``, which closes as ours does (ours on trio is
  that channel, with both halves held in one object, Go's shape).

Two groups:

- ``channel-throughput``: capacity 64, where a send mostly finds room and a receive
  mostly finds an item, and the sides wait for each other only when the buffer is full
  or empty.
- ``channel-rendezvous``: capacity 0, Go's unbuffered ``make(chan T)``, where every item
  is a hand-over between the two sides. Only trio has a native one
  (``open_memory_channel(0)``): ``queue.Queue(0)`` and ``asyncio.Queue(0)`` mean
  *unbounded*, so threads and asyncio have ours alone, to set against their line in
  ``channel-throughput``. A threads rendezvous is an OS thread switch per item, hence
  fewer items per round there.

A round is the whole stream inside one event loop (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import trio

from patterns.fanout import on_asyncio, on_threads, on_trio

ITEMS = 10_000  # items per round through a buffered channel
CAPACITY = 64
RENDEZVOUS_ITEMS = {"threads": 2_000, "asyncio": ITEMS, "trio": ITEMS}

_END = object()  # the sentinel that ends a queue's stream


def threads_patterns(capacity: int, items: int) -> int:
    channel = on_threads.Channel(capacity)

    def produce() -> None:
        try:
            for item in range(items):
                channel.send(item)
        finally:
            channel.close()

    producer = threading.Thread(target=produce)
    producer.start()
    received = sum(1 for _ in channel)
    producer.join()
    return received


def threads_native(capacity: int, items: int) -> int:
    q: queue.Queue[object] = queue.Queue(capacity)

    def produce() -> None:
        try:
            for item in range(items):
                q.put(item)
        finally:
            q.put(_END)

    producer = threading.Thread(target=produce)
    producer.start()
    received = sum(1 for _ in iter(q.get, _END))
    producer.join()
    return received


async def asyncio_patterns(capacity: int, items: int) -> int:
    channel = on_asyncio.Channel(capacity)

    async def produce() -> None:
        try:
            for item in range(items):
                await channel.send(item)
        finally:
            channel.close()

    received = 0
    async with asyncio.TaskGroup() as tg:
        tg.create_task(produce())
        async for _ in channel:
            received += 1
    return received


async def asyncio_native(capacity: int, items: int) -> int:
    q: asyncio.Queue[object] = asyncio.Queue(capacity)

    async def produce() -> None:
        try:
            for item in range(items):
                await q.put(item)
        finally:
            await q.put(_END)

    received = 0
    async with asyncio.TaskGroup() as tg:
        tg.create_task(produce())
        while await q.get() is not _END:
            received += 1
    return received


async def trio_patterns(capacity: int, items: int) -> int:
    channel = on_trio.Channel(capacity)

    async def produce() -> None:
        try:
            for item in range(items):
                await channel.send(item)
        finally:
            channel.close()

    received = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async for _ in channel:
            received += 1
    return received


async def trio_native(capacity: int, items: int) -> int:
    send, receive = trio.open_memory_channel[int](capacity)

    async def produce() -> None:
        async with send:
            for item in range(items):
                await send.send(item)

    received = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async for _ in receive:
            received += 1
    return received


CHANNELS: dict[str, Callable[[int, int], Any]] = {  # "runtime-implementation": one round
    "threads-patterns": threads_patterns,
    "threads-native": threads_native,
    "asyncio-patterns": asyncio_patterns,
    "asyncio-native": asyncio_native,
    "trio-patterns": trio_patterns,
    "trio-native": trio_native,
}
RENDEZVOUS = ("threads-patterns", "asyncio-patterns", "trio-patterns", "trio-native")


@pytest.mark.benchmark(group="channel-throughput")
@pytest.mark.parametrize("case", CHANNELS)
def test_channel_throughput(benchmark: Any, in_runtime: Any, case: str) -> None:
    runtime = case.split("-")[0]
    benchmark.extra_info.update(ops=ITEMS, op="item")
    received = benchmark(in_runtime(runtime, partial(CHANNELS[case], CAPACITY, ITEMS)))
    assert received == ITEMS


@pytest.mark.benchmark(group="channel-rendezvous")
@pytest.mark.parametrize("case", RENDEZVOUS)
def test_channel_rendezvous(benchmark: Any, in_runtime: Any, case: str) -> None:
    runtime = case.split("-")[0]
    items = RENDEZVOUS_ITEMS[runtime]
    benchmark.extra_info.update(ops=items, op="item")
    received = benchmark(in_runtime(runtime, partial(CHANNELS[case], 0, items)))
    assert received == items
