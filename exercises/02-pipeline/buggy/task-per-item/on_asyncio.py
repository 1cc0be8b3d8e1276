"""Chapter 02, asyncio: Go's channels, fan-out and fan-in between asyncio tasks.

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

What asyncio does differently: a task can be cancelled at any ``await``, so leaving a
``fan_out`` or ``merge`` block early cancels its tasks, even in the middle of ``fn``;
only the output channel needs closing, so that the consumer's loop ends. Mind the
trap: ``asyncio.Queue(0)`` is *unbounded*, nothing like Go's ``make(chan T)``, and it
cannot be closed; this ``Channel(0)`` is a rendezvous.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from patterns.fanout import ChannelClosed, EndOfChannel

__all__ = ["Channel", "fan_out", "merge"]


class _Waiter:
    """A waiting send (holding its ``item``) or receive (waiting for one). ``done`` says
    whether an item passed before it was woken; a waiter woken by ``close`` is not done."""

    def __init__(self, item: Any = None) -> None:
        self.item = item
        self.done = False
        self._woken = asyncio.get_running_loop().create_future()

    def wake(self, *, done: bool) -> None:
        self.done = done
        if not self._woken.done():  # it may have been cancelled with its task
            self._woken.set_result(None)

    async def wait(self) -> None:
        await self._woken


class Channel:
    """A Go channel between asyncio tasks: ``await send``, ``await receive``, ``close``,
    ``async for x in ch``.

    ``capacity`` items are buffered; ``0`` is a rendezvous, where ``send`` returns only
    once a receiver has the item. After ``close()`` (idempotent, and a plain call),
    ``send`` raises ``ChannelClosed``, as do sends waiting at that moment (their items
    are dropped); ``receive`` drains the buffer, then raises ``EndOfChannel``, which
    ends an ``async for``.

    Go's own channel is this shape: a buffer and two queues of waiters. A send hands its
    item straight to the longest-waiting receiver, else buffers it, else waits in line
    with it; a receive takes from the buffer (and lets the first waiting sender refill
    it), else from a waiting sender's hand, else waits in line. One thread runs every
    task, so nothing needs a lock; what needs care is a wait that is cancelled.
    """

    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"Channel capacity must be 0 (a rendezvous) or more, not {capacity}")
        self._capacity = capacity
        self._buffer: deque[Any] = deque()
        self._senders: deque[_Waiter] = deque()
        self._receivers: deque[_Waiter] = deque()
        self._closed = False

    async def send(self, item: Any) -> None:
        """Wait until ``item`` is buffered or received (Go ``ch <- item``)."""
        if self._closed:
            raise ChannelClosed("send on a closed channel")
        if self._receivers:
            receiver = self._receivers.popleft()
            receiver.item = item
            receiver.wake(done=True)
            return
        if len(self._buffer) < self._capacity:
            self._buffer.append(item)
            return
        waiter = _Waiter(item)
        self._senders.append(waiter)
        try:
            await waiter.wait()
        except asyncio.CancelledError:
            if waiter in self._senders:  # cancelled before a receiver took the item
                self._senders.remove(waiter)
            raise
        if not waiter.done:
            raise ChannelClosed("the channel was closed while this send waited")

    async def receive(self) -> Any:
        """Wait until an item arrives, and return it (Go ``<-ch``)."""
        if self._buffer:
            item = self._buffer.popleft()
            if self._senders:  # room again: the first waiting sender's item moves in
                sender = self._senders.popleft()
                self._buffer.append(sender.item)
                sender.wake(done=True)
            return item
        if self._senders:  # the rendezvous: straight from the sender's hand
            sender = self._senders.popleft()
            sender.wake(done=True)
            return sender.item
        if self._closed:
            raise EndOfChannel("receive from a closed, drained channel")
        waiter = _Waiter()
        self._receivers.append(waiter)
        try:
            await waiter.wait()
        except asyncio.CancelledError:
            if waiter.done:  # handed an item as it was cancelled: pass it on, lose nothing
                self._put_back(waiter.item)
            elif waiter in self._receivers:
                self._receivers.remove(waiter)
            raise
        if not waiter.done:
            raise EndOfChannel("the channel was closed while this receive waited")
        return waiter.item

    def close(self) -> None:
        """No more items (Go ``close(ch)``); idempotent. Every waiting send raises
        ``ChannelClosed``, every waiting receive ``EndOfChannel``."""
        self._closed = True
        waiting = [*self._senders, *self._receivers]
        self._senders.clear()
        self._receivers.clear()
        for waiter in waiting:
            waiter.wake(done=False)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except EndOfChannel:
            raise StopAsyncIteration from None

    def _put_back(self, item: Any) -> None:
        """An item a cancelled receive was handed goes to the next receiver, or back to
        the front of the buffer (one over ``capacity``, for a moment: better than lost)."""
        if self._receivers:
            receiver = self._receivers.popleft()
            receiver.item = item
            receiver.wake(done=True)
        else:
            self._buffer.appendleft(item)


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
            async with asyncio.TaskGroup() as calls:
                # BUG: a task per item, however many items come: `workers` bounds
                # nothing, and the source is read as fast as tasks can start
                if isinstance(source, AsyncIterable):
                    async for item in source:
                        calls.create_task(apply(item))
                else:
                    for item in source:
                        calls.create_task(apply(item))
        finally:
            out.close()

    async with _running([feed]):
        yield out


@asynccontextmanager
async def _running(stages: list[Stage]) -> AsyncIterator[None]:
    """Run each stage as a task beside the consumer's block.

    Leaving the block cancels whatever still runs (the consumer wants no more of it),
    then waits for it to unwind: no task outlives the block. An exception in a stage
    cancels the rest, the block too, and the ``TaskGroup`` raises it."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(stage()) for stage in stages]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()


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

