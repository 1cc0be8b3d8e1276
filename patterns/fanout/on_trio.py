"""Go's pipelines on trio: channels, fan-out and fan-in.

``Channel`` passes values between tasks with Go's semantics (``Channel(0)`` is a
rendezvous); ``merge``, ``fan_out`` and ``pipeline`` run their stages as an errgroup's
tasks and hand the consumer the output channel. Go counterpart: ``chan T`` and the
pipeline patterns of "Go Concurrency Patterns: Pipelines and cancellation".

What trio does differently: it has Go's channel already. ``trio.open_memory_channel``
is a rendezvous at size 0, buffers otherwise, and closes; this ``Channel`` only holds
its two halves in one object, in Go's shape. trio splits them for a reason: closing
is per handle, so "every sender is done" can be counted, and a receiver cannot close
the stream by mistake. Stopping a pipeline cancels its tasks natively, as in asyncio;
only the output channel needs closing, so that the consumer's loop ends.

The stages themselves live once in ``_async_stages``, shared with asyncio: given a
runtime's channel, errgroup and semaphore, a pipeline has one shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import trio

from patterns.context.on_trio import background
from patterns.errgroup.on_trio import Group
from patterns.fanout import ChannelClosed, ChannelStatistics, EndOfChannel
from patterns.fanout._async_stages import AsyncStages
from patterns.semaphore.on_trio import Semaphore

__all__ = ["Channel", "fan_out", "merge", "pipeline"]


class Channel:
    """A Go channel between trio tasks: ``await send``, ``await receive``, ``close``,
    ``async for x in ch``.

    ``capacity`` values are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the value. After ``close()`` (idempotent), ``send`` raises
    :class:`ChannelClosed`, as do sends waiting at that moment; ``receive`` drains the
    buffer, then raises :class:`EndOfChannel`, which ends iteration. Like trio's, a
    cancelled send or receive never moves a value.
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
            raise ChannelClosed(f"send on a closed channel {self!r}") from None

    async def receive(self) -> Any:
        """Wait until a value arrives, and return it (Go ``<-ch``)."""
        try:
            return await self._receiver.receive()
        except trio.EndOfChannel:
            raise EndOfChannel(f"receive from a closed, drained channel {self!r}") from None

    def close(self) -> None:
        """No more values (Go ``close(ch)``); idempotent, and wakes every waiter."""
        self._sender.close()

    def statistics(self) -> ChannelStatistics:
        """A snapshot: capacity, buffered, senders and receivers waiting, closed."""
        stats = self._sender.statistics()
        return ChannelStatistics(int(stats.max_buffer_size), stats.current_buffer_used,
                                 stats.tasks_waiting_send, stats.tasks_waiting_receive,
                                 stats.open_send_channels == 0)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except EndOfChannel:
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        stats = self.statistics()
        return (f"<{type(self).__module__}.Channel capacity={stats.capacity} "
                f"buffered={stats.buffered} closed={stats.closed}>")


# -- the stages: the same for asyncio and trio, given the runtime's pieces -------------

_stages = AsyncStages(Channel, Group, Semaphore, background)
merge = _stages.merge
fan_out = _stages.fan_out
pipeline = _stages.pipeline
