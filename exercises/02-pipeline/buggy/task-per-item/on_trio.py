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

What trio does differently: it has Go's channel already. ``trio.open_memory_channel(0)``
is a rendezvous, buffers at any other size, and closes; this ``Channel`` only holds its
two halves in one object, in Go's shape. (trio splits them for a reason: closing is per
handle, so "every sender is done" can be counted, and a receiver cannot end the stream
by mistake.) Leaving a ``fan_out`` or ``merge`` block early cancels its nursery, even
in the middle of ``fn``; only the output channel needs closing, so that the consumer's
loop ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

from patterns.fanout import ChannelClosed, EndOfChannel

__all__ = ["Channel", "fan_out", "merge"]


class Channel:
    """A Go channel between trio tasks: ``await send``, ``await receive``, ``close``,
    ``async for x in ch``.

    ``capacity`` items are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the item. After ``close()`` (idempotent, and a plain call),
    ``send`` raises ``ChannelClosed``, as do sends waiting at that moment (their items
    are dropped); ``receive`` drains the buffer, then raises ``EndOfChannel``, which
    ends an ``async for``. Like trio's own, a cancelled send or receive never moves an
    item.
    """

    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"Channel capacity must be 0 (a rendezvous) or more, not {capacity}")
        self._sender, self._receiver = trio.open_memory_channel[Any](capacity)

    async def send(self, item: Any) -> None:
        """Wait until ``item`` is buffered or received (Go ``ch <- item``)."""
        try:
            await self._sender.send(item)
        except trio.ClosedResourceError:
            raise ChannelClosed("send on a closed channel") from None

    async def receive(self) -> Any:
        """Wait until an item arrives, and return it (Go ``<-ch``)."""
        try:
            return await self._receiver.receive()
        except trio.EndOfChannel:
            raise EndOfChannel("receive from a closed, drained channel") from None

    def close(self) -> None:
        """No more items (Go ``close(ch)``); idempotent. Every waiting send raises
        ``ChannelClosed``, every waiting receive ``EndOfChannel``: closing the send half
        does both."""
        self._sender.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except EndOfChannel:
            raise StopAsyncIteration from None


# -- the stages --------------------------------------------------------------------------

Fn = Callable[[Any], Awaitable[Any]]
Source = Iterable[Any] | AsyncIterable[Any]
Stage = Callable[[], Coroutine[Any, Any, None]]  # a stage's body, run as a task


@asynccontextmanager
async def merge(*channels: Channel, capacity: int = 0) -> AsyncIterator[Channel]:
    """Fan-in: one output channel carrying every item of ``channels``, closed once they
    all are. ``async with merge(a, b) as out: async for x in out: ...``

    Go counterpart: the pipelines article's ``merge``, a goroutine per input and a
    ``sync.WaitGroup`` whose ``Wait`` is followed by ``close(out)``; here the last
    forwarder to finish closes it."""
    out = Channel(capacity)
    last_one_closes = _closing_after(len(channels), out)

    async def forward(channel: Channel) -> None:
        try:
            async for item in channel:
                await out.send(item)
        finally:
            last_one_closes()

    async with _running([partial(forward, channel) for channel in channels]):
        yield out


@asynccontextmanager
async def fan_out(source: Source, fn: Fn, *, workers: int,
                  capacity: int = 0) -> AsyncIterator[Channel]:
    """Fan-out: ``workers`` tasks apply ``fn`` to the items of ``source`` (an iterable
    or an async iterable, a ``Channel`` too); the output channel carries the results as
    they finish. ``async with fan_out(urls, fetch, workers=8) as pages: ...``

    Go counterpart: a fixed number of goroutines ranging over one channel of jobs. One
    task feeds that channel from ``source``; ``workers`` bounds the calls of ``fn``
    running at once, however long the source."""
    if workers < 1:
        raise ValueError(f"fan_out needs at least one worker, not {workers}")
    out = Channel(capacity)

    async def apply(item: Any) -> None:
        await out.send(await fn(item))

    async def feed() -> None:
        try:
            async with trio.open_nursery() as calls:
                # BUG: a task per item, however many items come: `workers` bounds
                # nothing, and the source is read as fast as tasks can start
                if isinstance(source, AsyncIterable):
                    async for item in source:
                        calls.start_soon(apply, item)
                else:
                    for item in source:
                        calls.start_soon(apply, item)
        finally:
            out.close()

    async with _running([feed]):
        yield out


@asynccontextmanager
async def _running(stages: list[Stage]) -> AsyncIterator[None]:
    """Run each stage as a task beside the consumer's block.

    Leaving the block cancels whatever still runs (the consumer wants no more of it),
    then waits for it to unwind: no task outlives the block. An exception in a stage
    cancels the rest, the block too, and the nursery raises it."""
    async with trio.open_nursery() as nursery:
        for stage in stages:
            nursery.start_soon(stage)
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()


def _closing_after(n: int, channel: Channel) -> Callable[[], None]:
    """A callback that closes ``channel`` the ``n``-th time it is called (at once for
    ``n == 0``): the last of a stage's tasks to finish closes the stage's output, as
    Go's ``wg.Wait(); close(out)`` does. (One thread runs every task: no lock.)"""
    left = [n]
    if n == 0:
        channel.close()

    def one_done() -> None:
        left[0] -= 1
        if left[0] == 0:
            channel.close()

    return one_done
