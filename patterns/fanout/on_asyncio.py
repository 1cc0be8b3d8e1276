"""Go's pipelines on asyncio: channels, fan-out and fan-in.

``Channel`` passes values between tasks with Go's semantics (``Channel(0)`` is a
rendezvous); ``merge``, ``fan_out`` and ``pipeline`` run their stages as an errgroup's
tasks and hand the consumer the output channel. Go counterpart: ``chan T`` and the
pipeline patterns of "Go Concurrency Patterns: Pipelines and cancellation".

What asyncio does differently: a stage can be cancelled at any ``await``, so stopping a
pipeline (the first error, or the consumer leaving the block) cancels its tasks, even
mid-``fn``; only the output channel needs closing, so that the consumer's loop ends.
Mind the trap: ``asyncio.Queue(0)`` is *unbounded*, nothing like Go's ``make(chan T)``;
this ``Channel(0)`` is a rendezvous, and it can be closed.

The stages themselves live once in ``_async_stages``, shared with trio: given a
runtime's channel, errgroup and semaphore, a pipeline has one shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from patterns.context.on_asyncio import background
from patterns.errgroup.on_asyncio import Group
from patterns.fanout import ChannelClosed, EndOfChannel
from patterns.fanout._async_stages import AsyncStages
from patterns.fanout._channel import ChannelState, Waiter
from patterns.semaphore.on_asyncio import Semaphore

__all__ = ["Channel", "fan_out", "merge", "pipeline"]


class Channel(ChannelState):
    """A Go channel between asyncio tasks: ``await send``, ``await receive``, ``close``,
    ``async for x in ch``.

    ``capacity`` values are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the value. After ``close()`` (idempotent), ``send`` raises
    :class:`ChannelClosed`, as do sends waiting at that moment; ``receive`` drains the
    buffer, then raises :class:`EndOfChannel`, which ends iteration. A cancelled
    ``receive`` never loses a value; a cancelled ``send`` may have delivered its value,
    when the hand-over and the cancellation land in the same step.
    """

    def __init__(self, capacity: int = 0) -> None:
        super().__init__(capacity)

    async def send(self, item: Any) -> None:
        """Wait until ``item`` is buffered or received (Go ``ch <- item``)."""
        if self._try_send(item):
            return
        woken = asyncio.get_running_loop().create_future()
        waiter = Waiter(partial(_wake, woken), item)
        self._senders.append(waiter)
        try:
            await woken
        except BaseException:  # cancelled
            self._abandon(waiter, self._senders)
            raise
        if not waiter.done:
            raise ChannelClosed(f"send on a closed channel {self!r}")

    async def receive(self) -> Any:
        """Wait until a value arrives, and return it (Go ``<-ch``)."""
        ready, item = self._try_receive()
        if ready:
            return item
        woken = asyncio.get_running_loop().create_future()
        waiter = Waiter(partial(_wake, woken))
        self._receivers.append(waiter)
        try:
            await woken
        except BaseException:  # cancelled: pass on a value handed over meanwhile
            self._abandon(waiter, self._receivers)
            raise
        if not waiter.done:
            raise EndOfChannel(f"receive from a closed, drained channel {self!r}")
        return waiter.item

    def close(self) -> None:
        """No more values (Go ``close(ch)``); idempotent, and wakes every waiter."""
        for waiter in self._close():
            waiter.wake()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except EndOfChannel:
            raise StopAsyncIteration from None


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # it may have been cancelled with its task
        future.set_result(None)


# -- the stages: the same for asyncio and trio, given the runtime's pieces -------------

_stages = AsyncStages(Channel, Group, Semaphore, background)
merge = _stages.merge
fan_out = _stages.fan_out
pipeline = _stages.pipeline
