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

The stages, below the ``Channel``, are the same text as ``on_asyncio``'s: given a
channel, an errgroup and a semaphore that cancel natively, a pipeline has one shape,
and that sameness is the lesson.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import trio

from patterns.context import Canceled
from patterns.context.on_trio import Context, background
from patterns.errgroup.on_trio import Group
from patterns.fanout import ChannelClosed, ChannelStatistics, EndOfChannel
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
        """A snapshot: capacity, buffered, senders and receivers waiting, closed (Go has
        only ``cap(ch)`` and ``len(ch)``)."""
        stats = self._sender.statistics()
        return ChannelStatistics(int(stats.max_buffer_size), stats.current_buffer_used,
                                 stats.tasks_waiting_send, stats.tasks_waiting_receive,
                                 stats.open_send_channels == 0)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._receiver.receive()
        except trio.EndOfChannel:  # the end of a loop: no EndOfChannel, and no message
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        stats = self.statistics()
        return (f"<{type(self).__module__}.Channel capacity={stats.capacity} "
                f"buffered={stats.buffered} closed={stats.closed}>")


# -- the stages --------------------------------------------------------------------------

Fn = Callable[[Any], Awaitable[Any]]
Stage = Fn | tuple[Fn, int]
Source = Iterable[Any] | AsyncIterable[Any]


@asynccontextmanager
async def merge(*channels: Channel, capacity: int = 0) -> AsyncIterator[Channel]:
    """Fan-in: one output channel carrying every value of ``channels``, closed when they
    all are. ``async with merge(a, b) as out: async for x in out: ...``

    Go counterpart: the pipelines article's ``merge``, a goroutine per input and a
    ``sync.WaitGroup`` that closes the output once they are all done."""
    out = Channel(capacity)
    async with _running(out) as g:
        last_closes = _closing_after(len(channels), out)
        for channel in channels:
            await g.go(_run_stage, g.ctx, _work, g.ctx, _same, channel, out, last_closes)
        yield out


@asynccontextmanager
async def fan_out(
    source: Source, fn: Fn, *, workers: int, ordered: bool = False, capacity: int = 0,
) -> AsyncIterator[Channel]:
    """Fan-out: ``workers`` tasks apply ``fn`` to the items of ``source``; the output
    channel carries the results, in completion order or, with ``ordered=True``, input
    order (a reorder window of ``workers + capacity`` items bounds how far ahead the
    others may run while the oldest is slow).

    Go counterpart: errgroup's pipeline example, a fixed number of goroutines ranging
    over one channel of jobs, in one group (Go has no ordered variant)."""
    if workers < 1:
        raise ValueError(f"fan_out needs at least one worker, not {workers}")
    jobs, finished, out = Channel(0), Channel(0), Channel(capacity)
    window = Semaphore(workers + capacity) if ordered else None

    async def numbered(job: tuple[int, Any]) -> tuple[int, Any]:
        return job[0], await fn(job[1])

    async with _running(out) as g:
        await g.go(_run_stage, g.ctx, _feed, g.ctx, source, jobs, True, window)
        last_closes = _closing_after(workers, finished)
        for _ in range(workers):
            await g.go(_run_stage, g.ctx, _work, g.ctx, numbered, jobs, finished, last_closes)
        await g.go(_run_stage, g.ctx, _emit, finished, out, window)
        yield out


@asynccontextmanager
async def pipeline(source: Source, *stages: Stage, capacity: int = 0) -> AsyncIterator[Channel]:
    """A chain of stages: each is ``fn`` or ``(fn, workers)``, reading the channel before
    it and writing the next, with ``capacity`` buffered between stages. Results leave
    in completion order.

    Go counterpart: the pipelines article's ``gen`` and ``sq`` stages, each ranging over
    its inbound channel and closing its outbound one when done."""
    channels = [Channel(capacity) for _ in range(len(stages) + 1)]
    async with _running(channels[-1]) as g:
        await g.go(_run_stage, g.ctx, _feed, g.ctx, source, channels[0], False, None)
        for stage, inbox, outbox in zip(stages, channels, channels[1:], strict=False):
            fn, workers = stage if isinstance(stage, tuple) else (stage, 1)
            last_closes = _closing_after(workers, outbox)
            for _ in range(workers):
                await g.go(_run_stage, g.ctx, _work, g.ctx, fn, inbox, outbox, last_closes)
        yield channels[-1]


@asynccontextmanager
async def _running(out: Channel) -> AsyncIterator[Group]:
    """The stages' errgroup, beside the consumer's block.

    Its context ends on the first error, or when the block is left (``stop``); the
    tasks are cancelled natively, and only the output needs closing, to end the
    consumer's loop. Leaving early is not an error: the ``Canceled`` it causes is
    dropped.
    """
    stop = background().with_cancel()
    try:
        async with Group(stop) as g:
            g.ctx.after(out.close)
            try:
                yield g
            finally:
                stop.cancel()  # whatever still runs is no longer wanted
    except Canceled as exc:
        if exc is not stop.err:
            raise


async def _run_stage(ctx: Context, stage: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run one stage. Once the stages stop, nothing it raises is an error: the first
    error is already kept, or the consumer has left and wants none of this work."""
    try:
        await stage(*args)
    except Exception:
        if not ctx.done:
            raise


async def _feed(ctx: Context, source: Source, outbox: Channel, numbered: bool,
                window: Semaphore | None) -> None:
    index = 0

    async def put(item: Any) -> None:  # one body for both kinds of source
        nonlocal index
        if window is not None:
            await window.acquire(ctx=ctx)  # the reorder window: wait for the oldest
        await outbox.send((index, item) if numbered else item)
        index += 1

    try:
        if isinstance(source, AsyncIterable):
            async for item in source:
                await put(item)
        else:
            for item in source:
                await put(item)
    finally:
        outbox.close()


async def _work(ctx: Context, fn: Fn, inbox: Channel, outbox: Channel,
                done: Callable[[], None]) -> None:
    try:
        async for item in inbox:  # no ctx.check(): a cancelled task stops at its await
            await outbox.send(await fn(item))
    finally:
        done()


async def _emit(finished: Channel, out: Channel, window: Semaphore | None) -> None:
    """Pass results on, in input order when there is a reorder ``window``."""
    waiting: dict[int, Any] = {}
    next_index = 0
    try:
        async for index, result in finished:
            if window is None:
                await out.send(result)
                continue
            waiting[index] = result
            while next_index in waiting:
                await out.send(waiting.pop(next_index))
                window.release()
                next_index += 1
    finally:
        out.close()


def _closing_after(n: int, channel: Channel) -> Callable[[], None]:
    """A callback that closes ``channel`` the ``n``-th time it is called: the last of a
    stage's workers closes the stage's output. (One event loop, so no lock.)"""
    left = [n]
    if n == 0:
        channel.close()

    def one_done() -> None:
        left[0] -= 1
        if left[0] == 0:
            channel.close()

    return one_done


async def _same(item: Any) -> Any:
    return item
