"""Chapter 02, trio: Go's channels, fan-out and fan-in between trio tasks.

Go's ``chan T`` and the pipelines of "Go Concurrency Patterns: Pipelines and
cancellation"::

    out := make(chan int)            // a rendezvous: a send waits for a receiver
    go func() { for _, n := range nums { out <- n }; close(out) }()
    for n := range out { ... }       // ends once out is closed and drained

become::

    out = Channel()
    async for n in out: ...          # ends once out is closed and drained
    async with fan_out(urls, fetch, workers=8) as pages:
        async for page in pages: ...
    async with merge(a, b) as both:
        async for x in both: ...

Raise the library's own errors: ``ChannelClosed`` for a send on a closed channel,
``EndOfChannel`` for a receive from a closed, drained one.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import trio

from patterns.fanout import ChannelClosed, EndOfChannel

__all__ = ["Channel", "fan_out", "merge"]

Fn = Callable[[Any], Awaitable[Any]]
Source = Iterable[Any] | AsyncIterable[Any]


class Channel:
    """A Go channel between trio tasks: ``await send``, ``await receive``, ``close``,
    ``async for x in ch``.

    ``capacity`` items are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the item. After ``close()`` (idempotent, and a plain call),
    ``send`` raises ``ChannelClosed``, as do sends waiting at that moment (their items
    are dropped); ``receive`` drains the buffer, then raises ``EndOfChannel``, which
    ends an ``async for``.
    """

    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"Channel capacity must be 0 (a rendezvous) or more, not {capacity}")
        self._capacity = capacity
        # TODO (task 1): trio has Go's channel already: keep both halves of
        # trio.open_memory_channel(capacity).

    async def send(self, item: Any) -> None:
        """Wait until ``item`` is buffered or received (Go ``ch <- item``)."""
        # TODO (task 1): send on the send half.
        # TODO (task 2): trio.ClosedResourceError means closed: raise ChannelClosed.
        raise NotImplementedError("task 1: send() should pass the item to a receiver")

    async def receive(self) -> Any:
        """Wait until an item arrives, and return it (Go ``<-ch``)."""
        # TODO (task 1): receive on the receive half.
        # TODO (task 2): trio.EndOfChannel means closed and drained: raise the library's
        # EndOfChannel.
        raise NotImplementedError("task 1: receive() should take an item from a sender")

    def close(self) -> None:
        """No more items (Go ``close(ch)``); idempotent. Every waiting send raises
        ``ChannelClosed``, every waiting receive ``EndOfChannel``."""
        # TODO (task 2): which half, once closed, does all of this?
        raise NotImplementedError("task 2: close() should end the stream")

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        # TODO (task 2): the next item; StopAsyncIteration once receive() raises
        # EndOfChannel.
        raise NotImplementedError("task 2: iterating a channel should receive until it ends")


@asynccontextmanager
async def merge(*channels: Channel, capacity: int = 0) -> AsyncIterator[Channel]:
    """Fan-in: one output channel carrying every item of ``channels``, closed once they
    all are. ``async with merge(a, b) as out: async for x in out: ...``"""
    # TODO (task 4): an output Channel(capacity); in a nursery, a task per input
    # forwarding its items to the output; the last forwarder to finish closes the
    # output. Yield the output inside the nursery.
    # TODO (task 5): once the block is left, cancel what still runs in the nursery.
    raise NotImplementedError("task 4: merge() should forward every input to one output")
    yield Channel(capacity)  # an async generator: @asynccontextmanager runs it to its yield


@asynccontextmanager
async def fan_out(source: Source, fn: Fn, *, workers: int,
                  capacity: int = 0) -> AsyncIterator[Channel]:
    """Fan-out: ``workers`` tasks apply ``fn`` to the items of ``source`` (an iterable
    or an async iterable, a ``Channel`` too); the output channel carries the results as
    they finish. ``async with fan_out(urls, fetch, workers=8) as pages: ...``"""
    # TODO (task 3): in a nursery, a channel of jobs fed from source by one task (closed
    # when the source ends), `workers` tasks each sending await fn(job) to an output
    # Channel(capacity), the last of them closing it. Yield the output.
    # TODO (task 5): once the block is left, cancel what still runs in the nursery.
    raise NotImplementedError("task 3: fan_out() should start `workers` worker tasks")
    yield Channel(capacity)  # an async generator: @asynccontextmanager runs it to its yield
